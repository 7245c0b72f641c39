"""sepia-blur: a fixed two-layer CNN, sepia toning and then a Gaussian blur, against scipy.

A 1×1 convolution holding the sepia matrix (then clipped to [0, 1]) and a 5×5 convolution that
blurs each channel with the course's 273-normalised Gaussian table, on one photo with 'valid'
and 'same' padding; checked against ``scipy.ndimage.correlate`` channel by channel. The
weights in the metrics are read back from the built layers.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from dataclasses import dataclass
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
from torch import nn

from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.plots import FIG_WIDTH
from stridelab.experiments.registry import bounded, register
from stridelab.programs.sepia_blur_cnn import GAUSS, SEPIA, apply_to_image, sepia_blur_net


VALID_SIZE = Lesson("Without padding the 5×5 blur maps the 128×128×3 image to 124×124×3 "
                    "(n − k + 1 per side)", "valid_size_error", "<=", quick=0, full=0,
                    label="pixels off n − k + 1")


@dataclass
class SepiaBlurConfig:
    image: str = "astronaut"  # skimage sample name or image file path (colour)
    size: int = bounded(128, ge=5)  # side of the square the image is centre-cropped and resized to
    #                                (pixels; at least the 5×5 blur)


def square_image(X: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop X (H, W) or (H, W, 3) to a square, resize to (size, size, 3), float64 [0, 1].

    Grey images are repeated on the three channels.
    """
    from skimage.transform import resize

    if X.ndim == 2:
        X = np.repeat(X[:, :, None], 3, axis=2)
    h, w = X.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    X = X[top:top + s, left:left + s]  # (s, s, 3)
    if s != size:
        X = resize(X, (size, size, 3), anti_aliasing=s > size)
    return np.clip(X, 0.0, 1.0)


def sepia_blur_scipy(X: np.ndarray, padding: Literal["valid", "same"] = "valid") -> np.ndarray:
    """The same two layers with NumPy and ``scipy.ndimage.correlate``: X (H, W, 3) -> (OH, OW, 3).

    "same" pads with zeros (``mode="constant"``), as the conv layer does; "valid" keeps only the
    positions where the 5×5 window lies inside the image.
    """
    from scipy.ndimage import correlate

    S = np.clip(X @ SEPIA.T, 0.0, 1.0)  # (H, W, 3): S[..., o] = Σ_i SEPIA[o, i]·X[..., i]
    out = np.stack([correlate(S[:, :, c], GAUSS, mode="constant", cval=0.0)
                    for c in range(3)], axis=2)  # (H, W, 3)
    return out[2:-2, 2:-2] if padding == "valid" else out


def _weights_text(net: nn.Sequential) -> str:
    """Both layers' weights, as numbers, for the log and ``weights.txt``."""
    w1 = net[0].weight.detach().double().cpu().numpy()  # (3, 3, 1, 1)
    w2 = net[2].weight.detach().double().cpu().numpy()  # (3, 3, 5, 5)
    rgb = "RGB"
    lines = [f"layer 1: Conv2d 1×1, 3 filters, weight shape {tuple(w1.shape)} (F, C, KH, KW), "
             "no bias; then clip to [0, 1]",
             "  filter (output channel) o: weights on input channels R, G, B"]
    for o in range(3):
        lines.append(f"  {rgb[o]}' = " + " + ".join(f"{w1[o, i, 0, 0]:.3f}·{rgb[i]}"
                                                    for i in range(3)))
    lines.append(f"layer 2: Conv2d 5×5, 3 filters, weight shape {tuple(w2.shape)} "
                 "(F, C, KH, KW), no bias")
    for o in range(3):
        for i in range(3):
            slab = w2[o, i]
            if np.any(slab):
                rows = "\n".join("      " + " ".join(f"{v * 273:4.0f}" for v in r) for r in slab)
                lines.append(f"  filter {o} ({rgb[o]}'), input channel {rgb[i]}: (1/273) ×\n"
                             + rows)
            else:
                lines.append(f"  filter {o} ({rgb[o]}'), input channel {rgb[i]}: all 25 "
                             "weights 0")
    return "\n".join(lines)


