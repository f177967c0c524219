"""MTSConv2D against an independent numpy reference (np.interp kernels, sliding-window correlation)."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from keras_ser.layers import MTSConv2D
from keras_ser.layers.mts_conv import linear_interpolation_matrix

# ---------------------------------------------------------------- numpy reference


def interp_positions(new_length, length):
    """Where the resampled taps sit on the original tap grid: ends kept, a single tap at the centre."""
    return np.linspace(0.0, length - 1.0, new_length) if new_length > 1 else np.array([(length - 1) / 2.0])


def resample_kernel(kernel, new_time, new_freq, rescale=True):
    """Resample a (kt, kf, cin, cout) kernel with np.interp along time, then frequency."""
    kt, kf = kernel.shape[:2]
    along_time = np.apply_along_axis(
        lambda taps: np.interp(interp_positions(new_time, kt), np.arange(kt), taps), 0, kernel
    )
    resampled = np.apply_along_axis(
        lambda taps: np.interp(interp_positions(new_freq, kf), np.arange(kf), taps), 1, along_time
    )
    return resampled * (kt * kf / (new_time * new_freq)) if rescale else resampled


def interp_matrix(new_length, length):
    """The resampling as a matrix, built by np.interp of unit vectors (for the chain rule)."""
    return np.stack(
        [np.interp(interp_positions(new_length, length), np.arange(length), unit) for unit in np.eye(length)],
        axis=1,
    )


def dilate(kernel, dilation):
    """Insert zeros between taps: the dense kernel equivalent to a dilated one."""
    dt, df = dilation
    kt, kf = kernel.shape[:2]
    dense = np.zeros(((kt - 1) * dt + 1, (kf - 1) * df + 1, *kernel.shape[2:]))
    dense[::dt, ::df] = kernel
    return dense


def same_windows(x, extent):
    """Sliding windows of x zero-padded like TensorFlow's 'same' (pad (e-1)//2 before): (B, T, F, C, et, ef)."""
    et, ef = extent
    padded = np.pad(x, ((0, 0), ((et - 1) // 2, et - 1 - (et - 1) // 2), ((ef - 1) // 2, ef - 1 - (ef - 1) // 2), (0, 0)))
    return sliding_window_view(padded, extent, axis=(1, 2))


def mts_reference(x, kernel, branch_sizes, padding, dilation=(1, 1), rescale=True):
    """Branch outputs (before max and bias) as 'same' correlations; 'valid' = the unscaled kernel's valid crop."""
    kt, kf = kernel.shape[:2]
    branches, windows = [], []
    for new_time, new_freq in branch_sizes:
        dense = dilate(resample_kernel(kernel, new_time, new_freq, rescale), dilation)
        win = same_windows(x, dense.shape[:2])
        out = np.einsum("btfcij,ijco->btfo", win, dense)
        if padding == "valid":
            et, ef = (kt - 1) * dilation[0] + 1, (kf - 1) * dilation[1] + 1
            t0, f0 = (et - 1) // 2, (ef - 1) // 2
            out = out[:, t0 : t0 + x.shape[1] - et + 1, f0 : f0 + x.shape[2] - ef + 1]
            win = win[:, t0 : t0 + x.shape[1] - et + 1, f0 : f0 + x.shape[2] - ef + 1]
        branches.append(out)
        windows.append(win)
    return np.stack(branches), windows


def usage_reference(branches):
    """Per branch, the share of positions where it attains the max (exact ties count for each branch),
    and the share of positions whose winner float32 arithmetic could change (runners-up within 1e-4)."""
    best = branches.max(axis=0)
    gap = best - branches
    near_tie = ((gap > 0) & (gap <= 1e-4 * (1 + np.abs(best)))).any(axis=0)
    return (gap == 0).mean(axis=tuple(range(1, gap.ndim))), near_tie.mean()


def assert_usage(usage, branches):
    expected, ambiguous = usage_reference(branches)
    assert ambiguous < 0.01
    np.testing.assert_allclose(usage, expected, rtol=0, atol=ambiguous + 1e-7)


def set_weights(layer, rng, x_shape):
    """Build the layer and give it random kernel and bias; return them as numpy arrays."""
    layer.build(x_shape)
    kernel = rng.normal(size=layer.kernel.shape)
    bias = rng.normal(size=layer.bias.shape)
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    return kernel, bias


# ---------------------------------------------------------------- kernel resampling


@pytest.mark.parametrize("new_length,length", [(7, 10), (14, 10), (4, 5), (1, 5), (3, 1), (10, 10)])
def test_interpolation_matrix_matches_np_interp(new_length, length):
    values = np.random.default_rng(0).normal(size=length)
    expected = np.interp(interp_positions(new_length, length), np.arange(length), values)
    np.testing.assert_allclose(linear_interpolation_matrix(new_length, length) @ values, expected, atol=1e-12)


def test_branch_kernel_sizes_round_half_up():
    assert MTSConv2D(2, (10, 5)).branch_kernel_sizes == [(7, 5), (10, 5), (14, 5)]
    assert MTSConv2D(2, 5, scales=(0.5, 0.7, 1.0, 1.428, 2.0)).branch_kernel_sizes == [
        (3, 5), (4, 5), (5, 5), (7, 5), (10, 5)
    ]
    assert MTSConv2D(2, (4, 6), scales=(0.2, 1.0), freq_scales=(1.0, 0.5)).branch_kernel_sizes == [(1, 6), (4, 3)]


@pytest.mark.parametrize("rescale", [True, False])
def test_resampled_kernel_seen_through_an_impulse(rescale):
    # correlating a unit impulse returns the (flipped) kernel each branch actually uses
    layer = MTSConv2D(2, (10, 4), scales=(1.428,), freq_scales=(1.5,), padding="same", rescale_kernels=rescale,
                      use_bias=False, track_usage=False)
    x = np.zeros((1, 31, 15, 1), "float32")
    x[0, 15, 7, 0] = 1.0
    layer.build(x.shape)
    kernel = np.random.default_rng(1).normal(size=layer.kernel.shape)
    layer.kernel.assign(kernel)
    out = keras.ops.convert_to_numpy(layer(x))[0]
    expected = resample_kernel(kernel, 14, 6, rescale)[:, :, 0, :]
    # 'same' pads (14-1)//2 = 6 before in time and (6-1)//2 = 2 before in freq
    seen = out[15 + 6 - 13 : 15 + 6 + 1, 7 + 2 - 5 : 7 + 2 + 1][::-1, ::-1]
    np.testing.assert_allclose(seen, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- forward numerics


@pytest.mark.parametrize(
    "scales,freq_scales,padding,dilation,rescale",
    [
        ((0.7, 1.0, 1.428), None, "valid", (1, 1), True),
        ((0.7, 1.0, 1.428), None, "same", (1, 1), True),
        ((0.5, 0.7, 1.0, 1.428, 2.0), None, "valid", (1, 1), False),
        ((0.7, 1.0, 1.5), (1.0, 1.5, 0.6), "valid", (1, 1), True),
        ((0.6, 1.0, 1.4), (1.4, 1.0, 1.0), "same", (2, 1), False),
        ((0.7, 1.428), None, "valid", (1, 2), True),
    ],
)
def test_output_matches_numpy_reference(scales, freq_scales, padding, dilation, rescale):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 23, 13, 3)).astype("float32")
    layer = MTSConv2D(4, (5, 3), scales=scales, freq_scales=freq_scales, padding=padding,
                      dilation_rate=dilation, rescale_kernels=rescale, activation="relu")
    kernel, bias = set_weights(layer, rng, x.shape)
    branches, _ = mts_reference(x.astype("float64"), kernel, layer.branch_kernel_sizes, padding, dilation, rescale)
    expected = np.maximum(branches.max(axis=0) + bias, 0.0)
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_valid_strides_subsample_the_unstrided_output():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 24, 14, 2)).astype("float32")
    strided = MTSConv2D(3, (6, 3), strides=(3, 2))
    kernel, bias = set_weights(strided, rng, x.shape)
    branches, _ = mts_reference(x.astype("float64"), kernel, strided.branch_kernel_sizes, "valid")
    expected = (branches.max(axis=0) + bias)[:, ::3, ::2]
    out = keras.ops.convert_to_numpy(strided(x))
    assert out.shape == (2, 7, 6, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "padding,strides,dilation",
    [("valid", 1, 1), ("same", 1, 1), ("valid", (2, 3), 1), ("same", (2, 3), 1), ("valid", 1, (2, 1))],
)
def test_single_unit_scale_equals_conv2d(padding, strides, dilation):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 21, 17, 3)).astype("float32")
    conv = keras.layers.Conv2D(5, (4, 3), strides=strides, padding=padding, dilation_rate=dilation, activation="tanh")
    mts = MTSConv2D(5, (4, 3), scales=(1.0,), strides=strides, padding=padding, dilation_rate=dilation,
                    activation="tanh")
    conv.build(x.shape)
    mts.build(x.shape)
    mts.kernel.assign(conv.kernel)
    mts.bias.assign(rng.normal(size=5))
    conv.bias.assign(mts.bias)
    expected = keras.ops.convert_to_numpy(conv(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mts(x)), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, (2, 3)])
