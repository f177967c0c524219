"""Train / validation / test splits: random, speaker-independent, k-fold, held-out speaker.

All splits are deterministic functions of the items and the seed: speakers
(and, for random splits, items) are put in a fixed order first, then permuted
with `numpy.random.default_rng(seed)`. A speaker is identified by
(item.corpus, item.speaker), so equal ids from two corpora stay apart. Every
part keeps the input order of its items.

Speaker-independent protocols:
- `split(items, by="speaker")`: the fractions are fractions of speakers; needs
  at least one speaker per non-empty part.
- `speaker_folds(items, k)`: k folds, each speaker in exactly one test fold;
  each fold yields (train, val, test), with validation speakers taken from the
  non-test speakers.
- `held_out_speaker_split(items, test_speaker)`: for corpora with two speakers
  (TESS: OAF, YAF), train on one speaker and test on the other; validation is
  a random share of the training speaker's files, so it is *not* speaker
  independent. `split(by="speaker")` refuses such corpora and points here.
- `split_per_corpus(items)`: each corpus split by speaker on its own.
- `leave_corpus_out(items, test_corpus)`: test on every file of one corpus,
  train and validate on the speakers of the others.
"""

import numpy as np

SPLIT_KINDS = ("speaker", "random")


def _check_fractions(fractions):
    """Validate (train, val, test) fractions: three numbers >= 0, train > 0, summing to 1."""
    fractions = tuple(float(f) for f in fractions)
    if (
        len(fractions) != 3
        or not all(np.isfinite(f) and f >= 0 for f in fractions)
        or fractions[0] <= 0
        or abs(sum(fractions) - 1.0) > 1e-6
    ):
        raise ValueError(
            f"fractions must be (train, val, test) >= 0 with train > 0 summing to 1, got {fractions}"
        )
    return fractions


def _part_sizes(count, fractions):
    """Split `count` into parts by largest remainders, at least 1 per non-zero fraction."""
    exact = np.asarray(fractions) * count
    sizes = np.floor(exact).astype(int)
    remainders = exact - sizes
    for index in sorted(range(len(sizes)), key=lambda i: (-remainders[i], i))[: count - sizes.sum()]:
        sizes[index] += 1
    for index in range(len(sizes)):
        while fractions[index] > 0 and sizes[index] == 0:
            donor = int(np.argmax(sizes))
            sizes[donor] -= 1
            sizes[index] += 1
    return sizes


def _speaker_groups(items):
    """Sorted speaker keys and, per key, the indices of its items; raise on a missing speaker."""
    groups = {}
    for index, item in enumerate(items):
        if item.speaker is None:
            raise ValueError(
                f"'{item.path}' ({item.corpus}) has no speaker, so items cannot be split by speaker; "
                "give the corpus speakers (speaker_from= for 'folder', a speaker column for 'csv') "
                "or use by='random'"
            )
        groups.setdefault((item.corpus, item.speaker), []).append(index)
    return sorted(groups), groups


def _path_order(items, indices):
    """`indices` sorted by (corpus, path), so random splits ignore the input order."""
    return sorted(indices, key=lambda i: (items[i].corpus, str(items[i].path)))


def _speaker_names(keys):
    """Speaker ids of (corpus, speaker) keys, for messages."""
    return ", ".join(speaker for _, speaker in keys)


def _take(items, indices):
    """The items at `indices`, in input order."""
    return [items[i] for i in sorted(indices)]


def split(items, by="speaker", seed=0, fractions=(0.7, 0.2, 0.1)):
    """Split items into (train, val, test) lists.

    by="speaker": `fractions` are shares of speakers (largest-remainder
    rounding, at least one speaker in every part with a non-zero fraction), and
    no speaker is in two parts. by="random": shares of items.
    """
    if by not in SPLIT_KINDS:
        raise ValueError(f"by must be one of {SPLIT_KINDS}, got {by!r}")
    fractions = _check_fractions(fractions)
    items = list(items)
    needed = sum(f > 0 for f in fractions)
    rng = np.random.default_rng(seed)
    if by == "random":
        if len(items) < needed:
            raise ValueError(
                f"a random split into {needed} non-empty parts needs at least {needed} items, got {len(items)}"
            )
        order = _path_order(items, range(len(items)))
        shuffled = [order[i] for i in rng.permutation(len(order))]
        units = [[index] for index in shuffled]
    else:
        keys, groups = _speaker_groups(items)
        if len(keys) < needed:
            raise ValueError(
                f"a speaker-independent split into {needed} non-empty parts needs at least {needed} "
                f"speakers, got {len(keys)} ({_speaker_names(keys)}). For a two-speaker corpus such as "
                "TESS use held_out_speaker_split(items, test_speaker=...) (train on one speaker, test "
                "on the other) or speaker_folds(items, k=2, val_fraction=0)"
            )
        units = [groups[keys[i]] for i in rng.permutation(len(keys))]
    parts, start = [], 0
    for size in _part_sizes(len(units), fractions):
        parts.append(_take(items, [i for unit in units[start : start + size] for i in unit]))
        start += size
    return tuple(parts)


