"""Convolutional layers: the gradients of a 1-D and a 2-D layer, with the sheet's names and yours."""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import one_of, positive_int
from stridelab.worked.derive import graded
from stridelab.worked.derive.answer import Derivation, Step
from stridelab.worked.derive.formulas import Formula
from stridelab.worked.derive.numeric import (
    check_at_values,
    check_result,
    exact_json,
    float_array,
    mat_equations,
    max_error,
    num_latex,
    products_latex,
    sigmoid,
    tensor,
    to_float,
    torch_module,
    vec_latex,
)
from stridelab.worked.derive.registry import topic
from stridelab.worked.derive.symbolic import matrix_zero, sympy_env, verify
from stridelab.worked.limits import MAX_EXACT_DIGITS, MAX_WINDOW, check_limit
from stridelab.worked.numbers import all_exact, is_exact, normalize, paren
from stridelab.worked.values import read_channels, read_matrix, read_scalar, read_vector

# ---------------------------------------------------------------- convolution layers
#
# Names as in the TU Wien sheet (4.1.1–4.1.2): input x, filter w, bias b, output z (the
# pre-activation; z = a for the linear activation), target y, cost J = (1/K) Σ_k (y_k − a_k)²,
# δ_k := ∂J/∂z_k.

_ACTIVATIONS = ("linear", "sigmoid", "tanh")
_CONV_OPTIONS = ("x", "w", "b", "y", "stride", "activation")
_MAX_PRODUCTS = 200_000  # multiply-adds of the forward pass (exact arithmetic)