def test_output_shape_is_conv2d_shape(padding, strides):
    x = np.zeros((2, 40, 19, 2), "float32")
    conv = keras.layers.Conv2D(6, (10, 5), strides=strides, padding=padding)
    mts = MTSConv2D(6, (10, 5), scales=(0.5, 0.7, 1.0, 1.428, 2.0), strides=strides, padding=padding)
    assert mts(x).shape == conv(x).shape == mts.compute_output_shape(x.shape)
    symbolic = MTSConv2D(6, (10, 5), strides=strides, padding=padding)(keras.Input((40, 19, 2)))
    assert tuple(symbolic.shape) == (None, *conv(x).shape[1:])


# ---------------------------------------------------------------- parameters and gradients


def test_parameter_count_equals_conv2d():
    x_shape = (None, 64, 32, 3)
    conv = keras.layers.Conv2D(8, (10, 5))
    conv.build(x_shape)
    tracked = MTSConv2D(8, (10, 5), scales=(0.5, 0.7, 1.0, 1.428, 2.0))
    tracked.build(x_shape)
    untracked = MTSConv2D(8, (10, 5), track_usage=False)
    untracked.build(x_shape)
    assert conv.count_params() == 10 * 5 * 3 * 8 + 8 == 1208
    assert sum(int(np.prod(w.shape)) for w in tracked.trainable_weights) == 1208
    assert untracked.count_params() == 1208 and not untracked.non_trainable_weights
    # usage counters: one per branch plus the number of positions seen
    assert sum(int(np.prod(w.shape)) for w in tracked.non_trainable_weights) == 5 + 1


