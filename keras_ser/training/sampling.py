"""Which examples a training epoch holds: all of them shuffled, or draws balanced over classes or corpora."""

import numpy as np

# training.balance: what each epoch's draws equalise ("corpus_class_sqrt": halfway, in the exponent, between
# "none" and "corpus_class").
BALANCES = ("none", "class", "corpus_class", "corpus_class_sqrt")

# A group's share of the draws is proportional to its size to this power (0: equal shares; 1: as it comes).
SHARE_EXPONENTS = {"class": 0.0, "corpus_class": 0.0, "corpus_class_sqrt": 0.5}


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
