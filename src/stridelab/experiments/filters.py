"""Hand-set filters as convolution layers: Sobel edges on photos, sepia toning and a Gaussian blur.

Two registered experiments with fixed (not learned) weights:

* ``fixed-filters``: one ``nn.Conv2d`` whose two 3×3 filters are the Sobel kernels W0
  (horizontal derivative) and W1 (vertical derivative), applied to grey photos; the same
  outputs are computed by the NumPy engine (:func:`stridelab.core.functional.conv2d`) and the
  largest difference is recorded.
* ``sepia-blur``: a two-layer CNN, a 1×1 convolution holding the sepia matrix (then clipped to
  [0, 1]) and a 5×5 convolution that blurs each channel with the 273-normalised Gaussian table;
  checked against ``scipy.ndimage.correlate`` channel by channel.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from stridelab.errors import ConfigError
from stridelab.experiments.registry import register

# ---------------------------------------------------------------------------------------------
# the fixed weights

# Sobel kernels (cross-correlation, as nn.Conv2d computes): W0 = d/dx (right minus left),
# W1 = d/dy (bottom minus top), each a [1, 2, 1] smoothing times a [-1, 0, 1] difference.
SOBEL_W0 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
SOBEL_W1 = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64)

# Sepia: row o gives output channel o (R', G', B') from the input (R, G, B).
SEPIA = np.array([[0.393, 0.769, 0.189],
                  [0.349, 0.686, 0.168],
                  [0.272, 0.534, 0.131]], dtype=np.float64)

# The 5×5 Gaussian table of the course; its entries sum to 273.
GAUSS_TABLE = np.array([[1, 4, 7, 4, 1],
                        [4, 16, 26, 16, 4],
                        [7, 26, 41, 26, 7],
                        [4, 16, 26, 16, 4],
                        [1, 4, 7, 4, 1]], dtype=np.float64)
GAUSS = GAUSS_TABLE / GAUSS_TABLE.sum()


def sobel_weights() -> np.ndarray:
    """The two Sobel filters as a conv weight of shape (F=2, C=1, 3, 3)."""
    return np.stack([SOBEL_W0, SOBEL_W1])[:, None]


def sepia_weights() -> np.ndarray:
    """The sepia matrix as a 1×1 conv weight of shape (F=3, C=3, 1, 1): w[o, i] = SEPIA[o, i]."""
    return SEPIA[:, :, None, None].copy()


def blur_weights() -> np.ndarray:
    """Per-channel Gaussian blur as a conv weight (F=3, C=3, 5, 5): GAUSS on the diagonal o = i,
    zeros elsewhere, so filter o reads channel o only."""
    w = np.zeros((3, 3, 5, 5))
    for c in range(3):
        w[c, c] = GAUSS
    return w


def _fixed_conv(weight: np.ndarray, padding: int | str) -> nn.Conv2d:
    """An ``nn.Conv2d`` without bias whose weight (F, C, KH, KW) is set and frozen."""
    f, c, kh, kw = weight.shape
    conv = nn.Conv2d(c, f, (kh, kw), padding=padding, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
    conv.weight.requires_grad_(False)
    return conv


def sobel_net() -> nn.Conv2d:
    """One conv layer, 1 → 2 channels, 3×3, valid padding, weights W0 and W1."""
    return _fixed_conv(sobel_weights(), padding=0)


def sepia_blur_net(padding: Literal["valid", "same"] = "valid") -> nn.Sequential:
    """1×1 sepia conv → clip to [0, 1] → 5×5 per-channel Gaussian blur.

    ``padding="valid"`` maps (N, 3, H, W) to (N, 3, H − 4, W − 4); ``"same"`` pads 2 zeros on
    each side and keeps (H, W).
    """
    if padding not in ("valid", "same"):
        raise ConfigError(f"--set padding={padding}: choose valid or same")
    return nn.Sequential(_fixed_conv(sepia_weights(), padding=0),
                         nn.Hardtanh(0.0, 1.0),  # clip to [0, 1]
                         _fixed_conv(blur_weights(), padding=0 if padding == "valid" else 2))


@torch.no_grad()
def _apply(net: nn.Module, X: np.ndarray, device) -> np.ndarray:
    """Run ``net`` in float32 on ``device`` over one image X (C, H, W); returns (F, OH, OW)."""
    net = net.to(device).eval()
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))[None].to(device)
    return net(x)[0].double().cpu().numpy()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _names(spec: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ConfigError("--set images: give one or more image names or file paths, "
                          "comma-separated, e.g. --set images=camera,astronaut")
    return names


def _shrink(X: np.ndarray, max_side: int) -> np.ndarray:
    """Resize so the longer side is at most ``max_side`` pixels (0: keep the size)."""
    if max_side <= 0 or max(X.shape[:2]) <= max_side:
        return X
    from skimage.transform import resize

    scale = max_side / max(X.shape[:2])
    shape = (max(3, round(X.shape[0] * scale)), max(3, round(X.shape[1] * scale)))
    return np.clip(resize(X, shape + X.shape[2:], anti_aliasing=True), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# fixed-filters: Sobel edges


@dataclass
class FixedFiltersConfig:
    images: str = "camera,astronaut"  # comma-separated skimage sample names or image file paths
    max_side: int = 512  # longer image side in pixels after resizing (0: keep the size)
    edge_threshold: float = 0.5  # |response| above which a pixel counts as an edge


def sobel_engine(X: np.ndarray) -> np.ndarray:
    """The two Sobel outputs of a grey image X (H, W) by the NumPy engine: (2, H − 2, W − 2)."""
    from stridelab.core.functional import conv2d

    return conv2d(X[None, None], sobel_weights(), padding="valid").data[0]  # (2, OH, OW)


def _weights_figure(W: np.ndarray, names: list[str], title: str):
    """Heatmaps of a few small kernels with each weight written in its cell."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(W), figsize=(3.2 * len(W), 3.0), squeeze=False)
    lim = float(np.abs(W).max()) or 1.0
    for ax, w, name in zip(axes[0], W, names):
        im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for (i, j), v in np.ndenumerate(w):
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=10)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("kernel column b")
        ax.set_ylabel("kernel row a")
        ax.set_xticks(range(w.shape[1]))
        ax.set_yticks(range(w.shape[0]))
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="weight")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _sobel_figure(images: dict[str, np.ndarray], outputs: dict[str, np.ndarray]):
    """One row per image: the input, each filter's output and the gradient magnitude."""
    plt = _plt()
    fig, axes = plt.subplots(len(images), 4, figsize=(17, 4.0 * len(images)), squeeze=False)
    for row, (name, X) in enumerate(images.items()):
        G = outputs[name]  # (2, OH, OW)
        lim = float(np.abs(G).max()) or 1.0
        panels = [(X, f"{name}: input {X.shape[0]}×{X.shape[1]}", "gray", 0.0, 1.0,
                   "grey level"),
                  (G[0], f"W0 (d/dx) output {G.shape[1]}×{G.shape[2]}: vertical edges",
                   "RdBu_r", -lim, lim, "response"),
                  (G[1], f"W1 (d/dy) output {G.shape[1]}×{G.shape[2]}: horizontal edges",
                   "RdBu_r", -lim, lim, "response"),
                  (np.hypot(G[0], G[1]), "magnitude √(out0² + out1²)", "magma", 0.0, None,
                   "|gradient|")]
        for ax, (img, title, cmap, vmin, vmax, label) in zip(axes[row], panels):
            im = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("x (pixel)")
            ax.set_ylabel("y (pixel)")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    fig.suptitle("One Conv2d layer with the Sobel filters W0 and W1 (valid padding); "
                 "red = positive, blue = negative")
    fig.tight_layout()
    return fig


