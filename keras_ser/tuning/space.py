"""The search space of a tuning run: which hyperparameters vary, over which values (a TOML `[space]` table)."""

import math

from keras_ser.training.config import ConfigError, config_from_dict, read_toml, with_overrides

# The thesis's 11 scale sets of the MTS convolutions (METHODS.md §6).
MTS_SCALE_SETS = (
    (0.25, 1, 4), (0.5, 1, 2), (0.7, 1, 1.428), (0.8, 1, 1.25), (0.9, 1, 1.111), (0.95, 1, 1.053),
    (0.25, 0.5, 1, 2, 4), (0.5, 0.7, 1, 1.428, 2), (0.8, 0.9, 1, 1.111, 1.25),
    (0.25, 0.5, 0.7, 1, 1.428, 2, 4), (0.7, 0.8, 0.9, 1, 1.111, 1.25, 1.428),
)
SPACE_KEYS = ("at_layer", "beta", "orthogonal", "learning_rate", "scales")
AT_KEYS = ("at_layer", "beta", "orthogonal")
THESIS_BETA_RANGE = (0.01, 20.0)


def scale_label(scales):
    """The name of a scale set as a hyperparameter value, e.g. "0.25,1,4"."""
    return ",".join(f"{float(s):g}" for s in scales)


def parse_space(raw, base):
    """The validated search space of `raw` (a `[space]` table) for the run configuration `base`.

    Keys (each optional): ``at_layer`` ("all" or a list of 1-based conv numbers),
    ``beta`` ({min, max, signs}: log-uniform magnitude, sign picked from `signs`,
    -1 being the inverse-beta ablation), ``orthogonal`` ({name = path}),
    ``learning_rate`` ({min, max}: log-uniform) and ``scales`` ("all" or a list
    of scale sets, MTS models only).
    """
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("space", f"give a table of hyperparameters to search ({', '.join(SPACE_KEYS)})")
    unknown = sorted(set(raw) - set(SPACE_KEYS))
    if unknown:
        raise ConfigError(f"space.{unknown[0]}", f"unknown key; known: {', '.join(SPACE_KEYS)}")
    kind = base.strategy.kind
    for key in AT_KEYS:
        if key in raw and kind != "anti_transfer":
            raise ConfigError(f"space.{key}", f"searching {key} needs base strategy.kind = \"anti_transfer\", not {kind!r}")
    if kind == "dual_anti_transfer":
        raise ConfigError("strategy.kind", "tuning trains one stage per trial: use \"anti_transfer\" as the base strategy")
    space = {}
    if "at_layer" in raw:
        space["at_layer"] = _at_layers(raw["at_layer"])
    if "beta" in raw:
        space["beta"] = _beta(raw["beta"])
    if "orthogonal" in raw:
        space["orthogonal"] = _orthogonal(raw["orthogonal"])
    if "learning_rate" in raw:
        space["learning_rate"] = _log_range("space.learning_rate", raw["learning_rate"])
    if "scales" in raw:
        if base.model.variant != "mts":
            raise ConfigError("space.scales", f"scale sets apply to model.variant = \"mts\", not {base.model.variant!r}")
        space["scales"] = _scale_sets(raw["scales"])
    return space


def _at_layers(value):
    if value == "all":
        return "all"
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise ConfigError("space.at_layer", f"give \"all\" or a list of 1-based conv layer numbers, got {value!r}")
    return sorted(set(value))


def _log_range(key, value, default=(None, None)):
    if not isinstance(value, dict):
        raise ConfigError(key, f"give a table {{min = ..., max = ...}}, got {value!r}")
    low, high = value.get("min", default[0]), value.get("max", default[1])
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound) or bound <= 0:
            raise ConfigError(key, f"min and max must be positive numbers (log-uniform sampling), got {value!r}")
    if not low < high:
        raise ConfigError(key, f"min must be below max, got min={low!r}, max={high!r}")
    return {"min": float(low), "max": float(high)}


def _beta(value):
    if not isinstance(value, dict):
        raise ConfigError("space.beta", f"give a table {{min = ..., max = ..., signs = [1, -1]}}, got {value!r}")
    extra = sorted(set(value) - {"min", "max", "signs"})
    if extra:
        raise ConfigError(f"space.beta.{extra[0]}", "unknown key; known: min, max, signs")
    signs = value.get("signs", [1])
    if not isinstance(signs, list) or not signs or not set(signs) <= {1, -1} or len(set(signs)) != len(signs):
        raise ConfigError("space.beta.signs", f"give [1], [-1] or [1, -1] (-1: inverse-beta ablation), got {signs!r}")
    magnitude = _log_range("space.beta", {k: v for k, v in value.items() if k != "signs"}, THESIS_BETA_RANGE)
    return {**magnitude, "signs": signs}


def _orthogonal(value):
    if (not isinstance(value, dict) or not value
            or not all(isinstance(path, str) and path for path in value.values())):
        raise ConfigError("space.orthogonal", f"give a table {{name = \"path of the orthogonal run\"}}, got {value!r}")
    return dict(value)


def _scale_sets(value):
    if value == "all":
        return [scale_label(s) for s in MTS_SCALE_SETS]
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, list) and s and all(isinstance(x, (int, float)) and x > 0 for x in s)
                       for s in value)):
        raise ConfigError("space.scales", f"give \"all\" or a list of scale sets like [[0.5, 1, 2]], got {value!r}")
    return [scale_label(s) for s in value]


def load_tuning(path, overrides=()):
    """The base RunConfig and the search space of a tuning TOML (`[base]` and `[space]` tables); `overrides`
    ("section.key=value" strings, as `load_config` takes them) change the base."""
    raw = read_toml(path, "tuning")
    unknown = sorted(set(raw) - {"base", "space"})
    if unknown or "base" not in raw or "space" not in raw:
        raise ConfigError(unknown[0] if unknown else "<file>",
                          f"'{path}' must hold exactly a [base] run configuration and a [space] table")
    base = config_from_dict(with_overrides(raw["base"], overrides))
    return base, parse_space(raw["space"], base)