def layer_record(net: nn.Sequential) -> dict:
    """What the built layers hold, read back from their weights (float32 values rounded to 6
    decimals): the sepia matrix, the blur kernel and its integer table, counts and sums."""
    w1 = net[0].weight.detach().double().cpu().numpy()  # (3, 3, 1, 1)
    w2 = net[2].weight.detach().double().cpu().numpy()  # (3, 3, 5, 5)
    kernel = w2[0, 0]  # (5, 5): filter 0 on its own channel
    table = np.rint(kernel / kernel[kernel > 0].min())  # in multiples of the smallest weight
    off_diagonal = [w2[o, i] for o in range(3) for i in range(3) if o != i]
    return {
        "sepia_weights": np.round(w1[:, :, 0, 0], 6).tolist(),
        "sepia_row_sums": np.round(w1[:, :, 0, 0].sum(axis=1), 6).tolist(),
        "layer1_kernel": list(w1.shape[2:]), "layer2_kernel": list(w2.shape[2:]),
        "n_filters": int(w2.shape[0]),
        "gauss_table": table.astype(int).tolist(), "gauss_table_sum": int(table.sum()),
        "blur_filter_sums": [round(float(w2[o].sum()), 6) for o in range(3)],
        "blur_own_channel_only": bool(not any(np.any(w) for w in off_diagonal)),
        "n_weights": [int(w1.size), int(w2.size)],
        "n_nonzero_weights": [int(np.count_nonzero(w1)), int(np.count_nonzero(w2))],
        "same_padding": int(net[2].padding[0]) if isinstance(net[2].padding, tuple) else 0,
    }


