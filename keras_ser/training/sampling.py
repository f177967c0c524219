"""Which examples a training epoch holds: all of them shuffled, or draws balanced over classes or corpora."""

import numpy as np

# training.balance: what each epoch's draws equalise.
BALANCES = ("none", "class", "corpus_class")


def balance_groups(balance, corpora, labels):
    """Each example's group under `balance` ("class": its label; "corpus_class": its corpus and label), or None."""
    if balance == "none":
        return None
    if balance not in BALANCES:
        raise ValueError(f"balance {balance!r} is not one of {', '.join(BALANCES)}")
    return np.array([f"{corpus}:{label}" if balance == "corpus_class" else str(label)
                     for corpus, label in zip(corpora, labels)])


def balanced_weights(groups):
    """Draw probabilities giving every distinct group the same share: 1 / (groups x the group's size)."""
    _, inverse, sizes = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    return 1.0 / (len(sizes) * sizes[inverse])


def epoch_order(rng, count, weights=None):
    """An epoch's example indices: a permutation of range(count), or `count` draws with replacement by `weights`."""
    if weights is None:
        return rng.permutation(count)
    return rng.choice(count, size=count, replace=True, p=weights)
