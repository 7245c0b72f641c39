"""The figure of a conv answer: the input and every output side by side, with colorbars."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stridelab.worked._figures import save_figure
from stridelab.worked.conv.answer import ConvAnswer
from stridelab.worked.conv.image import ImageAnswer

# ---------------------------------------------------------------- figures


def _panel(fig, ax, data: np.ndarray, title: str, annotate: bool, is_input: bool) -> None:
    if is_input:
        im = ax.imshow(data, cmap="gray", interpolation="nearest")
    else:
        lim = float(np.max(np.abs(data))) or 1.0
        signed = float(np.min(data)) < 0
        cmap = "RdBu_r" if signed else "viridis"
        vmin = -lim if signed else float(np.min(data))
        im = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=lim, interpolation="nearest")
    one_row = data.shape[0] == 1
    if annotate:
        H, W = data.shape
        ax.set_xticks(range(W))
        ax.set_yticks([] if one_row else range(H))
        for (i, j), v in np.ndenumerate(data):
            r, g, b, _ = im.cmap(im.norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # luminance of the cell colour
            ax.text(
                j,
                i,
                f"{v:.3g}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
            )
    ax.set_title(title, fontsize=10)
    if one_row:
        ax.set_xlabel("position k")
    else:
        ax.set_xlabel("column (x)")
        ax.set_ylabel("row (y)")
    label = "intensity" if is_input else "response"
    if one_row:  # below the position labels, not over them
        fig.colorbar(im, ax=ax, fraction=0.08, pad=0.45, label=label, orientation="horizontal")
    else:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)


def plot(answer: ConvAnswer | ImageAnswer, path: str | Path) -> Path:
    """Input and every output side by side, with colorbars; written atomically."""
    return save_figure(figure(answer), path)


def figure(answer: ConvAnswer | ImageAnswer):
    """The matplotlib figure of :func:`plot` (input and outputs side by side)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(answer, ImageAnswer):
        X = answer.X
        inputs = [X.mean(axis=0)] if X.shape[0] > 1 else [X[0]]
        in_titles = [f"input `{answer.name}`" + (" (channel mean)" if X.shape[0] > 1 else "")]
        outs, labels = answer.outputs, [k.label for k in answer.kernels]
        annotate = False
    else:
        inputs = [np.array(ch, dtype=np.float64) for ch in answer.X]
        sym = "x" if answer.ndim == 1 else "X"
        in_titles = [
            f"input {sym}" + (f" channel {c}" if len(inputs) > 1 else "")
            for c in range(len(inputs))
        ]
        outs = [np.array(r.output, dtype=np.float64) for r in answer.results]
        labels = [
            r.kernel.label if (r.kernel.named or r.kernel.alias)
            else f"{'filter' if answer.ndim == 1 else 'kernel'} {i + 1}"
            for i, r in enumerate(answer.results)
        ]
        annotate = max(a.size for a in inputs + outs) <= 144
    setting = f"{answer.mode}, padding {answer.padding_spec}, stride {answer.stride}"
    if answer.activation != "linear":
        setting += f", {answer.activation}"
    n = len(inputs) + len(outs)
    one_d = not isinstance(answer, ImageAnswer) and answer.ndim == 1
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.0 if one_d else 4.0), squeeze=False)
    for ax, data, title in zip(axes[0], inputs, in_titles):
        _panel(fig, ax, data, title, annotate, True)
    for ax, data, label in zip(axes[0][len(inputs) :], outs, labels):
        _panel(fig, ax, data, f"output: {label}", annotate, False)
    fig.suptitle(f"Filters applied ({setting})")
    fig.tight_layout()
    return fig