@register("fixed-filters", FixedFiltersConfig,
          description="One Conv2d layer fixed to the Sobel filters W0, W1 on two photos, "
                      "checked against the NumPy engine",
          quick={"max_side": 256}, smoke={"max_side": 48}, needs=None,
          key_metric="max_abs_diff_engine", order=60)
def run_fixed_filters(config: FixedFiltersConfig, ctx) -> dict:
    from stridelab.data.images import load_image

    if config.max_side != 0 and config.max_side < 3:
        raise ConfigError(f"--set max_side={config.max_side}: need at least 3 pixels "
                          "(the kernel is 3×3), or 0 to keep the size")
    net = sobel_net()
    W = sobel_weights()
    ctx.log("conv weight (F, C, KH, KW) = " + str(tuple(W.shape)) + "\n"
            + "\n".join(f"W{k} =\n{W[k, 0].astype(int)}" for k in range(len(W))))
    ctx.savefig(_weights_figure(W[:, 0], ["W0 (d/dx, Sobel x)", "W1 (d/dy, Sobel y)"],
                                "The fixed 3×3 weights of the conv layer"),
                "sobel_weights", caption="The two fixed filters W0 and W1")

    images, outputs, per_image = {}, {}, {}
    worst = 0.0
    for name in _names(config.images):
        X = _shrink(load_image(name, gray=True), config.max_side)  # (H, W) in [0, 1]
        if min(X.shape) < 3:
            raise ConfigError(f"image {name!r} is {X.shape[0]}×{X.shape[1]}: need at least 3×3")
        G = _apply(net, X[None], ctx.device)  # (2, H − 2, W − 2), torch in float32
        G_ref = sobel_engine(X)  # (2, H − 2, W − 2), engine in float64
        diff = float(np.abs(G - G_ref).max())
        worst = max(worst, diff)
        label = name if len(name) < 40 else "…" + name[-38:]
        images[label], outputs[label] = X, G
        mag = np.hypot(G[0], G[1])
        per_image[label] = {
            "input_shape": list(X.shape), "output_shape": list(G.shape),
            "max_abs_diff_engine": diff,
            "min": [float(g.min()) for g in G], "max": [float(g.max()) for g in G],
            "mean_abs": [float(np.abs(g).mean()) for g in G],
            "edge_fraction": [float(np.mean(np.abs(g) > config.edge_threshold)) for g in G],
            "magnitude_mean": float(mag.mean()), "magnitude_max": float(mag.max())}
        ctx.log(f"{label}: {X.shape} -> {G.shape}; mean |out| W0 {per_image[label]['mean_abs'][0]:.4f}"
                f", W1 {per_image[label]['mean_abs'][1]:.4f}; max |torch − engine| {diff:.2e}")
    ctx.savefig(_sobel_figure(images, outputs), "sobel_outputs",
                caption="Each photo and the output of each fixed filter, with the gradient "
                "magnitude")

    lines = []
    for label, r in per_image.items():
        lines.append(
            f"*{label}* ({r['input_shape'][0]}×{r['input_shape'][1]} → "
            f"{r['output_shape'][1]}×{r['output_shape'][2]} per filter): W0 ranges "
            f"{r['min'][0]:.2f} … {r['max'][0]:.2f} (mean |out| {r['mean_abs'][0]:.4f}, "
            f"{100 * r['edge_fraction'][0]:.1f}% of pixels above {config.edge_threshold}), W1 "
            f"{r['min'][1]:.2f} … {r['max'][1]:.2f} (mean |out| {r['mean_abs'][1]:.4f}, "
            f"{100 * r['edge_fraction'][1]:.1f}%)")
    ctx.note(
        "**What the Sobel filters detect.** W0 = [[-1,0,1],[-2,0,2],[-1,0,1]] subtracts the "
        "left column from the right one, weighting the middle row twice: it is a horizontal "
        "derivative d/dx, smoothed vertically by [1, 2, 1], so it responds to *vertical* edges "
        "(positive where the image gets brighter to the right, negative where it gets darker). "
        "W1 is its transpose, a vertical derivative d/dy that responds to *horizontal* edges. "
        "Each filter's weights sum to 0, so a flat region gives exactly 0, and for pixels in "
        "[0, 1] the response lies in [−4, 4] (the positive weights sum to 4: a black-to-white "
        "step across the kernel). √(out0² + out1²) is the edge strength in any direction. "
        "With valid padding a 3×3 kernel shortens each side by 2.")
    ctx.note("Measured: " + "; ".join(lines) + ".")
    ctx.note(
        f"The same two outputs computed by the NumPy engine (`core.functional.conv2d`, float64) "
        f"and by `torch.nn.Conv2d` (float32, on {ctx.device}) differ by at most "
        f"**{worst:.2e}**, float32 rounding: both compute the cross-correlation "
        "out[i, j] = Σ_a Σ_b W[a, b]·X[i + a, j + b] (no kernel flip).")
    return {"max_abs_diff_engine": worst, "images": per_image,
            "weights": {"W0": SOBEL_W0, "W1": SOBEL_W1}, "device": ctx.device}


