"""Reference for the weights' moving average, written apart from keras_ser: numpy over recorded raw weights."""

import numpy as np


def warmed_up_average(steps, momentum):
    """The moving average of the weights after each step (`steps`: one list of arrays per step), starting at the
    first step's, momentum min(momentum, (1 + t) / (10 + t)) at step t."""
    average = [np.array(weight, dtype="float64") for weight in steps[0]]
    for t, weights in enumerate(steps[1:], start=1):
        share = min(momentum, (1 + t) / (10 + t))
        average = [share * a + (1 - share) * np.asarray(w) for a, w in zip(average, weights)]
    return average


def mean_first_average(steps, span):
    """The plain mean of the first `span` steps' weights, then a moving average at momentum 1 - 1 / span."""
    head = [np.asarray(step, dtype="float64") for step in zip(*steps[:span])]
    average = [weights.mean(axis=0) for weights in head]
    for weights in steps[span:]:
        average = [(1 - 1 / span) * a + np.asarray(w) / span for a, w in zip(average, weights)]
    return average
