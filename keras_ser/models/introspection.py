"""Finding the layers anti-transfer and feature extraction address: conv layers and ResNet blocks.

`conv_layers(model)` (from `keras_ser.layers`) lists the conv layers in forward
order, numbered 1..N for anti-transfer; the builders create them in that order
(ResNet: a block's convs, then its shortcut conv, as torchvision does).
"""

from keras_ser.layers import conv_layers  # noqa: F401  (re-exported)


def resnet_block_output(model, stage, block):
    """The output tensor of block `block` of stage `stage` (both 1-based) of a `resnet18`/`resnet50` model.

    That is the post-ReLU output of the residual addition, the layer named
    "stage{stage}_block{block}_out". ResNet-50 has blocks [3, 4, 6, 3] per stage,
    ResNet-18 [2, 2, 2, 2].
    """
    names = {layer.name for layer in model.layers}
    name = f"stage{stage}_block{block}_out"
    if name not in names:
        blocks = {}
        for layer_name in names:
            parts = layer_name.split("_")
            if len(parts) == 3 and parts[2] == "out" and parts[0].startswith("stage"):
                blocks.setdefault(int(parts[0][5:]), []).append(int(parts[1][5:]))
        if not blocks:
            raise ValueError(f"model {model.name!r} has no ResNet blocks (layers named 'stage<s>_block<b>_out')")
        layout = ", ".join(f"stage {s}: blocks 1..{max(b)}" for s, b in sorted(blocks.items()))
        raise ValueError(f"model {model.name!r} has no stage {stage} block {block}; it has {layout}")
    return model.get_layer(name).output

