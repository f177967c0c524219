"""Anti-transfer learning (thesis Ch. 5) for any functional Keras model."""

import keras
import numpy as np
from keras import ops

from keras_ser.layers.anti_transfer_loss import AntiTransferLoss, check_beta
from keras_ser.layers.introspection import conv_layers, find_conv_layer, is_conv_layer, post_activation_layer

# Keys of the training-time output of AntiTransferModel.call and of precomputed inputs.
TASK_KEY = "anti_transfer_task"
FEATURES_KEY = "anti_transfer_features"
INPUTS_KEY = "inputs"
PRETRAINED_KEY = "pretrained_aggregates"


@keras.saving.register_keras_serializable(package="keras_ser")
class AntiTransferModel(keras.Model):
    """Trains `model` with the anti-transfer loss against frozen `pretrained` (same architecture).

    ``fit`` minimises the compiled task loss plus ``sum_l beta_l * L_AT,l``, where
    ``L_AT,l`` compares the post-activation outputs of conv layer l of both
    networks (see `AntiTransferLoss` and `post_activation_layer` for the rule).
    The AT term is logged as the metric ``at_loss`` and the unweighted
    similarity (summed over layers, so also visible with beta=0) as
    ``at_similarity``, both in training only. The AT term is an unweighted mean
    over the batch (sample weights apply to the task loss).
    ``predict``/``evaluate``/``__call__`` give the task outputs; ``evaluate``
    reports the task loss without the AT term.

    One forward pass of the task network yields both its outputs and the AT
    features. The pretrained network is frozen (``pretrained.trainable`` is set
    to False on the model passed in), runs in inference mode under ``stop_gradient`` and is truncated
    after the deepest AT layer. Layer l of `pretrained` is the layer at the same
    position of ``pretrained.layers`` as in ``model.layers``; the classes up to
    the deepest AT layer and the feature shapes must match.

    For fixed inputs (no augmentation), ``precompute(x)`` runs the pretrained
    network once and returns ``{"inputs": x, "pretrained_aggregates": [...]}``,
    which ``fit`` accepts as ``x``; the pretrained network is then not run during
    training.

    Saving: the trained network is ``at_model.task_model``, a plain functional
    model to ``save`` and load on its own. The wrapper itself also saves and
    loads (``.keras``) with both networks and its settings.

    Args:
        model: the functional task model to train.
        pretrained: functional model of the same architecture trained on the
            orthogonal task.
        at_layers: one conv layer or a list: 1-based conv numbers (forward order)
            or layer names (a non-conv layer's name uses its output as is).
        beta: the weight of the AT term, one for all layers or one per layer;
            negative rewards similarity.
        aggregation, similarity: as in `AntiTransferLoss`.
    """

    def __init__(
        self, model, pretrained, at_layers, beta=1.0, aggregation="gram", similarity="cos_squared", **kwargs
    ):
        super().__init__(**kwargs)
        specs = list(at_layers) if isinstance(at_layers, (list, tuple)) else [at_layers]
        if not specs:
            raise ValueError("AntiTransferModel: at_layers is empty; name at least one conv layer")
        betas = list(beta) if isinstance(beta, (list, tuple)) else [beta] * len(specs)
        if len(betas) != len(specs):
            raise ValueError(
                f"AntiTransferModel: got {len(betas)} beta values for {len(specs)} at_layers; "
                "give one beta, or one per layer"
            )
        self.at_layers = specs
        self.beta = [check_beta(b, "AntiTransferModel") for b in betas]
        self.aggregation = aggregation
        self.similarity = similarity
        self.at_losses = [
            AntiTransferLoss(aggregation, similarity, b, name=f"anti_transfer_{i + 1}") for i, b in enumerate(self.beta)
        ]

        trained_layers = [_feature_layer(model, spec) for spec in specs]
        positions = [model.layers.index(layer) for layer in trained_layers]
        pretrained_layers = _matching_layers(model, pretrained, positions)
        self.feature_layer_names = [layer.name for layer in trained_layers]

        self.task_model = model
        self.feature_model = keras.Model(
            model.input,
            {TASK_KEY: model.output, FEATURES_KEY: [layer.output for layer in trained_layers]},
            name=f"{model.name}_with_at_features",
        )
        pretrained.trainable = False
        self.pretrained_model = pretrained
        self.pretrained_features = keras.Model(
            pretrained.input, [layer.output for layer in pretrained_layers], name=f"{pretrained.name}_at_features"
        )
        self.at_loss_tracker = keras.metrics.Mean(name="at_loss")
        self.at_similarity_tracker = keras.metrics.Mean(name="at_similarity")
        self.built = True

    def call(self, inputs, training=None):
        """Task outputs; while training, ``{TASK_KEY: outputs, FEATURES_KEY: [features]}``."""
        inputs = _task_inputs(inputs)
        if not training:
            return self.task_model(inputs, training=training)
        return self.feature_model(inputs, training=True)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not _is_training_output(y_pred):
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        loss = super().compute_loss(x, y, y_pred[TASK_KEY], sample_weight, training=training)
        pretrained = self._pretrained_aggregates(x)
        similarities = [
            ops.mean(at.similarities(reference, at.aggregate(features)))
            for at, reference, features in zip(self.at_losses, pretrained, y_pred[FEATURES_KEY])
        ]
        at_loss = ops.sum(ops.stack([at.beta * s for at, s in zip(self.at_losses, similarities)]))
        self.at_loss_tracker.update_state(at_loss)
        self.at_similarity_tracker.update_state(ops.sum(ops.stack(similarities)))
        return loss + ops.cast(at_loss, loss.dtype)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if _is_training_output(y_pred):
            return super().compute_metrics(x, y, y_pred[TASK_KEY], sample_weight)
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        for tracker in (self.at_loss_tracker, self.at_similarity_tracker):
            logs.pop(tracker.name, None)  # the AT term is not computed outside training
        return logs

    def _pretrained_aggregates(self, x):
        """Per AT layer, the aggregated pretrained features of batch `x` (precomputed or computed now)."""
        if _is_precomputed(x):
            return [ops.stop_gradient(ops.convert_to_tensor(a)) for a in x[PRETRAINED_KEY]]
        features = self.pretrained_features(x, training=False)
        features = features if isinstance(features, (list, tuple)) else [features]
        return [at.aggregate(ops.stop_gradient(f)) for at, f in zip(self.at_losses, features)]

    def precompute(self, x, batch_size=32):
        """``{"inputs": x, "pretrained_aggregates": [one (N, ...) array per AT layer]}`` for ``fit``.

        Runs the frozen network once over the array (or list of arrays) `x`; the
        result replaces `x` in ``fit`` when the inputs stay fixed (no augmentation).
        Gram aggregates take N * C**2 floats per layer.
        """
        features = self.pretrained_features.predict(x, batch_size=batch_size, verbose=0)
        features = features if isinstance(features, (list, tuple)) else [features]
        aggregates = [
            np.concatenate(
                [
                    ops.convert_to_numpy(at.aggregate(f[start : start + batch_size]))
                    for start in range(0, len(f), batch_size)
                ]
            )
            for at, f in zip(self.at_losses, features)
        ]
        return {INPUTS_KEY: x, PRETRAINED_KEY: aggregates}

    def get_config(self):
        config = super().get_config()
        config.update(
            model=keras.saving.serialize_keras_object(self.task_model),
            pretrained=keras.saving.serialize_keras_object(self.pretrained_model),
            at_layers=self.at_layers,
            beta=self.beta,
            aggregation=self.aggregation,
            similarity=self.similarity,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        config["pretrained"] = keras.saving.deserialize_keras_object(config["pretrained"])
        return cls(**config)


def _feature_layer(model, spec):
    """The layer whose output is the AT feature map for `spec` in `model`."""
    layer = find_conv_layer(model, spec)
    if is_conv_layer(layer):
        layer = post_activation_layer(model, layer)
    if len(layer.output.shape) != 4:
        raise ValueError(
            f"AntiTransferModel: layer {layer.name!r} (at_layers entry {spec!r}) outputs shape "
            f"{layer.output.shape}; anti-transfer needs (batch, height, width, channels) feature maps"
        )
    return layer


def _matching_layers(model, pretrained, positions):
    """The layers of `pretrained` at `positions`, after checking it matches `model` up to there."""
    if not isinstance(pretrained, keras.Model):
        raise TypeError(
            f"AntiTransferModel: pretrained must be a functional keras.Model, got {type(pretrained).__name__}"
        )
    if pretrained is model:
        raise ValueError(
            "AntiTransferModel: pretrained is the task model itself; pass a separate model "
            "(e.g. keras.models.clone_model(model) with the orthogonal task's weights)"
        )
    conv_layers(pretrained)  # raises a TypeError unless functional
    deepest = max(positions)
    if len(pretrained.layers) <= deepest:
        raise ValueError(
            f"AntiTransferModel: pretrained model {pretrained.name!r} has {len(pretrained.layers)} layers, "
            f"fewer than the {deepest + 1} of {model.name!r} up to its deepest AT layer; "
            "both must share the architecture"
        )
    for position, (ours, theirs) in enumerate(zip(model.layers[: deepest + 1], pretrained.layers)):
        if type(ours) is not type(theirs) or tuple(ours.output.shape[1:]) != tuple(theirs.output.shape[1:]):
            raise ValueError(
                f"AntiTransferModel: layer {position} differs between the models: {ours.name!r} "
                f"({type(ours).__name__}, output {ours.output.shape}) in {model.name!r} vs {theirs.name!r} "
                f"({type(theirs).__name__}, output {theirs.output.shape}) in {pretrained.name!r}; "
                "the pretrained model must have the task model's architecture up to the deepest AT layer"
            )
    return [pretrained.layers[p] for p in positions]


def _is_training_output(y_pred):
    return isinstance(y_pred, dict) and FEATURES_KEY in y_pred


def _is_precomputed(x):
    return isinstance(x, dict) and set(x) == {INPUTS_KEY, PRETRAINED_KEY}


def _task_inputs(inputs):
    return inputs[INPUTS_KEY] if _is_precomputed(inputs) else inputs
