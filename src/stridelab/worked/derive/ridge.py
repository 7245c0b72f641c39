"""Ridge regression: the closed form of the penalised least squares, checked against scikit-learn."""

from __future__ import annotations

import functools
import warnings
from fractions import Fraction

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked.derive import graded
from stridelab.worked.derive.answer import Derivation, Step
from stridelab.worked.derive.formulas import Formula
from stridelab.worked.derive.numeric import (
    batched_matvec,
    check_at_values,
    check_result,
    column_latex,
    exact_json,
    float_array,
    mat_equations,
    max_error,
    num_latex,
    num_text,
    tensor,
    to_float,
)
from stridelab.worked.derive.registry import need, topic
from stridelab.worked.derive.symbolic import matrix_zero, sympy_env, verify
from stridelab.worked.limits import MAX_EXACT_DIGITS, check_limit
from stridelab.worked.numbers import all_exact, fmt, fmt_latex, is_exact, normalize
from stridelab.worked.values import read_matrix, read_scalar, read_vector

_MAX_FEATURES = 200  # columns of X (X^T X is d x d)


# ---------------------------------------------------------------- ridge regression


@functools.cache
def _ridge_symbolic() -> tuple[str, ...]:
    sp = sympy_env()[0]
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
    alpha = sp.Symbol("alpha", positive=True)
    J_sk = (r.T * r)[0] + alpha * (w.T * w)[0]  # scikit-learn's Ridge objective
    return tuple(
        verify(
            [
                matrix_zero(
                    "grad J = (2/n) X^T (X w - y) + 2 lambda w (n = 3, d = 2)", grad - claimed
                ),
                matrix_zero(
                    "the closed form zeroes the gradient (exact X, symbolic lambda)", grad_at
                ),
                matrix_zero(
                    "Hessian = (2/n)(X^T X + n lambda I)",
                    hess - sp.Rational(2, n) * (X.T * X + n * lam * sp.eye(d)),
                ),
                (
                    "n J = ||Xw - y||^2 + alpha ||w||^2 with alpha = n lambda (scikit-learn's Ridge)",
                    n * J - J_sk.subs(alpha, n * lam),
                ),
            ]
        )
    )


def _solve_exact(A: list[list], rhs: list) -> list:
    """Gauss–Jordan elimination in exact rationals; A (d, d) nonsingular, rhs (d,)."""
    d = len(A)
    M = [[Fraction(v) for v in row] + [Fraction(r)] for row, r in zip(A, rhs)]  # (d, d + 1)
    for col in range(d):
        piv = next((r for r in range(col, d) if M[r][col] != 0), None)
        if piv is None:
            raise DataError("XᵀX + nλI is singular; give a larger --lam")
        M[col], M[piv] = M[piv], M[col]
        p = M[col][col]
        M[col] = [v / p for v in M[col]]
        for r in range(d):
            if r != col and M[r][col] != 0:
                f = M[r][col]
                M[r] = [a - f * b for a, b in zip(M[r], M[col])]
    return [normalize(M[r][d]) for r in range(d)]


def _read_data(v: dict, notes: list[str]) -> dict:
    need(v, ("X", "y", "lam"), "ridge")
    X = read_matrix(v["X"], what="--X", notes=notes)
    y = read_vector(v["y"], what="--y", notes=notes)
    lam = read_scalar(v["lam"], what="--lam")
    if len(y) != len(X):
        raise DataError(f"--y has {len(y)} values but --X has {len(X)} rows; give one target per "
                        "row of X")
    check_limit(len(X[0]), _MAX_FEATURES, what="--X columns (features)")
    if lam <= 0:
        raise ConfigError(f"--lam must be > 0 (the sheet's λ > 0 makes XᵀX + nλI invertible), "
                          f"got {num_text(lam)}")
    return {"X": X, "y": y, "lam": lam}


# the symbols of the sheet's ridge: X (n×d), y (n), w (d), λ > 0; I is d×d
_MATRICES = (("X", "n", "d"), ("y", "n", 1), ("w", "d", 1), ("I", "d", "d"))
_DIMS = (("n", 6), ("d", 3))


def _w_star(penalty: str) -> str:
    return f"(X^T X + {penalty}*I)^(-1) X^T y"


