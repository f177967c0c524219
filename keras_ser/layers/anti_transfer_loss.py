"""The anti-transfer loss (thesis eq. 5.1-5.2 and the Table 5.6 variants)."""

import math

import keras
from keras import ops

AGGREGATIONS = ("gram", "mean", "sum", "max", "comp_mul")
SIMILARITIES = ("cos_squared", "sigmoid_mse")
# comp_mul: each activation is raised to this power before the channel product.
COMP_MUL_EXPONENT = 0.001
COMP_MUL_OFFSET = 1e-10
# Added to squared norms in the cosine so that all-zero feature maps give 0, not NaN.
COSINE_EPSILON = 1e-12


@keras.saving.register_keras_serializable(package="keras_ser")
class AntiTransferLoss(keras.losses.Loss):
    """Similarity between a pretrained and a trained feature map, scaled by `beta`.

    Called as ``loss(pretrained_features, trained_features)`` on two ``(B, H, W, C)``
    feature maps, it aggregates each example's map, compares the two aggregates
    with `similarity` and returns ``beta * mean_b similarity_b`` (the mean follows
    `reduction`; ``sample_weight`` weights examples as in any Keras loss).

    Aggregations (per example):
      - ``"gram"``: the C x C Gram matrix ``F^T F`` over the H*W positions
        (eq. 5.1), flattened.
      - ``"mean"`` | ``"sum"`` | ``"max"``: that reduction over the channel axis,
        pixel by pixel, giving an H x W map (thesis 5.4.5), flattened.
      - ``"comp_mul"``: the product over channels of ``(|x| + 1e-10) ** 0.001``,
        an H x W map. The absolute value (our addition) keeps maps with negative
        values finite; post-ReLU features are unchanged by it.

    Similarities (per example, between the two flattened aggregates a_p, a_t):
      - ``"cos_squared"``: ``(a_p . a_t / (|a_p| |a_t|))**2`` in [0, 1] (eq. 5.2);
        a tiny epsilon in the norms makes all-zero maps give 0.
      - ``"sigmoid_mse"``: ``-sigmoid(mean((a_p - a_t)**2))`` in [-1, -0.5].

    ``beta`` may be negative, which rewards similarity (the inverse-beta ablation,
    thesis 5.4.1), or zero.
    """

    def __init__(
        self,
        aggregation="gram",
        similarity="cos_squared",
        beta=1.0,
        name="anti_transfer",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if aggregation not in AGGREGATIONS:
            raise ValueError(
                f"AntiTransferLoss: unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}"
            )
        if similarity not in SIMILARITIES:
            raise ValueError(
                f"AntiTransferLoss: unknown similarity {similarity!r}; choose one of {', '.join(SIMILARITIES)}"
            )
        self.aggregation = aggregation
        self.similarity = similarity
        self.beta = check_beta(beta, "AntiTransferLoss")

    def aggregate(self, features):
        """The flattened per-example aggregate of ``(B, H, W, C)`` `features`: (B, C*C) or (B, H*W)."""
        features = ops.cast(features, self.dtype)
        if len(features.shape) != 4:
            raise ValueError(
                f"AntiTransferLoss: feature maps must be (batch, height, width, channels), got shape {tuple(features.shape)}"
            )
        if self.aggregation == "gram":
            # One batched matmul (B, C, H*W) x (B, H*W, C); on TensorFlow about twice as fast as an einsum.
            positions = ops.reshape(features, (ops.shape(features)[0], -1, features.shape[-1]))
            aggregate = ops.matmul(ops.transpose(positions, (0, 2, 1)), positions)
        elif self.aggregation == "mean":
            aggregate = ops.mean(features, axis=-1)
        elif self.aggregation == "sum":
            aggregate = ops.sum(features, axis=-1)
        elif self.aggregation == "max":
            aggregate = ops.max(features, axis=-1)
        else:
            aggregate = ops.prod(ops.power(ops.abs(features) + COMP_MUL_OFFSET, COMP_MUL_EXPONENT), axis=-1)
        return ops.reshape(aggregate, (ops.shape(aggregate)[0], -1))

    def similarities(self, pretrained_aggregate, trained_aggregate):
        """The unweighted `similarity` of each example's two aggregates, shape (B,)."""
        pretrained_aggregate = ops.cast(pretrained_aggregate, self.dtype)
        trained_aggregate = ops.cast(trained_aggregate, self.dtype)
        if self.similarity == "cos_squared":
            dot = ops.sum(pretrained_aggregate * trained_aggregate, axis=-1)
            norms = ops.sqrt(ops.sum(ops.square(pretrained_aggregate), axis=-1) + COSINE_EPSILON) * ops.sqrt(
                ops.sum(ops.square(trained_aggregate), axis=-1) + COSINE_EPSILON
            )
            return ops.square(dot / norms)
        return -ops.sigmoid(ops.mean(ops.square(pretrained_aggregate - trained_aggregate), axis=-1))

    def call(self, pretrained_features, trained_features):
        if tuple(pretrained_features.shape[1:]) != tuple(trained_features.shape[1:]):
            raise ValueError(
                "AntiTransferLoss: the pretrained and trained feature maps differ in shape: "
                f"{tuple(pretrained_features.shape)} vs {tuple(trained_features.shape)}"
            )
        return self.beta * self.similarities(self.aggregate(pretrained_features), self.aggregate(trained_features))

    def get_config(self):
        config = super().get_config()
        config.update(aggregation=self.aggregation, similarity=self.similarity, beta=self.beta)
        return config


def check_beta(beta, owner):
    """`beta` as a float; a ValueError naming `owner` unless it is a finite real number."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) and not hasattr(beta, "__float__"):
        raise ValueError(f"{owner}: beta must be a finite real number, got {beta!r}")
    value = float(beta)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: beta must be a finite real number, got {beta!r}")
    return value
