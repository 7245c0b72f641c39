"""Softmax: its Jacobian, its gradient with cross-entropy, and where its name comes from."""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from stridelab.worked.derive import graded
from stridelab.worked.derive.answer import Derivation, Step
from stridelab.worked.derive.formulas import Formula
from stridelab.worked.derive.numeric import (
    MAX_EXACT_SOFTMAX,
    check_at_values,
    check_result,
    exact_json,
    float_array,
    mat_equations,
    max_error,
    num_latex,
    num_text,
    tensor,
    to_float,
    torch_module,
    vec_latex,
    vec_text,
)
from stridelab.worked.derive.registry import read_z_and_y, topic
from stridelab.worked.derive.symbolic import matrix_zero, rational, sympy_env, verify
from stridelab.worked.equations import matrix_equations
from stridelab.worked.limits import check_limit
from stridelab.worked.numbers import fmt, fmt_latex, normalize, paren
from stridelab.worked.values import read_vector

_MAX_LOGITS_JACOBIAN = 100  # softmax-jacobian: n x n entries <= MAX_EXACT_CELLS


# ---------------------------------------------------------------- softmax


def _shifted(z: list) -> list:
    """t = z − max z, exactly: softmax(z) = softmax(t), and every e^{t_k} ≤ 1 (no overflow)."""
    m = max(z)
    return [normalize(Fraction(v) - Fraction(m)) for v in z]


def _softmax_float(t: list) -> tuple[np.ndarray, float]:
    """(ŷ, ln S) in float64 from the shifted logits t (max t = 0, so S ≥ 1)."""
    tf = float_array(t)
    e = np.exp(tf)  # (n,) each in [0, 1]
    S = float(e.sum())
    return e / S, math.log(S)


def _softmax_exact(t: list):
    """(E, S): SymPy e^{t_k} and S = Σ_k e^{t_k}, or None when the forms would be unwieldy."""
    if len(t) > MAX_EXACT_SOFTMAX:
        return None
    for v in t:
        v = Fraction(v)
        if abs(v) > 10_000 or v.denominator > 10**6:
            return None
    E = [sympy_env()[0].exp(rational(v)) for v in t]
    return E, sum(E)


def _exact_note(n: int) -> str:
    return (
        f"Exact forms are written for at most {MAX_EXACT_SOFTMAX} logits whose differences are "
        f"small rationals; these {n} are given in float64 only."
    )


def _logit_steps(z: list, t: list, p: np.ndarray, ex) -> list[Step]:
    """The user's logits, shifted, and ŷ exact (where written) and in float64."""
    sp = sympy_env()[0]
    steps = [
        Step(
            f"Your logits ($n = {len(z)}$). Softmax is unchanged when the same number is "
            r"subtracted from every logit, so with $t = z - \max z$ every $e^{t_k} \le 1$ and "
            r"$S = \sum_k e^{t_k} \ge 1$:",
            f"z = {vec_latex(z)}",
            rf"t = z - \max_k z_k = {vec_latex(t)}",
        )
    ]
    if ex is not None:
        E, S = ex
        yl = r",\ ".join(sp.latex(e / sp.Symbol("S")) for e in E)
        steps.append(
            Step(
                "Exactly, and in float64:",
                rf"S = {sp.latex(S)} \approx {fmt_latex(float(sp.N(S, 20)))}",
                rf"\hat y = \left({yl}\right) \approx {vec_latex(list(p))}",
            )
        )
    else:
        steps.append(
            Step("In float64:", rf"\hat y = {vec_latex(list(p))}")
        )
    return steps


@functools.cache
def _softmax_jacobian_symbolic() -> tuple[tuple[str, ...], str]:
    sp = sympy_env()[0]
    n = 3
    z = sp.symbols("z1:4")
    S = sum(sp.exp(v) for v in z)
    yh = [sp.exp(v) / S for v in z]
    J = sp.Matrix(n, n, lambda i, j: sp.diff(yh[i], z[j]))
    formula = sp.Matrix(n, n, lambda i, j: yh[i] * (int(i == j) - yh[j]))
    symbolic = verify(
        [
            ("d y_hat_1 / d z_1 = y_hat_1 (1 - y_hat_1)", J[0, 0] - yh[0] * (1 - yh[0])),
            ("d y_hat_1 / d z_2 = -y_hat_1 y_hat_2", J[0, 1] + yh[0] * yh[1]),
            matrix_zero("J = diag(y_hat) - y_hat y_hat^T for n = 3", J - formula),
            matrix_zero("every column of J sums to 0", sp.ones(1, n) * J),
            matrix_zero("J 1 = 0 (shifting all logits changes nothing)", J * sp.ones(n, 1)),
        ]
    )
    s = sp.symbols(r"\hat{y}_1:4")
    Js = sp.Matrix(n, n, lambda i, j: s[i] * (1 - s[i]) if i == j else -s[i] * s[j])
    return tuple(symbolic), sp.latex(Js)


