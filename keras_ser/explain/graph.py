"""Picking the layer to explain inside a functional model (nested models included) and cutting the model there.

Layers are named by their path through the nested models, e.g. "alexnet/conv5"
or "rhemo_encoder/conv3"; a plain name is enough when it is unique.
"""

import keras

from keras_ser.layers import post_activation_layer
from keras_ser.layers.introspection import is_conv_layer


def named_layers(model, prefix=""):
    """(path, layer, owner) of every layer of `model` and of the models nested in it, in forward order."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from named_layers(layer, f"{prefix}{layer.name}/")
        elif not isinstance(layer, keras.layers.InputLayer):
            yield f"{prefix}{layer.name}", layer, model


def find_layer(model, name=None):
    """(path, layer, owner) of conv layer `name` (a path or a unique plain name), or of the last conv layer.

    Raises a ValueError naming the culprit and listing the conv layers when `name`
    matches no layer, several layers, or a layer that is not a 2-D convolution.
    """
    layers = list(named_layers(model))
    convs = [entry for entry in layers if is_conv_layer(entry[1])]
    choices = ", ".join(path for path, _, _ in convs) or "none"
    if not convs:
        raise ValueError(f"model {model.name!r} has no 2-D conv layers, so Grad-CAM has no feature map to explain")
    if name is None:
        return convs[-1]
    found = [entry for entry in layers if name in (entry[0], entry[1].name)]
    if not found:
        raise ValueError(f"model {model.name!r} has no layer named {name!r}; its conv layers are: {choices}")
    if len(found) > 1:
        raise ValueError(f"layer name {name!r} is ambiguous in model {model.name!r} "
                         f"({', '.join(path for path, _, _ in found)}): give its full path")
    path, layer, owner = found[0]
    if not is_conv_layer(layer):
        raise ValueError(f"layer {path!r} ({type(layer).__name__}) is not a 2-D conv layer, so it has no feature map "
                         f"to explain; pick one of: {choices}")
    return path, layer, owner


def _holds(model, layer):
    return any(inner is layer or (isinstance(inner, keras.Model) and _holds(inner, layer)) for inner in model.layers)


def split(model, layer, owner):
    """Functions `head(x)`, the feature map of conv `layer` (of `owner`, inside `model`) for `model`'s input `x`,
    and `tail(x, a)`, `model`'s output when that feature map is replaced by `a`.

    The feature map is the conv's post-activation output (`keras_ser.layers.post_activation_layer`).
    """
    return _split(model, post_activation_layer(owner, layer))


def _split(model, target):
    if isinstance(model, keras.Sequential):  # clone_model calls the layers of functional models only
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    child = next(inner for inner in model.layers if inner is target or (isinstance(inner, keras.Model)
                                                                          and _holds(inner, target)))
    # A copy of `model` sharing its layers shows where `child` is called in a graph of `model`'s own.
    seen = {}

    def call(inner, *args, **kwargs):
        outputs = inner(*args, **kwargs)
        if inner is child:
            seen["inputs"], seen["outputs"] = args[0], outputs
        return outputs

    copy = keras.models.clone_model(model, clone_function=lambda inner: inner, call_function=call)
    if child is target:
        head = keras.Model(copy.inputs[0], seen["outputs"])

        def through_child(x, a):
            return a
    else:
        front = keras.Model(copy.inputs[0], seen["inputs"])
        child_head, child_tail = _split(child, target)

        def head(x):
            return child_head(front(x))

        def through_child(x, a):
            return child_tail(front(x), a)
    if seen["outputs"] is copy.outputs[0]:
        return head, through_child
    back = keras.Model([copy.inputs[0], seen["outputs"]], copy.outputs[0])

    def tail(x, a):
        return back([x, through_child(x, a)])

    return head, tail
