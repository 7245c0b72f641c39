"""Cross-entropy of a sigmoid unit: δ = a − y, its minimum at a = y, and the swapped form."""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked.derive import graded
from stridelab.worked.derive.answer import Derivation, Step
from stridelab.worked.derive.formulas import Formula
from stridelab.worked.derive.numeric import (
    MAX_EXACT_SOFTMAX,
    MAX_SHOWN,
    check_at_values,
    check_result,
    exact_json,
    float_array,
    max_error,
    num_latex,
    num_text,
    sigmoid,
    tensor,
    to_float,
    torch_module,
    vec_latex,
)
from stridelab.worked.derive.registry import read_z_and_y, topic
from stridelab.worked.derive.symbolic import rational, sympy_env, verify
from stridelab.worked.numbers import fmt, fmt_latex
from stridelab.worked.values import read_scalar, read_vector

# ---------------------------------------------------------------- sigmoid and cross-entropy


@functools.cache
def _sigmoid_cross_entropy_symbolic() -> tuple[str, ...]:
    sp = sympy_env()[0]
    zs, ys, a = sp.symbols("z y a", real=True)
    sigma = 1 / (1 + sp.exp(-zs))
    L = -(ys * sp.log(sigma) + (1 - ys) * sp.log(1 - sigma))
    Lt = -(a * sp.log(ys) + (1 - a) * sp.log(1 - ys))
    grad_swapped = sp.diff(Lt, a)
    lim_grad = sp.limit(sp.log(1 - ys) - sp.log(ys), ys, 1, "-")
    lim_loss = sp.limit(Lt.subs(a, sp.Rational(1, 2)), ys, 1, "-")
    symbolic = verify(
        [
            ("sigma'(z) = sigma(z)(1 - sigma(z))", sp.diff(sigma, zs) - sigma * (1 - sigma)),
            ("dL/dz = sigma(z) - y for the binary cross-entropy", sp.diff(L, zs) - (sigma - ys)),
            (
                "swapped loss: dL~/da = ln(1 - y) - ln y",
                grad_swapped - (sp.log(1 - ys) - sp.log(ys)),
            ),
        ]
    )
    if lim_grad != -sp.oo or lim_loss != sp.oo:
        raise RuntimeError("symbolic check failed: limits of the swapped loss at y -> 1")
    return tuple(symbolic + ["ln(1 - y) - ln y -> -oo as y -> 1", "L~(a = 1/2) -> +oo as y -> 1"])


def _bce_float(zf: np.ndarray, yf: np.ndarray) -> np.ndarray:
    """−[y ln σ(z) + (1 − y) ln(1 − σ(z))] per entry, stable for large |z| (softplus form)."""
    return np.maximum(zf, 0) - yf * zf + np.log1p(np.exp(-np.abs(zf)))


def targets01(raw, *, what: str, notes: list[str]) -> list:
    """Targets of a binary cross-entropy: a vector of probabilities, each in [0, 1]."""
    y = read_vector(raw, what=what, notes=notes)
    bad = [u for u in y if u < 0 or u > 1]
    if bad:
        raise DataError(
            f"{what}: {num_text(bad[0])} is outside [0, 1]; a binary cross-entropy target is a "
            "probability (outside [0, 1] the loss has no minimum)"
        )
    return y


def _read_sigmoid_targets(v: dict, notes: list[str]) -> dict:
    return read_z_and_y(v, notes, "sigmoid-cross-entropy", per="z", targets=targets01)


_DL_DA = Formula("dL_da", "(a - y)/(a*(1 - a))", "∂L/∂a for L = −[y ln a + (1 − y) ln(1 − a)]",
                 ("a", "y"))


@topic("sigmoid-cross-entropy", "why δ = a − y, and what goes wrong with the arguments swapped",
       options=("z", "y"), read=_read_sigmoid_targets, values=graded.sigmoid_cross_entropy,
       formulas=(Formula(
           "dL_dz", "a - y", "δ = ∂L/∂z for a = σ(z), L = −[y ln a + (1 − y) ln(1 − a)]",
           ("a", "y", "z"), where=(("a", "sigma(z)"),), ranges=(("z", -3.0, 3.0),),
           slips=(("fprime_kept", "(a - y)*a*(1 - a)", "σ′(z) = a(1 − a) was kept: it cancels "
                   "against ∂L/∂a"),
                  ("dL_da", "(a - y)/(a*(1 - a))", "this is ∂L/∂a: the chain rule through σ "
                   "is missing"))), _DL_DA))