def _sepia_figure(X, S, B, title: str):
    """Input, sepia, sepia + blur (RGB), and what the blur removed (heatmap with colorbar)."""
    fig, axes = plt.subplots(2, 2, figsize=(FIG_WIDTH, 8.6))
    axes = axes.ravel()
    crop = (S.shape[0] - B.shape[0]) // 2
    S_c = S[crop:S.shape[0] - crop, crop:S.shape[1] - crop]  # sepia on B's grid
    removed = np.abs(S_c - B).mean(axis=2)  # (OH, OW)
    panels = [(X, f"input {X.shape[0]}×{X.shape[1]}×{X.shape[2]}"),
              (S, f"sepia (1×1 conv + clip)\n{S.shape[0]}×{S.shape[1]}×{S.shape[2]}"),
              (B, f"sepia + 5×5 blur\n{B.shape[0]}×{B.shape[1]}×{B.shape[2]}")]
    for ax, (img, t) in zip(axes[:3], panels):
        ax.imshow(np.clip(img, 0, 1))
        ax.set_title(t)
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    im = axes[3].imshow(removed, cmap="magma")
    axes[3].set_title("|sepia − blurred|,\nmean over channels")
    axes[3].set_xlabel("x (pixel)")
    axes[3].set_ylabel("y (pixel)")
    fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.04, label="intensity change")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def measure(config: SepiaBlurConfig, ctx) -> dict:
    """The fixed two-layer CNN on one photo with valid and same padding, against scipy."""
    from stridelab.data.images import load_image
    from stridelab.torch.summary import summarize

    X = square_image(load_image(config.image), config.size)  # (H, W, 3)
    ctx.save_array(X, "inputs/photo.npy")  # the photo as the network saw it
    x = X.transpose(2, 0, 1)  # (3, H, W)
    nets = {p: sepia_blur_net(p) for p in ("valid", "same")}
    net = nets["valid"]
    text = _weights_text(net)
    ctx.log("weights of both layers:\n" + text)
    ctx.write_text("weights.txt", text + "\n")
    summary = summarize(net, (3, config.size, config.size))
    ctx.write_text("model_summary.md", summary.to_markdown() + "\n")
    layers = layer_record(net)
    layers["same_padding"] = layer_record(nets["same"])["same_padding"]

    S = apply_to_image(net[:2], x, ctx.device).transpose(1, 2, 0)  # (H, W, 3) sepia, clipped
    outputs, diffs = {}, {}
    for padding, n in nets.items():
        out = apply_to_image(n, x, ctx.device).transpose(1, 2, 0)  # (OH, OW, 3)
        ref = sepia_blur_scipy(X, padding)
        diffs[padding] = float(np.abs(out - ref).max())
        outputs[padding] = out
        ctx.log(f"{padding} padding: {X.shape} -> {out.shape}; max |torch − scipy| "
                f"{diffs[padding]:.2e}")
    B, same = outputs["valid"], outputs["same"]
    ctx.savefig(_sepia_figure(X, S, B, f"{config.image} through the fixed sepia-blur CNN "
                                       "(valid padding)"),
                "sepia_blur", caption="Input, sepia (1×1 conv, clipped), sepia + Gaussian "
                "blur (5×5 conv), and what the blur changed")

    raw = X @ SEPIA.T  # (H, W, 3) before the clip
    ring = np.ones(same.shape[:2], dtype=bool)
    pad = layers["same_padding"]
    ring[pad:-pad, pad:-pad] = False  # the border where "same" averages in zeros
    S_c = S[2:-2, 2:-2]  # sepia on the valid output's grid
    kh, kw = layers["layer2_kernel"]
    return {"max_abs_diff_scipy": max(diffs.values()), "max_abs_diff_valid": diffs["valid"],
            "max_abs_diff_same": diffs["same"], "image": config.image,
            "input_shape": list(X.shape), "valid_shape": list(B.shape),
            "same_shape": list(same.shape),
            "valid_size_error": int(abs(B.shape[0] - (X.shape[0] - kh + 1))
                                    + abs(B.shape[1] - (X.shape[1] - kw + 1))
                                    + abs(B.shape[2] - X.shape[2])),
            "clipped_fraction": (raw > 1.0).mean(axis=(0, 1)).tolist(),  # (3,) per channel
            "border_ratio_same": float(same[ring].mean() / S[ring].mean())
            if S[ring].mean() > 0 else 1.0,
            "neighbour_step_before": float(np.abs(np.diff(S_c, axis=1)).mean()),
            "neighbour_step_after": float(np.abs(np.diff(B, axis=1)).mean()),
            "n_params": summary.total_params, **layers, "device": ctx.device}