def speaker_folds(items, k, seed=0, val_fraction=0.2):
    """k speaker-independent folds as a list of (train, val, test) tuples.

    The speakers are permuted once and dealt into k test folds of near-equal
    speaker counts, so every speaker is in exactly one test fold. For each fold
    the validation speakers are `val_fraction` of the remaining speakers
    (rounded, at least one when val_fraction > 0): the ones following the test
    fold in the permuted order. val_fraction=0 gives empty validation parts.
    """
    items = list(items)
    keys, groups = _speaker_groups(items)
    if not isinstance(k, (int, np.integer)) or not 2 <= k <= len(keys):
        raise ValueError(f"k must be an integer from 2 to the number of speakers ({len(keys)}), got {k!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    folds = np.array_split(np.arange(len(order)), k)
    result = []
    for fold in folds:
        rest = [order[(fold[-1] + 1 + j) % len(order)] for j in range(len(order) - len(fold))]
        n_val = 0
        if val_fraction > 0:
            if len(rest) < 2:
                raise ValueError(
                    f"fold testing {_speaker_names(order[i] for i in fold)} leaves {len(rest)} other "
                    "speaker, too few for separate training and validation speakers; use "
                    "val_fraction=0 or held_out_speaker_split"
                )
            n_val = min(max(1, int(np.floor(val_fraction * len(rest) + 0.5))), len(rest) - 1)
        val, train = rest[:n_val], rest[n_val:]
        result.append(
            tuple(
                _take(items, [i for key in part for i in groups[key]])
                for part in (train, val, [order[i] for i in fold])
            )
        )
    return result


def held_out_speaker_split(items, test_speaker, val_fraction=0.2, seed=0):
    """(train, val, test): test = all files of `test_speaker`; val = a random share of the rest.

    The protocol for two-speaker corpora (TESS: train on OAF, test on YAF, or
    the reverse). Validation files share speakers with training.
    """
    items = list(items)
    keys, groups = _speaker_groups(items)
    speakers = sorted({speaker for _, speaker in keys})
    if test_speaker not in speakers:
        raise ValueError(f"test_speaker {test_speaker!r} is not among the speakers {speakers}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    test = [i for key in keys if key[1] == test_speaker for i in groups[key]]
    rest = _path_order(items, [i for key in keys if key[1] != test_speaker for i in groups[key]])
    if not rest:
        raise ValueError(f"no items are left for training once speaker {test_speaker!r} is held out")
    shuffled = [rest[i] for i in np.random.default_rng(seed).permutation(len(rest))]
    n_val = int(np.floor(val_fraction * len(shuffled) + 0.5))
    return _take(items, shuffled[n_val:]), _take(items, shuffled[:n_val]), _take(items, test)


def split_per_corpus(items, seed=0, fractions=(0.7, 0.2, 0.1)):
    """(train, val, test) made corpus by corpus, so every corpus has test speakers.

    Corpora with three or more speakers, or every corpus when the test share is
    0, are split by speaker with `fractions`; otherwise two-speaker corpora (TESS)
    hold their last speaker out for testing (`held_out_speaker_split`,
    validation = `fractions[1]` of the other speaker's files).
    """
    by_corpus = {}
    for item in items:
        by_corpus.setdefault(item.corpus, []).append(item)
    parts = ([], [], [])
    for corpus, chosen in sorted(by_corpus.items()):
        speakers = sorted({item.speaker for item in chosen if item.speaker is not None})
        if len(speakers) >= 3 or not fractions[2]:
            corpus_parts = split(chosen, by="speaker", seed=seed, fractions=fractions)
        elif len(speakers) == 2:
            corpus_parts = held_out_speaker_split(chosen, speakers[-1], val_fraction=fractions[1], seed=seed)
        else:
            raise ValueError(f"corpus {corpus!r} has {len(speakers)} speaker(s); a speaker-independent split needs 2 or more")
        for part, chosen_part in zip(parts, corpus_parts):
            part += chosen_part
    return parts


def leave_corpus_out(items, test_corpus, seed=0, fractions=(0.7, 0.2, 0.1)):
    """(train, val, test): test = every file of `test_corpus`; the other corpora give train and val.

    The other corpora are split by speaker, corpus by corpus (`split_per_corpus`),
    with the train and val shares of `fractions` renormalised to sum to 1, so
    train and validation speakers are disjoint (a two-speaker corpus gives one
    of each).
    """
    train_share, val_share, _ = _check_fractions(fractions)
    test = [item for item in items if item.corpus == test_corpus]
    rest = [item for item in items if item.corpus != test_corpus]
    if not test or not rest:
        corpora = sorted({item.corpus for item in items})
        raise ValueError(
            f"test_corpus {test_corpus!r} must be one of the corpora {corpora}, and at least one other corpus is needed"
        )
    # Rounded, so that a tie such as (0.6, 0.2) -> 7.5 / 2.5 of 10 speakers goes to train as in `split`.
    shares = tuple(round(share / (train_share + val_share), 12) for share in (train_share, val_share))
    train, val, _ = split_per_corpus(rest, seed=seed, fractions=(*shares, 0.0))
    return train, val, test