def test_kernel_gradient_flows_through_every_branch():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("uses tf.GradientTape")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 20, 9, 2))
    layer = MTSConv2D(3, (5, 3), scales=(0.6, 1.0, 1.5), freq_scales=(1.0, 1.0, 1.4), padding="valid")
    kernel, _ = set_weights(layer, rng, x.shape)
    branches, windows = mts_reference(x, kernel, layer.branch_kernel_sizes, "valid")
    upstream = rng.normal(size=branches.shape[1:])
    winner = branches.argmax(axis=0)
    per_branch = []
    for index, ((new_time, new_freq), win) in enumerate(zip(layer.branch_kernel_sizes, windows)):
        grad_resampled = np.einsum("btfcij,btfo->ijco", win, upstream * (winner == index))
        gain = (5 * 3) / (new_time * new_freq)
        per_branch.append(gain * np.einsum("it,ijco,jf->tfco", interp_matrix(new_time, 5), grad_resampled,
                                           interp_matrix(new_freq, 3)))
    x_tensor = tf.constant(x, "float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x_tensor, training=True) * upstream)
    grad = tape.gradient(loss, layer.kernel).numpy()
    stretched = per_branch[0] + per_branch[2]
    assert np.linalg.norm(stretched) > 0.2 * np.linalg.norm(sum(per_branch))  # the scaled branches matter
    np.testing.assert_allclose(grad, sum(per_branch), rtol=1e-3, atol=1e-3)


def test_stretched_branch_alone_trains_the_kernel():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("uses tf.GradientTape")
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 16, 6, 1))
    layer = MTSConv2D(1, (4, 2), scales=(2.0,), padding="same", use_bias=False)
    kernel = rng.normal(size=(4, 2, 1, 1))
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    win = same_windows(x, (8, 2))
    upstream = rng.normal(size=(1, 16, 6, 1))
    expected = (4 / 8) * np.einsum("it,ijco->tjco", interp_matrix(8, 4), np.einsum("btfcij,btfo->ijco", win, upstream))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.constant(x, "float32"), training=True) * upstream)
    grad = tape.gradient(loss, layer.kernel).numpy()
    assert np.abs(grad).max() > 0.1
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- branch usage