_RIDGE_FORMULAS = (
    Formula("w_star_formula", _w_star("n*lam"), "the minimiser w* in closed form",
            ("X", "y", "n", "lam", "I"), matrices=_MATRICES, dims=_DIMS,
            ranges=(("lam", 0.1, 1.0),),
            slips=(("missing_n", _w_star("lam"), "(XᵀX + λI)⁻¹Xᵀy minimises the sum "
                    "‖Xw − y‖² + λ‖w‖²: the 1/n of the mean was dropped (scikit-learn's α is "
                    "nλ)"),
                   ("alpha_twice", _w_star("n^2*lam"), "nλ was multiplied by n once more"),
                   ("no_penalty", "(X^T X)^(-1) X^T y", "the penalty was left out: the least-"
                    "squares solution"),
                   ("half_penalty", _w_star("n*lam/2"), "the 2 from ∂‖w‖²/∂w = 2w was "
                    "dropped"),
                   ("double_penalty", _w_star("2*n*lam"), "the 2 from the squared error was "
                    "dropped"))),
    Formula("grad_J", "2/n*X^T (X w - y) + 2*lam*w", "the gradient ∇_w J",
            ("X", "y", "w", "n", "lam"), matrices=_MATRICES, dims=_DIMS,
            slips=(("missing_n", "2*X^T (X w - y) + 2*lam*w", "the 1/n of the mean was "
                    "dropped"),
                   ("penalty_factor", "2/n*X^T (X w - y) + lam*w", "the 2 of ∂‖w‖²/∂w = 2w "
                    "was dropped"))),
)


@topic("ridge", "closed-form minimiser of (1/n)Σ(ŷ_i − y_i)² + λ‖w‖² (sklearn's alpha = nλ)",
       options=("X", "y", "lam"), read=_read_data, formulas=_RIDGE_FORMULAS,
       values=graded.ridge)
