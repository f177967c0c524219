"""Parcollet's quaternion weight initialisation (Parcollet et al., ICLR 2019; thesis Appendix A)."""

import math

import keras
import numpy as np

CRITERIA = ("glorot", "he")


@keras.saving.register_keras_serializable(package="keras_ser")
class QuaternionInitializer(keras.initializers.Initializer):
    """Random quaternion weights in polar form ``w = m (cos φ, u sin φ)``.

    Called with ``shape = (4, *receptive_field, fan_in_units, fan_out_units)``, it
    returns the four component kernels ``[r, i, j, k]`` stacked on the first axis,
    the other axes counting quaternion units (as the quaternion layers store their
    kernels). Each quaternion weight gets a modulus ``m`` drawn from a chi
    distribution with 4 degrees of freedom scaled by ``σ``, a unit pure-quaternion
    axis ``u`` uniform on the sphere and a phase ``φ ~ U(-π, π)``, so
    ``E|w|² = E[m²] = 4σ²``: per component ``E[w_r²] = 2σ²`` and
    ``E[w_i²] = E[w_j²] = E[w_k²] = 2σ²/3``, i.e. ``σ²`` on average.

    ``σ = 1 / sqrt(2 (fan_in + fan_out))`` for ``criterion="glorot"`` and
    ``1 / sqrt(2 fan_in)`` for ``"he"``, with ``fan_in = shape[-2] · receptive
    field`` and ``fan_out = shape[-1] · receptive field`` in quaternion units (the
    axes Keras's own initialisers read, so a transposed convolution's kernel
    ``(…, out, in)`` is treated as Keras treats ``Conv2DTranspose``).

    Args:
        criterion: "glorot" or "he".
        seed: int for reproducible weights: every call with the same seed and shape
            returns the same values on every backend (the draw is done in numpy).
            With None each call draws fresh values from numpy's global generator,
            which ``keras.utils.set_random_seed`` seeds.

    Differences from the reference code: it draws the axis from normalised
    ``U(-1, 1)`` triples (not uniform on the sphere), loops in Python and ignores
    its seed; here the draw is vectorised and seeded.
    """

    def __init__(self, criterion="glorot", seed=None):
        if criterion not in CRITERIA:
            raise ValueError(f"QuaternionInitializer: `criterion` must be one of {CRITERIA}, got {criterion!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"QuaternionInitializer: `seed` must be an int or None, got {seed!r}.")
        self.criterion = criterion
        self.seed = None if seed is None else int(seed)

    def scale(self, shape):
        """The modulus scale ``σ`` for a kernel of ``shape`` (see the class docstring)."""
        if len(shape) < 3 or shape[0] != 4:
            raise ValueError(
                "QuaternionInitializer: `shape` must be (4, *receptive_field, fan_in_units, fan_out_units) "
                f"with the four quaternion components first, got {tuple(shape)}."
            )
        receptive_field = math.prod(shape[1:-2])
        fan_in, fan_out = shape[-2] * receptive_field, shape[-1] * receptive_field
        return 1.0 / math.sqrt(2.0 * (fan_in + fan_out) if self.criterion == "glorot" else 2.0 * fan_in)

    def __call__(self, shape, dtype=None):
        shape = tuple(int(n) for n in shape)
        sigma = self.scale(shape)
        seed = self.seed if self.seed is not None else np.random.randint(2**31 - 1)
        rng = np.random.default_rng(seed)
        weights = shape[1:]
        modulus = sigma * np.sqrt(rng.chisquare(4, size=weights))
        axis = rng.standard_normal((3, *weights))
        axis /= np.maximum(np.linalg.norm(axis, axis=0), np.finfo("float64").tiny)
        phase = rng.uniform(-np.pi, np.pi, size=weights)
        components = np.concatenate([np.cos(phase)[None], axis * np.sin(phase)], axis=0) * modulus
        return keras.ops.convert_to_tensor(components, dtype=keras.backend.standardize_dtype(dtype))

    def get_config(self):
        return {"criterion": self.criterion, "seed": self.seed}


class _NamedQuaternionInitializer(QuaternionInitializer):
    """A :class:`QuaternionInitializer` with its criterion fixed, for a string alias."""

    CRITERION = None

    def __init__(self, seed=None):
        super().__init__(criterion=self.CRITERION, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_ser")
class QuaternionGlorot(_NamedQuaternionInitializer):
    """``QuaternionInitializer(criterion="glorot")``; string alias "quaternion_glorot"."""

    CRITERION = "glorot"


@keras.saving.register_keras_serializable(package="keras_ser")
class QuaternionHe(_NamedQuaternionInitializer):
    """``QuaternionInitializer(criterion="he")``; string alias "quaternion_he"."""

    CRITERION = "he"


# Lets `keras.initializers.get` (and so any layer) resolve the aliases.
keras.saving.get_custom_objects().update({"quaternion_glorot": QuaternionGlorot, "quaternion_he": QuaternionHe})