def test_branch_usage_matches_numpy_argmax_with_ties():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 30, 12, 2)).astype("float32")
    x[:, 8:22] = 0.0  # all branches answer exactly 0 inside: ties counted for every branch
    layer = MTSConv2D(3, (5, 3), scales=(0.5, 1.0, 1.428, 2.0), padding="same")
    kernel, _ = set_weights(layer, rng, x.shape)
    branches, _ = mts_reference(x.astype("float64"), kernel, layer.branch_kernel_sizes, "same")
    assert np.isnan(layer.branch_usage).all()
    layer(x, training=True)
    assert np.isnan(layer.branch_usage).all()  # training calls are not counted
    layer(x)
    assert_usage(layer.branch_usage, branches)
    assert layer.branch_usage.sum() > 1.2  # the zero block ties everywhere
    layer(x[:1])  # counts accumulate over calls: the first example now weighs twice
    assert_usage(layer.branch_usage, np.concatenate([branches, branches[:, :1]], axis=1))
    layer.reset_branch_usage()
    assert np.isnan(layer.branch_usage).all()


def test_branch_usage_from_model_predict():
    keras.utils.set_random_seed(8)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(6, 24, 10, 1)).astype("float32")
    inputs = keras.Input((24, 10, 1))
    mts = MTSConv2D(2, (6, 3), scales=(0.5, 1.0, 2.0))
    model = keras.Model(inputs, mts(inputs))
    model.compile("adam", "mse")
    model.fit(x, np.zeros((6, 19, 8, 2)), epochs=1, batch_size=3, verbose=0)
    assert np.isnan(mts.branch_usage).all()  # neither construction nor training counts
    model.predict(x, batch_size=4, verbose=0)
    branches, _ = mts_reference(x.astype("float64"), keras.ops.convert_to_numpy(mts.kernel),
                                mts.branch_kernel_sizes, "valid")
    assert_usage(mts.branch_usage, branches)
    assert mts.branch_usage.sum() >= 1.0


def test_untracked_layer_refuses_usage():
    layer = MTSConv2D(2, 3, track_usage=False)
    layer(np.zeros((1, 8, 8, 1), "float32"))
    with pytest.raises(RuntimeError, match="track_usage=True"):
        layer.branch_usage


# ---------------------------------------------------------------- serialisation and errors


