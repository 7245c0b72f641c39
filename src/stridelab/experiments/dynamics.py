"""Learning dynamics: gradient descent in one dimension, online vs mini-batch, MLP vs CNN.

Three registered studies that answer conceptual questions of the course with numbers:

* ``gd-1d``: x ← x − η f'(x) on a quartic with two minima and on a quadratic, for a small, a
  good and a too-large learning rate: the curve, the tangent at each iterate, the steps as
  arrows, and the iterates tabulated (NumPy only);
* ``batch-size``: the same MLP trained with mini-batches of 1 (online), 20 and 128 at the same
  number of epochs and at the same number of updates: loss against epochs, wall-clock and
  updates, the variance of the mini-batch gradient, the final test accuracy;
* ``mlp-vs-cnn``: a fully-connected network and a CNN of about the same parameter count on the
  same split, tested on digits shifted by 0-3 pixels.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stridelab.experiments.registry import register

# ---------------------------------------------------------------------------------------------
# gd-1d: the functions and the iteration


@dataclass(frozen=True)
class Function1D:
    """A differentiable function of one variable with its derivative and its minima."""

    name: str  # short name used in metrics keys
    formula: str  # as printed in figures and tables
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    minima: tuple[float, ...]  # the local minimisers, for the convergence verdict
    span: tuple[float, float]  # x range drawn


def _quartic_minima() -> tuple[float, ...]:
    # f'(x) = 4x³ − 6x + 1: three real roots; the outer two are minima (f'' = 12x² − 6 > 0)
    roots = np.sort(np.roots([4.0, 0.0, -6.0, 1.0]).real)
    return float(roots[0]), float(roots[2])


FUNCTIONS = {
    "quartic": Function1D("quartic", "x⁴ − 3x² + x",
                          lambda x: x**4 - 3 * x**2 + x,
                          lambda x: 4 * x**3 - 6 * x + 1,
                          _quartic_minima(), (-2.2, 2.2)),
    "quadratic": Function1D("quadratic", "x²",
                            lambda x: x**2, lambda x: 2 * x, (0.0,), (-3.0, 3.0)),
}


def gradient_descent_1d(df: Callable[[float], float], x0: float, lr: float, n_steps: int, *,
                        bound: float = 1e6) -> np.ndarray:
    """Iterates x_0, x_1, ... of x ← x − lr · f'(x); stops early once |x| exceeds ``bound``.

    Returns an ndarray of shape (n_iterates,), at most ``n_steps + 1`` long.
    """
    xs = [float(x0)]
    for _ in range(n_steps):
        x = xs[-1]
        x_next = x - lr * float(df(x))
        xs.append(x_next)
        if not math.isfinite(x_next) or abs(x_next) > bound:
            break
    return np.asarray(xs)


def classify_run(xs: np.ndarray, minima: tuple[float, ...], *, tol: float = 1e-3,
                 bound: float = 1e6) -> str:
    """"diverged" (overflowed), "converged" (within ``tol`` of a minimum), "diverging" (steps
    alternate in sign and grow), "oscillating" (steps alternate in sign and do not grow) or
    "slow" (still moving one way)."""
    if not np.all(np.isfinite(xs)) or abs(xs[-1]) > bound:
        return "diverged"
    if min(abs(xs[-1] - m) for m in minima) < tol:
        return "converged"
    steps = np.diff(xs[-6:])
    if len(steps) >= 2 and np.all(steps[1:] * steps[:-1] < 0):
        return "diverging" if abs(steps[-1]) > abs(steps[0]) * (1 + 1e-9) else "oscillating"
    return "slow"


def _iterate_table(fn: Function1D, lr: float, xs: np.ndarray, verdict: str) -> str:
    lines = [f"### f(x) = {fn.formula}, η = {lr:g} ({verdict})", "",
             "| k | x_k | f(x_k) | f'(x_k) | step −η f'(x_k) |", "|---:|---:|---:|---:|---:|"]
    for k, x in enumerate(xs):
        fx, dfx = float(fn.f(x)), float(fn.df(x))
        lines.append(f"| {k} | {x:.6g} | {fx:.6g} | {dfx:.6g} | {-lr * dfx:.6g} |")
    return "\n".join(lines) + "\n"


def _gd_figure(fn: Function1D, runs: list[tuple[float, np.ndarray, str]], max_drawn: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4.2), squeeze=False)
    grid = np.linspace(*fn.span, 400)
    y_grid = fn.f(grid)
    y_lo, y_hi = float(y_grid.min()), float(y_grid.max())
    pad = 0.1 * (y_hi - y_lo)
    for ax, (lr, xs, verdict) in zip(axes[0], runs):
        ax.plot(grid, y_grid, color="black", lw=1.5, label=f"f(x) = {fn.formula}")
        shown = xs[: max_drawn + 1]
        inside = shown[(shown >= fn.span[0]) & (shown <= fn.span[1])]
        colors = plt.cm.viridis(np.linspace(0, 1, max(len(shown), 2)))
        half = 0.08 * (fn.span[1] - fn.span[0])
        for k, x in enumerate(shown):
            if not fn.span[0] <= x <= fn.span[1]:
                continue
            fx, slope = float(fn.f(x)), float(fn.df(x))
            tx = np.array([x - half, x + half])
            ax.plot(tx, fx + slope * (tx - x), color=colors[k], lw=1, alpha=0.8,
                    label="tangent at x_k" if k == 0 else None)
            if k + 1 < len(shown) and fn.span[0] <= shown[k + 1] <= fn.span[1]:
                x_next = float(shown[k + 1])
                ax.annotate("", xy=(x_next, float(fn.f(x_next))), xytext=(x, fx),
                            arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.2))
        ax.scatter(inside, fn.f(inside), c="tab:red", s=18, zorder=3,
                   label="iterates x_k (arrows: x ← x − η f'(x))")
        ax.set_ylim(y_lo - pad, y_hi + pad)
        ax.set_xlim(*fn.span)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.set_title(f"η = {lr:g}: {verdict} ({len(xs) - 1} steps, x_end = {xs[-1]:.3g})",
                     fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center")
    fig.suptitle(f"Gradient descent on f(x) = {fn.formula} from x₀ = {runs[0][1][0]:g} "
                 f"(first {max_drawn} steps drawn)")
    fig.tight_layout()
    return fig


def _iterates_figure(results: dict[str, list[tuple[float, np.ndarray, str]]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (name, runs) in zip(axes[0], results.items()):
        fn = FUNCTIONS[name]
        for lr, xs, verdict in runs:
            shown = np.clip(xs, -10, 10)
            ax.plot(np.arange(len(xs)), shown, "o-", ms=3, label=f"η = {lr:g} ({verdict})")
        for m in fn.minima:
            ax.axhline(m, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("step k")
        ax.set_ylabel("x_k (clipped to ±10)")
        ax.set_title(f"f(x) = {fn.formula}; dashed: minima")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("Iterates of gradient descent against the step number")
    fig.tight_layout()
    return fig


@dataclass
class GD1DConfig:
    quartic_x0: float = -0.3  # starting point on the quartic (x)
    quartic_lrs: tuple[float, ...] = (0.01, 0.08, 0.25)  # small, good, too large (1/x units)
    quadratic_x0: float = 2.5  # starting point on the quadratic (x)
    quadratic_lrs: tuple[float, ...] = (0.05, 0.4, 1.05)  # small, good, too large
    n_steps: int = 40  # gradient steps per run
    max_drawn: int = 12  # steps drawn as arrows (all are tabulated)


@register("gd-1d", GD1DConfig,
          description="gradient descent in 1-D: tangents and steps for a small, a good and a "
                      "too-large learning rate on a quartic and a quadratic",
          quick={}, smoke={"n_steps": 10, "max_drawn": 4},
          needs=None, key_metric="quadratic_good_final_x", order=70)
def run_gd_1d(config: GD1DConfig, ctx) -> dict:
    setups = {"quartic": (config.quartic_x0, config.quartic_lrs),
              "quadratic": (config.quadratic_x0, config.quadratic_lrs)}
    labels = ("small", "good", "large")
    metrics: dict = {"n_steps": config.n_steps}
    results: dict[str, list[tuple[float, np.ndarray, str]]] = {}
    tables = ["# Gradient descent iterates x ← x − η f'(x)\n"]
    for name, (x0, lrs) in setups.items():
        fn = FUNCTIONS[name]
        runs = []
        for i, lr in enumerate(lrs):
            xs = gradient_descent_1d(fn.df, x0, lr, config.n_steps)
            verdict = classify_run(xs, fn.minima)
            runs.append((lr, xs, verdict))
            tables.append(_iterate_table(fn, lr, xs, verdict))
            key = f"{name}_{labels[i] if i < len(labels) else i}"
            final = float(xs[-1])
            metrics[f"{key}_lr"] = lr
            metrics[f"{key}_verdict"] = verdict
            metrics[f"{key}_final_x"] = final if math.isfinite(final) else None
            metrics[f"{key}_final_f"] = float(fn.f(final)) if abs(final) < 1e6 else None
            metrics[f"{key}_iterates"] = [float(x) for x in xs[: config.max_drawn + 1]]
            ctx.log(f"{name}, η = {lr:g}: {verdict}, x_{len(xs) - 1} = {final:.6g}")
        results[name] = runs
        metrics[f"{name}_minima"] = list(fn.minima)
        ctx.savefig(_gd_figure(fn, runs, config.max_drawn), f"gd_{name}",
                    caption=f"Tangents and steps of gradient descent on {fn.formula}")
    ctx.savefig(_iterates_figure(results), "iterates", caption="x_k against k for each η")
    ctx.write_text("iterates.md", "\n".join(tables))

    q = {lab: metrics[f"quadratic_{lab}_final_x"] for lab in labels}
    qv = {lab: metrics[f"quadratic_{lab}_verdict"] for lab in labels}
    r = {lab: 1 - 2 * lr for lab, lr in zip(labels, config.quadratic_lrs)}
    ctx.note(
        f"On f(x) = x² each step multiplies x by (1 − 2η). From x₀ = {config.quadratic_x0:g}, "
        f"after {config.n_steps} steps: η = {config.quadratic_lrs[0]:g} (factor {r['small']:.2f}) "
        f"is **{qv['small']}** at x = {_fmt(q['small'])}; η = {config.quadratic_lrs[1]:g} "
        f"(factor {r['good']:.2f}) is **{qv['good']}** at x = {_fmt(q['good'])}; "
        f"η = {config.quadratic_lrs[2]:g} (factor {r['large']:.2f}, |factor| > 1) jumps across "
        f"the minimum every step and is **{qv['large']}** at x = {_fmt(q['large'])}. "
        "The step is η times the slope of the tangent, so a steep tangent with a large η "
        "overshoots: stability needs η < 2 / f''(x*).")
    fq = FUNCTIONS["quartic"]
    curv = [12 * m**2 - 6 for m in fq.minima]
    qq = {lab: metrics[f"quartic_{lab}_final_x"] for lab in labels}
    qqv = {lab: metrics[f"quartic_{lab}_verdict"] for lab in labels}
    ctx.note(
        f"On f(x) = x⁴ − 3x² + x (minima at x = {fq.minima[0]:.4f} and {fq.minima[1]:.4f}, "
        f"curvature f'' = {curv[0]:.2f} and {curv[1]:.2f}, so η must stay below "
        f"{2 / curv[0]:.3f} and {2 / curv[1]:.3f}) from x₀ = {config.quartic_x0:g}: "
        f"η = {config.quartic_lrs[0]:g} is **{qqv['small']}** (x = {_fmt(qq['small'])}), "
        f"η = {config.quartic_lrs[1]:g} is **{qqv['good']}** (x = {_fmt(qq['good'])}), "
        f"η = {config.quartic_lrs[2]:g} is **{qqv['large']}** (x = {_fmt(qq['large'])}). "
        "Which minimum gradient descent finds depends on the start and on η: it only follows "
        "the local slope.")
    return metrics


def _fmt(x: float | None) -> str:
    return "∞" if x is None else f"{x:.4g}"


# ---------------------------------------------------------------------------------------------
# shared torch helpers (imported lazily: gd-1d needs no torch)


def _flat_pixels(X: np.ndarray):
    """uint8 (N, H, W) -> float32 tensor (N, 1, H, W) in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(X)).float().div_(255.0).unsqueeze(1)