def ridge(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _ridge_symbolic()
    steps = [
        Step(
            r"A linear model $\hat y_i = x_i^\top w$ on $n$ examples (the rows of "
            r"$X \in \mathbb{R}^{n\times d}$) with the mean squared error plus an L2 penalty:",
            r"J(w) = \frac1n\sum_{i=1}^{n}(x_i^\top w - y_i)^2 + \lambda\lVert w\rVert^2"
            r" = \frac1n (Xw - y)^\top(Xw - y) + \lambda\, w^\top w",
        ),
        Step(
            r"Gradient: $\partial/\partial w$ of $(Xw - y)^\top(Xw - y)$ is $2X^\top(Xw - y)$, and "
            r"of $w^\top w$ is $2w$:",
            r"\nabla_w J = \frac2n X^\top(Xw - y) + 2\lambda w",
        ),
        Step(
            "Setting the gradient to zero and multiplying by $n/2$ gives the normal equations and "
            "the closed form:",
            r"X^\top X\,w + n\lambda\,w = X^\top y\;\Rightarrow\;"
            r"w^\star = \left(X^\top X + n\lambda I\right)^{-1} X^\top y",
        ),
        Step(
            r"It is the unique minimiser for $\lambda > 0$: the Hessian is positive definite "
            r"($X^\top X$ is positive semi-definite and $n\lambda I$ adds $n\lambda$ to every "
            r"eigenvalue), so $J$ is strictly convex and $X^\top X + n\lambda I$ is invertible "
            "even when $d > n$ or features are collinear.",
            r"\nabla^2 J = \frac2n\left(X^\top X + n\lambda I\right) \succ 0",
        ),
        Step(
            "The factor $n$ comes from the mean $1/n$ in front of the squared error; with a plain "
            r"sum instead the familiar $w^\star = (X^\top X + \lambda I)^{-1}X^\top y$ results. "
            r"scikit-learn's Ridge minimises that sum form, $\lVert y - Xw\rVert^2 + "
            r"\alpha\lVert w\rVert^2$; $n\,J$ is exactly that objective with $\alpha = n\lambda$, "
            "so `Ridge(alpha=n*lam, fit_intercept=False)` has the same minimiser. A bias is "
            "normally not penalised: centre $X$ and $y$ first (or append a column of ones and "
            "leave its weight out of the penalty).",
            r"n\,J(w) = \lVert Xw - y\rVert^2 + n\lambda\lVert w\rVert^2"
            r"\quad\Rightarrow\quad \alpha_{\text{sklearn}} = n\lambda",
        ),
    ]
    d = Derivation("ridge", "Ridge regression in closed form", steps, list(symbolic))
    if not v:
        _ridge_random(d, rng, points)
        return d

    # --- with the user's data
    X, y, lam = v["X"], v["y"], v["lam"]
    n, nf = len(X), len(X[0])
    Xf, yf, lamf = float_array(X), float_array(y), to_float(lam)  # (n, d), (n,)
    with np.errstate(over="ignore", invalid="ignore"):
        A_f = Xf.T @ Xf + n * lamf * np.eye(nf)  # (d, d)
        b_f = Xf.T @ yf  # (d,)
    if not (np.all(np.isfinite(A_f)) and np.all(np.isfinite(b_f))):
        raise DataError("--X/--y are too large: XᵀX or Xᵀy overflows float64; rescale the data")
    cond = float(np.linalg.cond(A_f))
    exact = nf <= 8 and n * nf * nf <= 20_000 and all_exact(X) and all_exact(y) and is_exact(lam)
    nlam = normalize(n * Fraction(lam))
    if exact:
        A = [
            [normalize(sum(Fraction(X[i][j]) * X[i][k] for i in range(n)) + (nlam if j == k else 0))
             for k in range(nf)]
            for j in range(nf)
        ]
        rhs = [normalize(sum(Fraction(X[i][j]) * y[i] for i in range(n))) for j in range(nf)]
        w = _solve_exact(A, rhs)
        r = [sum(Fraction(X[i][j]) * w[j] for j in range(nf)) - y[i] for i in range(n)]
        g = [normalize(Fraction(2, n) * sum(X[i][j] * r[i] for i in range(n)) + 2 * lam * w[j])
             for j in range(nf)]
        if any(gj != 0 for gj in g):  # pragma: no cover - exact arithmetic
            raise RuntimeError("exact ridge solution does not zero the gradient")
        loss = normalize(sum(ri * ri for ri in r) / n + lam * sum(wj * wj for wj in w))
        w_f = float_array(w)
    else:
        try:
            w_f = np.linalg.solve(A_f, b_f)
        except np.linalg.LinAlgError:
            raise DataError(f"XᵀX + nλI is singular in float64 (λ = {num_text(lam)} is too small "
                            "for these data); give a larger --lam") from None
        loss = float(np.mean((Xf @ w_f - yf) ** 2) + lamf * w_f @ w_f)
        d.notes.append(
            "The exact rational solution is written for at most 8 features, n·d² ≤ 20,000 and "
            f"values of at most {MAX_EXACT_DIGITS} digits; these data are solved in float64."
        )
    if not np.all(np.isfinite(w_f)):
        raise DataError("the ridge weights overflow float64; rescale the data")
    steps.append(
        Step(
            f"With your data: $n = {n}$ example(s), $d = {nf}$ feature(s), "
            rf"$\lambda = {num_latex(lam)}$, so $n\lambda = {num_latex(nlam)}$ — scikit-learn's "
            "alpha:",
            *mat_equations("X", X), f"y = {column_latex(y)}",
            rf"n\lambda = {num_latex(nlam)}",
        )
    )
    if exact:
        steps += [
            Step(
                "The normal equations, exactly:",
                *mat_equations(r"X^\top X + n\lambda I", A),
                rf"X^\top y = {column_latex(rhs)}",
            ),
            Step(
                r"Solved exactly (rational arithmetic), with the gradient at $w^\star$ exactly 0:",
                rf"w^\star = {column_latex(w)} \approx {column_latex(list(w_f))}",
                rf"J(w^\star) = {num_latex(loss)}",
            ),
        ]
        d.exact["w"] = exact_json(w)
        d.exact["loss"] = exact_json(loss)
    else:
        steps.append(
            Step(
                "Solved in float64:",
                rf"w^\star \approx {column_latex(list(w_f))}",
                rf"J(w^\star) \approx {fmt_latex(loss)}",
            )
        )
    steps.append(
        Step(
            rf"The condition number of $X^\top X + n\lambda I$ is {cond:.3g}"
            + ("; float64 keeps few correct digits at this size, the tolerances below grow with "
               "it." if cond > 1e8 else "."),
        )
    )
    # second way: scikit-learn, and the gradient at w* by torch.autograd
    from sklearn.linear_model import Ridge

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an ill-conditioned warning is reported as cond above
        w_sk = Ridge(alpha=n * lamf, fit_intercept=False).fit(Xf, yf).coef_
    wt = tensor(w_f, grad=True)
    Jt = ((tensor(Xf) @ wt - tensor(yf)) ** 2).mean() + lamf * (wt**2).sum()
    Jt.backward()
    gscale = float(np.max(2.0 / n * (np.abs(Xf).T @ (np.abs(Xf) @ np.abs(w_f) + np.abs(yf)))
                          + 2 * abs(lamf) * np.abs(w_f)))
    wmax = max(1.0, float(np.max(np.abs(w_f))))
    d.check = check_at_values(
        [
            (f"w* vs sklearn Ridge(alpha = nλ = {fmt(n * lamf)}, fit_intercept=False)",
             max_error(w_f, w_sk), max(1e-10, 1e-13 * cond) * wmax),
            ("∇J(w*) by torch.autograd (should be 0)", float(np.max(np.abs(wt.grad.numpy()))),
             1e-12 * max(1.0, cond) * (1.0 + gscale)),
        ],
        "scikit-learn + torch.autograd",
    )
    d.output = w_f
    d.values = {"w": w_f, "loss": np.float64(to_float(loss)), "sklearn_alpha": np.float64(n * lamf),
                "condition_number": np.float64(cond)}
    d.inputs = {"X": exact_json(X), "y": exact_json(y), "lam": exact_json(lam)}
    return d


def _ridge_random(d: Derivation, rng: np.random.Generator, points: int) -> None:
    from scipy.optimize import minimize
    from sklearn.linear_model import Ridge

    nn_, dd = 40, 5
    Xn = rng.normal(size=(points, nn_, dd))  # (P, n, d): one problem per point
    yn = np.einsum("pnd,pd->pn", Xn, rng.normal(size=(points, dd)))
    yn += 0.3 * rng.normal(size=(points, nn_))
    lam_n = rng.uniform(0.01, 1.0, size=points)
    A = np.einsum("pnd,pne->pde", Xn, Xn) + nn_ * lam_n[:, None, None] * np.eye(dd)
    w_closed = np.linalg.solve(A, np.einsum("pnd,pn->pd", Xn, yn)[..., None])[..., 0]  # (P, d)

    def J_and_grad(wv, Xp, yp, lam_p):
        wt = tensor(wv, grad=True)
        Jt = ((tensor(Xp) @ wt - tensor(yp)) ** 2).mean() + lam_p * (wt**2).sum()
        Jt.backward()
        return float(Jt.detach()), wt.grad.numpy().copy()

    opt_errs = []
    for p in range(min(points, 2)):  # the optimiser is slow; two problems make the point
        res = minimize(
            J_and_grad,
            np.zeros(dd),
            args=(Xn[p], yn[p], float(lam_n[p])),
            jac=True,
            method="BFGS",
            options={"gtol": 1e-11, "maxiter": 1000},
        )
        opt_errs.append(max_error(w_closed[p], res.x))
    n_sk = min(points, 20)
    sk_err = max(
        max_error(w_closed[p], Ridge(alpha=nn_ * lam_n[p], fit_intercept=False).fit(Xn[p], yn[p]).coef_)
        for p in range(n_sk)
    )
    # the gradient formula at random w, every problem in one autograd pass (they are independent)
    w0 = rng.normal(size=(points, dd))
    resid = np.einsum("pnd,pd->pn", Xn, w0) - yn  # (P, n)
    formula = 2 / nn_ * np.einsum("pnd,pn->pd", Xn, resid) + 2 * lam_n[:, None] * w0
    wt = tensor(w0, grad=True)
    Jt = ((batched_matvec(tensor(Xn), wt) - tensor(yn)) ** 2).mean(dim=1) + tensor(lam_n) * (wt**2).sum(dim=1)
    Jt.sum().backward()
    d.check = check_result(
        [
            (
                "closed form vs scipy.optimize.minimize (BFGS, at most 2 problems)",
                max(opt_errs),
                1e-6,
            ),
            (f"closed form vs sklearn Ridge(alpha = nλ, fit_intercept=False) ({n_sk} problem(s))",
             sk_err, 1e-10),
            ("gradient formula vs torch.autograd", max_error(formula, wt.grad.numpy()), 1e-10),
        ],
        points,
        "scipy.optimize.minimize + scikit-learn + torch.autograd",
    )