def _read_jacobian(v: dict, notes: list[str]) -> dict:
    z = read_vector(v["z"], what="--z", notes=notes)
    check_limit(len(z), _MAX_LOGITS_JACOBIAN, what="--z for softmax-jacobian (logits)")
    return {"z": z}


_JACOBIAN_FORMULAS = (
    Formula("dyhat_i_dz_i", "y_hat_i*(1 - y_hat_i)", "∂ŷ_i/∂z_i, a diagonal entry of the Jacobian",
            ("y_hat_i",),
            slips=(("quotient_rule", "y_hat_i", "only the first term of the quotient rule: the "
                    "−ŷ_i² from ∂S/∂z_i = e^{z_i} is missing"),)),
    Formula("dyhat_i_dz_j", "-y_hat_i*y_hat_j", "∂ŷ_i/∂z_j for i ≠ j, an off-diagonal entry",
            ("y_hat_i", "y_hat_j"),
            slips=(("independent", "0", "ŷ_i was taken as independent of z_j, but "
                    "S = Σ_k e^{z_k} depends on every z_j"),)),
)


@topic("softmax-jacobian", "∂softmax(z)_i/∂z_j = ŷ_i(δ_ij − ŷ_j)", options=("z",),
       read=_read_jacobian, formulas=_JACOBIAN_FORMULAS, values=graded.softmax_jacobian)