def _take(n: int, available: int) -> int:
    return available if n <= 0 else min(n, available)


def count_parameters(model) -> int:
    """Trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


# ---------------------------------------------------------------------------------------------
# batch-size: online vs mini-batch


@dataclass
class BatchSizeConfig:
    n_train: int = 0  # training images (0: the whole split)
    n_test: int = 0  # test images (0: the whole split)
    batch_sizes: tuple[int, ...] = (1, 20, 128)  # samples per update; 1 is online learning
    epochs: int = 5  # passes over the training images in the equal-epochs comparison
    n_updates: int = 2000  # parameter updates per batch size in the equal-updates comparison
    points: int = 10  # loss measurements along each run
    width: int = 100  # hidden units of the MLP (one hidden ReLU layer)
    lr: float = 0.05  # SGD learning rate, the same for every batch size
    n_noise_batches: int = 50  # mini-batches drawn to estimate the gradient variance
    n_eval: int = 1000  # training images on which the training loss is measured (0: all)


@contextlib.contextmanager
def _single_thread():
    """One intra-op thread for tiny models (no-op in effect on CUDA): a step of these networks
    is far too small to split, and spare threads only spin; on a busy 2-core machine two
    threads made a batch-1 MLP step 30× and a small-CNN epoch 30× slower than one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _mlp(width: int):
    from stridelab.torch.models.classifiers import MLP

    return MLP(n_hidden_layers=1, width=width, dropout=0.0)


