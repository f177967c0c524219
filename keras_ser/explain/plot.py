"""A PNG of a `GradCAM` in the style of the thesis's Fig. 5.5: the spectrogram in black on white, the map over it
as a heat map, translucent in proportion to its value."""

import os

import numpy as np

from keras_ser.training.plots import _figure, _save

# The heat map's opacity where the map is 1; it fades to transparent where the map is 0.
HEAT_OPACITY = 0.6
# The grey spectrogram spans this many dB below its loudest bin (linear magnitudes; log ones are shown as they are).
DYNAMIC_RANGE_DB = 80.0


def _levels(cam):
    """The spectrograms as drawn: dB (or the model's log magnitudes), and their colour limits."""
    if cam.preprocessor.stft.compression == "log":
        levels = cam.spectrograms
        return levels, levels.min(), levels.max()
    levels = 20.0 * np.log10(cam.spectrograms + 1e-10)
    return levels, levels.max() - DYNAMIC_RANGE_DB, levels.max()


def plot_grad_cam(cam, path, title=None):
    """Write `cam` over its spectrogram to `path` (PNG); returns the path.

    Each window is drawn from its start time (a later, overlapping window over an
    earlier one); time runs to the end of the clip. The y axis is in Hz for linear
    STFT bins, in mel bands for a mel front end.
    """
    stft, rate = cam.preprocessor.stft, cam.preprocessor.sample_rate
    levels, low, high = _levels(cam)
    top, unit = (stft.mel_bins, "mel band") if stft.mel_bins else (stft.frequency_bins * rate / stft.frame_length, "Hz")
    figure = _figure((9.0, 4.0))
    axes = figure.add_subplot()
    for start, level, heat in zip(cam.starts, levels, cam.maps):
        extent = (start, start + stft.time_steps * stft.hop_length / rate, 0, top)
        axes.imshow(level.T, origin="lower", aspect="auto", extent=extent, cmap="gray_r", vmin=low, vmax=high,
                    interpolation="nearest")
        image = axes.imshow(heat.T, origin="lower", aspect="auto", extent=extent, cmap="jet", vmin=0.0, vmax=1.0,
                            alpha=HEAT_OPACITY * heat.T, interpolation="nearest")
    figure.colorbar(image, ax=axes, label="Grad-CAM")
    axes.set_xlim(0, cam.duration)
    axes.set_xlabel("time (s)")
    axes.set_ylabel(f"frequency ({unit})")
    if title is None:
        title = f"{cam.class_name} (p = {cam.probability:.2f}): Grad-CAM at {cam.layer}"
        title = f"{os.path.basename(cam.source)}: {title}" if cam.source else title
    axes.set_title(title)
    return _save(figure, path)