# ---------------------------------------------------------------------------------------------
# sepia-blur


@dataclass
class SepiaBlurConfig:
    image: str = "astronaut"  # skimage sample name or image file path (colour)
    size: int = 128  # the image is centre-cropped to a square and resized to size×size pixels


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


def _sepia_figure(X, S, B, title: str):
    """Input, sepia, sepia + blur (RGB), and what the blur removed (heatmap with colorbar)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.6))
    crop = (S.shape[0] - B.shape[0]) // 2
    S_c = S[crop:S.shape[0] - crop, crop:S.shape[1] - crop]  # sepia on B's grid
    removed = np.abs(S_c - B).mean(axis=2)  # (OH, OW)
    panels = [(X, f"input {X.shape[0]}×{X.shape[1]}×{X.shape[2]}"),
              (S, f"sepia (1×1 conv + clip) {S.shape[0]}×{S.shape[1]}×{S.shape[2]}"),
              (B, f"sepia + 5×5 blur {B.shape[0]}×{B.shape[1]}×{B.shape[2]}")]
    for ax, (img, t) in zip(axes[:3], panels):
        ax.imshow(np.clip(img, 0, 1))
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    im = axes[3].imshow(removed, cmap="magma")
    axes[3].set_title("|sepia − blurred|, mean over channels", fontsize=10)
    axes[3].set_xlabel("x (pixel)")
    axes[3].set_ylabel("y (pixel)")
    fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.04, label="intensity change")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@register("sepia-blur", SepiaBlurConfig,
          description="A fixed two-layer CNN: 1×1 sepia conv + clip, then a 5×5 per-channel "
                      "Gaussian blur, checked against scipy.ndimage",
          quick={}, smoke={"size": 32}, needs=None, key_metric="max_abs_diff_scipy", order=61)
def run_sepia_blur(config: SepiaBlurConfig, ctx) -> dict:
    from stridelab.data.images import load_image
    from stridelab.torch.summary import summarize

    if config.size < 5:
        raise ConfigError(f"--set size={config.size}: need at least 5 pixels for the 5×5 blur")
    X = square_image(load_image(config.image), config.size)  # (H, W, 3)
    x = X.transpose(2, 0, 1)  # (3, H, W)
    nets = {p: sepia_blur_net(p) for p in ("valid", "same")}
    net = nets["valid"]
    text = _weights_text(net)
    ctx.log("weights of both layers:\n" + text)
    ctx.write_text("weights.txt", text + "\n")
    summary = summarize(net, (3, config.size, config.size))
    ctx.write_text("model_summary.md", summary.to_markdown() + "\n")

    S = _apply(net[:2], x, ctx.device).transpose(1, 2, 0)  # (H, W, 3) sepia, clipped
    outputs, diffs = {}, {}
    for padding, n in nets.items():
        out = _apply(n, x, ctx.device).transpose(1, 2, 0)  # (OH, OW, 3)
        ref = sepia_blur_scipy(X, padding)
        diffs[padding] = float(np.abs(out - ref).max())
        outputs[padding] = out
        ctx.log(f"{padding} padding: {X.shape} -> {out.shape}; max |torch − scipy| "
                f"{diffs[padding]:.2e}")
    B = outputs["valid"]
    ctx.savefig(_sepia_figure(X, S, B, f"{config.image} through the fixed sepia-blur CNN "
                                       "(valid padding)"),
                "sepia_blur", caption="Input, sepia (1×1 conv, clipped), sepia + Gaussian "
                "blur (5×5 conv), and what the blur changed")

    # -- numbers for the report ---------------------------------------------------------------
    raw = X @ SEPIA.T  # (H, W, 3) before the clip
    clipped = (raw > 1.0).mean(axis=(0, 1))  # (3,) fraction clipped per channel
    same = outputs["same"]
    ring = np.ones(same.shape[:2], dtype=bool)
    ring[2:-2, 2:-2] = False  # the 2-pixel border where "same" averages in zeros
    border_ratio = float(same[ring].mean() / S[ring].mean()) if S[ring].mean() > 0 else 1.0
    S_c = S[2:-2, 2:-2]
    hf_before = float(np.abs(np.diff(S_c, axis=1)).mean())  # mean horizontal neighbour step
    hf_after = float(np.abs(np.diff(B, axis=1)).mean())
    sums = SEPIA.sum(axis=1)
    worst = max(diffs.values())
    ctx.note(
        "**Layer 1, sepia as a 1×1 convolution.** A 1×1 kernel mixes channels at each pixel "
        "and never looks at neighbours: filter o holds row o of the sepia matrix, so "
        "R' = .393R + .769G + .189B, G' = .349R + .686G + .168B, B' = .272R + .534G + .131B "
        f"({summary.layers[0].formula} parameters, no bias). The rows sum to "
        f"{sums[0]:.3f}, {sums[1]:.3f} and {sums[2]:.3f}, so bright pixels exceed 1 in R' and "
        f"G': on this image {100 * clipped[0]:.1f}% of R', {100 * clipped[1]:.1f}% of G' and "
        f"{100 * clipped[2]:.1f}% of B' values are clipped to 1 (the clip is a Hardtanh(0, 1) "
        "layer between the convolutions).")
    ctx.note(
        "**Layer 2, a per-channel Gaussian blur.** Each of the 3 filters has 5×5×3 weights "
        f"({summary.layers[2].formula}); filter o holds the Gaussian table / 273 on input "
        "channel o and zeros on the other two, so channels are blurred independently (only 75 "
        "of the 225 weights are non-zero; a depthwise conv with groups = 3 would store just "
        "those). The table sums to 273, so the weights sum to 1 and flat regions keep their "
        f"value; the mean step between horizontal neighbours drops from {hf_before:.4f} to "
        f"{hf_after:.4f}. Output sizes for a {config.size}×{config.size}×3 input: valid "
        f"padding {B.shape[0]}×{B.shape[1]}×{B.shape[2]} ({config.size} − 5 + 1), same "
        f"padding {same.shape[0]}×{same.shape[1]}×{same.shape[2]} (2 zeros on each side; on "
        f"the 2-pixel border the zeros darken the result to {border_ratio:.3f} of the sepia "
        "brightness).")
    ctx.note(
        f"Checked against NumPy + `scipy.ndimage.correlate` (mode constant, cval 0) on each "
        f"channel of the same image: max |difference| {diffs['valid']:.2e} (valid) and "
        f"{diffs['same']:.2e} (same), float32 rounding of the conv layers on {ctx.device}.")
    return {"max_abs_diff_scipy": worst, "max_abs_diff_valid": diffs["valid"],
            "max_abs_diff_same": diffs["same"], "image": config.image,
            "input_shape": list(X.shape), "valid_shape": list(B.shape),
            "same_shape": list(same.shape), "clipped_fraction": clipped,
            "border_ratio_same": border_ratio, "neighbour_step_before": hf_before,
            "neighbour_step_after": hf_after, "n_params": summary.total_params,
            "sepia_weights": SEPIA, "gauss_table": GAUSS_TABLE, "device": ctx.device}
