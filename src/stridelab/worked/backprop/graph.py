"""The compute graph of one step drawn with its values, deltas, weights and gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stridelab.errors import ConfigError
from stridelab.worked._figures import save_figure
from stridelab.worked.backprop.spec import short
from stridelab.worked.numbers import fmt

if TYPE_CHECKING:
    from stridelab.worked.backprop.answer import BackpropAnswer


# ---------------------------------------------------------------- the compute-graph figure


def graph_data(answer: BackpropAnswer, step: int = 1) -> dict:
    """What the compute graph of ``step`` (1-based) shows, as plain numbers.

    The values of the step's first data point (forward values z, a; deltas; the weights and
    biases before the update) and the gradient the step applied to each weight (the batch mean
    in batch mode). Lists are indexed by layer - 1; ``dW[l][i][j]`` is ∂L/∂w^(l+1)_(i+1)(j+1).
    """
    n_steps = len(answer.steps)
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= n_steps:
        raise ConfigError(f"--step must be a step from 1 to {n_steps}, got {short(step)}")
    s = answer.steps[step - 1]
    t = s.traces[0]
    return {
        "step": step,
        "epoch": s.epoch,
        "point": s.point if s.point is not None else 1,
        "batch": s.point is None,
        "x": list(t.x),
        "y": list(t.y),
        "z": [list(z) for z in t.z],
        "a": [list(a) for a in t.a[1:]],
        "delta": [list(d) for d in t.delta],
        "W": [[list(r) for r in ly.W] for ly in s.before],
        "b": [None if ly.b is None else list(ly.b) for ly in s.before],
        "dW": [[list(r) for r in g] for g in s.dW],
        "db": [None if g is None else list(g) for g in s.db],
        "loss": t.loss,
        "activations": [ly.activation for ly in s.before],
        "loss_name": answer.spec.loss,
    }


def plot_graph(answer: BackpropAnswer, path, digits: int = 4, step: int = 1):
    """The compute graph of ``step`` (see :func:`graph_figure`), written atomically."""
    return save_figure(graph_figure(answer, digits, step), path)


def graph_figure(answer: BackpropAnswer, digits: int = 4, step: int = 1):
    """The network at ``step`` drawn as a graph: values, deltas, weights and gradients.

    The figure keeps what it drew as ``fig.graph_data`` (see :func:`graph_data`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = graph_data(answer, step)
    L = len(g["W"])
    cols = [len(g["x"])] + [len(W) for W in g["W"]]
    height = max(cols)
    gap = 1.7  # vertical distance between neurons (room for the bias and delta labels)
    pos = {(c, i): (3.0 * c, gap * ((n - 1) / 2 - i)) for c, n in enumerate(cols) for i in range(n)}
    fig, ax = plt.subplots(figsize=(3.2 * (L + 2), 1.9 * height + 1.8))

    def ft(v):
        return fmt(v, digits)

    for l, W in enumerate(g["W"], start=1):
        for i in range(len(W)):
            for j in range(len(W[0])):
                (x0, y0), (x1, y1) = pos[(l - 1, j)], pos[(l, i)]
                ax.plot([x0, x1], [y0, y1], color="0.6", lw=1, zorder=1)
                xm, ym = x0 + 0.3 * (x1 - x0), y0 + 0.3 * (y1 - y0)
                ax.text(
                    xm,
                    ym,
                    f"w={ft(W[i][j])}\n\u2202={ft(g['dW'][l - 1][i][j])}",
                    fontsize=7,
                    ha="center",
                    va="center",
                    zorder=3,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
                )
    for c, n in enumerate(cols):
        for i in range(n):
            x, y = pos[(c, i)]
            ax.add_patch(
                plt.Circle((x, y), 0.42, fc="#e8f0fb" if c else "#eeeeee", ec="0.3", zorder=2)
            )
            if c == 0:
                label = f"x{i + 1}\n{ft(g['x'][i])}"
            else:
                label = f"z={ft(g['z'][c - 1][i])}\na={ft(g['a'][c - 1][i])}"
                extra = f"\u03b4={ft(g['delta'][c - 1][i])}"
                if g["b"][c - 1] is not None:
                    extra = f"b={ft(g['b'][c - 1][i])}\n" + extra
                ax.text(x, y - 0.5, extra, color="tab:red", fontsize=7, ha="center", va="top")
            ax.text(x, y, label, fontsize=8, ha="center", va="center", zorder=4)
    xl = 3.0 * (L + 1) - 0.8
    ax.add_patch(plt.Rectangle((xl - 0.45, -0.4), 0.9, 0.8, fc="#fdebd0", ec="0.3", zorder=2))
    ax.text(xl, 0, f"L\n{ft(g['loss'])}", ha="center", va="center", fontsize=9, zorder=4)
    for i in range(cols[-1]):
        x, y = pos[(L, i)]
        ax.plot([x + 0.42, xl - 0.45], [y, 0], color="tab:orange", lw=1, zorder=1)
        ax.text((x + xl) / 2, y / 2 + 0.15, f"y{i + 1}={ft(g['y'][i])}", fontsize=7, ha="center")
    ax.set_xticks([3.0 * c for c in range(L + 1)] + [xl])
    ax.set_xticklabels(
        ["input x"]
        + [f"layer {l} ({act})" for l, act in enumerate(g["activations"], start=1)]
        + [f"loss ({g['loss_name']})"]
    )
    ax.set_yticks([])
    ax.set_xlabel("layer")
    ax.set_ylabel("neuron")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlim(-0.8, xl + 0.8)
    ax.set_ylim(-gap * (height - 1) / 2 - 1.2, gap * (height - 1) / 2 + 0.8)
    ax.set_aspect("equal")
    which = (
        f"step {step} (epoch {g['epoch']}, batch: values of data point 1, edges: the batch's "
        "mean gradient)"
        if g["batch"]
        else f"step {step} (epoch {g['epoch']}, data point {g['point']})"
    )
    ax.set_title(
        f"Compute graph of {which}: forward values (black), "
        "\u03b4 = \u2202L/\u2202z (red), edges: weight w and gradient \u2202L/\u2202w",
        fontsize=9,
    )
    fig.graph_data = g
    return fig
