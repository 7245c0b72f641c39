"""gd-1d: gradient descent in one dimension, drawn and measured (NumPy only).

Yale CPSC 663, problem 1.1: a geometric interpretation of gradient descent in 1-D. The
iteration x ← x − η f'(x) is run on a quartic with two minima and on a quadratic for each
configured learning rate; the figures draw the curve, the tangent at every iterate and each
step as an arrow, and every iterate is tabulated.

Near a minimum x* the iteration is x − x* ← (1 − η f''(x*)) (x − x*): the step factor
r = 1 − η f''(x*) decides what happens (|r| < 1 converges, from one side when r > 0 and
jumping across when r < 0; |r| > 1 moves away). Each run records r at the minima and the
factor it actually showed, and whether r predicted its outcome.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from stridelab.errors import ConfigError
from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.registry import bounded, register

# ---------------------------------------------------------------------------------------------
# the functions and the iteration


@dataclass(frozen=True)
class Function1D:
    """A twice-differentiable function of one variable with its derivatives and its minima."""

    name: str  # short name used in metrics keys
    formula: str  # as printed in figures and tables
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    d2f: Callable[[np.ndarray], np.ndarray]
    minima: tuple[float, ...]  # the local minimisers
    span: tuple[float, float]  # x range drawn


def _quartic_minima() -> tuple[float, ...]:
    # f'(x) = 4x³ − 6x + 1: three real roots; the outer two are minima (f'' = 12x² − 6 > 0)
    roots = np.sort(np.roots([4.0, 0.0, -6.0, 1.0]).real)
    return float(roots[0]), float(roots[2])


FUNCTIONS = {
    "quartic": Function1D("quartic", "x⁴ − 3x² + x",
                          lambda x: x**4 - 3 * x**2 + x,
                          lambda x: 4 * x**3 - 6 * x + 1,
                          lambda x: 12 * x**2 - 6,
                          _quartic_minima(), (-2.2, 2.2)),
    "quadratic": Function1D("quadratic", "x²",
                            lambda x: x**2, lambda x: 2 * x, lambda x: 2 + 0 * x,
                            (0.0,), (-3.0, 3.0)),
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


CONVERGING = ("converged", "slow")  # verdicts of a run that approaches a minimum


def step_factors(fn: Function1D, lr: float) -> np.ndarray:
    """The step factor 1 − lr · f''(x*) at each minimum x* of ``fn``: shape (n_minima,)."""
    return np.array([1.0 - lr * float(fn.d2f(m)) for m in fn.minima])


def measured_factor(xs: np.ndarray, x_star: float) -> float | None:
    """(x_K − x*) / (x_{K−1} − x*) at the last step whose distance to x* is still nonzero.

    The factor by which the run actually shrank (or grew) its distance to x*; None when the
    run overflowed or sat exactly on x*.
    """
    if not np.all(np.isfinite(xs)) or len(xs) < 2:
        return None
    d = xs - x_star  # (n_iterates,)
    for k in range(len(d) - 1, 0, -1):
        if d[k - 1] != 0 and d[k] != 0 and abs(d[k - 1]) > 1e-300:
            return float(d[k] / d[k - 1])
    return None


# ---------------------------------------------------------------------------------------------
# config


STEP_FACTOR_DECIDES = Lesson("The step factor one minus η·f'' at a minimum decides whether "
                             "gradient descent converges", "factor_rule_agreement", ">=",
                             quick=1.0, full=1.0,
                             label="runs the step factor predicted (fraction)")


@dataclass
class GD1DConfig:
    quartic_x0: float = -0.3  # starting point on the quartic (x)
    # learning rates tried on the quartic
    quartic_lrs: tuple[float, ...] = bounded((0.01, 0.08, 0.25), gt=0)
    quadratic_x0: float = 2.5  # starting point on the quadratic (x)
    # learning rates tried on x²
    quadratic_lrs: tuple[float, ...] = bounded((0.05, 0.4, 1.05), gt=0)
    n_steps: int = bounded(40, ge=1)  # gradient steps per run
    max_drawn: int = bounded(12, ge=1)  # steps drawn as arrows


def _setups(config: GD1DConfig) -> dict[str, tuple[float, tuple[float, ...]]]:
    setups = {"quartic": (config.quartic_x0, tuple(config.quartic_lrs)),
              "quadratic": (config.quadratic_x0, tuple(config.quadratic_lrs))}
    for name, (_, lrs) in setups.items():
        if not lrs:  # each one is positive: the field's bounds
            raise ConfigError(f"--set {name}_lrs: need at least one learning rate, e.g. "
                              "0.01,0.1")
    return setups


# ---------------------------------------------------------------------------------------------
# figures


def _gd_figure(fn: Function1D, runs: list[dict], max_drawn: int, x0: float):
    fig, axes = plt.subplots(1, len(runs), figsize=(9, 3.9), sharey=True, squeeze=False)
    grid = np.linspace(*fn.span, 400)
    y_grid = fn.f(grid)
    y_lo, y_hi = float(y_grid.min()), float(y_grid.max())
    pad = 0.1 * (y_hi - y_lo)
    half = 0.08 * (fn.span[1] - fn.span[0])
    for ax, run in zip(axes[0], runs):
        xs = run["xs"]
        ax.plot(grid, y_grid, color="black", lw=1.5, label=f"f(x) = {fn.formula}")
        shown = xs[: max_drawn + 1]
        colors = plt.cm.viridis(np.linspace(0, 1, max(len(shown), 2)))
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
        inside = shown[(shown >= fn.span[0]) & (shown <= fn.span[1])]
        ax.scatter(inside, fn.f(inside), c="tab:red", s=18, zorder=3,
                   label="iterates x_k, arrows x ← x − η f'(x)")
        ax.set_ylim(y_lo - pad, y_hi + pad)
        ax.set_xlim(*fn.span)
        ax.set_xlabel("x")
        ax.set_title(f"η = {run['lr']:g}: {run['verdict']}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("f(x)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=3, fontsize=9, frameon=False)
    fig.suptitle(f"Gradient descent on f(x) = {fn.formula} from x₀ = {x0:g} (first "
                 f"{max_drawn} steps drawn)", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _iterates_figure(results: dict[str, list[dict]]):
    fig, axes = plt.subplots(1, len(results), figsize=(9, 4.2), squeeze=False)
    for ax, (name, runs) in zip(axes[0], results.items()):
        fn = FUNCTIONS[name]
        for run in runs:
            xs = run["xs"]
            ax.plot(np.arange(len(xs)), np.clip(xs, -10, 10), "o-", ms=3,
                    label=f"η = {run['lr']:g} ({run['verdict']})")
        for m in fn.minima:
            ax.axhline(m, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("step k")
        ax.set_ylabel("x_k (clipped to ±10)")
        ax.set_title(f"f(x) = {fn.formula}; dashed: minima", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=1, fontsize=9,
                  frameon=False)
    fig.suptitle("Iterates of gradient descent against the step number", fontsize=11)
    fig.tight_layout()
    return fig


def _iterate_table(fn: Function1D, lr: float, xs: np.ndarray, verdict: str) -> str:
    lines = [f"### f(x) = {fn.formula}, η = {lr:g} ({verdict})", "",
             "| k | x_k | f(x_k) | f'(x_k) | step −η f'(x_k) |", "|---:|---:|---:|---:|---:|"]
    for k, x in enumerate(xs):
        fx, dfx = float(fn.f(x)), float(fn.df(x))
        lines.append(f"| {k} | {x:.6g} | {fx:.6g} | {dfx:.6g} | {-lr * dfx:.6g} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# measure


def measure(config: GD1DConfig, ctx) -> dict:
    setups = _setups(config)
    metrics: dict = {"n_steps": config.n_steps, "functions": {}}
    results: dict[str, list[dict]] = {}
    tables = ["# Gradient descent iterates x ← x − η f'(x)\n"]
    agree = []
    for name, (x0, lrs) in setups.items():
        fn = FUNCTIONS[name]
        metrics["functions"][name] = {
            "formula": fn.formula, "formula_numbers": [int(t) for t in re.findall(r"\d+",
                                                                                   fn.formula)],
            "minima": list(fn.minima),
            "curvature": [float(fn.d2f(m)) for m in fn.minima]}
        runs, reached = [], set()
        for i, lr in enumerate(lrs):
            xs = gradient_descent_1d(fn.df, x0, lr, config.n_steps)
            verdict = classify_run(xs, fn.minima)
            factors = step_factors(fn, lr)  # (n_minima,)
            predicted = bool(np.min(np.abs(factors)) < 1)  # some minimum is stable
            observed = verdict in CONVERGING
            final = float(xs[-1])
            finite = math.isfinite(final) and abs(final) < 1e6
            nearest = int(np.argmin([abs(final - m) for m in fn.minima])) if finite else None
            if observed and nearest is not None:
                reached.add(nearest)
            key = f"{name}_{i}"
            metrics.update({
                f"{key}_lr": lr, f"{key}_verdict": verdict,
                f"{key}_steps": len(xs) - 1,
                f"{key}_final_x": final if finite else None,
                f"{key}_final_f": float(fn.f(final)) if finite else None,
                f"{key}_nearest_minimum": fn.minima[nearest] if nearest is not None else None,
                f"{key}_factors": factors,
                f"{key}_factor_min_abs": float(np.min(np.abs(factors))),
                f"{key}_measured_factor": measured_factor(xs, fn.minima[nearest])
                if nearest is not None else None,
                f"{key}_predicted_converges": predicted,
                f"{key}_agrees": predicted == observed,
                f"{key}_iterates": [float(x) for x in xs[: config.max_drawn + 1]],
            })
            agree.append(predicted == observed)
            runs.append({"lr": lr, "xs": xs, "verdict": verdict})
            tables.append(_iterate_table(fn, lr, xs, verdict))
            ctx.log(f"{name}, η = {lr:g}: {verdict}, x_{len(xs) - 1} = {final:.6g}, step "
                    "factor at the minima " + ", ".join(f"{r:.3f}" for r in factors))
        metrics[f"{name}_n_runs"] = len(lrs)
        metrics[f"{name}_minima_reached"] = len(reached)
        results[name] = runs
        ctx.savefig(_gd_figure(fn, runs, config.max_drawn, x0), f"gd_{name}",
                    caption=f"Tangents and steps of gradient descent on {fn.formula}")
    ctx.savefig(_iterates_figure(results), "iterates", caption="x_k against k for each η")
    ctx.write_text("iterates.md", "\n".join(tables))
    metrics["n_runs"] = len(agree)
    metrics["factor_rule_agreement"] = float(np.mean(agree))
    return metrics


# ---------------------------------------------------------------------------------------------
# narrate


def _run_sentence(notes: Notes, m: dict, key: str) -> str:
    """One run (metrics keys ``{key}_*``); its claims are named ``{key}_*``."""
    verdict = m[f"{key}_verdict"]
    text = (f"η = {num(m, f'{key}_lr', 'g')}: the smallest |step factor| over the minima is "
            f"{num(m, f'{key}_factor_min_abs', '.3g')}, so it should "
            + notes.claim(f"{key}_predicted_converges", m[f"{key}_predicted_converges"],
                          "converge", "not converge")
            + f"; after {num(m, f'{key}_steps')} steps it is **{verdict}**")
    if m[f"{key}_final_x"] is not None:
        text += f" at x = {num(m, f'{key}_final_x', '.4g')}"
    measured = m[f"{key}_measured_factor"]
    if measured is not None:
        text += (f", its distance to the nearest minimum changing by a factor "
                 f"{num(m, f'{key}_measured_factor', '.3g')} in the last step ("
                 + notes.claim(f"{key}_jumps_across", measured < 0, "it jumps across the minimum",
                               "it stays on one side") + ")")
    return text + " — " + notes.claim(
        f"{key}_agrees", m[f"{key}_agrees"], "as the factor predicts.",
        "**not** what the factor predicts.")


def narrate(metrics: dict, config: GD1DConfig) -> Notes:
    """Per function and learning rate: the step factor, the verdict and whether they agree."""
    m = metrics
    notes = Notes()
    notes.add(
        "**Geometry.** Each step goes downhill along the tangent at the current point: it "
        "moves by η times the tangent's slope, so a steep tangent makes a long step. Near a "
        "minimum x* the distance to x* is multiplied at every step by the step factor "
        "one minus η·f''(x*): below one in magnitude the iterates close in (from one side "
        "when the factor is positive, jumping across x* when it is negative), above one they "
        "move away.")
    for name in ("quadratic", "quartic"):
        fn = m["functions"][name]
        curv = ", ".join(fmt(c, ".4g") for c in fn["curvature"])
        minima = ", ".join(fmt(x, ".4f") for x in fn["minima"])
        sentences = [f"On f(x) = {fn['formula']} (minima at x = {minima}, curvature f'' = "
                     f"{curv} there) from x₀ = {num(config, f'{name}_x0', 'g')}:"]
        sentences += [_run_sentence(notes, m, f"{name}_{i}")
                      for i in range(m[f"{name}_n_runs"])]
        notes.add(*sentences)
    n_reached = m["quartic_minima_reached"]
    notes.add(notes.claim(
        "different_minima", n_reached > 1,
        "On the quartic, different learning rates from the same start ended in different "
        "minima: gradient descent only follows the local slope, and a long step can jump "
        "into another valley.",
        "On the quartic every converging learning rate found the same minimum from this "
        "start."))
    notes.add(notes.claim(
        "factor_predicts_every_run", STEP_FACTOR_DECIDES.holds(m),
        f"In all {num(m, 'n_runs')} runs the step factor predicted the outcome.",
        f"The step factor predicted the outcome in a fraction "
        f"{num(m, 'factor_rule_agreement', '.3g')} of the {num(m, 'n_runs')} runs: far "
        "from a minimum the curvature differs from f''(x*), and the prediction is only local."))
    return notes


register("gd-1d", GD1DConfig,
         description="gradient descent in 1-D: tangents and steps for several learning rates "
                     "on a quartic and a quadratic; the step factor decides convergence",
         quick={}, smoke={"n_steps": 10, "max_drawn": 4},
         needs=None, key_metric="factor_rule_agreement", order=70, narrate=narrate,
         lessons=(STEP_FACTOR_DECIDES,))(measure)
