"""Hand-set filters as convolution layers: Sobel edges on photos, sepia toning and a Gaussian blur.

Two registered experiments with fixed (not learned) weights:

* ``fixed-filters``: one ``nn.Conv2d`` whose two 3×3 filters are the Sobel kernels W0
  (horizontal derivative) and W1 (vertical derivative), applied to grey photos; the same
  outputs are computed by the NumPy engine (:func:`stridelab.core.functional.conv2d`) and the
  largest difference is recorded.
* ``sepia-blur``: a two-layer CNN, a 1×1 convolution holding the sepia matrix (then clipped to
  [0, 1]) and a 5×5 convolution that blurs each channel with the 273-normalised Gaussian table;
  checked against ``scipy.ndimage.correlate`` channel by channel.

Each study is ``measure(config, ctx) -> metrics`` and a pure ``narrate(metrics, config)``; the
weights in the metrics are read back from the built layers, and what each filter responds to is
measured on probe images (a vertical and a horizontal step edge, a flat grey image).
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from stridelab.errors import ConfigError
from stridelab.experiments.narrate import Lesson, Notes, claim, num
from stridelab.experiments.registry import bounded, register

FIG_WIDTH = 9.0  # inches: a figure this wide keeps 10 pt text legible at report width

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


def _image_label(name: str, taken: set[str]) -> str:
    """A short key for an image: a sample name as it is, a file by its stem (made unique)."""
    label = Path(name).stem if ("/" in name or Path(name).suffix) else name
    base, i = label, 2
    while label in taken:
        label, i = f"{base}-{i}", i + 1
    taken.add(label)
    return label


def _rows_text(w: np.ndarray) -> str:
    """A small matrix as one line, rows separated by " / " (for the log)."""
    return " / ".join(" ".join(f"{v:g}" for v in row) for row in w)


# ---------------------------------------------------------------------------------------------
# fixed-filters: Sobel edges


@dataclass
class FixedFiltersConfig:
    images: str = "camera,astronaut"  # comma-separated skimage sample names or image file paths
    max_side: int = 512  # longer image side in pixels after resizing (0: keep the size)
    edge_threshold: float = 0.5  # |response| above which a pixel counts as an edge
    probe_size: int = bounded(8, ge=4)  # side of the probe images (step edges, flat grey), pixels


def sobel_engine(X: np.ndarray) -> np.ndarray:
    """The two Sobel outputs of a grey image X (H, W) by the NumPy engine: (2, H − 2, W − 2)."""
    from stridelab.core.functional import conv2d

    return conv2d(X[None, None], sobel_weights(), padding="valid").data[0]  # (2, OH, OW)


def sobel_scipy(X: np.ndarray) -> np.ndarray:
    """The same by ``scipy.signal.correlate2d`` (mode "valid"): (2, H − 2, W − 2)."""
    from scipy.signal import correlate2d

    return np.stack([correlate2d(X, w, mode="valid") for w in (SOBEL_W0, SOBEL_W1)])


def probe_images(size: int) -> dict[str, np.ndarray]:
    """Probe images (size, size) in [0, 1]: a vertical black-to-white step (dark left half), the
    same turned into a horizontal step (dark top half), and a flat mid-grey image."""
    vertical = np.zeros((size, size))
    vertical[:, size // 2:] = 1.0
    return {"vertical_step": vertical, "horizontal_step": vertical.T.copy(),
            "flat": np.full((size, size), 0.5)}


def float32_error_bound(weight: np.ndarray, X: np.ndarray) -> float:
    """A bound on |float32 layer − exact| for one output: (n + 1)·u·Σ|w|·max|x|.

    ``weight`` (KH, KW); n = KH·KW products summed in float32 (unit roundoff u = 2⁻²⁴), one
    more rounding for the input cast to float32.
    """
    n = weight.size
    return float((n + 1) * 2.0**-24 * np.abs(weight).sum() * np.abs(X).max())


def _weights_figure(W: np.ndarray, names: list[str], title: str):
    """Heatmaps of a few small kernels with each weight written in its cell."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(W), figsize=(3.4 * len(W), 3.2), squeeze=False)
    lim = float(np.abs(W).max()) or 1.0
    for ax, w, name in zip(axes[0], W, names):
        im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for (i, j), v in np.ndenumerate(w):
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=11)
        ax.set_title(name)
        ax.set_xlabel("kernel column b")
        ax.set_ylabel("kernel row a")
        ax.set_xticks(range(w.shape[1]))
        ax.set_yticks(range(w.shape[0]))
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="weight")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _sobel_figure(images: dict[str, np.ndarray], outputs: dict[str, np.ndarray]):
    """One row per image: the input and each filter's output (red positive, blue negative)."""
    plt = _plt()
    fig, axes = plt.subplots(len(images), 3, figsize=(FIG_WIDTH, 3.3 * len(images) + 0.5),
                             squeeze=False)
    for row, (name, X) in enumerate(images.items()):
        G = outputs[name]  # (2, OH, OW)
        lim = float(np.abs(G).max()) or 1.0
        panels = [(X, f"{name}: input\n{X.shape[0]}×{X.shape[1]}", "gray", 0.0, 1.0),
                  (G[0], f"W0 (d/dx): vertical edges\n{G.shape[1]}×{G.shape[2]}", "RdBu_r",
                   -lim, lim),
                  (G[1], f"W1 (d/dy): horizontal edges\n{G.shape[1]}×{G.shape[2]}", "RdBu_r",
                   -lim, lim)]
        for ax, (img, title, cmap, vmin, vmax) in zip(axes[row], panels):
            im = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle("One Conv2d layer with the Sobel filters W0 and W1 (valid padding)")
    fig.tight_layout()
    return fig


