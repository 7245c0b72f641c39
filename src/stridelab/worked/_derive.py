"""Derivations of the backpropagation results of the course, verified by SymPy and by autodiff.

Each topic is derived step by step in LaTeX and in plain text. SymPy verifies the identities
symbolically on small sizes, and the final formulas are evaluated at random points and
compared with PyTorch autograd (float64); the output reports the largest error.

topics:
  softmax-jacobian        d softmax(z)_i / d z_j = y_hat_i (delta_ij - y_hat_j)
  softmax-cross-entropy   dL/dz = y_hat - y for L = -sum_k y_k ln y_hat_k
  sigmoid-cross-entropy   why delta = a - y, and what goes wrong with -[a ln y + (1-a) ln(1-y)]
  ridge                   closed-form minimiser of (1/n) sum_i (y_hat_i - y_i)^2 + lambda ||w||^2
  conv1d                  1-D layer: two filters on one channel, one filter on two channels,
                          stride s; dJ/dw is a correlation, dJ/dx a full convolution
  conv2d                  the 2-D relation for one filter and its gradients
  mlp-update              update rules of a 2-layer sigmoid network with biases
  linear-backprop         the backpropagation equations when sigma(z) = z
  neuron-f                one neuron with a general activation f instead of sigma
  all                     every topic; list: the topics with one line each

examples:
  stridelab derive softmax-jacobian
  stridelab derive conv1d --json
  stridelab derive all --seed 1 --points 10
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stridelab.errors import ConfigError
from stridelab.worked._args import positive_int
from stridelab.worked._numbers import dumps_json


@dataclass
class Step:
    """One step of a derivation: prose (plain Unicode) and the equation in LaTeX and text."""

    text: str
    latex: str | None = None
    plain: str | None = None


@dataclass
class Derivation:
    topic: str
    title: str
    steps: list[Step]
    symbolic: list[str]  # identities SymPy verified, in words
    check: dict = field(default_factory=dict)

    @property
    def latex(self) -> str:
        return "\n".join(s.latex for s in self.steps if s.latex)

    @property
    def text(self) -> str:
        lines = []
        for s in self.steps:
            if s.text:
                lines.append(s.text)
            if s.plain:
                lines.append("    " + s.plain.replace("\n", "\n    "))
        return "\n".join(lines)


# ---------------------------------------------------------------- SymPy helpers


@functools.cache
def _sympy():
    import sympy as sp

    class sig(sp.Function):
        """The logistic sigmoid as SymPy sees it: sig' = sig (1 - sig)."""

        def fdiff(self, argindex=1):
            return sig(self.args[0]) * (1 - sig(self.args[0]))

        def _latex(self, printer, exp=None):
            s = rf"\sigma\left({printer._print(self.args[0])}\right)"
            return s if exp is None else rf"{s}^{{{exp}}}"

    class sigp(sp.Function):
        """sigma' of an unspecified activation sigma (kept symbolic)."""

        def _latex(self, printer, exp=None):
            return rf"\sigma'\left({printer._print(self.args[0])}\right)"

    class act(sp.Function):
        """An unspecified activation sigma with derivative sigp."""

        def fdiff(self, argindex=1):
            return sigp(self.args[0])

        def _latex(self, printer, exp=None):
            s = rf"\sigma\left({printer._print(self.args[0])}\right)"
            return s if exp is None else rf"{s}^{{{exp}}}"

    class fp(sp.Function):
        def _latex(self, printer, exp=None):
            return rf"f'\left({printer._print(self.args[0])}\right)"

    class f(sp.Function):
        """A general activation f with derivative fp."""

        def fdiff(self, argindex=1):
            return fp(self.args[0])

    return sp, sig, act, sigp, f, fp


def _is_zero(expr) -> bool:
    """True when ``expr`` (or every entry of a SymPy matrix) simplifies to 0."""
    sp = _sympy()[0]
    if isinstance(expr, sp.MatrixBase):
        return all(_is_zero(e) for e in expr)
    e = sp.expand(expr)
    if e == 0:
        return True
    e = sp.cancel(sp.together(e))  # rational functions (of exp(z), sigma(u), ...) cancel fast
    return e == 0 or sp.simplify(e) == 0


def _verify(claims: list[tuple[str, object]]) -> list[str]:
    """Each claim is (description, lhs - rhs); every difference must simplify to 0."""
    for desc, diff in claims:
        if not _is_zero(diff):
            raise RuntimeError(f"symbolic check failed: {desc}")
    return [desc for desc, _ in claims]


# ---------------------------------------------------------------- numeric helpers


def _torch():
    import torch

    return torch


def _T(a, grad: bool = False):
    torch = _torch()
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def _err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _result(details: list[tuple[str, float, float]], points: int, route: str) -> dict:
    """details: (quantity, max_abs_error, tolerance)."""
    return {
        "passed": all(e <= tol for _, e, tol in details),
        "max_abs_error": max(e for _, e, _ in details),
        "route": route,
        "points": points,
        "details": [{"quantity": q, "max_abs_error": e, "tolerance": tol} for q, e, tol in details],
    }


def _check_matrix_zero(desc: str, M) -> tuple[str, object]:
    """A claim that every entry of the SymPy matrix ``M`` is zero."""
    return desc, M


# ---------------------------------------------------------------- softmax


