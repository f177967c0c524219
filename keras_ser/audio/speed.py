"""Speed perturbation: a signal played faster or slower, tempo and pitch together."""

import numpy as np
import soxr


def change_speed(signal, factor, sr=16000):
    """`signal` (1-D, at `sr` Hz) played `factor` times as fast, still at `sr` Hz: len(signal) / factor samples.

    As Kaldi's speed perturbation (sox's `speed` effect): the samples are taken as recorded at
    `factor` x `sr` Hz and resampled to `sr` with soxr, so 1.1 is shorter and higher, 0.9 longer and lower.
    """
    if not factor > 0:
        raise ValueError(f"the speed factor must be positive, got {factor!r}")
    signal = np.asarray(signal, np.float32)
    return signal if factor == 1 else soxr.resample(signal, sr * factor, sr, quality="HQ").astype(np.float32)