def _magnitude_figure(outputs: dict[str, np.ndarray]):
    """The gradient magnitude √(out0² + out1²) of each image, two per row."""
    plt = _plt()
    ncols = min(2, len(outputs))
    nrows = int(np.ceil(len(outputs) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, 4.2 * nrows), squeeze=False)
    for ax in axes.ravel()[len(outputs):]:
        ax.axis("off")
    for ax, (name, G) in zip(axes.ravel(), outputs.items()):
        im = ax.imshow(np.hypot(G[0], G[1]), cmap="magma", vmin=0.0)
        ax.set_title(f"{name}: √(out0² + out1²)")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="edge strength")
    fig.tight_layout()
    return fig


def measure_fixed_filters(config: FixedFiltersConfig, ctx) -> dict:
    """The fixed Sobel layer on probe images and photos, against the engine and scipy."""
    from stridelab.data.images import load_image

    if config.max_side != 0 and config.max_side < 3:
        raise ConfigError(f"--set max_side={config.max_side}: need at least 3 pixels "
                          "(the kernel is 3×3), or 0 to keep the size")
    net = sobel_net()
    W = net.weight.detach().double().cpu().numpy()  # (F=2, C=1, 3, 3), read from the layer
    ctx.log(f"conv weight (F, C, KH, KW) = {tuple(W.shape)}; "
            + "; ".join(f"W{k} rows {_rows_text(W[k, 0])}" for k in range(len(W))))
    ctx.savefig(_weights_figure(W[:, 0], ["W0 (d/dx, Sobel x)", "W1 (d/dy, Sobel y)"],
                                "The fixed 3×3 weights of the conv layer"),
                "sobel_weights", caption="The two fixed filters W0 and W1")

    probes = {}
    for name, P in probe_images(config.probe_size).items():
        G = _apply(net, P[None], ctx.device)  # (2, OH, OW)
        probes[name] = {"max_abs": [float(np.abs(g).max()) for g in G],
                        "max": [float(g.max()) for g in G]}
    ctx.log("probes: " + "; ".join(f"{k} max |out| W0 {v['max_abs'][0]:.3g}, W1 "
                                   f"{v['max_abs'][1]:.3g}" for k, v in probes.items()))

    images, outputs, per_image = {}, {}, {}
    diff_engine = diff_scipy = bound = 0.0
    taken: set[str] = set()
    for name in _names(config.images):
        X = _shrink(load_image(name, gray=True), config.max_side)  # (H, W) in [0, 1]
        if min(X.shape) < 3:
            raise ConfigError(f"image {name!r} is {X.shape[0]}×{X.shape[1]}: need at least 3×3")
        G = _apply(net, X[None], ctx.device)  # (2, H − 2, W − 2), torch in float32
        d_engine = float(np.abs(G - sobel_engine(X)).max())  # engine in float64
        d_scipy = float(np.abs(G - sobel_scipy(X)).max())
        diff_engine, diff_scipy = max(diff_engine, d_engine), max(diff_scipy, d_scipy)
        bound = max(bound, *(float32_error_bound(W[k, 0], X) for k in range(len(W))))
        label = _image_label(name, taken)
        images[label], outputs[label] = X, G
        mag = np.hypot(G[0], G[1])
        per_image[label] = {
            "input_shape": list(X.shape), "output_shape": list(G.shape),
            "max_abs_diff_engine": d_engine, "max_abs_diff_scipy": d_scipy,
            "min": [float(g.min()) for g in G], "max": [float(g.max()) for g in G],
            "mean_abs": [float(np.abs(g).mean()) for g in G],
            "edge_fraction": [float(np.mean(np.abs(g) > config.edge_threshold)) for g in G],
            "magnitude_mean": float(mag.mean()), "magnitude_max": float(mag.max())}
        ctx.log(f"{label}: {X.shape} -> {G.shape}; mean |out| W0 "
                f"{per_image[label]['mean_abs'][0]:.4f}, W1 {per_image[label]['mean_abs'][1]:.4f}"
                f"; max |torch − engine| {d_engine:.2e}, |torch − scipy| {d_scipy:.2e}")
    ctx.savefig(_sobel_figure(images, outputs), "sobel_outputs",
                caption="Each photo and the output of each fixed filter")
    ctx.savefig(_magnitude_figure(outputs), "sobel_magnitude",
                caption="Edge strength in any direction: the two outputs combined")
    return {"max_abs_diff": max(diff_engine, diff_scipy), "max_abs_diff_engine": diff_engine,
            "max_abs_diff_scipy": diff_scipy, "float32_error_bound": bound,
            "images": per_image, "probes": probes,
            "weights": {"W0": W[0, 0].tolist(), "W1": W[1, 0].tolist()},
            "weight_sums": [float(W[k, 0].sum()) for k in range(len(W))],
            "kernel_shape": list(W.shape[2:]),
            "valid_shrink": int(X.shape[0] - G.shape[1]),  # the last image: H − OH
            "device": ctx.device}