def narrate(metrics: dict, config: SepiaBlurConfig) -> Notes:
    """Each layer from its read-back weights, the output sizes, and the scipy check."""
    m = metrics
    notes = Notes()
    rgb = "RGB"
    row_sums, clipped_fraction = m["sepia_row_sums"], m["clipped_fraction"]
    n_weights, n_nonzero = m["n_weights"], m["n_nonzero_weights"]
    mix = ", ".join(f"{rgb[o]}' = " + " + ".join(f"{fmt(w, '.3f')}{rgb[i]}"
                                                for i, w in enumerate(row))
                    for o, row in enumerate(m["sepia_weights"]))
    clipped = [o for o in range(3) if row_sums[o] > 1]
    clipped_names = ", ".join(f"{rgb[o]}'" for o in clipped)
    k1 = "×".join(str(v) for v in m["layer1_kernel"])
    notes.add(
        f"**Layer 1, sepia as a {k1} convolution.** A kernel of one pixel mixes channels at each "
        f"pixel and never looks at neighbours: filter o holds row o of the sepia matrix, {mix} "
        f"({fmt(n_weights[0])} weights, no bias). The rows sum to "
        f"{fmt(row_sums[0], '.3f')}, {fmt(row_sums[1], '.3f')} and {fmt(row_sums[2], '.3f')},",
        notes.claim("clips", bool(clipped),
                    f"so bright pixels exceed the top of the range in {clipped_names}: on this "
                    f"image {fmt(clipped_fraction[0], '.1%')} of R', "
                    f"{fmt(clipped_fraction[1], '.1%')} of G' and "
                    f"{fmt(clipped_fraction[2], '.1%')} of B' values are clipped (a Hardtanh "
                    "layer between the convolutions clips to the unit interval).",
                    "so no channel can exceed the top of the range and the clip between the "
                    "convolutions changes nothing."))
    kh, kw = m["layer2_kernel"]
    notes.add(
        f"**Layer 2, a Gaussian blur.** Each of the {num(m, 'n_filters')} filters has "
        f"{kh}×{kw}×{num(m, 'n_filters')} weights, {fmt(n_weights[1])} in all; filter o "
        f"holds the Gaussian table divided by its sum, {num(m, 'gauss_table_sum')}, on input "
        f"channel o,",
        notes.claim("own_channel_only", m["blur_own_channel_only"],
                    f"and zeros on the others, so channels are blurred independently: only "
                    f"{fmt(n_nonzero[1])} of the {fmt(n_weights[1])} weights are "
                    "non-zero (a depthwise convolution, groups = C, would store just those).",
                    f"but also non-zero weights on other channels ({fmt(n_nonzero[1])} "
                    f"of {fmt(n_weights[1])} non-zero), so it mixes channels."),
        notes.claim("filters_sum_to_one", all(abs(s - 1) < 1e-6 for s in m["blur_filter_sums"]),
                    f"Each filter's weights sum to {fmt(m['blur_filter_sums'][0], 'g')}, so flat "
                    "regions keep their value;",
                    f"The filters' weights sum to {fmt(m['blur_filter_sums'][0], 'g')}, so flat "
                    "regions change brightness;"),
        notes.claim("blur_smooths", m["neighbour_step_after"] < m["neighbour_step_before"],
                    f"the mean step between horizontal neighbours drops from "
                    f"{num(m, 'neighbour_step_before', '.4f')} to "
                    f"{num(m, 'neighbour_step_after', '.4f')}.",
                    f"the mean step between horizontal neighbours does not drop "
                    f"({num(m, 'neighbour_step_before', '.4f')} before, "
                    f"{num(m, 'neighbour_step_after', '.4f')} after)."))
    shape = lambda key: "×".join(str(v) for v in m[key])  # noqa: E731
    notes.add(
        f"**Output sizes** for the {shape('input_shape')} input: without padding "
        f"{shape('valid_shape')}",
        notes.claim("valid_size_formula", VALID_SIZE.holds(m),
                    f"(n − k + 1 per side: {fmt(m['input_shape'][0])} − {kh} + 1),",
                    f"({num(m, 'valid_size_error')} pixel(s) off n − k + 1 per side),"),
        f"with 'same' padding {shape('same_shape')} ({num(m, 'same_padding')} zeros on each "
        f"side; on that border the zeros darken the result to "
        f"{num(m, 'border_ratio_same', '.3f')} of the sepia brightness).")
    notes.add(
        f"Checked against NumPy and `scipy.ndimage.correlate` with zero padding, channel by "
        f"channel on the same image: max |Δ| {num(m, 'max_abs_diff_valid', '.2e')} without "
        f"padding and {num(m, 'max_abs_diff_same', '.2e')} with 'same' padding, the conv "
        f"layers in float32 on {m['device']}.")
    return notes


register("sepia-blur", SepiaBlurConfig,
         description="A fixed two-layer CNN: 1×1 sepia conv + clip, then a 5×5 per-channel "
                     "Gaussian blur, checked against scipy.ndimage",
         quick={}, smoke={"size": 32}, needs=None, key_metric="max_abs_diff_scipy", order=61,
         narrate=narrate,
         lessons=(VALID_SIZE,
                  Lesson("The fixed sepia-blur CNN agrees with scipy.ndimage", "max_abs_diff_scipy",
                         "<=", quick=1e-5, full=1e-5,
                         label="max |CNN − scipy|"),))(measure)