def softmax_jacobian(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic, js_latex = _softmax_jacobian_symbolic()
    steps = [
        Step(
            r"Softmax turns logits $z = (z_1, \dots, z_n)$ into probabilities:",
            r"\hat y_i = \frac{e^{z_i}}{S},\qquad S = \sum_{k=1}^{n} e^{z_k}",
        ),
        Step(
            r"Diagonal entries ($i = j$): quotient rule, with $\partial S/\partial z_i = e^{z_i}$:",
            r"\frac{\partial \hat y_i}{\partial z_i} = \frac{e^{z_i}S - e^{z_i}e^{z_i}}{S^2}"
            r" = \hat y_i - \hat y_i^2 = \hat y_i(1 - \hat y_i)",
        ),
        Step(
            r"Off-diagonal entries ($i \ne j$): the numerator $e^{z_i}$ does not depend on $z_j$:",
            r"\frac{\partial \hat y_i}{\partial z_j} = \frac{0\cdot S - e^{z_i}e^{z_j}}{S^2}"
            r" = -\hat y_i\,\hat y_j",
        ),
        Step(
            r"Both cases in one formula ($\delta_{ij}$ is the Kronecker delta) and in matrix form:",
            r"\frac{\partial \hat y_i}{\partial z_j} = \hat y_i(\delta_{ij} - \hat y_j),\qquad"
            r" J = \operatorname{diag}(\hat y) - \hat y\,\hat y^\top",
        ),
        Step("For $n = 3$ (computed by SymPy):", "J = " + js_latex),
        Step(
            "Properties: $J$ is symmetric and positive semi-definite; its rows and columns sum "
            r"to 0 because $\sum_i \hat y_i = 1$ and adding the same constant to every logit "
            r"leaves $\hat y$ unchanged, so $J\mathbf{1} = 0$ and $J$ is singular.",
        ),
    ]
    torch = torch_module()
    d = Derivation("softmax-jacobian", "The softmax Jacobian", steps, list(symbolic))
    if "z" not in v:
        # all points in one batch (P, 5); row i of every Jacobian from one backward pass
        zt = rng.normal(scale=2.0, size=(points, 5))
        p = np.exp(zt - zt.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        J = p[:, :, None] * (np.eye(5)[None] - p[:, None, :])  # (P, 5, 5)
        u = tensor(zt, grad=True)
        out = torch.softmax(u, 1)
        ref = np.stack(
            [torch.autograd.grad(out[:, i].sum(), u, retain_graph=True)[0].numpy()
             for i in range(5)], axis=1
        )  # (P, 5, 5): samples are independent, so each sum's gradient is one row per sample
        d.check = check_result(
            [("Jacobian vs torch.autograd, row by row", max_error(J, ref), 1e-12)],
            points,
            "torch.autograd",
        )
        return d

    # --- with the user's logits
    z = v["z"]
    n = len(z)
    t = _shifted(z)
    p, _ = _softmax_float(t)
    J = np.diag(p) - np.outer(p, p)  # (n, n)
    ex = _softmax_exact(t)
    steps += _logit_steps(z, t, p, ex)
    details = []
    if ex is not None:
        sp = sympy_env()[0]
        E, S_val = ex
        S = sp.Symbol("S")
        Jx = [[E[i] * (S * int(i == j) - E[j]) / S**2 for j in range(n)] for i in range(n)]
        steps.append(
            Step(
                r"The Jacobian exactly, $J_{ij} = e^{t_i}(S\,\delta_{ij} - e^{t_j})/S^2$, with "
                "$S$ as above:",
                *matrix_equations("J", [[sp.latex(e) for e in row] for row in Jx]),
            )
        )
        Jx_num = np.array([[float(sp.N(e.subs(S, S_val), 30)) for e in row] for row in Jx])
        details.append(("exact forms evaluated to 30 digits vs the float64 J", max_error(Jx_num, J),
                        1e-15))
        d.exact["jacobian"] = [[sp.sstr(e) for e in row] for row in Jx]
        d.exact["S"] = sp.sstr(S_val)
        d.exact["y_hat"] = [sp.sstr(e / S) for e in E]
    else:
        d.notes.append(_exact_note(n))
    rows = float(np.max(np.abs(J.sum(axis=1))))
    steps += [
        Step(
            r"In float64, $J = \operatorname{diag}(\hat y) - \hat y\,\hat y^\top$:",
            *mat_equations("J", J.tolist(), r"\approx"),
        ),
        Step(
            f"Every row of $J$ sums to 0 (the largest |row sum| in float64 here: {rows:.2g}), "
            r"$J$ is symmetric, and its diagonal $\hat y_i(1 - \hat y_i)$ is at most 1/4 (here "
            f"at most {fmt(float(np.max(np.diag(J))), 4)})."
        ),
    ]
    ref = torch.autograd.functional.jacobian(lambda u: torch.softmax(u, 0), tensor(float_array(z))).numpy()
    details.append(("J vs torch.autograd.functional.jacobian at your z", max_error(J, ref), 1e-12))
    d.check = check_at_values(details, "torch.autograd" + (" + SymPy" if ex else ""))
    d.output, d.values = J, {"y_hat": p, "jacobian": J}
    d.inputs = {"z": exact_json(z)}
    return d


@functools.cache
def _softmax_cross_entropy_symbolic() -> tuple[str, ...]:
    sp = sympy_env()[0]
    z = sp.symbols("z1:4")
    y1, y2, y3 = sp.symbols("y1 y2 y3")
    S = sum(sp.exp(v) for v in z)
    yh = [sp.exp(v) / S for v in z]
    y = [y1, y2, 1 - y1 - y2]  # targets sum to 1
    L = -sum(t * sp.log(p) for t, p in zip(y, yh))
    yg = [y1, y2, y3]  # any targets
    Lg = -sum(t * sp.log(p) for t, p in zip(yg, yh))
    claims = [
        (
            f"dL/dz_{j + 1} = y_hat_{j + 1} - y_{j + 1} (n = 3, y_3 = 1 - y_1 - y_2)",
            sp.diff(L, z[j]) - (yh[j] - y[j]),
        )
        for j in range(3)
    ]
    claims.append(
        (
            "for any targets, dL/dz_1 = y_hat_1 (y_1 + y_2 + y_3) - y_1",
            sp.diff(Lg, z[0]) - (yh[0] * (y1 + y2 + y3) - y1),
        )
    )
    return tuple(verify(claims))


def _read_softmax_targets(v: dict, notes: list[str]) -> dict:
    return read_z_and_y(v, notes, "softmax-cross-entropy", per="logit")


@topic("softmax-cross-entropy", "∂L/∂z = ŷ − y for softmax with cross-entropy",
       options=("z", "y"), read=_read_softmax_targets, values=graded.softmax_cross_entropy,
       formulas=(Formula(
           "dL_dz_i", "y_hat_i - y_i", "∂L/∂z_i for L = −Σ_k y_k ln ŷ_k, targets summing to 1",
           ("y_hat_i", "y_i"),
           slips=(("fprime_kept", "(y_hat_i - y_i)*y_hat_i*(1 - y_hat_i)", "the softmax "
                   "derivative ŷ_i(1 − ŷ_i) was kept: it cancels against ∂L/∂ŷ"),
                  ("dL_dyhat", "-y_i/y_hat_i", "this is ∂L/∂ŷ_i: the chain rule through the "
                   "softmax is missing"))),))
def softmax_cross_entropy(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _softmax_cross_entropy_symbolic()
    steps = [
        Step(
            r"Cross-entropy of a softmax output $\hat y = \mathrm{softmax}(z)$ against a target "
            r"distribution $y$ (one-hot or soft, $\sum_k y_k = 1$):",
            r"L = -\sum_k y_k \ln \hat y_k",
        ),
        Step(
            r"Chain rule through every $\hat y_k$ (each depends on every $z_j$), with the softmax "
            r"Jacobian $\partial \hat y_k/\partial z_j = \hat y_k(\delta_{kj} - \hat y_j)$:",
            r"\frac{\partial L}{\partial z_j} = \sum_k \frac{\partial L}{\partial \hat y_k}"
            r"\frac{\partial \hat y_k}{\partial z_j} = \sum_k \left(-\frac{y_k}{\hat y_k}\right)"
            r"\hat y_k(\delta_{kj} - \hat y_j) = -y_j + \hat y_j\sum_k y_k",
        ),
        Step(
            "The targets sum to 1, so:",
            r"\frac{\partial L}{\partial z_j} = \hat y_j - y_j,\qquad \nabla_z L = \hat y - y",
        ),
        Step(
            r"The same from the log-sum-exp form $\ln \hat y_k = z_k - \ln \sum_m e^{z_m}$:",
            r"L = -\sum_k y_k z_k + \ln\sum_m e^{z_m}\;\Rightarrow\;"
            r"\frac{\partial L}{\partial z_j} = -y_j + \frac{e^{z_j}}{\sum_m e^{z_m}}"
            r" = \hat y_j - y_j",
        ),
        Step(
            r"So the output delta of a softmax classifier is simply $\delta = \hat y - y$: bounded in "
            "[−1, 1], zero only when the prediction equals the target, and it never vanishes "
            "because of a saturated unit. Libraries fuse softmax and cross-entropy "
            "(log-softmax) for this reason and for numerical stability.",
        ),
    ]
    d = Derivation(
        "softmax-cross-entropy",
        "Softmax with cross-entropy: ∂L/∂z = ŷ − y",
        steps,
        list(symbolic),
    )
    torch = torch_module()
    if not v:
        zt = rng.normal(scale=2.0, size=(points, 5))
        yt = rng.dirichlet(np.ones(5), size=points)  # (P, 5), rows sum to 1
        u = tensor(zt, grad=True)
        (-(tensor(yt) * torch.log_softmax(u, 1)).sum()).backward()
        p = np.exp(zt - zt.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        d.check = check_result(
            [("dL/dz vs autograd of -sum y log_softmax(z)", max_error(p - yt, u.grad.numpy()),
              1e-12)],
            points,
            "torch.autograd",
        )
        return d

    # --- with the user's logits and targets
    z, y = v["z"], v["y"]
    n = len(z)
    t = _shifted(z)
    p, log_S = _softmax_float(t)
    ex = _softmax_exact(t)
    s = normalize(sum(Fraction(u) for u in y))
    yf, tf = float_array(y), float_array(t)
    grad = to_float(s) * p - yf  # (n,)
    with np.errstate(invalid="ignore"):
        L = float(-np.sum(np.where(yf == 0, 0.0, yf * (tf - log_S))))
    steps += _logit_steps(z, t, p, ex)
    if s == 1:
        steps.append(
            Step(
                r"Your targets sum to 1, so $\partial L/\partial z = \hat y - y$:",
                f"y = {vec_latex(y)}", r"\sum_k y_k = 1",
            )
        )
    else:
        steps.append(
            Step(
                f"Your targets sum to {num_text(s)}, not 1, so the last simplification does not "
                r"hold: the general form $\partial L/\partial z_j = \hat y_j \sum_k y_k - y_j$ "
                rf"applies, here $\partial L/\partial z = {paren(num_latex(s))}\cdot \hat y - y$ "
                r"(and $\hat y - y$ would be wrong).",
                f"y = {vec_latex(y)}", rf"\sum_k y_k = {num_latex(s)}",
                rf"\nabla_z L = {paren(num_latex(s))}\,\hat y - y",
            )
        )
        if any(u < 0 for u in y):
            d.notes.append(
                "y has negative entries, so it is not a probability distribution: L then has no "
                "minimum (it falls without bound as ŷₖ → 0 for a negative yₖ); the gradient "
                "formula holds all the same."
            )
        elif s > 0:
            d.notes.append(
                f"y sums to {num_text(s)}: L = {num_text(s)}·H(y/{num_text(s)}, ŷ), so it is "
                f"least at ŷ = y/{num_text(s)}, where its gradient is 0."
            )
    if ex is not None:
        sp = sympy_env()[0]
        E, S_val = ex
        S = sp.Symbol("S")
        gx = [rational(s) * e / S - rational(u) for e, u in zip(E, y)]
        Lx = -sum(rational(u) * rational(tk) for u, tk in zip(y, t)) + rational(s) * sp.log(
            S_val
        )
        steps.append(
            Step(
                "Exactly ($S$ as above):",
                r"\nabla_z L = \left(" + r",\ ".join(sp.latex(g) for g in gx) + r"\right)",
                f"L = {sp.latex(Lx)}",
            )
        )
        g_num = np.array([float(sp.N(g.subs(S, S_val), 30)) for g in gx])
        exact_err = max_error(g_num, grad)
        d.exact["grad"] = [sp.sstr(g) for g in gx]
        d.exact["loss"] = sp.sstr(Lx)
    else:
        exact_err = None
        d.notes.append(_exact_note(n))
    steps.append(
        Step(
            "In float64:",
            rf"\nabla_z L \approx {vec_latex(list(grad))}", rf"L \approx {fmt_latex(L)}",
        )
    )
    u = tensor(float_array(z), grad=True)
    Lt = -(tensor(yf) * torch.log_softmax(u, 0)).sum()
    Lt.backward()
    tol = 1e-12 * (1.0 + float(np.max(np.abs(yf))) * n)
    details = [
        ("∂L/∂z vs autograd of −Σ y log_softmax(z) at your values", max_error(grad, u.grad.numpy()),
         tol),
        ("L vs torch", max_error(L, float(Lt.detach())), 1e-12 * (1.0 + abs(L)) if
         math.isfinite(L) else 0.0),
    ]
    if exact_err is not None:
        details.append(("exact ∇_z L evaluated to 30 digits vs float64", exact_err, tol))
    d.check = check_at_values(details, "torch.autograd" + (" + SymPy" if ex else ""))
    d.output, d.values = grad, {"y_hat": p, "grad": grad, "loss": np.float64(L)}
    d.inputs = {"z": exact_json(z), "y": exact_json(y)}
    return d



# ---------------------------------------------------------------- the name softmax

_INVERSE_TEMPERATURES = (0.1, 0.5, 1, 2, 5, 10, 100)


def _moves(before: float, after: float) -> str:
    """'falls from', 'rises from' or 'stays at' — the words follow the numbers."""
    if after < before:
        return "falls from"
    return "rises from" if after > before else "stays the same, from"


@functools.cache
def _softmax_name_symbolic() -> tuple[str, ...]:
    sp = sympy_env()[0]
    c = sp.Symbol("c", positive=True)
    d2, d3 = sp.symbols("d2 d3", positive=True)  # gaps z_1 - z_2, z_1 - z_3 > 0
    top = 1 / (1 + sp.exp(-c * d2) + sp.exp(-c * d3))  # softmax(cz)_1 with z_1 the largest
    z = sp.symbols("z1:4", real=True)
    S = sum(sp.exp(c * v) for v in z)
    lse = sp.log(S) / c
    claims = verify(
        [
            (f"d/dz_{k + 1} (1/c) ln sum_j e^(c z_j) = softmax(cz)_{k + 1} (n = 3)",
             sp.diff(lse, z[k]) - sp.exp(c * z[k]) / S)
            for k in range(3)
        ]
    )
    if sp.limit(top, c, sp.oo) != 1:
        raise RuntimeError("symbolic check failed: softmax(cz)_max -> 1")
    if sp.limit(sp.exp(c * z[0]) / S, c, 0) != sp.Rational(1, 3):
        raise RuntimeError("symbolic check failed: softmax(cz) -> 1/3 as c -> 0")
    return tuple(claims + ["softmax(cz)_1 -> 1 as c -> oo when z_1 is the largest (n = 3)",
                           "softmax(cz)_1 -> 1/3 as c -> 0 (n = 3)"])


def _read_scores(v: dict, notes: list[str]) -> dict:
    return {"z": read_vector(v["z"], what="--z", notes=notes)}


@topic("softmax-name", "where the name comes from: softmax(c·z) → one-hot of arg max z as c grows",
       options=("z",), read=_read_scores, values=graded.softmax_name)
def softmax_name(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _softmax_name_symbolic()
    d = Derivation(
        "softmax-name",
        "Where the name softmax comes from",
        [],
        list(symbolic),
    )
    given = "z" in v
    z = v["z"] if given else [1, 2, 3]
    n = len(z)
    t = _shifted(z)  # max 0
    tf = float_array(t)
    top = [k for k, u in enumerate(t) if u == 0]  # the arg max set (ties share the limit)
    hard = np.zeros(n)
    hard[top] = 1.0 / len(top)
    m = to_float(max(z))
    rows = []
    for c in _INVERSE_TEMPERATURES:
        e = np.exp(c * tf)  # (n,) the largest is 1
        p = e / e.sum()
        lse = m + math.log(e.sum()) / c  # (1/c) ln Σ e^{c z_j}, computed shifted
        rows.append((c, p, float(np.max(np.abs(p - hard))), lse))
    steps = [
        Step(
            "Softmax turns scores $z$ into probabilities; scale the scores by $c > 0$ (an inverse "
            "temperature; $c = 1$ is the ordinary softmax):",
            r"\mathrm{softmax}(cz)_k = \frac{e^{c z_k}}{\sum_j e^{c z_j}}",
        ),
        Step(
            r"As $c$ grows, the largest score takes all the mass: with $k^* = \arg\max_k z_k$ and "
            r"the gaps $z_{k^*} - z_j > 0$, the $k^*$-th entry tends to 1 and the others to 0 — the "
            "one-hot vector of the arg max, the 'hard' maximum (tied maxima share the mass "
            r"equally). As $c \to 0$ it tends to the uniform $1/n$. For every finite $c$ it is a smooth, "
            "differentiable version of that hard maximum: a 'soft' max, hence the name (Nielsen: "
            "a softened version of the maximum function).",
            r"\mathrm{softmax}(cz)_{k^*} = \frac{1}{1 + \sum_{j\ne k^*} e^{-c\,(z_{k^*} - z_j)}}"
            r"\ \xrightarrow{\;c\to\infty\;}\ 1,\qquad \mathrm{softmax}(cz)_k"
            r"\ \xrightarrow{\;c\to 0\;}\ \frac1n",
        ),
        Step(
            "The smooth maximum behind it is the log-sum-exp, whose gradient is the softmax: "
            r"it lies within $\ln(n)/c$ of the true maximum, so it too becomes the max as "
            r"$c \to \infty$.",
            r"\max_k z_k \le \frac1c\ln\sum_j e^{c z_j} \le \max_k z_k + \frac{\ln n}{c},\qquad"
            r" \frac{\partial}{\partial z_k}\,\frac1c\ln\sum_j e^{c z_j} = \mathrm{softmax}(cz)_k",
        ),
    ]
    label = (f"your z = {vec_text(z)}" if given
             else f"the example z = {vec_text(z)} (give --z for your own scores)")
    lat = [
        rf"c = {fmt_latex(c)}:\quad \mathrm{{softmax}}(cz) = {vec_latex(list(p))},\quad "
        rf"\lVert\mathrm{{softmax}}(cz) - h\rVert_\infty = {fmt_latex(dist, 3)},\quad "
        rf"\tfrac1c\ln\sum_j e^{{c z_j}} = {fmt_latex(lse)}"
        for c, p, dist, lse in rows
    ]
    first, last = rows[0], rows[-1]
    if len(top) > 1:
        ties = f" (a {len(top)}-way tie); h, the limit, is 1/{len(top)} at each of them"
    else:
        ties = "; h, the limit, is 1 there"
    steps += [
        Step(
            f"With {label}: the arg max is at position(s) "
            f"{', '.join(str(k + 1) for k in top)}{ties} and 0 elsewhere:",
            *lat,
        ),
        Step(
            f"From $c = {fmt_latex(first[0])}$ to $c = {fmt_latex(last[0])}$ the largest distance to the limit "
            f"{_moves(first[2], last[2])} {fmt(first[2], 3)} to {fmt(last[2], 3)}, and the "
            f"log-sum-exp {_moves(first[3], last[3])} {fmt(first[3])} to {fmt(last[3])}; "
            f"max z = {num_text(max(z))}.",
        ),
    ]
    d.steps = steps
    torch = torch_module()
    p_err = lse_err = 0.0
    bound_ok = True
    for c, p, _, lse in rows:
        # torch gets the shifted scores too (softmax is shift-invariant; c·z may overflow)
        p_err = max(p_err, max_error(p, torch.softmax(tensor(c * tf), 0).numpy()))
        ref = m + float(torch.logsumexp(tensor(c * tf), 0)) / c
        lse_err = max(lse_err, abs(lse - ref) / max(1.0, abs(ref)))
        bound_ok &= m - 1e-12 * max(1.0, abs(m)) <= lse <= m + math.log(n) / c + 1e-12 * max(
            1.0, abs(m))
    u = tensor(tf, grad=True)
    torch.logsumexp(u, 0).backward()
    g_err = max_error(u.grad.numpy(), rows[2][1])  # c = 1
    details = [
        ("softmax(cz) vs torch.softmax", p_err, 1e-12),
        ("(1/c) ln Σ e^(cz) vs torch.logsumexp (relative)", lse_err, 1e-12),
        ("gradient of log-sum-exp (torch.autograd) vs softmax(z)", g_err, 1e-12),
        ("max z ≤ log-sum-exp ≤ max z + ln(n)/c at every c (0 = holds)",
         0.0 if bound_ok else 1.0, 0.0),
    ]
    if given:
        d.check = check_at_values(details, "torch.autograd", at=label)
    else:
        # the example's checks, and the identities at random scores and scales
        details = [(f"{q} (example z)", e, tol) for q, e, tol in details]
        zr = rng.normal(scale=3.0, size=(points, 5))
        cr = rng.uniform(0.1, 10.0, size=(points, 1))
        u = tensor(zr, grad=True)
        lse_t = torch.logsumexp(tensor(cr) * u, 1) / tensor(cr[:, 0])  # (P,)
        lse_t.sum().backward()
        e = np.exp(cr * (zr - zr.max(axis=1, keepdims=True)))
        g_rand = max_error(u.grad.numpy(), e / e.sum(axis=1, keepdims=True))
        lse_v = lse_t.detach().numpy()
        zmax = zr.max(axis=1)
        bound_rand = bool(np.all((zmax - 1e-12 <= lse_v)
                                 & (lse_v <= zmax + math.log(5) / cr[:, 0] + 1e-12)))
        details += [
            ("∂/∂z (1/c) ln Σ e^(cz) by torch.autograd vs softmax(cz), random z and c", g_rand,
             1e-12),
            ("max z ≤ log-sum-exp ≤ max z + ln(n)/c at random z and c (0 = holds)",
             0.0 if bound_rand else 1.0, 0.0),
        ]
        d.check = check_result(details, points, "torch.autograd")
    d.output = np.array([r[1] for r in rows])  # (len(c), n)
    d.values = {
        "c": np.array(_INVERSE_TEMPERATURES, dtype=np.float64),
        "softmax": d.output,
        "distance_to_one_hot": np.array([r[2] for r in rows]),
        "logsumexp": np.array([r[3] for r in rows]),
    }
    d.inputs = {"z": exact_json(z)}
    return d