def narrate_fixed_filters(metrics: dict, config: FixedFiltersConfig) -> Notes:
    """What each filter responds to (from the probes), per photo, and the agreement checks."""
    m = metrics
    p = m["probes"]
    notes = Notes()
    v0, v1 = p["vertical_step"]["max_abs"]
    h0, h1 = p["horizontal_step"]["max_abs"]
    notes.add(
        f"**What the Sobel filters detect**, measured on {num(config, 'probe_size')}-pixel "
        f"probe images: on a vertical black-to-white step the largest |output| of W0 is "
        f"{num(m, 'probes.vertical_step.max_abs.0', '.3g')} and of W1 "
        f"{num(m, 'probes.vertical_step.max_abs.1', '.3g')}; on a horizontal step W0 gives "
        f"{num(m, 'probes.horizontal_step.max_abs.0', '.3g')} and W1 "
        f"{num(m, 'probes.horizontal_step.max_abs.1', '.3g')}.",
        claim(v0 > v1 and h1 > h0,
              "W0 subtracts the column left of a pixel from the column right of it (a "
              "horizontal derivative d/dx, smoothed along the column), so it responds to "
              "vertical edges, positive where the image gets brighter to the right; W1 is its "
              "transpose, d/dy, and responds to horizontal edges.",
              "The probes do not separate the two directions: each filter responds to both "
              "steps."),
        claim(max(p["flat"]["max_abs"]) == 0.0,
              f"On the flat grey image both give {num(m, 'probes.flat.max_abs.0', 'g')}: each "
              f"filter's weights sum to {num(m, 'weight_sums.0', 'g')}, so a region without "
              "change gives nothing.",
              f"On the flat grey image they give {num(m, 'probes.flat.max_abs.0', '.3g')} and "
              f"{num(m, 'probes.flat.max_abs.1', '.3g')}, not zero."),
        f"The strongest response to a step from black to white is "
        f"{num(m, 'probes.vertical_step.max.0', '.3g')}; with valid padding a "
        f"{num(m, 'kernel_shape.0')}×{num(m, 'kernel_shape.1')} kernel makes each output "
        f"{num(m, 'valid_shrink')} pixels shorter and narrower than its input.")
    lines = []
    for label in m["images"]:
        key = f"images.{label}"
        r = m["images"][label]
        lines.append(
            f"*{label}* ({r['input_shape'][0]}×{r['input_shape'][1]} → "
            f"{r['output_shape'][1]}×{r['output_shape'][2]} per filter): W0 ranges "
            f"{num(m, key + '.min.0', '.2f')} … {num(m, key + '.max.0', '.2f')} (mean |out| "
            f"{num(m, key + '.mean_abs.0', '.4f')}, {num(m, key + '.edge_fraction.0', '.1%')} "
            f"of pixels above {num(config, 'edge_threshold', 'g')}), W1 "
            f"{num(m, key + '.min.1', '.2f')} … {num(m, key + '.max.1', '.2f')} (mean |out| "
            f"{num(m, key + '.mean_abs.1', '.4f')}, {num(m, key + '.edge_fraction.1', '.1%')})")
    notes.add("**On the photos:** " + "; ".join(lines) + ".")
    within = m["max_abs_diff"] <= m["float32_error_bound"]
    notes.add(
        f"`torch.nn.Conv2d` (float32, on {m['device']}) against the NumPy engine "
        f"(`core.functional.conv2d`, float64): max |Δ| **{num(m, 'max_abs_diff_engine', '.2e')}**"
        f"; against `scipy.signal.correlate2d`: {num(m, 'max_abs_diff_scipy', '.2e')}.",
        claim(within,
              f"Both are within the float32 rounding bound of "
              f"{num(m, 'float32_error_bound', '.2e')}: the layer computes the "
              "cross-correlation out[i, j] = Σ_a Σ_b W[a, b]·X[i + a, j + b], with no kernel "
              "flip.",
              f"That is more than float32 rounding explains (bound "
              f"{num(m, 'float32_error_bound', '.2e')}): the layer does not compute the same "
              "cross-correlation."))
    return notes