def sigmoid_cross_entropy(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _sigmoid_cross_entropy_symbolic()
    torch = torch_module()
    # what autodiff makes of the swapped loss at a one-hot label
    at = tensor([0.3], grad=True)
    yt = tensor([1.0])
    Ltv = -(at * torch.log(yt) + (1 - at) * torch.log(1 - yt)).sum()
    Ltv.backward()
    swapped_value, swapped_grad = float(Ltv.detach()), float(at.grad[0])

    steps = [
        Step(
            r"A sigmoid unit $a = \sigma(z) = 1/(1 + e^{-z})$ predicts $P(y = 1)$; the binary "
            r"cross-entropy for a target $y \in [0, 1]$ is:",
            r"L = -\left[y\ln a + (1 - y)\ln(1 - a)\right]",
        ),
        Step(
            "Derivative of the sigmoid:",
            r"\sigma'(z) = \frac{e^{-z}}{(1 + e^{-z})^2} = \sigma(z)\,(1 - \sigma(z)) = a(1 - a)",
        ),
        Step(
            "Derivative of the loss with respect to the output:",
            r"\frac{\partial L}{\partial a} = -\frac{y}{a} + \frac{1 - y}{1 - a}"
            r" = \frac{a - y}{a(1 - a)}",
        ),
        Step(
            "Chain rule: σ'(z) cancels the denominator exactly, so the error signal is the "
            "plain difference:",
            r"\delta = \frac{\partial L}{\partial z} = \frac{\partial L}{\partial a}\,\sigma'(z)"
            r" = \frac{a - y}{a(1 - a)}\cdot a(1 - a) = a - y",
        ),
        Step(
            "Compare the squared error ½(a − y)²: there δ = (a − y)·a(1 − a), which is almost 0 "
            "when the unit saturates (a ≈ 0 or a ≈ 1) even if the answer is completely wrong, "
            "so learning stalls; with cross-entropy δ = a − y stays large while the output is "
            "wrong.",
            r"\text{squared error: }\ \delta = (a - y)\,a(1 - a)\ \to 0\ \text{ as } a \to 0"
            r"\text{ or } 1",
        ),
        Step(
            "What goes wrong with the arguments swapped, L̃ = −[a ln y + (1 − a) ln(1 − y)]: for a "
            "label y ∈ {0, 1} one of ln y, ln(1 − y) is ln 0 = −∞. For y = 1, L̃ = −(1 − a)·ln 0 "
            "= +∞ for every a < 1 (and 0·∞ is undefined at a = 1); for y = 0, L̃ = −a·ln 0 = +∞ "
            f"for every a > 0. PyTorch indeed returns L̃ = {swapped_value} and "
            f"∂L̃/∂a = {swapped_grad} at a = 0.3, y = 1 (topic cross-entropy-swapped has more).",
            r"\tilde L = -\left[a\ln y + (1 - a)\ln(1 - y)\right]",
            r"\tilde L\big|_{y = 1} = -(1 - a)\ln 0 = +\infty",
        ),
        Step(
            "Its gradient does not depend on the prediction a at all: L̃ is linear in a, has no "
            "minimum at a = y, and its gradient is +∞ for y = 0 and −∞ for y = 1. Cross-entropy "
            "H(p, q) = −Σ p ln q takes the logarithm of the model's prediction q = a, which lies "
            "in (0, 1), never of the 0/1 label.",
            r"\frac{\partial \tilde L}{\partial a} = \ln(1 - y) - \ln y = \ln\frac{1 - y}{y}"
            r"\ \xrightarrow{\;y \to 1\;}\ -\infty",
        ),
    ]
    d = Derivation(
        "sigmoid-cross-entropy",
        "Sigmoid with binary cross-entropy: δ = a − y",
        steps,
        list(symbolic),
    )
    if not v:
        zt = rng.normal(scale=3.0, size=(points, 4))
        yt = rng.uniform(size=(points, 4))
        u = tensor(zt, grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(
            u, tensor(yt), reduction="sum"
        ).backward()
        d.check = check_result(
            [("delta = sigmoid(z) - y vs autograd of BCE-with-logits",
              max_error(sigmoid(zt) - yt, u.grad.numpy()), 1e-12)],
            points,
            "torch.autograd",
        )
        return d

    # --- with the user's pre-activations and targets (one per example)
    z, y = v["z"], v["y"]
    zf, yf = float_array(z), float_array(y)
    a = sigmoid(zf)
    delta = a - yf
    loss = _bce_float(zf, yf)
    steps.append(
        Step(
            f"With your values ({len(z)} example(s), one z and one target y each):",
            f"z = {vec_latex(z)}", f"y = {vec_latex(y)}",
            rf"a = \sigma(z) \approx {vec_latex(list(a))}",
        )
    )
    steps.append(
        Step(
            "The error signal of each example and its loss:",
            rf"\delta = a - y \approx {vec_latex(list(delta))}",
            rf"L \approx {vec_latex(list(loss))}",
        )
    )
    u = tensor(zf, grad=True)
    Lt = torch.nn.functional.binary_cross_entropy_with_logits(u, tensor(yf), reduction="none")
    Lt.sum().backward()
    d.check = check_at_values(
        [
            ("δ = σ(z) − y vs autograd of BCE-with-logits at your values",
             max_error(delta, u.grad.numpy()), 1e-12),
            ("L vs torch BCE-with-logits", max_error(loss, Lt.detach().numpy()),
             1e-12 * (1.0 + float(np.max(np.abs(loss))))),
        ],
        "torch.autograd",
    )
    d.output, d.values = delta, {"a": a, "delta": delta, "loss": loss}
    d.inputs = {"z": exact_json(z), "y": exact_json(y)}
    return d


# ---------------------------------------------------------------- cross-entropy: minimum


@functools.cache
def _cross_entropy_minimum_symbolic() -> tuple[str, ...]:
    sp = sympy_env()[0]
    a, y = sp.symbols("a y", positive=True)
    z = sp.Symbol("z", real=True)
    C = -(y * sp.log(a) + (1 - y) * sp.log(1 - a))
    H = -(y * sp.log(y) + (1 - y) * sp.log(1 - y))
    sigma = 1 / (1 + sp.exp(-z))
    Cz = C.subs(a, sigma)
    z_star = sp.log(y / (1 - y))
    kl = y * sp.log(y / a) + (1 - y) * sp.log((1 - y) / (1 - a))
    return tuple(
        verify(
            [
                ("dC/da = (a - y) / (a (1 - a))", sp.diff(C, a) - (a - y) / (a * (1 - a))),
                (
                    "d2C/da2 = y/a^2 + (1 - y)/(1 - a)^2 (> 0 on (0, 1))",
                    sp.diff(C, a, 2) - (y / a**2 + (1 - y) / (1 - a) ** 2),
                ),
                ("dC/dz = sigma(z) - y", sp.diff(Cz, z) - (sigma - y)),
                ("sigma(ln(y / (1 - y))) = y", sigma.subs(z, z_star) - y),
                ("C(a = y) = -[y ln y + (1 - y) ln(1 - y)]", C.subs(a, y) - H),
                (
                    "C(a) - C(y) = y ln(y/a) + (1 - y) ln((1 - y)/(1 - a)) (a KL divergence, >= 0)",
                    sp.expand_log(C - H - kl, force=True),
                ),
            ]
        )
    )


def _entropy(yf: np.ndarray) -> np.ndarray:
    """−[y ln y + (1 − y) ln(1 − y)] with 0 ln 0 = 0 (its limit)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(yf > 0, yf * np.log(np.where(yf > 0, yf, 1.0)), 0.0)
        t0 = np.where(yf < 1, (1 - yf) * np.log(np.where(yf < 1, 1 - yf, 1.0)), 0.0)
    return -(t1 + t0)


def _ce_of_z(zv: float, yv: float) -> float:
    return float(_bce_float(np.array([zv]), np.array([yv]))[0])


_MAX_MINIMISED = 20  # targets checked by a numerical minimisation (the gradient check: all)


def _read_targets(v: dict, notes: list[str]) -> dict:
    return {"y": targets01(v["y"], what="--y", notes=notes)}


@topic("cross-entropy-minimum",
       "−[y ln a + (1 − y) ln(1 − a)] is least at a = σ(z) = y, also for y ∈ (0, 1)",
       options=("y",), read=_read_targets, values=graded.cross_entropy_minimum,
       formulas=(
           Formula("dC_da", "(a - y)/(a*(1 - a))", "∂C_x/∂a for one input's cost", ("a", "y")),
           Formula("z_star_formula", "log(y/(1 - y))", "the z* where σ(z*) = y, the minimiser",
                   ("y",), slips=(("odds_inverted", "log((1 - y)/y)", "the odds are upside "
                                   "down: σ(z*) = y gives z* = ln(y/(1 − y))"),)),
           Formula("c_min_formula", "-(y*log(y) + (1 - y)*log(1 - y))", "the least value of "
                   "one input's cost −[y ln a + (1 − y) ln(1 − a)]", ("y",))))
def cross_entropy_minimum(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _cross_entropy_minimum_symbolic()
    steps = [
        Step(
            "A sigmoid output a = σ(z) ∈ (0, 1) and a target y ∈ [0, 1] (not only 0 or 1). The "
            "cross-entropy over n training inputs x is a mean of one term per input, and each "
            "term depends only on that input's own output $a_x$, so the mean is least when every "
            "term is least:",
            r"C = -\frac1n\sum_x\left[y\ln a + (1 - y)\ln(1 - a)\right],\qquad"
            r" C_x(a) = -\left[y\ln a + (1 - y)\ln(1 - a)\right]",
        ),
        Step(
            "Derivative in a: it is negative for a < y and positive for a > y, so a = y is the "
            "only stationary point in (0, 1) and it is the minimum; the second derivative is "
            "positive there as everywhere on (0, 1):",
            r"\frac{\partial C_x}{\partial a} = -\frac{y}{a} + \frac{1 - y}{1 - a}"
            r" = \frac{a - y}{a(1 - a)},\qquad \frac{\partial^2 C_x}{\partial a^2}"
            r" = \frac{y}{a^2} + \frac{1 - y}{(1 - a)^2} > 0",
        ),
        Step(
            r"In the network's own variable $z$: $\partial C_x/\partial z = \sigma(z) - y$ vanishes "
            r"exactly when $\sigma(z) = y$. "
            "For y ∈ (0, 1) that is the finite z* = ln(y/(1 − y)), so the minimum is attained "
            "there — σ(z) = y is the minimiser even though y is not 0 or 1:",
            r"\frac{\partial C_x}{\partial z} = \sigma(z) - y = 0 \iff \sigma(z) = y \iff"
            r" z^\star = \ln\frac{y}{1 - y}",
        ),
        Step(
            "The value there, averaged over the inputs: the binary entropy of the targets, which is "
            "above 0 for every y ∈ (0, 1) — a soft target keeps the cross-entropy away from 0. "
            "The excess over it is a Kullback–Leibler divergence, ≥ 0 and 0 only at a = y (a "
            "second proof of the minimum):",
            r"C_{\min} = -\frac1n\sum_x\left[y\ln y + (1 - y)\ln(1 - y)\right],\qquad"
            r" C_x(a) - C_x(y) = y\ln\frac{y}{a} + (1 - y)\ln\frac{1 - y}{1 - a} \ge 0",
        ),
        Step(
            r"For y = 0 or y = 1 the same formula gives $C_{\min} = 0$ (with 0·ln 0 = 0, its limit), "
            "but σ(z) never reaches 0 or 1: C → 0 as z → −∞ or +∞, an infimum that no finite "
            "z attains.",
        ),
    ]
    d = Derivation(
        "cross-entropy-minimum",
        "Cross-entropy is least at σ(z) = y, also for y ∈ (0, 1)",
        steps,
        list(symbolic),
    )
    from scipy.optimize import minimize_scalar

    torch = torch_module()

    def minimise(yv: float) -> tuple[float, float]:
        r = minimize_scalar(lambda q: _ce_of_z(q, yv), bounds=(-40.0, 40.0), method="bounded",
                            options={"xatol": 1e-10})
        return float(r.x), float(r.fun)

    if "y" not in v:
        ys = rng.uniform(0.02, 0.98, size=points)
        zs = np.log(ys / (1 - ys))
        z_err = val_err = 0.0
        n_min = min(points, _MAX_MINIMISED)
        for yv, zv in zip(ys[:n_min], zs[:n_min]):
            zm, cm = minimise(float(yv))
            z_err = max(z_err, abs(zm - zv))
            val_err = max(val_err, abs(cm - float(_entropy(np.array([yv]))[0])))
        u = tensor(zs, grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(u, tensor(ys), reduction="sum").backward()
        d.check = check_result(
            [
                ("arg min over z by scipy.optimize.minimize_scalar vs ln(y/(1 − y)) (at most "
                 f"{_MAX_MINIMISED} points)", z_err, 1e-5),
                ("least value found vs −[y ln y + (1 − y) ln(1 − y)]", val_err, 1e-10),
                ("∂C/∂z by torch.autograd at z* (should be 0)",
                 float(np.max(np.abs(u.grad.numpy()))), 1e-12),
            ],
            points,
            "scipy.optimize + torch.autograd",
        )
        return d

    # --- with the user's targets
    y = v["y"]
    yf = float_array(y)
    n = len(y)
    inner = (yf > 0) & (yf < 1)
    with np.errstate(divide="ignore"):
        z_star = np.where(inner, np.log(np.where(inner, yf, 0.5) / np.where(inner, 1 - yf, 0.5)),
                          np.where(yf >= 1, np.inf, -np.inf))
    H = _entropy(yf)
    c_min = float(H.mean())
    sp = sympy_env()[0]
    exact_H = None
    if n <= MAX_EXACT_SOFTMAX and all(Fraction(u).denominator <= 10**6 for u in y):
        ys_ = [rational(u) for u in y]
        exact_H = [
            sp.nsimplify(0) if u in (0, 1) else -(u * sp.log(u) + (1 - u) * sp.log(1 - u))
            for u in ys_
        ]
        d.exact["entropy"] = [sp.sstr(e) for e in exact_H]
    rows = []
    for i, u in enumerate(y[:MAX_SHOWN]):
        zs_ = fmt_latex(float(z_star[i])) if inner[i] else (r"+\infty" if u == 1 else r"-\infty")
        hx = sp.latex(exact_H[i]) + r" \approx " if exact_H is not None and inner[i] else ""
        rows.append(rf"y = {num_latex(u)}:\quad a^\star = {num_latex(u)},\quad z^\star = {zs_},"
                    rf"\quad C_{{\min}} = {hx}{fmt_latex(float(H[i]))}")
    steps.append(Step(f"With your target(s) ({n} input(s)):", *rows))
    if n > 1:
        steps.append(
            Step(
                "Mean over the inputs:",
                rf"C_{{\min}} = \frac1{{{n}}}\sum_x\left[\dots\right] \approx {fmt_latex(c_min)}",
            )
        )
    details = []
    uniq = sorted({float(u) for u, ok in zip(yf, inner) if ok})[:_MAX_MINIMISED]
    if uniq:
        z_err = val_err = 0.0
        for yv in uniq:
            zm, cm = minimise(yv)
            z_err = max(z_err, abs(zm - math.log(yv / (1 - yv))))
            val_err = max(val_err, abs(cm - float(_entropy(np.array([yv]))[0])))
        u_t = tensor(z_star[inner], grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(
            u_t, tensor(yf[inner]), reduction="sum"
        ).backward()
        details += [
            (f"arg min over z by scipy.optimize.minimize_scalar vs ln(y/(1 − y)) ({len(uniq)} "
             "distinct target(s))", z_err, 1e-5),
            ("least value found vs −[y ln y + (1 − y) ln(1 − y)]", val_err, 1e-10),
            ("∂C/∂z by torch.autograd at z* (should be 0)",
             float(np.max(np.abs(u_t.grad.numpy()))), 1e-12),
        ]
    if not inner.all():
        edge = yf[~inner]
        far = np.where(edge >= 1, 36.0, -36.0)
        c_far = _bce_float(far, edge)
        steps.append(
            Step(
                "For your target(s) at 0 or 1 the infimum 0 is approached, not reached: at "
                f"z = ±36 the cost is already {fmt(float(np.max(c_far)), 3)}, and it keeps "
                "falling as |z| grows.",
            )
        )
        details.append(("C at z = ±36 for a 0/1 target (should be ≈ 0)", float(np.max(c_far)),
                        1e-15))
    d.check = check_at_values(details, "scipy.optimize + torch.autograd")
    d.output, d.values = H, {"a_star": yf, "z_star": z_star, "c_min": H,
                             "c_min_mean": np.float64(c_min)}
    d.inputs = {"y": exact_json(y)}
    return d


# ---------------------------------------------------------------- cross-entropy: swapped


@functools.cache
def _cross_entropy_swapped_symbolic() -> tuple[str, ...]:
    sp = sympy_env()[0]
    a, y = sp.symbols("a y", positive=True)
    Ct = -(a * sp.log(y) + (1 - a) * sp.log(1 - y))
    b = sp.Symbol("b", positive=True)  # b = 1 - a > 0
    Cb = -((1 - b) * sp.log(y) + b * sp.log(1 - y))
    C = -(y * sp.log(a) + (1 - y) * sp.log(1 - a))
    claims = verify(
        [
            ("d C~/da = ln(1 - y) - ln y, free of a", sp.diff(Ct, a) - (sp.log(1 - y) - sp.log(y))),
            ("d2 C~/da2 = 0 (C~ is linear in a)", sp.diff(Ct, a, 2)),
            ("usual form at y = 1: C = -ln a", C.subs(y, 1) + sp.log(a)),
            ("usual form at y = 0: C = -ln(1 - a)", C.subs(y, 0) + sp.log(1 - a)),
        ]
    )
    if sp.limit(Ct, y, 0, "+") != sp.oo or sp.limit(Cb, y, 1, "-") != sp.oo:
        raise RuntimeError("symbolic check failed: limits of the swapped form at y -> 0, 1")
    return tuple(claims + ["C~ -> +oo as y -> 0+ for every a > 0",
                           "C~ -> +oo as y -> 1- for every a < 1"])


def _swapped_float(af, yf):
    """(usual C, swapped C̃, ∂C̃/∂a) in IEEE float64 (ln 0 = −inf), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ly, l1y = np.log(yf), np.log(1 - yf)
        # a coefficient that is exactly 0 makes its term 0, as the formula on paper
        swapped = -(np.where(af == 0, 0.0, af * ly) + np.where(af == 1, 0.0, (1 - af) * l1y))
        usual = -(np.where(yf == 0, 0.0, yf * np.log(af))
                  + np.where(yf == 1, 0.0, (1 - yf) * np.log(1 - af)))
        grad = l1y - ly
    return usual, swapped, grad


def _read_output(v: dict, notes: list[str]) -> dict:
    if "a" not in v:
        raise ConfigError("cross-entropy-swapped takes --a (the output σ(z), in (0, 1)) and "
                          "optionally --y")
    a = read_scalar(v["a"], what="--a")
    if not 0 < a < 1:
        raise DataError(f"--a must lie strictly between 0 and 1 (a = σ(z) never reaches 0 or 1), "
                        f"got {num_text(a)}")
    return {"a": a} | ({"y": targets01(v["y"], what="--y", notes=notes)} if "y" in v else {})


@topic("cross-entropy-swapped",
       "why −[a ln y + (1 − a) ln(1 − y)] breaks at y ∈ {0, 1} and the usual form does not",
       options=("a", "y"), read=_read_output, values=graded.cross_entropy_swapped,
       formulas=(Formula(
           "dCtilde_da", "log(1 - y) - log(y)", "the slope ∂C̃/∂a of the swapped form "
           "C̃ = −[a ln y + (1 − a) ln(1 − y)]", ("a", "y"),
           slips=(("usual_form", "(a - y)/(a*(1 - a))", "this is ∂C/∂a of the usual form, "
                   "not of the swapped one"),)),))
def cross_entropy_swapped(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _cross_entropy_swapped_symbolic()
    steps = [
        Step(
            "The two candidates, for a network output a = σ(z) and a target y. The sigmoid "
            "never reaches 0 or 1, so a ∈ (0, 1) strictly; a classification target is y ∈ {0, 1}:",
            r"C = -\left[y\ln a + (1 - y)\ln(1 - a)\right],\qquad"
            r" \tilde C = -\left[a\ln y + (1 - a)\ln(1 - y)\right]",
        ),
        Step(
            "The swapped form at y = 0: ln 0 = −∞ is multiplied by a, which is > 0 for every "
            "output the network can give. At y = 1 the same happens to (1 − a) ln(1 − y). As a "
            "limit (y → 0⁺ or y → 1⁻) C̃ grows without bound; at y ∈ {0, 1} itself it is +∞ in "
            "floating point. It is infinite whether the prediction is right or wrong, so it "
            "cannot tell a good output from a bad one, and its gradient ∂C̃/∂a = ln((1 − y)/y) "
            "is ±∞ and does not depend on a: it carries no information. (Only the outputs "
            "a = 0 and a = 1, which σ never produces, would give the undefined 0·ln 0.)",
            r"\tilde C\big|_{y = 0} = -\left[a\ln 0 + (1 - a)\ln 1\right] = -a\ln 0 = +\infty",
            r"\tilde C\big|_{y = 1} = -\left[a\ln 1 + (1 - a)\ln 0\right] = -(1 - a)\ln 0"
            r" = +\infty",
        ),
        Step(
            "Even for y ∈ (0, 1), where it is finite, C̃ is the wrong cost: it is linear in a "
            "(∂²C̃/∂a² = 0) with the constant slope ln((1 − y)/y), so it is least at an end — "
            "a → 1 when y > 1/2, a → 0 when y < 1/2, flat at y = 1/2 — never at a = y.",
            r"\frac{\partial \tilde C}{\partial a} = \ln(1 - y) - \ln y = \ln\frac{1 - y}{y}",
        ),
        Step(
            "The usual form takes the logarithms of a and 1 − a, both in (0, 1) because "
            "a = σ(z), so both logarithms are finite. At y ∈ {0, 1} one coefficient, y or "
            "1 − y, is exactly 0 and its (finite) term vanishes: no 0·∞ arises. What is left is "
            "finite, small when the prediction is right and large when it is wrong, with the "
            "finite gradient ∂C/∂z = a − y. So the problem does not afflict the first form.",
            r"C\big|_{y = 1} = -\ln a", r"C\big|_{y = 0} = -\ln(1 - a)",
            r"\frac{\partial C}{\partial z} = a - y",
        ),
    ]
    d = Derivation(
        "cross-entropy-swapped",
        "Why −[a ln y + (1 − a) ln(1 − y)] breaks at y ∈ {0, 1}",
        steps,
        list(symbolic),
    )
    torch = torch_module()

    def torch_forms(av, yv):
        at = tensor(av, grad=True)
        yt = tensor(yv)
        swapped = -(at * torch.log(yt) + (1 - at) * torch.log(1 - yt))
        swapped.sum().backward()
        usual = -(yt * torch.log(at) + (1 - yt) * torch.log(1 - at))
        return usual.detach().numpy(), swapped.detach().numpy(), at.grad.numpy()

    if not v:
        a_r = rng.uniform(0.01, 0.99, size=points)
        y_r = rng.uniform(0.01, 0.99, size=points)
        _, _, g = _swapped_float(a_r, y_r)
        _, _, gt = torch_forms(a_r, y_r)
        a2 = np.repeat(a_r, 2)
        y2 = np.tile([0.0, 1.0], points)
        c, ct, _ = _swapped_float(a2, y2)
        tc, tct, _ = torch_forms(a2, y2)
        d.check = check_result(
            [
                ("∂C̃/∂a = ln((1 − y)/y) vs torch.autograd, y ∈ (0, 1)", max_error(g, gt), 1e-12),
                ("C̃ at y ∈ {0, 1} vs torch (both +inf)", max_error(ct, tct)
                 + (0.0 if np.all(np.isposinf(ct)) else np.inf), 0.0),
                ("usual C at y ∈ {0, 1} (finite) vs torch", max_error(c, tc), 1e-12),
            ],
            points,
            "torch",
        )
        return d

    # --- with the user's output a (and optional interior targets y)
    a = v["a"]
    ys = [0, 1]
    if "y" in v:
        ys += [u for u in v["y"] if u not in ys][:MAX_SHOWN]
    af = np.full(len(ys), to_float(a))
    yf = float_array(ys)
    usual, swapped, grad = _swapped_float(af, yf)
    tu, ts, tg = torch_forms(af, yf)
    sp = sympy_env()[0]
    ar = rational(a)
    yy = sp.Symbol("y", positive=True)
    Ct = -(ar * sp.log(yy) + (1 - ar) * sp.log(1 - yy))
    lim0, lim1 = sp.limit(Ct, yy, 0, "+"), sp.limit(Ct, yy, 1, "-")
    exact_usual = [-sp.log(1 - ar), -sp.log(ar)]  # at y = 0 and y = 1
    rows = []
    for i, u in enumerate(ys):
        ex = rf"{sp.latex(exact_usual[i])} \approx " if i < 2 else ""
        sw = fmt_latex(float(swapped[i])).replace("inf", r"\infty")
        gr = fmt_latex(float(grad[i])).replace("inf", r"\infty")
        rows.append(rf"y = {num_latex(u)}:\quad C = {ex}{fmt_latex(float(usual[i]))},\quad "
                    rf"\tilde C = {sw},\quad \partial\tilde C/\partial a = {gr}")
    steps.append(Step(f"With your output a = {num_text(a)} (floating point, ln 0 = −inf):",
                      *rows))

    def lim_text(q):
        return "+∞" if q == sp.oo else ("−∞" if q == -sp.oo else f"${sp.latex(q)}$")

    steps.append(
        Step(
            f"SymPy, with a = {num_text(a)} exactly: the swapped form tends to "
            f"{lim_text(lim0)} as y → 0⁺ and to {lim_text(lim1)} as y → 1⁻, while the usual form "
            f"is −ln(1 − a) ≈ {fmt(float(usual[0]))} at y = 0 and −ln a ≈ "
            f"{fmt(float(usual[1]))} at y = 1.",
            rf"\lim_{{y\to 0^+}}\tilde C = {sp.latex(lim0)}",
            rf"\lim_{{y\to 1^-}}\tilde C = {sp.latex(lim1)}",
        )
    )
    interior = [i for i, u in enumerate(ys) if 0 < u < 1]
    for i in interior:
        u = ys[i]
        if u == Fraction(1, 2):
            where = "it is the same for every a, so a = y is not singled out"
        else:
            where = f"it is least at {'a → 1' if u > Fraction(1, 2) else 'a → 0'}, not at a = y"
        steps.append(
            Step(
                f"At your y = {num_text(u)}, C̃ is finite but its slope in a is the constant "
                f"ln((1 − y)/y) ≈ {fmt(float(grad[i]))}: {where}; the usual C has its minimum "
                "at a = y.",
            )
        )
    exact_num = np.array([float(sp.N(e, 30)) for e in exact_usual])
    inf_ok = bool(np.all(np.isposinf(swapped[:2])) and lim0 == sp.oo and lim1 == sp.oo)
    d.check = check_at_values(
        [
            ("usual C vs torch", max_error(usual, tu), 1e-12),
            ("usual C at y ∈ {0, 1} vs its exact −ln(1 − a), −ln a (SymPy)",
             max_error(usual[:2], exact_num), 1e-14),
            ("C̃ vs torch (+inf at y ∈ {0, 1}; limits +oo by SymPy)",
             max_error(swapped, ts) + (0.0 if inf_ok else np.inf), 0.0),
            ("∂C̃/∂a vs torch.autograd", max_error(grad, tg), 1e-12),
        ],
        "torch + SymPy",
    )
    d.output = swapped
    d.values = {"y": yf, "usual": usual, "swapped": swapped, "swapped_grad": grad}
    d.exact["usual_at_0_1"] = [sp.sstr(e) for e in exact_usual]
    d.inputs = {"a": exact_json(a), "y": exact_json(ys)}
    return d