def _act_float(name: str, zf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, σ'(z)) for the activation ``name``."""
    if name == "sigmoid":
        a = sigmoid(zf)
        return a, a * (1 - a)
    if name == "tanh":
        a = np.tanh(zf)
        return a, 1 - a**2
    return zf, np.ones_like(zf)


def _conv1d_formula(x, w, b, y, s, act: str = "sigmoid"):
    """One filter on C channels, J = (1/K) Σ_k (y_k − a_k)²: grads by correlation/convolution.

    x (C, L), w (C, M), y (K,) targets -> ∂J/∂w (C, M), ∂J/∂b, ∂J/∂x (C, L).
    """
    C, L = x.shape
    M = w.shape[1]
    K = (L - M) // s + 1
    z = np.array([np.sum(w * x[:, s * k : s * k + M]) + b for k in range(K)])  # (K,)
    a, da = _act_float(act, z)
    delta = 2.0 / K * (a - y) * da  # (K,) = ∂J/∂z
    up = np.zeros(s * (K - 1) + 1)
    up[::s] = delta  # δ dilated by the stride
    dw = np.stack([np.correlate(x[c, : len(up) + M - 1], up, mode="valid") for c in range(C)])
    dx = np.zeros_like(x)
    for c in range(C):
        full = np.convolve(up, w[c], mode="full")  # (s(K-1) + M,)
        dx[c, : len(full)] = full
    return dw, delta.sum(), dx


def _conv_batch_autograd(x, w, b, y, s: int, act: str):
    """torch gradients of P independent one-filter layers in one autograd pass.

    x (P, C, *S), w (P, C, *K), b (P,), y (P, *S_out) -> ∂J/∂w (P, C, *K), ∂J/∂b (P,),
    ∂J/∂x (P, C, *S), each J_p = mean (y_p − a_p)²; the sum over p keeps them apart. The
    forward pass is the layer's definition, a sum over sliding windows (``Tensor.unfold``),
    so autograd differentiates it independently of the correlation/convolution formulas.
    """
    torch = torch_module()
    xt, wt, bt = tensor(x, True), tensor(w, True), tensor(b, True)
    if x.ndim == 3:
        win = xt.unfold(2, w.shape[2], s)  # (P, C, K, M)
        z = (win * wt[:, :, None, :]).sum(dim=(1, 3))  # (P, K)
    else:
        win = xt.unfold(2, w.shape[2], s).unfold(3, w.shape[3], s)  # (P, C, H', W', KH, KW)
        z = (win * wt[:, :, None, None]).sum(dim=(1, 4, 5))  # (P, H', W')
    z = z + bt.reshape(-1, *([1] * (z.ndim - 1)))
    a = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.get(act, lambda u: u)(z)
    ((tensor(y) - a) ** 2).flatten(1).mean(dim=1).sum().backward()
    return wt.grad.numpy(), bt.grad.numpy(), xt.grad.numpy()


@functools.cache
def _conv1d_symbolic() -> tuple[tuple[str, ...], tuple[str, ...]]:
    sp, _, act, sigp, _, _ = sympy_env()
    symbolic = []
    # the sheet's layer: linear activation, stride 1, one channel (L = 5, M = 3, K = 3)
    L, M = 5, 3
    K = L - M + 1
    x = [sp.Symbol(f"x_{l}") for l in range(L)]
    w = [sp.Symbol(f"w_{m}") for m in range(M)]
    b = sp.Symbol("b")
    y = [sp.Symbol(f"y_{k}") for k in range(K)]
    z = [sum(w[m] * x[k + m] for m in range(M)) + b for k in range(K)]
    J = sum((y[k] - z[k]) ** 2 for k in range(K)) / K
    delta = [sp.Rational(2, K) * (z[k] - y[k]) for k in range(K)]
    symbolic += verify(
        [
            matrix_zero(
                "linear layer: dJ/dz_k = (2/K)(z_k - y_k) and dJ/dw_m = sum_k dJ/dz_k x_(k+m) "
                "(L = 5, M = 3)",
                sp.Matrix([sp.diff(J, w[m]) - sum(delta[k] * x[k + m] for k in range(K))
                           for m in range(M)]),
            ),
            matrix_zero(
                "linear layer: dJ/dx_l = sum_k dJ/dz_k w_(l-k) (L = 5, M = 3)",
                sp.Matrix([sp.diff(J, x[l]) - sum(delta[k] * w[l - k] for k in range(K)
                                                   if 0 <= l - k < M) for l in range(L)]),
            ),
        ]
    )
    for s, C in ((1, 1), (2, 2)):  # a nonlinear σ, stride and channels
        Lx, M = 6, 3
        K = (Lx - M) // s + 1
        x = [[sp.Symbol(f"x{c}_{l}") for l in range(Lx)] for c in range(C)]
        w = [[sp.Symbol(f"w{c}_{m}") for m in range(M)] for c in range(C)]
        b = sp.Symbol("b")
        yt = [sp.Symbol(f"y{k}") for k in range(K)]
        z = [
            sum(w[c][m] * x[c][s * k + m] for c in range(C) for m in range(M)) + b for k in range(K)
        ]
        J = sum((yt[k] - act(z[k])) ** 2 for k in range(K)) / K
        delta = [sp.Rational(2, K) * (act(z[k]) - yt[k]) * sigp(z[k]) for k in range(K)]
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
        symbolic += verify(
            [
                matrix_zero(
                    f"sigma layer: dJ/dw_(c,m) = sum_k delta_k x_(c,sk+m) (L=6, M=3, s={s}, C={C})",
                    sp.Matrix(dw),
                ),
                matrix_zero(
                    f"sigma layer: dJ/dx_(c,l) = sum_k delta_k w_(c,l-sk) (L=6, M=3, s={s}, C={C})",
                    sp.Matrix(dx),
                ),
            ]
        )
    # the explicit input gradient for L = 6, M = 3, s = 2 (K = 2), written out by SymPy
    d0, d1 = sp.symbols("delta_0 delta_1")
    w0, w1, w2 = sp.symbols("w_0 w_1 w_2")
    xs = sp.symbols("x_0:6")
    z0 = w0 * xs[0] + w1 * xs[1] + w2 * xs[2]
    z1 = w0 * xs[2] + w1 * xs[3] + w2 * xs[4]
    explicit = [d0 * sp.diff(z0, xl) + d1 * sp.diff(z1, xl) for xl in xs]
    explicit_latex = tuple(
        rf"\frac{{\partial J}}{{\partial x_{l}}} = {sp.latex(e)}" for l, e in enumerate(explicit)
    )
    return tuple(symbolic), explicit_latex


def _conv1d_steps(explicit: tuple[str, ...]) -> list[Step]:
    return [
        Step(
            r"Names as in the sheet (4.1.1): input $x = (x_0, \dots, x_{L-1})$, filter $w$ of "
            "length $M$, bias $b$, output $z$, target $y$. The layer with a linear activation "
            "slides the filter along the input — a cross-correlation, as in CNN libraries — "
            "giving $K = L - M + 1$ outputs:",
            r"z_k = a_k = \sum_{m=0}^{M-1} w_m\,x_{k+m} + b,\qquad k = 0, \dots, K-1",
        ),
        Step(
            r"The cost (4.1.3) and its derivative with respect to each output, "
            r"$\delta_k := \partial J/\partial z_k$:",
            r"J = \frac1K\sum_{k=0}^{K-1}(y_k - z_k)^2,\qquad \delta_k := "
            r"\frac{\partial J}{\partial z_k} = -\frac2K (y_k - z_k) = \frac2K (z_k - y_k)",
        ),
        Step(
            r"Weight gradient (4.1.2): $w_m$ multiplies $x_{k+m}$ in every output $k$, so "
            r"$\partial z_k/\partial w_m = x_{k+m}$, and the sum over $k$ is the valid "
            r"cross-correlation of the input $x$ with $\partial J/\partial z$:",
            r"\frac{\partial J}{\partial w_m} = \sum_k \frac{\partial J}{\partial z_k}"
            r"\frac{\partial z_k}{\partial w_m} = \sum_{k=0}^{K-1}\delta_k\,x_{k+m}"
            r" = (x \star \delta)_m,\qquad \frac{\partial J}{\partial b} = \sum_k \delta_k",
        ),
        Step(
            r"Input gradient (4.1.2): $x_l$ enters output $k$ through $w_{l-k}$ when "
            r"$0 \le l - k < M$ ($\partial z_k/\partial x_l = w_{l-k}$, else 0), so the sum over "
            r"$k$ is the full convolution of $\partial J/\partial z$ with the filter — "
            r"equivalently the correlation of the zero-padded $\partial J/\partial z$ with the "
            "flipped filter:",
            r"\frac{\partial J}{\partial x_l} = \sum_k \frac{\partial J}{\partial z_k}"
            r"\frac{\partial z_k}{\partial x_l} = \sum_{k:\ 0 \le l-k < M}\delta_k\,w_{l-k}"
            r" = (\delta * w)_l\quad(\text{full convolution})",
        ),
        Step(
            "Which operation: ∂J/∂w is a cross-correlation (of the input with ∂J/∂z), ∂J/∂x a "
            "full convolution (of ∂J/∂z with the filter). Backpropagation through a "
            "convolutional layer is itself a convolution.",
        ),
        Step(
            r"With a nonlinear activation $\sigma$ (the layers of 4.1.1), $a_k = \sigma(z_k)$ and "
            r"$J = \frac1K \sum_k (y_k - a_k)^2$, so $\delta_k$ picks up $\sigma'(z_k)$. With a "
            r"stride $s$, $z_k = \sum_m w_m x_{sk+m} + b$ and $K = \lfloor (L - M)/s \rfloor + 1$; "
            r"both gradients keep their form with $\delta$ dilated, $s - 1$ zeros between its "
            "entries:",
            r"\delta_k = \frac2K (a_k - y_k)\,\sigma'(z_k),\quad"
            r" \frac{\partial J}{\partial w_m} = \sum_{k}\delta_k\,x_{sk+m}"
            r" = \big(x \star \delta^{\uparrow s}\big)_m,\quad"
            r" \frac{\partial J}{\partial x_l} = \sum_t \delta^{\uparrow s}_t\,w_{l-t}"
            r" = \big(\delta^{\uparrow s} * w\big)_l,\quad \delta^{\uparrow s}_{sk} = \delta_k",
        ),
        Step(
            "Written out by SymPy for $L = 6$, $M = 3$, $s = 2$ ($K = 2$): each $x_l$ collects "
            "the filter taps that touched it.",
            *explicit,
        ),
        Step(
            "One filter on two channels: every channel has its own filter slice, so "
            r"$\partial J/\partial w_{c,m} = \sum_k \delta_k x_{c,sk+m}$ and "
            r"$\partial J/\partial x_{c,l} = (\delta^{\uparrow s} * w_{c,\cdot})_l$. Two filters "
            "on one channel, with $J$ summed over both output channels: each filter gets "
            r"$\partial J/\partial w^{(f)} = x \star \delta^{(f)\uparrow s}$, and the input "
            "collects both contributions:",
            r"\frac{\partial J}{\partial w_{c,m}} = \sum_k \delta_k\,x_{c,\,sk+m},\qquad"
            r" \frac{\partial J}{\partial x_l} = \sum_{f=1}^{2}"
            r"\big(\delta^{(f)\uparrow s} * w^{(f)}\big)_l",
        ),
    ]


def _read_layer_1d(v: dict, notes: list[str]) -> dict:
    return _conv_read("conv1d", v, True, notes)


def _read_layer_2d(v: dict, notes: list[str]) -> dict:
    return _conv_read("conv2d", v, False, notes)


def _delta(index: str) -> Formula:
    """δ = ∂J/∂z of the sheet's linear layer at output ``index`` (K outputs in all)."""
    z, y = f"z_{index}", f"y_{index}"
    return Formula(f"delta_{index}", f"2/K*({z} - {y})", f"δ_{index} = ∂J/∂{z} of the linear "
                   "layer, J = (1/K) Σ (y − z)² over its K outputs", (z, y, "K"),
                   ranges=(("K", 1.0, 9.0),),
                   slips=(("mean_k", f"2*({z} - {y})", "the 1/K of the mean was dropped"),
                          ("half", f"({z} - {y})/K", "the 2 from the square was dropped")))


@topic("conv1d", "1-D convolution layer: ∂J/∂w is a cross-correlation, ∂J/∂x a full convolution",
       options=_CONV_OPTIONS, read=_read_layer_1d, formulas=(_delta("k"),),
       values=functools.partial(graded.conv_layer, one_d=True))
def conv1d(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic, explicit = _conv1d_symbolic()
    d = Derivation(
        "conv1d",
        "Gradients of a 1-D convolutional layer",
        _conv1d_steps(explicit),
        list(symbolic),
    )
    if v:
        _conv_with_values(d, v, one_d=True)
        return d
    errs = []
    torch = torch_module()
    for s, P in ((1, (points + 1) // 2), (2, points // 2)):  # strides alternate over the points
        if P == 0:
            continue
        K = (9 - 3) // s + 1
        for C, act in ((1, "linear"), (1, "sigmoid"), (2, "sigmoid")):
            x = rng.normal(size=(P, C, 9))
            w = rng.normal(size=(P, C, 3))
            b = rng.normal(size=P)
            y = rng.uniform(size=(P, K))
            ref = _conv_batch_autograd(x, w, b, y, s, act)
            for p in range(P):
                f_ = _conv1d_formula(x[p], w[p], b[p], y[p], s, act)
                errs.append(max(max_error(f_[0], ref[0][p]), max_error(f_[1], ref[1][p]),
                                max_error(f_[2], ref[2][p])))
        # two filters on one channel, J summed over both output channels
        x = rng.normal(size=(P, 1, 9))
        ws = rng.normal(size=(P, 2, 1, 3))  # (P, F, C, M)
        bs = rng.normal(size=(P, 2))
        ys = rng.uniform(size=(P, 2, K))
        xt = tensor(x, True)
        win = xt.unfold(2, 3, s)  # (P, 1, K, M)
        z = (win[:, None] * tensor(ws)[:, :, :, None, :]).sum(dim=(2, 4)) + tensor(bs)[..., None]
        (((tensor(ys) - torch.sigmoid(z)) ** 2).mean(dim=2).sum()).backward()  # z (P, F, K)
        x_ref = xt.grad.numpy()
        for p in range(P):
            dx = sum(_conv1d_formula(x[p], ws[p, f], bs[p, f], ys[p, f], s)[2] for f in range(2))
            errs.append(max_error(dx, x_ref[p]))
    d.check = check_result(
        [
            (
                "dJ/dw, dJ/db, dJ/dx vs torch.autograd of the sliding-window sum (linear and "
                "sigmoid; s = 1, 2; one and two channels; two filters)",
                max(errs),
                1e-12,
            )
        ],
        points,
        "torch.autograd",
    )
    return d


def _conv2d_formula(x, w, b, y, s, act: str = "sigmoid"):
    from scipy.signal import convolve2d, correlate2d

    C, H, W = x.shape
    _, kh, kw = w.shape
    Ho, Wo = (H - kh) // s + 1, (W - kw) // s + 1
    z = np.array(
        [
            [np.sum(w * x[:, s * i : s * i + kh, s * j : s * j + kw]) + b for j in range(Wo)]
            for i in range(Ho)
        ]
    )  # (H', W')
    a, da = _act_float(act, z)
    delta = 2.0 / (Ho * Wo) * (a - y) * da
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


@functools.cache
def _conv2d_symbolic() -> tuple[str, ...]:
    sp, _, act, sigp, _, _ = sympy_env()
    H = W = 3
    kh = kw = 2
    x = [[sp.Symbol(f"x{p}{q}") for q in range(W)] for p in range(H)]
    w = [[sp.Symbol(f"w{m}{n}") for n in range(kw)] for m in range(kh)]
    b = sp.Symbol("b")
    Ho, Wo = H - kh + 1, W - kw + 1
    z = [
        [
            sum(w[m][n] * x[i + m][j + n] for m in range(kh) for n in range(kw)) + b
            for j in range(Wo)
        ]
        for i in range(Ho)
    ]
    yt = [[sp.Symbol(f"y{i}{j}") for j in range(Wo)] for i in range(Ho)]
    J = sum((yt[i][j] - act(z[i][j])) ** 2 for i in range(Ho) for j in range(Wo)) / (Ho * Wo)
    delta = [
        [sp.Rational(2, Ho * Wo) * (act(z[i][j]) - yt[i][j]) * sigp(z[i][j]) for j in range(Wo)]
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
    return tuple(
        verify(
            [
                matrix_zero(
                    "dJ/dw_(m,n) = sum_ij delta_ij x_(i+m, j+n) (3x3 input, 2x2 filter)",
                    sp.Matrix(dw),
                ),
                matrix_zero(
                    "dJ/dx_(p,q) = sum_ij delta_ij w_(p-i, q-j) (full convolution)", sp.Matrix(dx)
                ),
            ]
        )
    )


@topic("conv2d", "the 2-D relation for one filter and its gradients", options=_CONV_OPTIONS,
       read=_read_layer_2d, formulas=(_delta("ij"),),
       values=functools.partial(graded.conv_layer, one_d=False))
def conv2d(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _conv2d_symbolic()
    steps = [
        Step(
            r"One filter $w \in \mathbb{R}^{C\times k_h\times k_w}$ with bias $b$ and stride $s$ "
            r"on an input $x \in \mathbb{R}^{C\times H\times W}$ gives one output channel $z$ of "
            r"size $H'\times W'$ with $H' = \lfloor (H - k_h)/s \rfloor + 1$, "
            r"$W' = \lfloor (W - k_w)/s \rfloor + 1$ (the sheet's 2-D layer; $a = \sigma(z)$, or "
            "$a = z$ when linear):",
            r"a_{ij} = \sigma(z_{ij}),\quad z_{ij} = \sum_{c=1}^{C}\sum_{m=0}^{k_h-1}"
            r"\sum_{n=0}^{k_w-1} w_{c,m,n}\,x_{c,\,si+m,\,sj+n} + b",
        ),
        Step(
            r"With targets $y$ and the cost $J = \frac{1}{H'W'} \sum_{ij} (y_{ij} - a_{ij})^2$, the "
            "derivative with respect to output $(i, j)$ is:",
            r"\delta_{ij} = \frac{\partial J}{\partial z_{ij}} = \frac{2}{H'W'}(a_{ij} - y_{ij})"
            r"\,\sigma'(z_{ij})",
        ),
        Step(
            r"Weight gradient: a cross-correlation of each input channel with $\delta$ (dilated "
            "by $s$):",
            r"\frac{\partial J}{\partial w_{c,m,n}} = \sum_{i,j}\delta_{ij}\,x_{c,\,si+m,\,sj+n}"
            r" = \big(x_c \star \delta^{\uparrow s}\big)_{mn},\qquad"
            r" \frac{\partial J}{\partial b} = \sum_{i,j}\delta_{ij}",
        ),
        Step(
            r"Input gradient: a full convolution of the dilated $\delta$ with each filter slice "
            r"(the zero-padded $\delta$ correlated with the filter rotated by 180°):",
            r"\frac{\partial J}{\partial x_{c,p,q}} = \sum_{i,j}\delta_{ij}\,w_{c,\,p-si,\,q-sj}"
            r" = \big(\delta^{\uparrow s} * w_c\big)_{pq}\quad(\text{full convolution})",
        ),
    ]
    d = Derivation(
        "conv2d", "Gradients of a 2-D convolution with one filter", steps, list(symbolic)
    )
    if v:
        _conv_with_values(d, v, one_d=False)
        return d
    errs = []
    for s, P in ((1, (points + 1) // 2), (2, points // 2)):  # strides alternate over the points
        if P == 0:
            continue
        x_ = rng.normal(size=(P, 2, 6, 7))
        w_ = rng.normal(size=(P, 2, 3, 3))
        b_ = rng.normal(size=P)
        y_ = rng.uniform(size=(P, (6 - 3) // s + 1, (7 - 3) // s + 1))
        ref = _conv_batch_autograd(x_, w_, b_, y_, s, "sigmoid")
        for p in range(P):
            f_ = _conv2d_formula(x_[p], w_[p], b_[p], y_[p], s)
            errs.append(max(max_error(f_[0], ref[0][p]), max_error(f_[1], ref[1][p]),
                            max_error(f_[2], ref[2][p])))
    d.check = check_result(
        [("dJ/dw, dJ/db, dJ/dx vs torch.autograd of the sliding-window sum (s = 1, 2; 2 "
          "channels)", max(errs), 1e-12)],
        points,
        "torch.autograd",
    )
    return d


# --- a user's layer, in exact arithmetic where the activation is linear


def _conv_exact(x, w, b, y, s: int, act: str, exact: bool = True):
    """Forward and backward of one filter, in exact rationals for the linear activation.

    x (C, H, W), w (C, KH, KW) nested numbers, y (H', W') or None. Returns z, a, J,
    δ = ∂J/∂z (H', W'), ∂J/∂w (C, KH, KW), ∂J/∂b, ∂J/∂x (C, H, W); the gradients are None
    without y. Exact (int/Fraction) when ``act`` is linear and ``exact``, else float64
    (an overflow gives ±inf, which the caller refuses).
    """
    exact = exact and act == "linear"
    if not exact:
        x, w, b = float_array(x).tolist(), float_array(w).tolist(), to_float(b)
        y = None if y is None else float_array(y).tolist()
    C, H, W = len(x), len(x[0]), len(x[0][0])
    KH, KW = len(w[0]), len(w[0][0])
    Ho, Wo = (H - KH) // s + 1, (W - KW) // s + 1
    K = Ho * Wo
    taps = [(c, m, n) for c in range(C) for m in range(KH) for n in range(KW)]
    zero = 0 if exact else 0.0
    z = [[normalize(sum((w[c][m][n] * x[c][s * i + m][s * j + n] for c, m, n in taps), zero)
                    + b) for j in range(Wo)] for i in range(Ho)]
    if exact:
        a, da = z, [[1] * Wo for _ in range(Ho)]
    else:
        with np.errstate(all="ignore"):
            af, daf = _act_float(act, np.array(z, dtype=np.float64))
        a, da = af.tolist(), daf.tolist()
    if y is None:
        return z, a, None, None, None, None, None
    two_k = Fraction(2, K) if exact else 2.0 / K
    res = [[a[i][j] - y[i][j] for j in range(Wo)] for i in range(Ho)]  # a − y
    # r * r, not r ** 2: a float power raises on overflow where a product gives inf
    J = sum((r * r for row in res for r in row), zero)
    J = normalize(Fraction(J) / K) if exact else J / K  # int / int would be a float
    delta = [[normalize(two_k * res[i][j] * da[i][j]) for j in range(Wo)] for i in range(Ho)]
    dw = [[[zero] * KW for _ in range(KH)] for _ in range(C)]
    dx = [[[zero] * W for _ in range(H)] for _ in range(C)]
    for i in range(Ho):
        for j in range(Wo):
            dij = delta[i][j]
            if not dij:
                continue
            for c, m, n in taps:
                dw[c][m][n] += dij * x[c][s * i + m][s * j + n]
                dx[c][s * i + m][s * j + n] += dij * w[c][m][n]
    db = normalize(sum((v_ for row in delta for v_ in row), zero))
    if exact:
        dw = [[[normalize(v_) for v_ in r] for r in ch] for ch in dw]
        dx = [[[normalize(v_) for v_ in r] for r in ch] for ch in dx]
    return z, a, J, delta, dw, db, dx


def _index(one_d: bool, C: int, *ix) -> str:
    """Subscripts: (l) or (c,l) for 1-D, (p,q) or (c,p,q) for 2-D; ix = (c, p, q)."""
    c, p, q = ix
    if one_d:
        return f"{c},{q}" if C > 1 else f"{q}"
    return f"{c},{p},{q}" if C > 1 else f"{p},{q}"


def _conv_read(topic: str, v: dict, one_d: bool, notes: list[str]) -> dict:
    """Read and validate a user's layer and compute it (cheap), before any derivation work."""
    if "x" not in v or "w" not in v:
        raise ConfigError(f"{topic} with values needs --x (input) and --w (filter); --b, --y, "
                          "--stride and --activation are optional")
    x = read_channels(v["x"], what="--x", notes=notes)  # (C, H, W)
    w = read_channels(v["w"], what="--w", notes=notes)
    if one_d:  # rows are channels: (C, L) -> (C, 1, L)
        if len(x) != 1 or len(w) != 1:
            raise DataError("conv1d: give channels as rows (\"1 2 3; 4 5 6\"), not with '|'")
        x, w = [[row] for row in x[0]], [[row] for row in w[0]]
    C, H, W = len(x), len(x[0]), len(x[0][0])
    if len(w) != C:
        raise DataError(f"--w has {len(w)} channel(s) but --x has {C}; the filter needs one "
                        "slice per input channel")
    KH, KW = len(w[0]), len(w[0][0])
    if KH > H or KW > W:
        size = f"{KW}" if one_d else f"{KH}×{KW}"
        raise DataError(f"the filter ({size}) is larger than the input "
                        f"({W if one_d else f'{H}×{W}'}); a valid layer needs it to fit")
    s = positive_int(v.get("stride", 1), name="--stride")
    check_limit(s, MAX_WINDOW, what="--stride")
    act = one_of(v.get("activation", "linear"), "--activation", _ACTIVATIONS)
    b = read_scalar(v["b"], what="--b") if "b" in v else 0
    Ho, Wo = (H - KH) // s + 1, (W - KW) // s + 1
    check_limit(C * Ho * Wo * KH * KW, _MAX_PRODUCTS, what="the layer's multiply-adds")
    y = None
    if "y" in v:
        if one_d:
            yv = read_vector(v["y"], what="--y", notes=notes)
            if len(yv) != Wo:
                raise DataError(f"--y has {len(yv)} values but the layer has K = {Wo} outputs; "
                                "give one target per output")
            y = [yv]
        else:
            y = read_matrix(v["y"], what="--y", notes=notes)
            if (len(y), len(y[0])) != (Ho, Wo):
                raise DataError(f"--y is {len(y)}×{len(y[0])} but the output is {Ho}×{Wo}; "
                                "give one target per output")
    exact = all_exact(x) and all_exact(w) and is_exact(b) and (y is None or all_exact(y))
    if act == "linear" and not exact:
        notes.append("Some values have more digits than exact arithmetic keeps printable "
                       f"({MAX_EXACT_DIGITS}); this layer is computed in float64.")
    z, a, J, delta, dw, db, dx = _conv_exact(x, w, b, y, s, act, exact)
    # every number must also exist in float64 for the second route
    zf = float_array(z)
    flo = [zf] + ([float_array(J), float_array(delta), float_array(dw), float_array(dx), float_array(db)] if y else [])
    if not all(np.all(np.isfinite(q)) for q in flo):
        raise DataError("the layer's numbers overflow float64 (too large for the check); "
                        "rescale --x, --w or --y")
    return dict(x=x, w=w, b=b, y=y, s=s, act=act, exact=exact, z=z, a=a, J=J, delta=delta,
                dw=dw, db=db, dx=dx, zf=zf, C=C, H=H, W=W, KH=KH, KW=KW, Ho=Ho, Wo=Wo)


def _layer_steps(r: dict, one_d: bool) -> list[Step]:
    """The user's layer written out: its outputs, and the cost and gradients (or, without
    targets, the gradients as sums over the deltas)."""
    x, w, b, y, s, act = (r[k] for k in ("x", "w", "b", "y", "s", "act"))
    z, a, J, delta, dw, db, dx = (r[k] for k in ("z", "a", "J", "delta", "dw", "db", "dx"))
    C, H, W, KH, KW, Ho, Wo = (r[k] for k in ("C", "H", "W", "KH", "KW", "Ho", "Wo"))
    sub = functools.partial(_index, one_d, C)
    outs = [(i, j) for i in range(Ho) for j in range(Wo)]
    taps = [(c, m, n) for c in range(C) for m in range(KH) for n in range(KW)][:6]

    def out_ix(i, j):
        return f"{j}" if one_d else f"{i},{j}"

    def array(name: str, t, relation: str = "=") -> list[str]:  # (C, H, W) or one (H, W)
        if isinstance(t[0][0], list):  # channels
            return [e for c, ch in enumerate(t)
                    for e in array(f"{name}_{{c={c}}}" if len(t) > 1 else name, ch, relation)]
        return ([f"{name} {relation} {vec_latex(t[0])}"] if one_d
                else mat_equations(name, t, relation))

    shown = outs[:6]
    lat = []
    for i, j in shown:
        pairs = [(w[c][m][n], x[c][s * i + m][s * j + n]) for c in range(C) for m in range(KH)
                 for n in range(KW)]
        bias_l = f" + {paren(num_latex(b))}" if b != 0 else ""
        lat.append(rf"z_{{{out_ix(i, j)}}} = {products_latex(pairs[:9])}"
                   + (r" + \dots" if len(pairs) > 9 else "") + rf"{bias_l} = {num_latex(z[i][j])}")
    dims = (f"$L = {W}$, $M = {KW}$" if one_d else f"{H}×{W} input, {KH}×{KW} filter") + (
        f", {C} channels" if C > 1 else "")
    steps = [
        Step(
            f"With your layer ({dims}, stride {s}, $b = {num_latex(b)}$, activation {act}): "
            f"{'$K$' if one_d else '$H′×W′$'} = {Wo if one_d else f'{Ho}×{Wo}'} output(s)"
            + (f"; the first {len(shown)} written out" if len(outs) > len(shown) else "") + ":",
            *lat,
        ),
        Step("The output:", *array("z", z)),
    ]
    if act != "linear":
        steps.append(Step(f"After the activation, $a = \\mathrm{{{act}}}(z)$:",
                          *array("a", a, r"\approx")))
    if y is None:  # the gradients as sums over δ_k = ∂J/∂z_k, with the user's numbers
        nm = "k" if one_d else "i,j"
        lw = [rf"\frac{{\partial J}}{{\partial w_{{{sub(c, m, n)}}}}} = "
              + " + ".join(rf"{paren(num_latex(x[c][s * i + m][s * j + n]))}\cdot "
                           rf"\delta_{{{out_ix(i, j)}}}" for i, j in outs[:8])
              + (r" + \dots" if len(outs) > 8 else "") for c, m, n in taps]
        return steps + [Step(
            "Without targets (--y), the gradients with your numbers as sums over "
            rf"$\delta_{{{nm}}} = \partial J/\partial z_{{{nm}}}$ (for the sheet's $J$, "
            r"$\delta = \frac2K(z - y)$); $\partial J/\partial w$ is the cross-correlation "
            r"of $x$ with $\delta$, $\partial J/\partial x$ the full convolution of $\delta$ "
            "with $w$:",
            *lw,
        )]
    deriv = r"\frac{2}{K}(z - y)" if act == "linear" else rf"\frac{{2}}{{K}}(a - y)\,{act}'(z)"
    lw = []
    for c, m, n in taps:
        pairs = [(delta[i][j], x[c][s * i + m][s * j + n]) for i, j in outs]
        lw.append(rf"\frac{{\partial J}}{{\partial w_{{{sub(c, m, n)}}}}} = "
                  f"{products_latex(pairs[:8])}" + (r" + \dots" if len(pairs) > 8 else "")
                  + f" = {num_latex(dw[c][m][n])}")
    return steps + [
        Step(
            r"Targets $y$, the cost $J = \frac1K \sum (y - a)^2$ with "
            rf"$K = {Ho * Wo}$, and $\partial J/\partial z$:",
            *array("y", y), f"J = {num_latex(J)}",
            rf"\delta = \frac{{\partial J}}{{\partial z}} = {deriv}", *array(r"\delta", delta),
        ),
        Step(
            r"Weight gradient $\partial J/\partial w_m = \sum_k \delta_k x_{sk+m}$: the valid "
            r"cross-correlation of the input with $\partial J/\partial z$"
            + (" (dilated by the stride)" if s > 1 else "") + ":",
            *lw, *array(r"\frac{\partial J}{\partial w}", dw),
            rf"\frac{{\partial J}}{{\partial b}} = \sum \delta = {num_latex(db)}",
        ),
        Step(
            r"Input gradient $\partial J/\partial x_l = \sum_k \delta_k w_{l-sk}$: the full "
            r"convolution of $\partial J/\partial z$ with the filter:",
            *array(r"\frac{\partial J}{\partial x}", dx),
        ),
    ]


def _layer_routes(r: dict, one_d: bool) -> list[tuple[str, float, float]]:
    """The layer computed a second way: z by torch's conv1d/conv2d, and with targets the
    gradients by torch.autograd and by SciPy's correlate2d/convolve2d (quantity, error, tol)."""
    from scipy.signal import convolve2d, correlate2d

    x, w, b, y, s, act = (r[k] for k in ("x", "w", "b", "y", "s", "act"))
    C, KH, KW, Ho, Wo = (r[k] for k in ("C", "KH", "KW", "Ho", "Wo"))
    torch = torch_module()
    xf, wf = float_array(x), float_array(w)
    xt = tensor(xf[:, 0] if one_d else xf, True)  # (C, L) or (C, H, W)
    wt = tensor(wf[:, 0] if one_d else wf, True)
    bt = tensor([to_float(b)], True)
    conv = torch.nn.functional.conv1d if one_d else torch.nn.functional.conv2d
    zt = conv(xt[None], wt[None], bt, stride=s)[0, 0]
    at = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.get(act, lambda u: u)(zt)
    xmax, wmax = float(np.max(np.abs(xf))), float(np.max(np.abs(wf)))
    z_tol = 1e-12 * (1 + C * KH * KW * xmax * wmax + abs(to_float(b)))
    z_ref = zt.detach().numpy().reshape(Ho, Wo)
    details = [(f"z vs torch {'conv1d' if one_d else 'conv2d'}", max_error(r["zf"], z_ref),
                z_tol)]
    if y is None:
        return details
    ((tensor(float_array(y)).reshape(at.shape) - at) ** 2).mean().backward()
    dwf, dxf, df = float_array(r["dw"]), float_array(r["dx"]), float_array(r["delta"])
    dmax = float(np.max(np.abs(df)))
    tw_tol = 1e-12 * (1 + Ho * Wo * dmax * xmax)
    tx_tol = 1e-12 * (1 + KH * KW * dmax * wmax)
    up = np.zeros((s * (Ho - 1) + 1, s * (Wo - 1) + 1))
    up[::s, ::s] = df  # δ dilated by the stride
    sc_w = np.stack([correlate2d(xf[c, : up.shape[0] + KH - 1, : up.shape[1] + KW - 1], up,
                                 mode="valid") for c in range(C)])
    sc_x = np.zeros_like(xf)
    for c in range(C):
        full = convolve2d(up, wf[c], mode="full")
        sc_x[c, : full.shape[0], : full.shape[1]] = full
    return details + [
        ("∂J/∂w vs torch.autograd", max_error(dwf, wt.grad.numpy().reshape(dwf.shape)), tw_tol),
        ("∂J/∂b vs torch.autograd", max_error(to_float(r["db"]), float(bt.grad[0])),
         1e-12 * (1 + Ho * Wo * dmax)),
        ("∂J/∂x vs torch.autograd", max_error(dxf, xt.grad.numpy().reshape(dxf.shape)), tx_tol),
        ("∂J/∂w vs scipy.signal.correlate2d(x, ∂J/∂z, 'valid')", max_error(dwf, sc_w), tw_tol),
        ("∂J/∂x vs scipy.signal.convolve2d(∂J/∂z, w, 'full')", max_error(dxf, sc_x), tx_tol),
    ]


def _conv_with_values(d: Derivation, r: dict, *, one_d: bool) -> None:
    """The user's layer (``r``, read and computed by :func:`_conv_read`): forward, cost and
    gradients with the numbers, checked two ways."""
    z, a, J, delta, dw, db, dx = (r[k] for k in ("z", "a", "J", "delta", "dw", "db", "dx"))
    d.steps += _layer_steps(r, one_d)
    details = _layer_routes(r, one_d)
    d.inputs = _conv_inputs(r["x"], r["w"], r["b"], r["y"], r["s"], r["act"], one_d)
    zf, af = r["zf"], float_array(a)
    if r["y"] is None:
        d.check = check_at_values(details, "torch")
        d.output = zf[0] if one_d else zf  # (K,) or (H', W')
        d.values = {"z": d.output, "a": af[0] if one_d else af}
        return
    d.check = check_at_values(details, "torch.autograd + scipy.signal")
    scipy_ok = all(e <= tol for q, e, tol in details if "vs scipy" in q)
    d.steps.append(
        Step(
            r"So, with your numbers: $\partial J/\partial w$ is a cross-correlation "
            r"($x \star \partial J/\partial z$) and $\partial J/\partial x$ a full convolution "
            r"($\partial J/\partial z * w$); "
            + ("SciPy's correlate2d and convolve2d, applied to them, give the same numbers."
               if scipy_ok else
               "SciPy's correlate2d and convolve2d, applied to them, do NOT give the same "
               "numbers (see the check).")
        )
    )
    dwf, dxf, df = float_array(dw), float_array(dx), float_array(delta)
    d.output = dwf[:, 0] if one_d else dwf  # (C, M) or (C, KH, KW)
    d.values = {
        "z": zf[0] if one_d else zf,
        "a": af[0] if one_d else af,
        "J": np.float64(to_float(J)),
        "dJ_dz": df[0] if one_d else df,
        "dJ_dw": d.output,
        "dJ_db": np.float64(to_float(db)),
        "dJ_dx": dxf[:, 0] if one_d else dxf,
    }
    if r["act"] == "linear" and r["exact"]:
        sq = (lambda t: [ch[0] for ch in t]) if one_d else (lambda t: t)
        d.exact = {
            k: val for k, val in {
                "z": exact_json(z[0] if one_d else z),
                "J": exact_json(J),
                "dJ_dz": exact_json(delta[0] if one_d else delta),
                "dJ_dw": exact_json(sq(dw)),
                "dJ_db": exact_json(db),
                "dJ_dx": exact_json(sq(dx)),
            }.items() if val is not None
        }


def _conv_inputs(x, w, b, y, s, act, one_d: bool) -> dict:
    sq = (lambda t: [ch[0] for ch in t]) if one_d else (lambda t: t)
    doc = {"x": exact_json(sq(x)), "w": exact_json(sq(w)), "b": exact_json(b), "stride": s,
           "activation": act}
    if y is not None:
        doc["y"] = exact_json(y[0] if one_d else y)
    return doc