register("fixed-filters", FixedFiltersConfig,
         description="One Conv2d layer fixed to the Sobel filters W0, W1 on two photos, "
                     "checked against the NumPy engine and scipy",
         quick={"max_side": 256}, smoke={"max_side": 48}, needs=None,
         key_metric="max_abs_diff_engine", order=60, narrate=narrate_fixed_filters,
         lessons=(Lesson("The fixed Conv2d layer computes the Sobel cross-correlation: it "
                         "agrees with the NumPy engine and scipy", "max_abs_diff", "<=",
                         quick=1e-5, full=1e-5,
                         label="max |layer − engine, scipy|"),))(measure_fixed_filters)


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
    plt = _plt()
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


def measure_sepia_blur(config: SepiaBlurConfig, ctx) -> dict:
    """The fixed two-layer CNN on one photo with valid and same padding, against scipy."""
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
    layers = layer_record(net)
    layers["same_padding"] = layer_record(nets["same"])["same_padding"]

    S = _apply(net[:2], x, ctx.device).transpose(1, 2, 0)  # (H, W, 3) sepia, clipped
    outputs, diffs = {}, {}
    for padding, n in nets.items():
        out = _apply(n, x, ctx.device).transpose(1, 2, 0)  # (OH, OW, 3)
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


def narrate_sepia_blur(metrics: dict, config: SepiaBlurConfig) -> Notes:
    """Each layer from its read-back weights, the output sizes, and the scipy check."""
    m = metrics
    notes = Notes()
    rgb = "RGB"
    mix = ", ".join(f"{rgb[o]}' = " + " + ".join(
        f"{num(m, f'sepia_weights.{o}.{i}', '.3f')}{rgb[i]}" for i in range(3))
        for o in range(3))
    clipped = [o for o in range(3) if m["sepia_row_sums"][o] > 1]
    clipped_names = ", ".join(f"{rgb[o]}'" for o in clipped)
    k1 = "×".join(str(v) for v in m["layer1_kernel"])
    notes.add(
        f"**Layer 1, sepia as a {k1} convolution.** A kernel of one pixel mixes channels at each "
        f"pixel and never looks at neighbours: filter o holds row o of the sepia matrix, {mix} "
        f"({num(m, 'n_weights.0')} weights, no bias). The rows sum to "
        f"{num(m, 'sepia_row_sums.0', '.3f')}, {num(m, 'sepia_row_sums.1', '.3f')} and "
        f"{num(m, 'sepia_row_sums.2', '.3f')},",
        claim(bool(clipped),
              f"so bright pixels exceed the top of the range in {clipped_names}: on this "
              f"image {num(m, 'clipped_fraction.0', '.1%')} of R', "
              f"{num(m, 'clipped_fraction.1', '.1%')} of G' and "
              f"{num(m, 'clipped_fraction.2', '.1%')} of B' values are clipped (a Hardtanh "
              "layer between the convolutions clips to the unit interval).",
              "so no channel can exceed the top of the range and the clip between the "
              "convolutions changes nothing."))
    kh, kw = m["layer2_kernel"]
    notes.add(
        f"**Layer 2, a Gaussian blur.** Each of the {num(m, 'n_filters')} filters has "
        f"{kh}×{kw}×{num(m, 'n_filters')} weights, {num(m, 'n_weights.1')} in all; filter o "
        f"holds the Gaussian table divided by its sum, {num(m, 'gauss_table_sum')}, on input "
        f"channel o,",
        claim(m["blur_own_channel_only"],
              f"and zeros on the others, so channels are blurred independently: only "
              f"{num(m, 'n_nonzero_weights.1')} of the {num(m, 'n_weights.1')} weights are "
              "non-zero (a depthwise convolution, groups = C, would store just those).",
              f"but also non-zero weights on other channels ({num(m, 'n_nonzero_weights.1')} "
              f"of {num(m, 'n_weights.1')} non-zero), so it mixes channels."),
        claim(all(abs(s - 1) < 1e-6 for s in m["blur_filter_sums"]),
              f"Each filter's weights sum to {num(m, 'blur_filter_sums.0', 'g')}, so flat "
              "regions keep their value;",
              f"The filters' weights sum to {num(m, 'blur_filter_sums.0', 'g')}, so flat "
              "regions change brightness;"),
        claim(m["neighbour_step_after"] < m["neighbour_step_before"],
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
        claim(m["valid_size_error"] == 0,
              f"(n − k + 1 per side: {num(m, 'input_shape.0')} − {kh} + 1),",
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
         narrate=narrate_sepia_blur,
         lessons=(Lesson("Without padding the 5×5 blur maps the 128×128×3 image to 124×124×3 "
                         "(n − k + 1 per side)", "valid_size_error", "<=", quick=0, full=0,
                         label="pixels off n − k + 1"),
                  Lesson("The fixed sepia-blur CNN agrees with scipy.ndimage", "max_abs_diff_scipy",
                         "<=", quick=1e-5, full=1e-5,
                         label="max |CNN − scipy|"),))(measure_sepia_blur)