def _stream_indices(n: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` indices: whole shuffled passes over range(n), concatenated and cut."""
    passes = [rng.permutation(n) for _ in range(math.ceil(n_samples / n))]
    return np.concatenate(passes)[:n_samples]


def gradient_variance(model, loss_fn, X, y, batch_size: int, n_batches: int,
                      rng: np.random.Generator, device) -> dict[str, float]:
    """Noise of the mini-batch gradient at the model's current weights.

    Draws ``n_batches`` batches of ``batch_size`` distinct samples; returns the mean squared
    distance E‖g_B − g‖² between the mini-batch gradient g_B and the full-batch gradient g
    over (X, y) (the trace of the estimate's covariance), and ‖g‖².
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]

    def grad(idx) -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        loss_fn(model(X[idx].to(device)), y[idx].to(device)).backward()
        return torch.cat([p.grad.reshape(-1) for p in params]).detach().double()

    model.eval()  # no dropout/BN noise: only the sampling of the batch varies
    full = grad(torch.arange(len(y)))
    sq = []
    for _ in range(n_batches):
        idx = torch.from_numpy(rng.choice(len(y), size=batch_size, replace=False))
        sq.append(float(((grad(idx) - full) ** 2).sum()))
    model.zero_grad(set_to_none=True)
    return {"variance": float(np.mean(sq)), "full_grad_sq_norm": float((full**2).sum())}


def _train_stream(model, optimizer, loss_fn, X, y, X_eval, y_eval, test_loader, batch_size: int,
                  n_samples: int, points: int, n_train: int, ctx, seed: int, label: str):
    """Train on ``n_samples`` streamed samples in ``points`` chunks with train_one_epoch,
    measuring the training loss after each chunk; wall-clock counts training only."""
    import torch

    from stridelab.torch.loop import evaluate, make_loader, train_one_epoch

    rng = np.random.default_rng(seed)
    stream = _stream_indices(n_train, n_samples, rng)
    n_updates = math.ceil(n_samples / batch_size)
    bounds = np.unique(np.linspace(0, n_updates, points + 1).round().astype(int))
    eval_loader = make_loader(X_eval, y_eval, 512)
    curve = {"epochs": [0.0], "updates": [0], "seconds": [0.0],
             "train_loss": [evaluate(model, eval_loader, loss_fn, ctx.device)["loss"]]}
    seconds = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = torch.from_numpy(stream[a * batch_size: b * batch_size])
        loader = make_loader(X[idx], y[idx], batch_size, shuffle=False)
        t0 = time.perf_counter()
        train_one_epoch(model, loader, optimizer, loss_fn, ctx.device, ctx=ctx,
                        description=f"{label} updates {a}-{b}")
        if torch.device(ctx.device).type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        seen = min(b * batch_size, n_samples)
        curve["epochs"].append(seen / n_train)
        curve["updates"].append(int(b))
        curve["seconds"].append(seconds)
        curve["train_loss"].append(evaluate(model, eval_loader, loss_fn, ctx.device)["loss"])
    test = evaluate(model, test_loader, loss_fn, ctx.device)
    curve.update(test_loss=test["loss"], test_accuracy=test["accuracy"], train_seconds=seconds,
                 n_updates=int(bounds[-1]), n_samples=int(n_samples))
    return curve


def _batch_curves_figure(runs: dict[str, dict[int, dict]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 3, figsize=(15, 4 * len(runs)), squeeze=False)
    for row, (phase, by_batch) in zip(axes, runs.items()):
        for B, curve in by_batch.items():
            for ax, key, xlabel in zip(row, ("epochs", "seconds", "updates"),
                                       ("epochs (passes over the training images)",
                                        "training wall-clock (s)", "parameter updates")):
                ax.plot(curve[key], curve["train_loss"], "o-", ms=3,
                        label=f"batch {B} (test acc {curve['test_accuracy']:.3f})")
                ax.set_xlabel(xlabel)
                ax.set_ylabel("training loss (cross-entropy)")
                if key == "updates":
                    ax.set_xscale("symlog", linthresh=10)
        for ax, key in zip(row, ("epochs", "wall-clock", "updates")):
            ax.set_title(f"{phase}: loss vs {key}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("Online (batch 1) against mini-batch SGD: the same MLP, the same learning rate")
    fig.tight_layout()
    return fig


def _noise_figure(noise: dict[int, dict]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(noise)
    var = [noise[B]["variance"] for B in sizes]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.loglog(sizes, var, "o-", label="measured E‖g_B − g‖²")
    ref = [var[0] * sizes[0] / B for B in sizes]
    ax.loglog(sizes, ref, "--", color="grey", label="∝ 1 / B")
    ax.set_xlabel("mini-batch size B")
    ax.set_ylabel("variance of the mini-batch gradient")
    ax.set_title("Noise of the gradient estimate at the initial weights")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


@register("batch-size", BatchSizeConfig,
          description="online (batch 1) vs mini-batches 20 and 128: the same MLP at equal "
                      "epochs and equal updates, loss vs time, gradient noise",
          quick={"n_train": 2000, "epochs": 2, "n_updates": 1000, "points": 10,
                 "n_noise_batches": 30},
          smoke={"n_train": 200, "n_test": 100, "epochs": 1, "n_updates": 40, "points": 2,
                 "n_noise_batches": 5, "width": 16, "n_eval": 200},
          needs="mnist", key_metric="online_test_accuracy", order=71)
def run_batch_size(config: BatchSizeConfig, ctx) -> dict:
    import torch
    from torch import nn

    from stridelab.errors import ConfigError
    from stridelab.torch.loop import make_loader

    if not config.batch_sizes or min(config.batch_sizes) < 1:
        raise ConfigError(f"batch_sizes must be positive, e.g. 1,20,128; got {config.batch_sizes}")
    ds = ctx.load_dataset(family="mnist")
    n_train, n_test = _take(config.n_train, len(ds.y_train)), _take(config.n_test, len(ds.y_test))
    X, y = _flat_pixels(ds.X_train[:n_train]), torch.from_numpy(ds.y_train[:n_train])
    X_test, y_test = _flat_pixels(ds.X_test[:n_test]), torch.from_numpy(ds.y_test[:n_test])
    n_eval = _take(config.n_eval, n_train)
    test_loader = make_loader(X_test, y_test, 512)
    loss_fn = nn.CrossEntropyLoss()
    sizes = sorted(set(config.batch_sizes))
    if sizes[-1] > n_train:
        raise ConfigError(f"batch size {sizes[-1]} exceeds the {n_train} training images; "
                          "raise n_train or lower batch_sizes")

    # every run starts from the same initial weights
    init = _mlp(config.width).state_dict()
    ctx.log(f"MLP 784-{config.width}-10 ({count_parameters(_mlp(config.width)):,} parameters), "
            f"SGD lr {config.lr}, {n_train} training images")

    noise_model = _mlp(config.width)
    noise_model.load_state_dict(init)
    noise_model.to(ctx.device)
    rng = np.random.default_rng(ctx.seed)
    with _single_thread():
        noise = {B: gradient_variance(noise_model, loss_fn, X, y, B, config.n_noise_batches,
                                      rng, ctx.device) for B in sizes}
    for B in sizes:
        ctx.log(f"batch {B}: gradient variance {noise[B]['variance']:.4g}")

    with _single_thread():
        runs = _batch_size_runs(config, ctx, X, y, n_eval, test_loader, loss_fn, sizes, init)
    return _batch_size_report(config, ctx, ds, n_train, n_test, sizes, noise, runs)


def _batch_size_runs(config, ctx, X, y, n_eval, test_loader, loss_fn, sizes, init):
    import torch

    n_train = len(y)
    phases = {"equal epochs": lambda B: config.epochs * n_train,
              "equal updates": lambda B: config.n_updates * B}
    runs: dict[str, dict[int, dict]] = {}
    for phase, n_samples in phases.items():
        runs[phase] = {}
        for B in sizes:
            model = _mlp(config.width)
            model.load_state_dict(init)
            model.to(ctx.device)
            optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
            curve = _train_stream(model, optimizer, loss_fn, X, y, X[:n_eval], y[:n_eval],
                                  test_loader, B, n_samples(B), config.points, n_train, ctx,
                                  ctx.seed, f"{phase}, batch {B}")
            runs[phase][B] = curve
            ctx.log(f"{phase}, batch {B}: {curve['n_updates']} updates, "
                    f"{curve['train_seconds']:.2f}s, train loss {curve['train_loss'][-1]:.4f}, "
                    f"test accuracy {curve['test_accuracy']:.4f}")
    return runs


def _batch_size_report(config, ctx, ds, n_train, n_test, sizes, noise, runs) -> dict:
    ctx.savefig(_batch_curves_figure(runs), "loss_curves",
                caption="Training loss against epochs, wall-clock and updates")
    ctx.savefig(_noise_figure(noise), "gradient_noise",
                caption="Variance of the mini-batch gradient against the batch size")
    ctx.write_json("curves.json", {phase: {str(B): c for B, c in by.items()}
                                   for phase, by in runs.items()})

    metrics: dict = {"dataset": ds.name, "n_train": n_train, "n_test": n_test, "lr": config.lr,
                     "width": config.width, "batch_sizes": sizes}
    for phase, by in runs.items():
        tag = phase.replace(" ", "_")
        for B, c in by.items():
            metrics[f"{tag}_b{B}_test_accuracy"] = c["test_accuracy"]
            metrics[f"{tag}_b{B}_final_train_loss"] = c["train_loss"][-1]
            metrics[f"{tag}_b{B}_train_seconds"] = c["train_seconds"]
            metrics[f"{tag}_b{B}_updates"] = c["n_updates"]
            metrics[f"{tag}_b{B}_epochs"] = c["epochs"][-1]
    for B in sizes:
        metrics[f"gradient_variance_b{B}"] = noise[B]["variance"]
    metrics["full_gradient_sq_norm"] = noise[sizes[0]]["full_grad_sq_norm"]
    small, big = sizes[0], sizes[-1]
    ee, eu = runs["equal epochs"], runs["equal updates"]
    metrics["online_test_accuracy"] = ee[small]["test_accuracy"]

    ctx.note(
        f"The same MLP (784-{config.width}-10, SGD, η = {config.lr}) from the same initial "
        f"weights on {n_train} {ds.name} images. **At equal epochs ({config.epochs})** batch "
        f"{small} makes {ee[small]['n_updates']} updates against {ee[big]['n_updates']} for "
        f"batch {big}: its training loss ends at {ee[small]['train_loss'][-1]:.3f} against "
        f"{ee[big]['train_loss'][-1]:.3f}, test accuracy {ee[small]['test_accuracy']:.3f} "
        f"against {ee[big]['test_accuracy']:.3f}. *Advantage of online learning:* it makes "
        "progress after every single example, so each pass over the data goes much further. "
        f"*Disadvantage:* its {config.epochs} epoch(s) took {ee[small]['train_seconds']:.2f} s "
        "of training against "
        f"{ee[big]['train_seconds']:.2f} s for batch {big}, because one example per step "
        "cannot use vectorised matrix products, and each step follows a noisy gradient.")
    ctx.note(
        f"**At equal updates ({config.n_updates})** batch {big} sees {big}× more examples "
        f"per step and ends at training loss {eu[big]['train_loss'][-1]:.3f} (test accuracy "
        f"{eu[big]['test_accuracy']:.3f}) against {eu[small]['train_loss'][-1]:.3f} "
        f"({eu[small]['test_accuracy']:.3f}) for batch {small}. The noise of the estimate: "
        "E‖g_B − g‖² at the initial weights is "
        + ", ".join(f"{noise[B]['variance']:.3g} for B = {B}" for B in sizes)
        + f" (‖g‖² = {metrics['full_gradient_sq_norm']:.3g}); it falls roughly as 1/B, so "
        f"batch {big} steps point much closer to the true gradient.")
    return metrics


# ---------------------------------------------------------------------------------------------
# mlp-vs-cnn


def shift_images(X: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift images (N, H, W) by (dy, dx) pixels, filling the uncovered border with zeros."""
    out = np.zeros_like(X)
    H, W = X.shape[-2:]
    src_y = slice(max(-dy, 0), H - max(dy, 0))
    dst_y = slice(max(dy, 0), H - max(-dy, 0))
    src_x = slice(max(-dx, 0), W - max(dx, 0))
    dst_x = slice(max(dx, 0), W - max(-dx, 0))
    out[..., dst_y, dst_x] = X[..., src_y, src_x]
    return out


SHIFT_DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # right, left, down, up


@dataclass
class MLPvsCNNConfig:
    n_train: int = 0  # training images (0: the whole split)
    n_test: int = 0  # test images (0: the whole split)
    epochs: int = 10  # passes over the training images, both networks
    batch_size: int = 64  # samples per step
    lr: float = 2e-3  # Adam learning rate
    cnn_channels: tuple[int, ...] = (8, 16, 32)  # filters of the 3×3 conv + 2×2 pool blocks
    mlp_width: int = 0  # hidden units of the MLP (0: chosen to match the CNN's parameters)
    max_shift: int = 3  # largest test shift (pixels)


def _cnn(channels: tuple[int, ...]):
    from stridelab.torch.models.classifiers import MnistCNN

    return MnistCNN(channels, convs_per_block=1, hidden=0, dropout=0.0, batch_norm=False)


def matched_mlp_width(n_params: int, in_features: int = 784, n_classes: int = 10) -> int:
    """Hidden width h of a one-hidden-layer MLP with about ``n_params`` parameters:
    (in + 1)·h + (h + 1)·classes = n_params."""
    return max(1, round((n_params - n_classes) / (in_features + 1 + n_classes)))


def _shift_figure(shifts, acc: dict[str, list[float]], params: dict[str, int]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, values in acc.items():
        ax.plot(shifts, values, "o-", label=f"{name} ({params[name]:,} parameters)")
    ax.set_xticks(list(shifts))
    ax.set_xlabel("shift of the test digits (pixels; mean of right, left, down, up)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Accuracy on shifted test digits (trained on centred digits)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@register("mlp-vs-cnn", MLPvsCNNConfig,
          description="an MLP and a CNN with about the same parameter count: test accuracy "
                      "and accuracy on digits shifted by 1-3 pixels",
          quick={"n_train": 2000, "epochs": 3},
          smoke={"n_train": 256, "n_test": 128, "epochs": 1, "cnn_channels": (4, 8),
                 "max_shift": 2},
          needs="mnist", key_metric="cnn_test_accuracy", order=72)
def run_mlp_vs_cnn(config: MLPvsCNNConfig, ctx) -> dict:
    import torch
    from torch import nn

    from stridelab.torch.loop import evaluate, fit, make_loader
    from stridelab.torch.models.classifiers import MLP

    ds = ctx.load_dataset(family="mnist")
    n_train, n_test = _take(config.n_train, len(ds.y_train)), _take(config.n_test, len(ds.y_test))
    X, y = _flat_pixels(ds.X_train[:n_train]), torch.from_numpy(ds.y_train[:n_train])
    y_test = torch.from_numpy(ds.y_test[:n_test])
    cnn = _cnn(tuple(config.cnn_channels))
    width = config.mlp_width or matched_mlp_width(count_parameters(cnn))
    models = {"MLP": MLP(n_hidden_layers=1, width=width, dropout=0.0), "CNN": cnn}
    params = {name: count_parameters(m) for name, m in models.items()}
    ctx.log(f"MLP 784-{width}-10: {params['MLP']:,} parameters; CNN "
            f"{tuple(config.cnn_channels)}: {params['CNN']:,} parameters")
    loss_fn = nn.CrossEntropyLoss()
    train_loader = make_loader(X, y, config.batch_size, shuffle=True, seed=ctx.seed)
    shifts = list(range(config.max_shift + 1))
    shifted = {s: [_flat_pixels(shift_images(ds.X_test[:n_test], s * dy, s * dx))
                   for dy, dx in SHIFT_DIRECTIONS] for s in shifts[1:]}
    histories, acc = {}, {}
    test_loader = make_loader(_flat_pixels(ds.X_test[:n_test]), y_test, 512)
    for name, model in models.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        with _single_thread():
            histories[name] = fit(model, train_loader, test_loader, optimizer=optimizer,
                                  loss_fn=loss_fn, num_epochs=config.epochs,
                                  device=ctx.device, ctx=ctx)
            acc[name] = [histories[name]["test_accuracy"][-1]]
            for s in shifts[1:]:
                per_dir = [evaluate(model, make_loader(Xs, y_test, 512), loss_fn,
                                    ctx.device)["accuracy"] for Xs in shifted[s]]
                acc[name].append(float(np.mean(per_dir)))
        ctx.log(f"{name}: accuracy by shift " + ", ".join(f"{s}px {a:.4f}"
                                                         for s, a in zip(shifts, acc[name])))
    ctx.savefig(_shift_figure(shifts, acc, params), "accuracy_vs_shift",
                caption="Test accuracy against the shift of the test digits")
    ctx.write_json("history.json", histories)

    convs = cnn.conv_layers()
    conv_params = sum(count_parameters(c) for c in convs)
    # each conv weight is reused at every output position of its layer
    side, uses = 28, []
    for _ in convs:
        uses.append(side * side)
        side //= 2
    metrics: dict = {"dataset": ds.name, "n_train": n_train, "n_test": n_test,
                     "epochs": config.epochs, "mlp_width": width,
                     "mlp_params": params["MLP"], "cnn_params": params["CNN"],
                     "cnn_conv_params": conv_params, "shifts": shifts}
    for name in models:
        key = name.lower()
        metrics[f"{key}_test_accuracy"] = acc[name][0]
        metrics[f"{key}_accuracy_by_shift"] = acc[name]
        metrics[f"{key}_epoch_time_s"] = float(np.median(histories[name]["epoch_time"]))
    last = shifts[-1]
    drop = {name: acc[name][0] - acc[name][-1] for name in models}
    metrics["mlp_drop_at_max_shift"] = drop["MLP"]
    metrics["cnn_drop_at_max_shift"] = drop["CNN"]
    ctx.note(
        f"Trained on {n_train} centred {ds.name} digits for {config.epochs} epochs, an MLP "
        f"784-{width}-10 with **{params['MLP']:,}** parameters reaches **{acc['MLP'][0]:.4f}** "
        f"test accuracy and a CNN with **{params['CNN']:,}** reaches **{acc['CNN'][0]:.4f}**. "
        f"Shifted by {last} pixels the MLP falls to {acc['MLP'][-1]:.4f} "
        f"(−{drop['MLP']:.3f}) and the CNN to {acc['CNN'][-1]:.4f} (−{drop['CNN']:.3f}).")
    ctx.note(
        "Why: each of the MLP's hidden units has its own weight for every one of the 784 "
        "pixels, so a stroke that moves to a neighbouring pixel meets weights that never saw "
        f"it. The CNN's {conv_params:,} convolution parameters are *shared*: each 3×3 filter "
        "is applied at every position ("
        + ", ".join(f"{u} positions in conv {i + 1}" for i, u in enumerate(uses))
        + "), so a pattern is detected wherever it appears, and each unit looks only at a "
        "*local* 3×3 window, the scale at which strokes and corners live; max-pooling then "
        "tolerates small moves. The same parameter budget thus buys many more useful "
        "detectors; only the final dense layer still ties features to positions, which is "
        "why the CNN's accuracy also degrades, but more slowly.")
    return metrics