def _softmax_jacobian(rng: np.random.Generator, points: int) -> Derivation:
    sp = _sympy()[0]
    n = 3
    z = sp.symbols("z1:4")
    S = sum(sp.exp(v) for v in z)
    yh = [sp.exp(v) / S for v in z]
    J = sp.Matrix(n, n, lambda i, j: sp.diff(yh[i], z[j]))
    formula = sp.Matrix(n, n, lambda i, j: yh[i] * (int(i == j) - yh[j]))
    symbolic = _verify(
        [
            ("d y_hat_1 / d z_1 = y_hat_1 (1 - y_hat_1)", J[0, 0] - yh[0] * (1 - yh[0])),
            ("d y_hat_1 / d z_2 = -y_hat_1 y_hat_2", J[0, 1] + yh[0] * yh[1]),
            _check_matrix_zero("J = diag(y_hat) - y_hat y_hat^T for n = 3", J - formula),
            _check_matrix_zero("every column of J sums to 0", sp.ones(1, n) * J),
            _check_matrix_zero("J 1 = 0 (shifting all logits changes nothing)", J * sp.ones(n, 1)),
        ]
    )
    s = sp.symbols(r"\hat{y}_1:4")
    Js = sp.Matrix(n, n, lambda i, j: s[i] * (1 - s[i]) if i == j else -s[i] * s[j])

    torch = _torch()
    errs = []
    for _ in range(points):
        zt = rng.normal(scale=2.0, size=5)
        p = np.exp(zt - zt.max())
        p /= p.sum()
        ref = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), _T(zt))
        errs.append(_err(np.diag(p) - np.outer(p, p), ref.numpy()))
    steps = [
        Step(
            "Softmax turns logits z = (z_1, …, z_n) into probabilities:",
            r"\hat y_i = \frac{e^{z_i}}{S},\qquad S = \sum_{k=1}^{n} e^{z_k}",
            "ŷ_i = e^{z_i} / S,   S = Σ_k e^{z_k}",
        ),
        Step(
            "Diagonal entries (i = j): quotient rule, with ∂S/∂z_i = e^{z_i}:",
            r"\frac{\partial \hat y_i}{\partial z_i} = \frac{e^{z_i}S - e^{z_i}e^{z_i}}{S^2}"
            r" = \hat y_i - \hat y_i^2 = \hat y_i(1 - \hat y_i)",
            "∂ŷ_i/∂z_i = (e^{z_i} S − e^{z_i} e^{z_i}) / S² = ŷ_i − ŷ_i² = ŷ_i (1 − ŷ_i)",
        ),
        Step(
            "Off-diagonal entries (i ≠ j): the numerator e^{z_i} does not depend on z_j:",
            r"\frac{\partial \hat y_i}{\partial z_j} = \frac{0\cdot S - e^{z_i}e^{z_j}}{S^2}"
            r" = -\hat y_i\,\hat y_j",
            "∂ŷ_i/∂z_j = (0·S − e^{z_i} e^{z_j}) / S² = −ŷ_i ŷ_j",
        ),
        Step(
            "Both cases in one formula (δ_ij is the Kronecker delta) and in matrix form:",
            r"\frac{\partial \hat y_i}{\partial z_j} = \hat y_i(\delta_{ij} - \hat y_j),\qquad"
            r" J = \operatorname{diag}(\hat y) - \hat y\,\hat y^\top",
            "∂ŷ_i/∂z_j = ŷ_i (δ_ij − ŷ_j),   J = diag(ŷ) − ŷ ŷᵀ",
        ),
        Step("For n = 3 (computed by SymPy):", "J = " + sp.latex(Js), "J = " + sp.sstr(Js)),
        Step(
            "Properties: J is symmetric and positive semi-definite; its rows and columns sum to "
            "0 because Σ_i ŷ_i = 1 and adding the same constant to every logit leaves ŷ "
            "unchanged, so J·1 = 0 and J is singular.",
        ),
    ]
    check = _result(
        [("Jacobian vs torch.autograd.functional.jacobian", max(errs), 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation("softmax-jacobian", "The softmax Jacobian", steps, symbolic, check)


def _softmax_cross_entropy(rng: np.random.Generator, points: int) -> Derivation:
    sp = _sympy()[0]
    z = sp.symbols("z1:4")
    y1, y2 = sp.symbols("y1 y2")
    y = [y1, y2, 1 - y1 - y2]  # targets sum to 1
    S = sum(sp.exp(v) for v in z)
    yh = [sp.exp(v) / S for v in z]
    L = -sum(t * sp.log(p) for t, p in zip(y, yh))
    symbolic = _verify(
        [
            (
                f"dL/dz_{j + 1} = y_hat_{j + 1} - y_{j + 1} (n = 3, y_3 = 1 - y_1 - y_2)",
                sp.diff(L, z[j]) - (yh[j] - y[j]),
            )
            for j in range(3)
        ]
    )
    torch = _torch()
    errs = []
    for _ in range(points):
        zt = rng.normal(scale=2.0, size=5)
        yt = rng.dirichlet(np.ones(5))
        v = _T(zt, grad=True)
        (-(_T(yt) * torch.log_softmax(v, 0)).sum()).backward()
        p = np.exp(zt - zt.max())
        p /= p.sum()
        errs.append(_err(p - yt, v.grad.numpy()))
    steps = [
        Step(
            "Cross-entropy of a softmax output ŷ = softmax(z) against a target distribution y "
            "(one-hot or soft, Σ_k y_k = 1):",
            r"L = -\sum_k y_k \ln \hat y_k",
            "L = −Σ_k y_k ln ŷ_k",
        ),
        Step(
            "Chain rule through every ŷ_k (each depends on every z_j), with the softmax "
            "Jacobian ∂ŷ_k/∂z_j = ŷ_k(δ_kj − ŷ_j):",
            r"\frac{\partial L}{\partial z_j} = \sum_k \frac{\partial L}{\partial \hat y_k}"
            r"\frac{\partial \hat y_k}{\partial z_j} = \sum_k \left(-\frac{y_k}{\hat y_k}\right)"
            r"\hat y_k(\delta_{kj} - \hat y_j) = -y_j + \hat y_j\sum_k y_k",
            "∂L/∂z_j = Σ_k (∂L/∂ŷ_k)(∂ŷ_k/∂z_j) = Σ_k (−y_k/ŷ_k) ŷ_k (δ_kj − ŷ_j)"
            " = −y_j + ŷ_j Σ_k y_k",
        ),
        Step(
            "The targets sum to 1, so:",
            r"\frac{\partial L}{\partial z_j} = \hat y_j - y_j,\qquad \nabla_z L = \hat y - y",
            "∂L/∂z_j = ŷ_j − y_j,   ∇_z L = ŷ − y",
        ),
        Step(
            "The same from the log-sum-exp form ln ŷ_k = z_k − ln Σ_m e^{z_m}:",
            r"L = -\sum_k y_k z_k + \ln\sum_m e^{z_m}\;\Rightarrow\;"
            r"\frac{\partial L}{\partial z_j} = -y_j + \frac{e^{z_j}}{\sum_m e^{z_m}}"
            r" = \hat y_j - y_j",
            "L = −Σ_k y_k z_k + ln Σ_m e^{z_m}  ⇒  ∂L/∂z_j = −y_j + e^{z_j}/Σ_m e^{z_m} = ŷ_j − y_j",
        ),
        Step(
            "So the output delta of a softmax classifier is simply δ = ŷ − y: bounded in "
            "[−1, 1], zero only when the prediction equals the target, and it never vanishes "
            "because of a saturated unit. Libraries fuse softmax and cross-entropy "
            "(log-softmax) for this reason and for numerical stability.",
        ),
    ]
    check = _result(
        [("dL/dz vs autograd of -sum y log_softmax(z)", max(errs), 1e-12)], points, "torch.autograd"
    )
    return Derivation(
        "softmax-cross-entropy", "Softmax with cross-entropy: ∂L/∂z = ŷ − y", steps, symbolic, check
    )


def _sigmoid_cross_entropy(rng: np.random.Generator, points: int) -> Derivation:
    sp = _sympy()[0]
    zs, ys, a = sp.symbols("z y a", real=True)
    sigma = 1 / (1 + sp.exp(-zs))
    L = -(ys * sp.log(sigma) + (1 - ys) * sp.log(1 - sigma))
    Lt = -(a * sp.log(ys) + (1 - a) * sp.log(1 - ys))
    grad_swapped = sp.diff(Lt, a)
    lim_grad = sp.limit(sp.log(1 - ys) - sp.log(ys), ys, 1, "-")
    lim_loss = sp.limit(Lt.subs(a, sp.Rational(1, 2)), ys, 1, "-")
    symbolic = _verify(
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
    symbolic += ["ln(1 - y) - ln y -> -oo as y -> 1", "L~(a = 1/2) -> +oo as y -> 1"]

    torch = _torch()
    errs = []
    for _ in range(points):
        zt = rng.normal(scale=3.0, size=4)
        yt = rng.uniform(size=4)
        v = _T(zt, grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(v, _T(yt), reduction="sum").backward()
        errs.append(_err(_sigmoid(zt) - yt, v.grad.numpy()))
    # what autodiff makes of the swapped loss at a one-hot label
    at = _T([0.3], grad=True)
    yt = _T([1.0])
    Ltv = -(at * torch.log(yt) + (1 - at) * torch.log(1 - yt)).sum()
    Ltv.backward()
    swapped_value, swapped_grad = float(Ltv.detach()), float(at.grad[0])

    steps = [
        Step(
            "A sigmoid unit a = σ(z) = 1/(1 + e^{−z}) predicts P(y = 1); the binary "
            "cross-entropy for a target y ∈ [0, 1] is:",
            r"L = -\left[y\ln a + (1 - y)\ln(1 - a)\right]",
            "L = −[y ln a + (1 − y) ln(1 − a)]",
        ),
        Step(
            "Derivative of the sigmoid:",
            r"\sigma'(z) = \frac{e^{-z}}{(1 + e^{-z})^2} = \sigma(z)\,(1 - \sigma(z)) = a(1 - a)",
            "σ'(z) = e^{−z} / (1 + e^{−z})² = σ(z)(1 − σ(z)) = a(1 − a)",
        ),
        Step(
            "Derivative of the loss with respect to the output:",
            r"\frac{\partial L}{\partial a} = -\frac{y}{a} + \frac{1 - y}{1 - a}"
            r" = \frac{a - y}{a(1 - a)}",
            "∂L/∂a = −y/a + (1 − y)/(1 − a) = (a − y) / (a(1 − a))",
        ),
        Step(
            "Chain rule: σ'(z) cancels the denominator exactly, so the error signal is the "
            "plain difference:",
            r"\delta = \frac{\partial L}{\partial z} = \frac{\partial L}{\partial a}\,\sigma'(z)"
            r" = \frac{a - y}{a(1 - a)}\cdot a(1 - a) = a - y",
            "δ = ∂L/∂z = (∂L/∂a) σ'(z) = (a − y)/(a(1 − a)) · a(1 − a) = a − y",
        ),
        Step(
            "Compare the squared error ½(a − y)²: there δ = (a − y)·a(1 − a), which is almost 0 "
            "when the unit saturates (a ≈ 0 or a ≈ 1) even if the answer is completely wrong, "
            "so learning stalls; with cross-entropy δ = a − y stays large while the output is "
            "wrong.",
            r"\text{squared error: }\ \delta = (a - y)\,a(1 - a)\ \to 0\ \text{ as } a \to 0"
            r"\text{ or } 1",
            "squared error: δ = (a − y) a(1 − a) → 0 as a → 0 or 1",
        ),
        Step(
            "What goes wrong with the arguments swapped, L̃ = −[a ln y + (1 − a) ln(1 − y)]: for a "
            "label y ∈ {0, 1} one of ln y, ln(1 − y) is ln 0 = −∞. For y = 1, L̃ = −(1 − a)·ln 0 "
            "= +∞ for every a < 1 (and 0·∞ is undefined at a = 1); for y = 0, L̃ = −a·ln 0 = +∞ "
            f"for every a > 0. PyTorch indeed returns L̃ = {swapped_value} and "
            f"∂L̃/∂a = {swapped_grad} at a = 0.3, y = 1.",
            r"\tilde L = -\left[a\ln y + (1 - a)\ln(1 - y)\right],\qquad y = 1:\ "
            r"\tilde L = -(1 - a)\ln 0 = +\infty",
            "L̃ = −[a ln y + (1 − a) ln(1 − y)],   y = 1:  L̃ = −(1 − a) ln 0 = +∞",
        ),
        Step(
            "Its gradient does not depend on the prediction a at all: L̃ is linear in a, has no "
            "minimum at a = y, and its gradient is +∞ for y = 0 and −∞ for y = 1. Cross-entropy "
            "H(p, q) = −Σ p ln q takes the logarithm of the model's prediction q = a, which lies "
            "in (0, 1), never of the 0/1 label.",
            r"\frac{\partial \tilde L}{\partial a} = \ln(1 - y) - \ln y = \ln\frac{1 - y}{y}"
            r"\ \xrightarrow{\;y \to 1\;}\ -\infty",
            "∂L̃/∂a = ln(1 − y) − ln y = ln((1 − y)/y) → −∞ as y → 1",
        ),
    ]
    check = _result(
        [("delta = sigmoid(z) - y vs autograd of BCE-with-logits", max(errs), 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation(
        "sigmoid-cross-entropy",
        "Sigmoid with binary cross-entropy: δ = a − y",
        steps,
        symbolic,
        check,
    )


# ---------------------------------------------------------------- ridge regression


def _ridge(rng: np.random.Generator, points: int) -> Derivation:
    sp = _sympy()[0]
    n, d = 3, 2
    X = sp.Matrix(n, d, lambda i, j: sp.Symbol(f"x{i + 1}{j + 1}"))
    y = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"y{i + 1}"))
    w = sp.Matrix(d, 1, lambda i, _: sp.Symbol(f"w{i + 1}"))
    lam = sp.Symbol("lambda", positive=True)
    r = X * w - y
    J = (r.T * r)[0] / n + lam * (w.T * w)[0]
    grad = sp.Matrix([sp.diff(J, v) for v in w])
    claimed = sp.Rational(2, n) * X.T * r + 2 * lam * w
    Xq = sp.Matrix([[1, 2], [0, -1], [3, 1]])
    yq = sp.Matrix([1, 0, 2])
    w_star = (Xq.T * Xq + n * lam * sp.eye(d)).inv() * Xq.T * yq
    grad_at = sp.Rational(2, n) * Xq.T * (Xq * w_star - yq) + 2 * lam * w_star
    hess = sp.hessian(J, list(w))
    symbolic = _verify(
        [
            _check_matrix_zero(
                "grad J = (2/n) X^T (X w - y) + 2 lambda w (n = 3, d = 2)", grad - claimed
            ),
            _check_matrix_zero(
                "the closed form zeroes the gradient (exact X, symbolic lambda)", grad_at
            ),
            _check_matrix_zero(
                "Hessian = (2/n)(X^T X + n lambda I)",
                hess - sp.Rational(2, n) * (X.T * X + n * lam * sp.eye(d)),
            ),
        ]
    )

    from scipy.optimize import minimize

    opt_errs, grad_errs = [], []
    for _ in range(points):
        nn_, dd = 40, 5
        Xn = rng.normal(size=(nn_, dd))
        yn = Xn @ rng.normal(size=dd) + 0.3 * rng.normal(size=nn_)
        lam_n = float(rng.uniform(0.01, 1.0))
        w_closed = np.linalg.solve(Xn.T @ Xn + nn_ * lam_n * np.eye(dd), Xn.T @ yn)

        def J_and_grad(wv, Xn=Xn, yn=yn, lam_n=lam_n):
            wt = _T(wv, grad=True)
            Jt = ((_T(Xn) @ wt - _T(yn)) ** 2).mean() + lam_n * (wt**2).sum()
            Jt.backward()
            return float(Jt.detach()), wt.grad.numpy().copy()

        if len(opt_errs) < 2:  # the optimiser is slow; two problems make the point
            res = minimize(
                J_and_grad,
                np.zeros(dd),
                jac=True,
                method="BFGS",
                options={"gtol": 1e-11, "maxiter": 1000},
            )
            opt_errs.append(_err(w_closed, res.x))
        w0 = rng.normal(size=dd)
        formula = 2 / nn_ * Xn.T @ (Xn @ w0 - yn) + 2 * lam_n * w0
        grad_errs.append(_err(formula, J_and_grad(w0)[1]))

    steps = [
        Step(
            "A linear model ŷ_i = x_iᵀw on n examples (the rows of X ∈ ℝ^{n×d}) with the mean "
            "squared error plus an L2 penalty:",
            r"J(w) = \frac1n\sum_{i=1}^{n}(x_i^\top w - y_i)^2 + \lambda\lVert w\rVert^2"
            r" = \frac1n (Xw - y)^\top(Xw - y) + \lambda\, w^\top w",
            "J(w) = (1/n) Σ_i (x_iᵀw − y_i)² + λ‖w‖² = (1/n)(Xw − y)ᵀ(Xw − y) + λ wᵀw",
        ),
        Step(
            "Gradient: ∂/∂w of (Xw − y)ᵀ(Xw − y) is 2Xᵀ(Xw − y), and of wᵀw is 2w:",
            r"\nabla_w J = \frac2n X^\top(Xw - y) + 2\lambda w",
            "∇_w J = (2/n) Xᵀ(Xw − y) + 2λw",
        ),
        Step(
            "Setting the gradient to zero gives the normal equations and the closed form:",
            r"X^\top X\,w + n\lambda\,w = X^\top y\;\Rightarrow\;"
            r"w^\star = \left(X^\top X + n\lambda I\right)^{-1} X^\top y",
            "XᵀX w + nλ w = Xᵀy  ⇒  w* = (XᵀX + nλI)⁻¹ Xᵀy",
        ),
        Step(
            "It is the unique minimiser for λ > 0: the Hessian is positive definite (XᵀX is "
            "positive semi-definite and nλI adds nλ to every eigenvalue), so J is strictly "
            "convex and XᵀX + nλI is invertible even when d > n or features are collinear.",
            r"\nabla^2 J = \frac2n\left(X^\top X + n\lambda I\right) \succ 0",
            "∇²J = (2/n)(XᵀX + nλI) ≻ 0",
        ),
        Step(
            "The factor n comes from the mean (1/n) in front of the squared error; with a plain "
            "sum instead the familiar w* = (XᵀX + λI)⁻¹Xᵀy results. A bias is normally not "
            "penalised: centre X and y first (or append a column of ones and leave its weight "
            "out of the penalty).",
        ),
    ]
    check = _result(
        [
            (
                "closed form vs scipy.optimize.minimize (BFGS, at most 2 problems)",
                max(opt_errs),
                1e-6,
            ),
            ("gradient formula vs torch.autograd", max(grad_errs), 1e-10),
        ],
        points,
        "scipy.optimize.minimize + torch.autograd",
    )
    return Derivation("ridge", "Ridge regression in closed form", steps, symbolic, check)


# ---------------------------------------------------------------- convolution layers


def _conv1d_formula(x, w, b, z, s):
    """One filter on C channels, sigmoid, J = (1/K) sum (y - z)^2: grads by correlation/convolution.

    x (C, L), w (C, M), z (K,) -> dJ/dw (C, M), dJ/db, dJ/dx (C, L).
    """
    C, L = x.shape
    M = w.shape[1]
    K = (L - M) // s + 1
    u = np.array([np.sum(w * x[:, s * k : s * k + M]) + b for k in range(K)])  # (K,)
    y = _sigmoid(u)
    delta = 2.0 / K * (y - z) * y * (1 - y)  # (K,)
    up = np.zeros(s * (K - 1) + 1)
    up[::s] = delta  # delta dilated by the stride
    dw = np.stack([np.correlate(x[c, : len(up) + M - 1], up, mode="valid") for c in range(C)])
    dx = np.zeros_like(x)
    for c in range(C):
        full = np.convolve(up, w[c], mode="full")  # (s(K-1) + M,)
        dx[c, : len(full)] = full
    return dw, delta.sum(), dx


def _conv1d_autograd(x, w, b, z, s):
    torch = _torch()
    xt, wt, bt = _T(x, True), _T(w, True), _T([b], True)
    y = torch.sigmoid(torch.nn.functional.conv1d(xt[None], wt[None], bt, stride=s))[0, 0]
    ((y - _T(z)) ** 2).mean().backward()
    return wt.grad.numpy(), float(bt.grad[0]), xt.grad.numpy()


def _conv1d(rng: np.random.Generator, points: int) -> Derivation:
    sp, _, act, sigp, _, _ = _sympy()
    symbolic = []
    for s, C in ((1, 1), (2, 2)):  # stride and channels both covered
        Lx, M = 6, 3
        K = (Lx - M) // s + 1
        x = [[sp.Symbol(f"x{c}_{l}") for l in range(Lx)] for c in range(C)]
        w = [[sp.Symbol(f"w{c}_{m}") for m in range(M)] for c in range(C)]
        b = sp.Symbol("b")
        zt = [sp.Symbol(f"z{k}") for k in range(K)]
        u = [
            sum(w[c][m] * x[c][s * k + m] for c in range(C) for m in range(M)) + b for k in range(K)
        ]
        J = sum((act(u[k]) - zt[k]) ** 2 for k in range(K)) / K
        delta = [sp.Rational(2, K) * (act(u[k]) - zt[k]) * sigp(u[k]) for k in range(K)]
        dw = [
            sp.diff(J, w[c][m]) - sum(delta[k] * x[c][s * k + m] for k in range(K))
            for c in range(C)
            for m in range(M)
        ]
        dx = [
            sp.diff(J, x[c][l])
            - sum(delta[k] * w[c][l - s * k] for k in range(K) if 0 <= l - s * k < M)
            for c in range(C)
            for l in range(Lx)
        ]
        symbolic += _verify(
            [
                _check_matrix_zero(
                    f"dJ/dw_(c,m) = sum_k delta_k x_(c,sk+m) (L=6, M=3, s={s}, C={C})",
                    sp.Matrix(dw),
                ),
                _check_matrix_zero(
                    f"dJ/dx_(c,l) = sum_k delta_k w_(c,l-sk) (L=6, M=3, s={s}, C={C})",
                    sp.Matrix(dx),
                ),
            ]
        )
    # the explicit input gradient for L = 6, M = 3, s = 2 (K = 2), written out by SymPy
    d0, d1 = sp.symbols("delta_0 delta_1")
    w0, w1, w2 = sp.symbols("w_0 w_1 w_2")
    xs = sp.symbols("x_0:6")
    u0 = w0 * xs[0] + w1 * xs[1] + w2 * xs[2]
    u1 = w0 * xs[2] + w1 * xs[3] + w2 * xs[4]
    explicit = [d0 * sp.diff(u0, xl) + d1 * sp.diff(u1, xl) for xl in xs]
    ex_latex = r",\quad ".join(
        rf"\frac{{\partial J}}{{\partial x_{l}}} = {sp.latex(e)}" for l, e in enumerate(explicit)
    )
    ex_plain = ", ".join(f"∂J/∂x_{l} = {sp.sstr(e)}" for l, e in enumerate(explicit))

    errs = []
    for i in range(points):
        s = 1 + i % 2
        for C in (1, 2):
            x = rng.normal(size=(C, 9))
            w = rng.normal(size=(C, 3))
            b = float(rng.normal())
            z = rng.uniform(size=(9 - 3) // s + 1)
            f_ = _conv1d_formula(x, w, b, z, s)
            a_ = _conv1d_autograd(x, w, b, z, s)
            errs.append(max(_err(f_[0], a_[0]), _err(f_[1], a_[1]), _err(f_[2], a_[2])))
        # two filters on one channel, J summed over both output channels
        x = rng.normal(size=(1, 9))
        ws = [rng.normal(size=(1, 3)) for _ in range(2)]
        bs = [float(v) for v in rng.normal(size=2)]
        zs = [rng.uniform(size=(9 - 3) // s + 1) for _ in range(2)]
        dx = sum(_conv1d_formula(x, wf, bf, zf, s)[2] for wf, bf, zf in zip(ws, bs, zs))
        torch = _torch()
        xt = _T(x, True)
        wt = _T(np.stack(ws), True)  # (F=2, C=1, M)
        y = torch.sigmoid(torch.nn.functional.conv1d(xt[None], wt, _T(bs), stride=s))[0]
        (((y - _T(np.stack(zs))) ** 2).mean(dim=1).sum()).backward()
        errs.append(_err(dx, xt.grad.numpy()))

    steps = [
        Step(
            "A 1-D convolutional layer (a cross-correlation, as in CNN libraries) slides filters "
            "of length M with stride s over an input of length L and applies an activation σ; "
            "each filter gives K = ⌊(L − M)/s⌋ + 1 outputs.",
        ),
        Step(
            "Two filters w⁽¹⁾, w⁽²⁾ on one input channel x = (x_0, …, x_{L−1}) give two output "
            "channels:",
            r"y^{(f)}_k = \sigma\big(u^{(f)}_k\big),\quad u^{(f)}_k = \sum_{m=0}^{M-1}"
            r" w^{(f)}_m\,x_{sk+m} + b^{(f)},\qquad f = 1, 2,\ k = 0, \dots, K-1",
            "y^(f)_k = σ(u^(f)_k),  u^(f)_k = Σ_{m=0}^{M−1} w^(f)_m x_{sk+m} + b^(f),  "
            "f = 1, 2,  k = 0..K−1",
        ),
        Step(
            "One filter on two input channels x_{1,·}, x_{2,·} sums over the channels and gives "
            "one output channel:",
            r"y_k = \sigma(u_k),\quad u_k = \sum_{c=1}^{2}\sum_{m=0}^{M-1} w_{c,m}\,x_{c,\,sk+m} + b",
            "y_k = σ(u_k),  u_k = Σ_{c=1}^{2} Σ_{m=0}^{M−1} w_{c,m} x_{c, sk+m} + b",
        ),
        Step(
            "Cost with targets z_k for one output channel, and the delta of output k:",
            r"J = \frac1K\sum_{k=0}^{K-1}(y_k - z_k)^2,\qquad \delta_k := "
            r"\frac{\partial J}{\partial u_k} = \frac2K (y_k - z_k)\,\sigma'(u_k)",
            "J = (1/K) Σ_k (y_k − z_k)²,   δ_k := ∂J/∂u_k = (2/K)(y_k − z_k) σ'(u_k)",
        ),
        Step(
            "Weight gradient: w_m multiplies x_{sk+m} in every output k, so ∂J/∂w is the "
            "cross-correlation of the input with δ (for s > 1 with δ dilated, s − 1 zeros "
            "between its entries):",
            r"\frac{\partial J}{\partial w_m} = \sum_{k=0}^{K-1}\delta_k\,x_{sk+m}"
            r" = \big(x \star \delta^{\uparrow s}\big)_m,\qquad"
            r" \frac{\partial J}{\partial b} = \sum_k \delta_k",
            "∂J/∂w_m = Σ_k δ_k x_{sk+m} = (x ⋆ δ↑s)_m   (valid cross-correlation),"
            "   ∂J/∂b = Σ_k δ_k",
        ),
        Step(
            "Input gradient: x_l feeds every output k with 0 ≤ l − sk < M, through weight "
            "w_{l−sk}. Summing over those k is a full convolution of the (dilated) δ with the "
            "filter — a correlation of the zero-padded δ with the flipped filter. "
            "Backpropagation through a convolution is itself a convolution.",
            r"\frac{\partial J}{\partial x_l} = \sum_{k:\ 0 \le l - sk < M}\delta_k\,w_{l-sk}"
            r" = \sum_t \delta^{\uparrow s}_t\,w_{l-t} = \big(\delta^{\uparrow s} * w\big)_l"
            r"\quad(\text{full convolution}),\qquad \delta^{\uparrow s}_{sk} = \delta_k",
            "∂J/∂x_l = Σ_{k: 0 ≤ l−sk < M} δ_k w_{l−sk} = Σ_t δ↑s_t w_{l−t} = (δ↑s * w)_l"
            "   (full convolution; δ↑s_{sk} = δ_k, zeros elsewhere)",
        ),
        Step(
            "Written out by SymPy for L = 6, M = 3, s = 2 (K = 2): each x_l collects the "
            "filter taps that touched it.",
            ex_latex,
            ex_plain,
        ),
        Step(
            "One filter on two channels: every channel has its own filter slice, so "
            "∂J/∂w_{c,m} = Σ_k δ_k x_{c,sk+m} and ∂J/∂x_{c,l} = (δ↑s * w_{c,·})_l. Two filters "
            "on one channel, with J summed over both output channels: each filter gets "
            "∂J/∂w⁽ᶠ⁾ = x ⋆ δ⁽ᶠ⁾↑s, and the input collects both contributions:",
            r"\frac{\partial J}{\partial w_{c,m}} = \sum_k \delta_k\,x_{c,\,sk+m},\qquad"
            r" \frac{\partial J}{\partial x_l} = \sum_{f=1}^{2}"
            r"\big(\delta^{(f)\uparrow s} * w^{(f)}\big)_l",
            "∂J/∂w_{c,m} = Σ_k δ_k x_{c, sk+m},   ∂J/∂x_l = Σ_f (δ^(f)↑s * w^(f))_l",
        ),
    ]
    check = _result(
        [
            (
                "dJ/dw, dJ/db, dJ/dx vs torch conv1d autograd (s = 1, 2; one and two "
                "channels; two filters)",
                max(errs),
                1e-12,
            )
        ],
        points,
        "torch.autograd",
    )
    return Derivation("conv1d", "Gradients of a 1-D convolutional layer", steps, symbolic, check)


def _conv2d_formula(x, w, b, z, s):
    from scipy.signal import convolve2d, correlate2d

    C, H, W = x.shape
    _, kh, kw = w.shape
    Ho, Wo = (H - kh) // s + 1, (W - kw) // s + 1
    u = np.array(
        [
            [np.sum(w * x[:, s * i : s * i + kh, s * j : s * j + kw]) + b for j in range(Wo)]
            for i in range(Ho)
        ]
    )  # (H', W')
    y = _sigmoid(u)
    delta = 2.0 / (Ho * Wo) * (y - z) * y * (1 - y)
    up = np.zeros((s * (Ho - 1) + 1, s * (Wo - 1) + 1))
    up[::s, ::s] = delta
    dw = np.stack(
        [
            correlate2d(x[c, : up.shape[0] + kh - 1, : up.shape[1] + kw - 1], up, mode="valid")
            for c in range(C)
        ]
    )
    dx = np.zeros_like(x)
    for c in range(C):
        full = convolve2d(up, w[c], mode="full")
        dx[c, : full.shape[0], : full.shape[1]] = full
    return dw, delta.sum(), dx


def _conv2d(rng: np.random.Generator, points: int) -> Derivation:
    sp, _, act, sigp, _, _ = _sympy()
    H = W = 3
    kh = kw = 2
    x = [[sp.Symbol(f"x{p}{q}") for q in range(W)] for p in range(H)]
    w = [[sp.Symbol(f"w{m}{n}") for n in range(kw)] for m in range(kh)]
    b = sp.Symbol("b")
    Ho, Wo = H - kh + 1, W - kw + 1
    u = [
        [
            sum(w[m][n] * x[i + m][j + n] for m in range(kh) for n in range(kw)) + b
            for j in range(Wo)
        ]
        for i in range(Ho)
    ]
    zt = [[sp.Symbol(f"z{i}{j}") for j in range(Wo)] for i in range(Ho)]
    J = sum((act(u[i][j]) - zt[i][j]) ** 2 for i in range(Ho) for j in range(Wo)) / (Ho * Wo)
    delta = [
        [sp.Rational(2, Ho * Wo) * (act(u[i][j]) - zt[i][j]) * sigp(u[i][j]) for j in range(Wo)]
        for i in range(Ho)
    ]
    dw = [
        sp.diff(J, w[m][n])
        - sum(delta[i][j] * x[i + m][j + n] for i in range(Ho) for j in range(Wo))
        for m in range(kh)
        for n in range(kw)
    ]
    dx = [
        sp.diff(J, x[p][q])
        - sum(
            delta[i][j] * w[p - i][q - j]
            for i in range(Ho)
            for j in range(Wo)
            if 0 <= p - i < kh and 0 <= q - j < kw
        )
        for p in range(H)
        for q in range(W)
    ]
    symbolic = _verify(
        [
            _check_matrix_zero(
                "dJ/dw_(m,n) = sum_ij delta_ij x_(i+m, j+n) (3x3 input, 2x2 filter)", sp.Matrix(dw)
            ),
            _check_matrix_zero(
                "dJ/dx_(p,q) = sum_ij delta_ij w_(p-i, q-j) (full convolution)", sp.Matrix(dx)
            ),
        ]
    )
    torch = _torch()
    errs = []
    for i in range(points):
        s = 1 + i % 2
        x_ = rng.normal(size=(2, 6, 7))
        w_ = rng.normal(size=(2, 3, 3))
        b_ = float(rng.normal())
        z_ = rng.uniform(size=((6 - 3) // s + 1, (7 - 3) // s + 1))
        f_ = _conv2d_formula(x_, w_, b_, z_, s)
        xt, wt, bt = _T(x_, True), _T(w_, True), _T([b_], True)
        y = torch.sigmoid(torch.nn.functional.conv2d(xt[None], wt[None], bt, stride=s))[0, 0]
        ((y - _T(z_)) ** 2).mean().backward()
        errs.append(
            max(
                _err(f_[0], wt.grad.numpy()),
                _err(f_[1], float(bt.grad[0])),
                _err(f_[2], xt.grad.numpy()),
            )
        )
    steps = [
        Step(
            "One filter w ∈ ℝ^{C×k_h×k_w} with bias b, stride s and activation σ on an input "
            "x ∈ ℝ^{C×H×W} gives one output channel of size H′×W′ with "
            "H′ = ⌊(H − k_h)/s⌋ + 1, W′ = ⌊(W − k_w)/s⌋ + 1:",
            r"y_{ij} = \sigma(u_{ij}),\quad u_{ij} = \sum_{c=1}^{C}\sum_{m=0}^{k_h-1}"
            r"\sum_{n=0}^{k_w-1} w_{c,m,n}\,x_{c,\,si+m,\,sj+n} + b",
            "y_ij = σ(u_ij),  u_ij = Σ_c Σ_{m=0}^{k_h−1} Σ_{n=0}^{k_w−1} w_{c,m,n} x_{c, si+m, sj+n} + b",
        ),
        Step(
            "With the cost J = (1/(H′W′)) Σ_ij (y_ij − z_ij)² the delta of output (i, j) is:",
            r"\delta_{ij} = \frac{\partial J}{\partial u_{ij}} = \frac{2}{H'W'}(y_{ij} - z_{ij})"
            r"\,\sigma'(u_{ij})",
            "δ_ij = ∂J/∂u_ij = 2/(H′W′) (y_ij − z_ij) σ'(u_ij)",
        ),
        Step(
            "Weight gradient: a cross-correlation of each input channel with δ (dilated by s):",
            r"\frac{\partial J}{\partial w_{c,m,n}} = \sum_{i,j}\delta_{ij}\,x_{c,\,si+m,\,sj+n}"
            r" = \big(x_c \star \delta^{\uparrow s}\big)_{mn},\qquad"
            r" \frac{\partial J}{\partial b} = \sum_{i,j}\delta_{ij}",
            "∂J/∂w_{c,m,n} = Σ_ij δ_ij x_{c, si+m, sj+n} = (x_c ⋆ δ↑s)_{mn},   ∂J/∂b = Σ_ij δ_ij",
        ),
        Step(
            "Input gradient: a full convolution of the dilated δ with each filter slice (the "
            "zero-padded δ correlated with the filter rotated by 180°):",
            r"\frac{\partial J}{\partial x_{c,p,q}} = \sum_{i,j}\delta_{ij}\,w_{c,\,p-si,\,q-sj}"
            r" = \big(\delta^{\uparrow s} * w_c\big)_{pq}\quad(\text{full convolution})",
            "∂J/∂x_{c,p,q} = Σ_ij δ_ij w_{c, p−si, q−sj} = (δ↑s * w_c)_pq   (full convolution;"
            " terms with indices outside the filter are 0)",
        ),
    ]
    check = _result(
        [("dJ/dw, dJ/db, dJ/dx vs torch conv2d autograd (s = 1, 2; 2 channels)", max(errs), 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation(
        "conv2d", "Gradients of a 2-D convolution with one filter", steps, symbolic, check
    )


# ---------------------------------------------------------------- fully connected networks


def _mlp_symbolic(f_hidden: int | None = None, f_output: int | None = None):
    """2-2-2 network: sigmoid everywhere except hidden/output neuron index with activation f."""
    sp, sig, _, _, f, fp = _sympy()
    x = sp.symbols("x1:3")
    t = sp.symbols("y1:3")
    W1 = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"v{i + 1}{j + 1}"))
    b1 = sp.Matrix(2, 1, lambda i, _: sp.Symbol(f"c{i + 1}"))
    W2 = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"w{i + 1}{j + 1}"))
    b2 = sp.Matrix(2, 1, lambda i, _: sp.Symbol(f"d{i + 1}"))
    z1 = W1 * sp.Matrix(x) + b1
    h = [f(z1[j]) if j == f_hidden else sig(z1[j]) for j in range(2)]
    z2 = W2 * sp.Matrix(h) + b2
    yh = [f(z2[k]) if k == f_output else sig(z2[k]) for k in range(2)]
    E = sum((yh[k] - t[k]) ** 2 for k in range(2)) / 2

    def dact(j, z, a, which):
        return fp(z) if j == which else a * (1 - a)

    d2 = [(yh[k] - t[k]) * dact(k, z2[k], yh[k], f_output) for k in range(2)]
    d1 = [
        dact(j, z1[j], h[j], f_hidden) * sum(W2[k, j] * d2[k] for k in range(2)) for j in range(2)
    ]
    diffs = []
    for k in range(2):
        for j in range(2):
            diffs.append(sp.diff(E, W2[k, j]) - d2[k] * h[j])
        diffs.append(sp.diff(E, b2[k]) - d2[k])
    for j in range(2):
        for i in range(2):
            diffs.append(sp.diff(E, W1[j, i]) - d1[j] * x[i])
        diffs.append(sp.diff(E, b1[j]) - d1[j])
    return sp.Matrix(diffs)


def _mlp_numeric(
    rng, points: int, f_hidden=None, f_output=None, sizes=(4, 3, 2), activation="sigmoid"
):
    """Formula gradients of E = 1/2 ||y_hat - y||^2 vs torch autograd; f = tanh where chosen."""
    torch = _torch()
    errs = []
    for _ in range(points):
        n0, n1, n2 = sizes
        x, y = rng.normal(size=n0), rng.uniform(size=n2)
        W1, b1 = rng.normal(size=(n1, n0)), rng.normal(size=n1)
        W2, b2 = rng.normal(size=(n2, n1)), rng.normal(size=n2)

        def fwd(z, which, lib):
            if activation == "linear":
                return z
            a = lib.sigmoid(z) if lib is torch else _sigmoid(z)
            if which is None:
                return a
            mask = np.zeros(len(z), dtype=bool)
            mask[which] = True
            fz = lib.tanh(z)
            return lib.where(_T(mask) > 0, fz, a) if lib is torch else np.where(mask, fz, a)

        def dact(z, a, which):
            if activation == "linear":
                return np.ones_like(z)
            d = a * (1 - a)
            if which is not None:
                d[which] = 1 - np.tanh(z[which]) ** 2  # f = tanh: f' = 1 - f^2
            return d

        z1 = W1 @ x + b1
        h = fwd(z1, f_hidden, np)
        z2 = W2 @ h + b2
        yh = fwd(z2, f_output, np)
        d2 = (yh - y) * dact(z2, yh, f_output)
        d1 = (W2.T @ d2) * dact(z1, h, f_hidden)
        formula = [np.outer(d1, x), d1, np.outer(d2, h), d2]

        ts = [_T(v, True) for v in (W1, b1, W2, b2)]
        ht = fwd(ts[0] @ _T(x) + ts[1], f_hidden, torch)
        yt = fwd(ts[2] @ ht + ts[3], f_output, torch)
        (((yt - _T(y)) ** 2).sum() / 2).backward()
        errs.append(max(_err(f_, t.grad.numpy()) for f_, t in zip(formula, ts)))
    return max(errs)


def _mlp_update(rng: np.random.Generator, points: int) -> Derivation:
    symbolic = _verify(
        [
            _check_matrix_zero(
                "every dE/dW and dE/db of a 2-2-2 sigmoid network equals delta times the layer input",
                _mlp_symbolic(),
            )
        ]
    )
    err = _mlp_numeric(rng, points)
    steps = [
        Step(
            "A network with one hidden layer of sigmoid units and biases, trained on the squared "
            "error by gradient descent with learning rate η (σ′ = σ(1 − σ)):",
            r"h = \sigma(W_1 x + b_1),\quad \hat y = \sigma(W_2 h + b_2),\quad"
            r" E = \tfrac12\sum_k(\hat y_k - y_k)^2",
            "h = σ(W₁x + b₁),  ŷ = σ(W₂h + b₂),  E = ½ Σ_k (ŷ_k − y_k)²",
        ),
        Step(
            "Output deltas:",
            r"\delta^{(2)}_k = \frac{\partial E}{\partial z^{(2)}_k} = (\hat y_k - y_k)\,"
            r"\hat y_k(1 - \hat y_k)",
            "δ⁽²⁾_k = ∂E/∂z⁽²⁾_k = (ŷ_k − y_k) ŷ_k (1 − ŷ_k)",
        ),
        Step(
            "Output-layer updates (weight from hidden unit j to output k):",
            r"\Delta W_{2,kj} = -\eta\,\delta^{(2)}_k\,h_j,\qquad \Delta b_{2,k} = -\eta\,"
            r"\delta^{(2)}_k",
            "ΔW₂[k, j] = −η δ⁽²⁾_k h_j,   Δb₂[k] = −η δ⁽²⁾_k",
        ),
        Step(
            "Hidden deltas, sent back through W₂ (the weights before this step's update):",
            r"\delta^{(1)}_j = h_j(1 - h_j)\sum_k W_{2,kj}\,\delta^{(2)}_k",
            "δ⁽¹⁾_j = h_j (1 − h_j) Σ_k W₂[k, j] δ⁽²⁾_k",
        ),
        Step(
            "Hidden-layer updates (weight from input i to hidden unit j):",
            r"\Delta W_{1,ji} = -\eta\,\delta^{(1)}_j\,x_i,\qquad \Delta b_{1,j} = -\eta\,"
            r"\delta^{(1)}_j",
            "ΔW₁[j, i] = −η δ⁽¹⁾_j x_i,   Δb₁[j] = −η δ⁽¹⁾_j",
        ),
        Step(
            "In matrix form (⊙ is the element-wise product):",
            r"\delta^{(2)} = (\hat y - y)\odot\hat y\odot(1 - \hat y),\quad"
            r" W_2 \leftarrow W_2 - \eta\,\delta^{(2)}h^\top,\quad"
            r" \delta^{(1)} = (W_2^\top\delta^{(2)})\odot h\odot(1 - h),\quad"
            r" W_1 \leftarrow W_1 - \eta\,\delta^{(1)}x^\top",
            "δ⁽²⁾ = (ŷ − y) ⊙ ŷ ⊙ (1 − ŷ),  W₂ ← W₂ − η δ⁽²⁾hᵀ,  b₂ ← b₂ − η δ⁽²⁾,\n"
            "δ⁽¹⁾ = (W₂ᵀδ⁽²⁾) ⊙ h ⊙ (1 − h),  W₁ ← W₁ − η δ⁽¹⁾xᵀ,  b₁ ← b₁ − η δ⁽¹⁾",
        ),
    ]
    check = _result(
        [("gradients of a 4-3-2 sigmoid network vs torch.autograd", err, 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation(
        "mlp-update", "Update rules of a 2-layer sigmoid network", steps, symbolic, check
    )


def _linear_backprop(rng: np.random.Generator, points: int) -> Derivation:
    sp = _sympy()[0]
    x = sp.Matrix(sp.symbols("x1:3"))
    t = sp.Matrix([sp.Symbol("y")])
    rows = {1: 2, 2: 2, 3: 1}  # a 2-2-2-1 network
    Ws = [
        sp.Matrix(rows[l], 2, lambda i, j, l=l: sp.Symbol(f"w{l}_{i + 1}{j + 1}"))
        for l in (1, 2, 3)
    ]
    bs = [sp.Matrix(rows[l], 1, lambda i, _, l=l: sp.Symbol(f"b{l}_{i + 1}")) for l in (1, 2, 3)]
    acts = [x]
    for W, b in zip(Ws, bs):
        acts.append(W * acts[-1] + b)
    E = ((acts[-1] - t).T * (acts[-1] - t))[0] / 2
    deltas = [None, None, acts[-1] - t]
    deltas[1] = Ws[2].T * deltas[2]
    deltas[0] = Ws[1].T * deltas[1]
    diffs = []
    for l in range(3):
        G = deltas[l] * acts[l].T
        diffs += [sp.diff(E, Ws[l][i, j]) - G[i, j] for i in range(G.rows) for j in range(2)]
        diffs += [sp.diff(E, bs[l][i]) - deltas[l][i] for i in range(G.rows)]
    W_prod = Ws[2] * Ws[1] * Ws[0]
    c = Ws[2] * Ws[1] * bs[0] + Ws[2] * bs[1] + bs[2]
    symbolic = _verify(
        [
            _check_matrix_zero(
                "dE/dW^(l) = delta^(l) a^(l-1)^T with delta^(l) = W^(l+1)^T "
                "delta^(l+1) (a 2-2-2-1 linear network)",
                sp.Matrix(diffs),
            ),
            _check_matrix_zero(
                "the network equals one affine map W3 W2 W1 x + c", acts[-1] - (W_prod * x + c)
            ),
        ]
    )
    # numeric: a 3-4-4-2 linear network vs torch
    errs = []
    for _ in range(points):
        sizes = (3, 4, 4, 2)
        Wn = [rng.normal(size=(sizes[l + 1], sizes[l])) for l in range(3)]
        bn = [rng.normal(size=sizes[l + 1]) for l in range(3)]
        xn, yn = rng.normal(size=3), rng.normal(size=2)
        a = [xn]
        for W, b in zip(Wn, bn):
            a.append(W @ a[-1] + b)
        d = [None, None, a[-1] - yn]
        d[1] = Wn[2].T @ d[2]
        d[0] = Wn[1].T @ d[1]
        Wt = [_T(W, True) for W in Wn]
        bt = [_T(b, True) for b in bn]
        at = _T(xn)
        for W, b in zip(Wt, bt):
            at = W @ at + b
        (((at - _T(yn)) ** 2).sum() / 2).backward()
        errs.append(
            max(
                max(_err(np.outer(d[l], a[l]), Wt[l].grad.numpy()), _err(d[l], bt[l].grad.numpy()))
                for l in range(3)
            )
        )
    steps = [
        Step(
            "With the identity activation σ(z) = z every σ′(z) is 1, so the element-wise factors "
            "of backpropagation disappear. Network and loss:",
            r"a^{(0)} = x,\quad a^{(l)} = z^{(l)} = W^{(l)}a^{(l-1)} + b^{(l)},\quad"
            r" \hat y = a^{(L)},\quad E = \tfrac12\lVert\hat y - y\rVert^2",
            "a⁽⁰⁾ = x,  a⁽ˡ⁾ = z⁽ˡ⁾ = W⁽ˡ⁾a⁽ˡ⁻¹⁾ + b⁽ˡ⁾,  ŷ = a⁽ᴸ⁾,  E = ½‖ŷ − y‖²",
        ),
        Step("Output delta:", r"\delta^{(L)} = \hat y - y", "δ⁽ᴸ⁾ = ŷ − y"),
        Step(
            "Hidden deltas: no σ′ factor, just the transposed weights:",
            r"\delta^{(l)} = \big(W^{(l+1)}\big)^\top\delta^{(l+1)} = \big(W^{(l+1)}\big)^\top"
            r"\cdots\big(W^{(L)}\big)^\top(\hat y - y)",
            "δ⁽ˡ⁾ = (W⁽ˡ⁺¹⁾)ᵀ δ⁽ˡ⁺¹⁾ = (W⁽ˡ⁺¹⁾)ᵀ ⋯ (W⁽ᴸ⁾)ᵀ (ŷ − y)",
        ),
        Step(
            "Gradients (unchanged in form):",
            r"\frac{\partial E}{\partial W^{(l)}} = \delta^{(l)}\big(a^{(l-1)}\big)^\top,\qquad"
            r" \frac{\partial E}{\partial b^{(l)}} = \delta^{(l)}",
            "∂E/∂W⁽ˡ⁾ = δ⁽ˡ⁾ (a⁽ˡ⁻¹⁾)ᵀ,   ∂E/∂b⁽ˡ⁾ = δ⁽ˡ⁾",
        ),
        Step(
            "The whole network is one affine map: depth adds no expressive power (it cannot "
            "represent XOR), although gradient descent on the factors W⁽ˡ⁾ behaves differently "
            "from descent on their product, since every update is scaled by the other layers' "
            "weights.",
            r"\hat y = W^{(L)}\cdots W^{(1)}x + c",
            "ŷ = W⁽ᴸ⁾ ⋯ W⁽¹⁾ x + c",
        ),
    ]
    check = _result(
        [("gradients of a 3-4-4-2 linear network vs torch.autograd", max(errs), 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation("linear-backprop", "Backpropagation with σ(z) = z", steps, symbolic, check)


def _neuron_f(rng: np.random.Generator, points: int) -> Derivation:
    symbolic = _verify(
        [
            _check_matrix_zero(
                "hidden neuron 1 with a general f: delta_1 = f'(z_1) sum_k w_k1 "
                "delta_k, all other gradients keep their form (2-2-2 network)",
                _mlp_symbolic(f_hidden=0),
            ),
            _check_matrix_zero(
                "output neuron 2 with a general f: delta_2 = (y_hat_2 - y_2) "
                "f'(z_2) (2-2-2 network)",
                _mlp_symbolic(f_output=1),
            ),
        ]
    )
    err_h = _mlp_numeric(rng, points, f_hidden=1)
    err_o = _mlp_numeric(rng, points, f_output=0)
    steps = [
        Step(
            "Standard backpropagation with sigmoid units everywhere and E = ½‖ŷ − y‖²:",
            r"\delta^{(L)}_k = (\hat y_k - y_k)\,\sigma'(z^{(L)}_k),\quad"
            r" \delta^{(l)}_j = \sigma'(z^{(l)}_j)\sum_k w^{(l+1)}_{kj}\,\delta^{(l+1)}_k,\quad"
            r" \frac{\partial E}{\partial w^{(l)}_{ji}} = \delta^{(l)}_j\,a^{(l-1)}_i,\quad"
            r" \sigma' = \sigma(1 - \sigma)",
            "δ⁽ᴸ⁾_k = (ŷ_k − y_k) σ'(z⁽ᴸ⁾_k),  δ⁽ˡ⁾_j = σ'(z⁽ˡ⁾_j) Σ_k w⁽ˡ⁺¹⁾_kj δ⁽ˡ⁺¹⁾_k,  "
            "∂E/∂w⁽ˡ⁾_ji = δ⁽ˡ⁾_j a⁽ˡ⁻¹⁾_i,  σ' = σ(1 − σ)",
        ),
        Step(
            "Let one hidden neuron j* of layer l use a general activation f, so "
            "a⁽ˡ⁾_{j*} = f(z⁽ˡ⁾_{j*}). Only that neuron's own delta changes form — f′ replaces σ′:",
            r"\delta^{(l)}_{j^*} = f'\big(z^{(l)}_{j^*}\big)\sum_k w^{(l+1)}_{kj^*}\,"
            r"\delta^{(l+1)}_k",
            "δ⁽ˡ⁾_{j*} = f'(z⁽ˡ⁾_{j*}) Σ_k w⁽ˡ⁺¹⁾_{kj*} δ⁽ˡ⁺¹⁾_k",
        ),
        Step(
            "Everything else keeps its form. The deltas of the layers above l contain no f′ "
            "(they see the neuron only through its value f(z) in the forward pass); the weights "
            "leaving j* get δ⁽ˡ⁺¹⁾_k·f(z⁽ˡ⁾_{j*}); the weights entering j* get δ⁽ˡ⁾_{j*}·a⁽ˡ⁻¹⁾_i; "
            "and the layer below receives the changed delta through its sum:",
            r"\frac{\partial E}{\partial w^{(l+1)}_{kj^*}} = \delta^{(l+1)}_k\,f\big(z^{(l)}_{j^*}"
            r"\big),\quad \frac{\partial E}{\partial w^{(l)}_{j^*i}} = \delta^{(l)}_{j^*}"
            r"\,a^{(l-1)}_i,\quad \delta^{(l-1)}_i = \sigma'\big(z^{(l-1)}_i\big)\Big("
            r"\sum_{j\ne j^*} w^{(l)}_{ji}\,\delta^{(l)}_j + w^{(l)}_{j^*i}\,\delta^{(l)}_{j^*}"
            r"\Big)",
            "∂E/∂w⁽ˡ⁺¹⁾_{kj*} = δ⁽ˡ⁺¹⁾_k f(z⁽ˡ⁾_{j*}),  ∂E/∂w⁽ˡ⁾_{j*i} = δ⁽ˡ⁾_{j*} a⁽ˡ⁻¹⁾_i,\n"
            "δ⁽ˡ⁻¹⁾_i = σ'(z⁽ˡ⁻¹⁾_i) (Σ_{j≠j*} w⁽ˡ⁾_ji δ⁽ˡ⁾_j + w⁽ˡ⁾_{j*i} δ⁽ˡ⁾_{j*})",
        ),
        Step(
            "If j* is an output neuron, its delta is δ⁽ᴸ⁾_{j*} = (ŷ_{j*} − y_{j*})·f′(z⁽ᴸ⁾_{j*}). "
            "Examples: f = tanh gives f′ = 1 − f²; f = relu gives f′ = 1 for z > 0 and 0 "
            "otherwise; f(z) = z gives f′ = 1. The numeric check uses f = tanh.",
            r"\delta^{(L)}_{j^*} = (\hat y_{j^*} - y_{j^*})\,f'\big(z^{(L)}_{j^*}\big)",
            "δ⁽ᴸ⁾_{j*} = (ŷ_{j*} − y_{j*}) f'(z⁽ᴸ⁾_{j*})",
        ),
    ]
    check = _result(
        [
            (
                "4-3-2 sigmoid network, hidden neuron 2 with f = tanh, vs torch.autograd",
                err_h,
                1e-12,
            ),
            (
                "4-3-2 sigmoid network, output neuron 1 with f = tanh, vs torch.autograd",
                err_o,
                1e-12,
            ),
        ],
        points,
        "torch.autograd",
    )
    return Derivation("neuron-f", "One neuron with a general activation f", steps, symbolic, check)


# ---------------------------------------------------------------- registry


TOPICS: dict[str, tuple[str, Callable[[np.random.Generator, int], Derivation]]] = {
    "softmax-jacobian": ("∂softmax(z)_i/∂z_j = ŷ_i(δ_ij − ŷ_j)", _softmax_jacobian),
    "softmax-cross-entropy": (
        "∂L/∂z = ŷ − y for softmax with cross-entropy",
        _softmax_cross_entropy,
    ),
    "sigmoid-cross-entropy": (
        "why δ = a − y, and what goes wrong with the arguments swapped",
        _sigmoid_cross_entropy,
    ),
    "ridge": ("closed-form minimiser of (1/n)Σ(ŷ_i − y_i)² + λ‖w‖²", _ridge),
    "conv1d": ("1-D convolution layer: ∂J/∂w is a correlation, ∂J/∂x a full convolution", _conv1d),
    "conv2d": ("the 2-D relation for one filter and its gradients", _conv2d),
    "mlp-update": ("update rules of a 2-layer sigmoid network with biases", _mlp_update),
    "linear-backprop": ("backpropagation equations when σ(z) = z", _linear_backprop),
    "neuron-f": ("one neuron with a general activation f instead of σ", _neuron_f),
}


def solve(topic: str, seed: int = 0, points: int = 5) -> Derivation:
    """Derive ``topic`` and check it numerically at ``points`` random points drawn with ``seed``."""
    key = topic.strip().lower().replace("_", "-")
    if key not in TOPICS:
        raise ConfigError(f"unknown topic {topic!r}; choose one of: {', '.join(TOPICS)} (or all)")
    points = positive_int(points, name="--points")
    rng = np.random.default_rng(seed)
    d = TOPICS[key][1](rng, points)
    d.check["seed"] = seed
    return d


# ---------------------------------------------------------------- rendering


def to_markdown(d: Derivation) -> str:
    out = [f"## {d.title} (`{d.topic}`)", ""]
    for s in d.steps:
        if s.text:
            out += [s.text, ""]
        if s.latex:
            out += [f"$${s.latex}$$", ""]
    c = d.check
    verdict = "passed" if c["passed"] else "FAILED"
    out += ["**Check.** SymPy verified symbolically: " + "; ".join(d.symbolic) + "."]
    details = "; ".join(
        f"{x['quantity']}: max |error| = {x['max_abs_error']:.3g}" for x in c["details"]
    )
    out += [
        "",
        f"Numerically at {c['points']} random point(s) (seed {c['seed']}), route "
        f"{c['route']}: {details} — **{verdict}** (max_abs_error = "
        f"{c['max_abs_error']:.3g}).",
        "",
    ]
    out += ["**Plain text**", "", "```text", d.text, "```", ""]
    return "\n".join(out)


def to_dict(d: Derivation) -> dict:
    return {
        "topic": d.topic,
        "title": d.title,
        "latex": d.latex,
        "text": d.text,
        "steps": [{"text": s.text, "latex": s.latex, "plain": s.plain} for s in d.steps],
        "symbolic": d.symbolic,
        "check": d.check,
    }


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "topic",
        metavar="TOPIC",
        help="one of: " + ", ".join(TOPICS) + "; 'all' for every topic, 'list' for one line each",
    )
    parser.add_argument(
        "--seed", default="0", metavar="N", help="seed of the random check points (default 0)"
    )
    parser.add_argument(
        "--points", default="5", metavar="N", help="number of random check points (default 5)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")


def main(args: argparse.Namespace) -> int:
    topic = args.topic.strip().lower()
    seed = positive_int(args.seed, name="--seed", minimum=0)
    if topic == "list":
        if args.json:
            print(dumps_json({k: v[0] for k, v in TOPICS.items()}))
        else:
            print("\n".join(f"{k:24s}{v[0]}" for k, v in TOPICS.items()))
        return 0
    names = list(TOPICS) if topic == "all" else [topic]
    results = [solve(n, seed=seed, points=args.points) for n in names]
    if args.json:
        docs = [to_dict(r) for r in results]
        print(dumps_json(docs if topic == "all" else docs[0]))
    else:
        print("\n".join(to_markdown(r) for r in results))
    return 0
