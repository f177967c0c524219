"""Which examples a training epoch holds (all shuffled, or draws balanced over classes or corpora), in which batches."""

import numpy as np

# training.balance: what each epoch's draws equalise ("corpus_class_sqrt": halfway, in the exponent, between
# "none" and "corpus_class").
BALANCES = ("none", "class", "corpus_class", "corpus_class_sqrt")

# A group's share of the draws is proportional to its size to this power (0: equal shares; 1: as it comes).
SHARE_EXPONENTS = {"class": 0.0, "corpus_class": 0.0, "corpus_class_sqrt": 0.5}


# training.batches: what one training batch holds ("per_corpus": examples of one corpus only, so that batch norm
# trains on each corpus's own statistics, as `keras-ser adapt --batch-norm` gives it a new corpus's at test time).
BATCHES = ("mixed", "per_corpus")


def balance_groups(balance, corpora, labels):
    """Each example's group under `balance` ("class": its label; "corpus_class*": its corpus and label), or None."""
    if balance == "none":
        return None
    if balance not in BALANCES:
        raise ValueError(f"balance {balance!r} is not one of {', '.join(BALANCES)}")
    return np.array([str(label) if balance == "class" else f"{corpus}:{label}"
                     for corpus, label in zip(corpora, labels)])


def balanced_weights(groups, exponent=0.0):
    """Draw probabilities giving each distinct group a share proportional to its size ** `exponent`.

    0 gives every group the same share (1 / (groups x the group's size) per example), 1 the share it has.
    """
    _, inverse, sizes = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    shares = sizes.astype(float) ** exponent
    return (shares / shares.sum() / sizes)[inverse]


def epoch_order(rng, count, weights=None):
    """An epoch's example indices: a permutation of range(count), or `count` draws with replacement by `weights`."""
    if weights is None:
        return rng.permutation(count)
    return rng.choice(count, size=count, replace=True, p=weights)


def epoch_batches(rng, count, batch_size, weights=None, groups=None, drop_remainder=False):
    """An epoch's batches of example indices: `epoch_order` cut into batches, or batches that never mix `groups`.

    With `groups` (one name per example), each group is drawn alone (its examples shuffled, or under
    `weights` as many draws as its share of `count`, rounded) and cut into batches, which then come
    in a random order; the number of batches is the same every epoch.
    """
    if groups is None:
        parts = [epoch_order(rng, count, weights)]
    else:
        _, inverse = np.unique(np.asarray(groups), return_inverse=True)
        members = [np.flatnonzero(inverse == group) for group in range(inverse.max() + 1)]
        if weights is None:
            parts = [rng.permutation(member) for member in members]
        else:
            draws = _apportion([weights[member].sum() for member in members], count)
            parts = [rng.choice(member, size=size, replace=True, p=weights[member] / weights[member].sum())
                     for member, size in zip(members, draws) if size]
    batches = [part[start : start + batch_size] for part in parts for start in range(0, len(part), batch_size)
               if not drop_remainder or start + batch_size <= len(part)]
    if groups is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def _apportion(shares, total):
    """Whole counts summing to `total` in proportion to `shares` (largest remainders round up)."""
    exact = np.asarray(shares, float) / np.sum(shares) * total
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: total - counts.sum()]] += 1
    return counts