def test_keras_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 30, 16, 2)).astype("float32")
    inputs = keras.Input((30, 16, 2))
    outputs = MTSConv2D(4, (6, 3), scales=(0.5, 1.0, 2.0), freq_scales=(1.0, 1.0, 1.4), strides=(2, 1),
                        activation="relu", rescale_kernels=False, kernel_regularizer="l2", name="mts")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("mts").bias.assign(rng.normal(size=4))
    path = tmp_path / "mts.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.get_layer("mts")
    assert isinstance(layer, MTSConv2D)
    assert layer.get_config() == model.get_layer("mts").get_config()
    assert layer.freq_scales == (1.0, 1.0, 1.4) and layer.rescale_kernels is False
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(filters=0), "`filters`"),
        (dict(kernel_size=(3,)), "`kernel_size`"),
        (dict(kernel_size=(3, 0)), "`kernel_size`"),
        (dict(kernel_size=(1.5, 2)), "`kernel_size`"),
        (dict(scales=()), "`scales` is empty"),
        (dict(scales=1.0), "`scales` must be a sequence"),
        (dict(scales="0.7"), "`scales` must be a sequence"),
        (dict(scales=(0.5, 0.0, 2.0)), "`scales` must contain only positive"),
        (dict(scales=(1.0, -2.0)), "`scales` must contain only positive"),
        (dict(scales=(1.0, float("nan"))), "`scales` must contain only positive"),
        (dict(freq_scales=(1.0, 2.0)), "`freq_scales` needs one factor per time scale"),
        (dict(freq_scales=(1.0, 0.0, 1.0)), "`freq_scales` must contain only positive"),
        (dict(scales=(1.0, 1.04)), "some of them equal"),
        (dict(padding="causal"), "`padding`"),
        (dict(strides=2, dilation_rate=2), "`strides`"),
        (dict(strides=(1, 0)), "`strides`"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    arguments = dict(filters=4, kernel_size=(5, 3))
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MTSConv2D(**arguments)


def test_input_shorter_than_kernel_raises():
    with pytest.raises(ValueError, match="time size 4 is shorter than the kernel"):
        MTSConv2D(2, (5, 3))(np.zeros((1, 4, 10, 1), "float32"))


# ---------------------------------------------------------------- JAX backend


JAX_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, keras, jax
    from keras_ser.layers import MTSConv2D
    data = np.load(sys.argv[1])
    x, kernel, bias = data["x"], data["kernel"], data["bias"]
    inputs = keras.Input(x.shape[1:])
    mts = MTSConv2D(kernel.shape[-1], kernel.shape[:2], scales=(0.6, 1.0, 1.5), padding="valid")
    model = keras.Model(inputs, mts(inputs))
    mts.kernel.assign(kernel)
    mts.bias.assign(bias)
    out = model.predict(x, batch_size=2, verbose=0)
    usage = mts.branch_usage
    def loss(k):
        (y, _) = mts.stateless_call([k, mts.bias.value], [v.value for v in mts.non_trainable_variables],
                                    x, training=True)
        return (y ** 2).sum()
    grad = np.asarray(jax.grad(loss)(mts.kernel.value))
    model.compile("sgd", "mse")
    model.fit(x, np.zeros_like(out), epochs=1, verbose=0)
    np.savez(sys.argv[2], out=out, usage=usage, grad=grad, sizes=np.array(mts.branch_kernel_sizes))
    """
)


def test_jax_backend_smoke(tmp_path):
    pytest.importorskip("jax")
    rng = np.random.default_rng(10)
    x = rng.normal(size=(3, 18, 9, 2)).astype("float32")
    kernel = rng.normal(size=(5, 3, 2, 3)).astype("float32")
    bias = rng.normal(size=3).astype("float32")
    np.savez(tmp_path / "in.npz", x=x, kernel=kernel, bias=bias)
    script = tmp_path / "jax_mts.py"
    script.write_text(JAX_SCRIPT)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.load(tmp_path / "out.npz")
    sizes = [tuple(s) for s in got["sizes"]]
    branches, _ = mts_reference(x.astype("float64"), kernel.astype("float64"), sizes, "valid")
    np.testing.assert_allclose(got["out"], branches.max(axis=0) + bias, rtol=1e-4, atol=1e-4)
    assert_usage(got["usage"], branches)
    assert np.abs(got["grad"]).max() > 0
