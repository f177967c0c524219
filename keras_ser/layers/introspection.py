"""Finding conv layers in a functional model, and the post-activation output of one.

A *conv layer* is a layer holding a ``kernel`` weight of rank 4 or more that
outputs a 4-D ``(batch, height, width, channels)`` map: ``Conv2D``,
``Conv2DTranspose``, ``DepthwiseConv2D``, ``MTSConv2D`` (kernel ``(kh, kw, in, out)``)
and ``QuaternionConv2D`` (kernel ``(4, kh, kw, in/4, out/4)``); dense layers and
``Conv3D`` are not. Conv layers are numbered 1..N in forward (topological) order
of the model's graph, the numbering anti-transfer uses (METHODS.md §4). Only the
model's own layers are searched, not layers inside a nested sub-model.
"""

import keras

ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
)


def is_conv_layer(layer):
    """True if `layer` (already called in a model) is a 2-D conv layer as defined above."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None or len(getattr(kernel, "shape", ())) < 4:
        return False
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):  # never called: no output to look at
        return False


def conv_layers(model):
    """The conv layers of functional `model` in forward order (conv 1 first)."""
    _check_functional(model)
    return [layer for layer in model.layers if is_conv_layer(layer)]


def post_activation_layer(model, layer):
    """The layer of `model` whose output is the post-activation output of conv `layer`.

    The rule: a conv with a fused (non-linear) ``activation`` is its own answer.
    Otherwise, if the conv's output feeds only one layer and that layer is an
    activation layer (``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``, ``PReLU``,
    ``Softmax``), that layer is the answer; a single normalisation layer (class
    name ending in "Normalization", e.g. conv -> BatchNormalization -> ReLU) may
    sit between them. In every other case the conv's own output is used.
    """
    if not _is_linear(getattr(layer, "activation", None)):
        return layer
    following = _sole_consumer(model, layer)
    if following is not None and type(following).__name__.endswith("Normalization"):
        following = _sole_consumer(model, following)
    if isinstance(following, ACTIVATION_LAYERS):
        return following
    return layer


def _is_linear(activation):
    return activation is None or getattr(activation, "__name__", None) == "linear"


def _sole_consumer(model, layer):
    """The only layer of `model` that takes `layer`'s output, or None."""
    output = layer.output
    consumers = [
        candidate
        for candidate in model.layers
        if candidate is not layer and any(t is output for t in keras.tree.flatten(candidate.input))
    ]
    feeds_model_output = any(t is output for t in keras.tree.flatten(model.outputs))
    return consumers[0] if len(consumers) == 1 and not feeds_model_output else None


def _check_functional(model):
    """Raise a TypeError unless `model` is a functional (or built Sequential) keras.Model."""
    try:
        graph = isinstance(model, keras.Model) and bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        graph = False
    if not graph:
        raise TypeError(
            f"expected a functional keras.Model (built from keras.Input), got {type(model).__name__} "
            f"{getattr(model, 'name', '')!r}; subclassed or unbuilt models have no layer graph to read "
            "features from: build the network as keras.Model(inputs, outputs)"
        )


def find_conv_layer(model, spec):
    """Conv layer number `spec` (1-based, forward order) of `model`, or its layer named `spec`.

    A name may also pick a non-conv layer (e.g. a ResNet block output). Raises a
    ValueError naming the valid numbers and conv-layer names when `spec` matches
    nothing, and a TypeError for other kinds of `spec`.
    """
    convs = conv_layers(model)
    names = ", ".join(layer.name for layer in convs) or "none"
    if isinstance(spec, str):
        for layer in model.layers:
            if layer.name == spec:
                return layer
        raise ValueError(
            f"model {model.name!r} has no layer named {spec!r}; its conv layers are: {names} "
            "(any other layer of the model may also be named)"
        )
    if isinstance(spec, bool) or not hasattr(spec, "__index__"):
        raise TypeError(f"a conv layer is picked by name (str) or 1-based number (int), got {spec!r}")
    if not convs:
        raise ValueError(f"model {model.name!r} has no conv layers (2-D convolutions); pick a layer by name")
    if not 1 <= int(spec) <= len(convs):
        raise ValueError(
            f"model {model.name!r} has no conv layer {int(spec)}: its {len(convs)} conv layers are "
            f"numbered 1..{len(convs)} ({names})"
        )
    return convs[int(spec) - 1]
