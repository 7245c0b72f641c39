"""fixed-filters: one Conv2d layer fixed to the Sobel filters, on photos and probe images.

One ``nn.Conv2d`` whose two 3×3 filters are the Sobel kernels W0 (horizontal derivative) and W1
(vertical derivative), applied to grey photos; the same outputs are computed by the NumPy engine
(:func:`stridelab.core.functional.conv2d`) and by ``scipy.signal.correlate2d``, and the largest
difference is recorded against the float32 rounding bound. What each filter responds to is
measured on probe images (a vertical and a horizontal step edge, a flat grey image).
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from stridelab.errors import ConfigError
from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.plots import FIG_WIDTH
from stridelab.experiments.registry import bounded, register
from stridelab.programs.conv_layer import (
    SOBEL_W0,
    SOBEL_W1,
    apply_to_image,
    sobel_net,
    sobel_weights,
)


@dataclass
class FixedFiltersConfig:
    images: str = "camera,astronaut"  # comma-separated skimage sample names or image file paths
    max_side: int = 512  # longer image side in pixels after resizing (0: keep the size)
    edge_threshold: float = 0.5  # |response| above which a pixel counts as an edge
    probe_size: int = bounded(8, ge=4)  # side of the probe images (step edges, flat grey), pixels


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


def measure(config: FixedFiltersConfig, ctx) -> dict:
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
        G = apply_to_image(net, P[None], ctx.device)  # (2, OH, OW)
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
        G = apply_to_image(net, X[None], ctx.device)  # (2, H − 2, W − 2), torch in float32
        d_engine = float(np.abs(G - sobel_engine(X)).max())  # engine in float64
        d_scipy = float(np.abs(G - sobel_scipy(X)).max())
        diff_engine, diff_scipy = max(diff_engine, d_engine), max(diff_scipy, d_scipy)
        bound = max(bound, *(float32_error_bound(W[k, 0], X) for k in range(len(W))))
        label = _image_label(name, taken)
        images[label], outputs[label] = X, G
        ctx.save_array(X, f"inputs/{label}.npy")  # the image as the layer saw it
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


def narrate(metrics: dict, config: FixedFiltersConfig) -> Notes:
    """What each filter responds to (from the probes), per photo, and the agreement checks."""
    m = metrics
    p = m["probes"]
    notes = Notes()
    v0, v1 = p["vertical_step"]["max_abs"]
    h0, h1 = p["horizontal_step"]["max_abs"]
    flat = p["flat"]["max_abs"]
    kh, kw = m["kernel_shape"]
    notes.add(
        f"**What the Sobel filters detect**, measured on {num(config, 'probe_size')}-pixel "
        f"probe images: on a vertical black-to-white step the largest |output| of W0 is "
        f"{fmt(v0, '.3g')} and of W1 {fmt(v1, '.3g')}; on a horizontal step W0 gives "
        f"{fmt(h0, '.3g')} and W1 {fmt(h1, '.3g')}.",
        notes.claim(
            "separates_directions", v0 > v1 and h1 > h0,
            "W0 subtracts the column left of a pixel from the column right of it (a "
            "horizontal derivative d/dx, smoothed along the column), so it responds to "
            "vertical edges, positive where the image gets brighter to the right; W1 is its "
            "transpose, d/dy, and responds to horizontal edges.",
            "The probes do not separate the two directions: each filter responds to both "
            "steps."),
        notes.claim("flat_gives_zero", max(flat) == 0.0,
                    f"On the flat grey image both give {fmt(flat[0], 'g')}: each filter's weights "
                    f"sum to {fmt(m['weight_sums'][0], 'g')}, so a region without change gives "
                    "nothing.",
                    f"On the flat grey image they give {fmt(flat[0], '.3g')} and "
                    f"{fmt(flat[1], '.3g')}, not zero."),
        f"The strongest response to a step from black to white is "
        f"{fmt(p['vertical_step']['max'][0], '.3g')}; with valid padding a "
        f"{fmt(kh)}×{fmt(kw)} kernel makes each output "
        f"{num(m, 'valid_shrink')} pixels shorter and narrower than its input.")
    lines = []
    for label, r in m["images"].items():
        lo, hi, mean_abs, edges = r["min"], r["max"], r["mean_abs"], r["edge_fraction"]
        lines.append(
            f"*{label}* ({r['input_shape'][0]}×{r['input_shape'][1]} → "
            f"{r['output_shape'][1]}×{r['output_shape'][2]} per filter): W0 ranges "
            f"{fmt(lo[0], '.2f')} … {fmt(hi[0], '.2f')} (mean |out| {fmt(mean_abs[0], '.4f')}, "
            f"{fmt(edges[0], '.1%')} of pixels above {num(config, 'edge_threshold', 'g')}), W1 "
            f"{fmt(lo[1], '.2f')} … {fmt(hi[1], '.2f')} (mean |out| {fmt(mean_abs[1], '.4f')}, "
            f"{fmt(edges[1], '.1%')})")
    notes.add("**On the photos:** " + "; ".join(lines) + ".")
    dominant = []
    for label, r in m["images"].items():
        w0, w1 = r["mean_abs"]
        dominant.append(f"*{label}*: " + notes.claim(
            f"{label}_more_vertical_edges", w0 > w1,
            f"W0's mean response ({fmt(w0, '.4f')}) is above W1's ({fmt(w1, '.4f')}): its "
            "brightness changes more from left to right than from top to bottom, so its "
            "vertical edges (the outlines W0 lights up) outweigh its horizontal ones.",
            f"W1's mean response ({fmt(w1, '.4f')}) is at least W0's ({fmt(w0, '.4f')}): its "
            "brightness changes at least as much from top to bottom as from left to right, so "
            "its horizontal edges (the outlines W1 lights up) weigh at least as much as its "
            "vertical ones."))
    notes.add("**Which edges dominate.**", " ".join(dominant))
    within = m["max_abs_diff"] <= m["float32_error_bound"]
    notes.add(
        f"`torch.nn.Conv2d` (float32, on {m['device']}) against the NumPy engine "
        f"(`core.functional.conv2d`, float64): max |Δ| **{num(m, 'max_abs_diff_engine', '.2e')}**"
        f"; against `scipy.signal.correlate2d`: {num(m, 'max_abs_diff_scipy', '.2e')}.",
        notes.claim("within_float32_bound", within,
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
         key_metric="max_abs_diff_engine", order=60, narrate=narrate,
         lessons=(Lesson("The fixed Conv2d layer computes the Sobel cross-correlation: it "
                         "agrees with the NumPy engine and scipy", "max_abs_diff", "<=",
                         quick=1e-5, full=1e-5,
                         label="max |layer − engine, scipy|"),))(measure)
