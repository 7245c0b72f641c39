"""Fully connected networks: the update rules, the linear case, and a neuron with its own activation."""

from __future__ import annotations

import functools

import numpy as np

from stridelab.worked.derive.answer import Derivation, Step
from stridelab.worked.derive.formulas import Formula
from stridelab.worked.derive.numeric import (
    batched_matvec,
    check_result,
    max_error,
    sigmoid,
    tensor,
    torch_module,
)
from stridelab.worked.derive.registry import topic
from stridelab.worked.derive.symbolic import matrix_zero, sympy_env, verify

# ---------------------------------------------------------------- fully connected networks


@functools.cache
def _mlp_symbolic(f_hidden: int | None = None, f_output: int | None = None):
    """2-2-2 network: sigmoid everywhere except hidden/output neuron index with activation f."""
    sp, sig, _, _, f, fp = sympy_env()
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
    """Formula gradients of E = 1/2 ||y_hat - y||^2 vs torch autograd; f = tanh where chosen.

    All points form one batch (P, ...); the networks are independent, so one backward pass of
    the summed loss gives every network's own gradients.
    """
    torch = torch_module()
    n0, n1, n2 = sizes
    P = points
    x, y = rng.normal(size=(P, n0)), rng.uniform(size=(P, n2))
    W1, b1 = rng.normal(size=(P, n1, n0)), rng.normal(size=(P, n1))
    W2, b2 = rng.normal(size=(P, n2, n1)), rng.normal(size=(P, n2))

    def fwd(z, which, lib):
        if activation == "linear":
            return z
        a = lib.sigmoid(z) if lib is torch else sigmoid(z)
        if which is None:
            return a
        mask = np.zeros(z.shape[-1], dtype=bool)
        mask[which] = True
        fz = lib.tanh(z)
        return lib.where(tensor(mask) > 0, fz, a) if lib is torch else np.where(mask, fz, a)

    def dact(z, a, which):
        if activation == "linear":
            return np.ones_like(z)
        d = a * (1 - a)
        if which is not None:
            d[:, which] = 1 - np.tanh(z[:, which]) ** 2  # f = tanh: f' = 1 - f^2
        return d

    z1 = np.einsum("pij,pj->pi", W1, x) + b1  # (P, n1)
    h = fwd(z1, f_hidden, np)
    z2 = np.einsum("pij,pj->pi", W2, h) + b2  # (P, n2)
    yh = fwd(z2, f_output, np)
    d2 = (yh - y) * dact(z2, yh, f_output)
    d1 = np.einsum("pji,pj->pi", W2, d2) * dact(z1, h, f_hidden)
    formula = [np.einsum("pi,pj->pij", d1, x), d1, np.einsum("pi,pj->pij", d2, h), d2]

    ts = [tensor(v, True) for v in (W1, b1, W2, b2)]
    ht = fwd(batched_matvec(ts[0], tensor(x)) + ts[1], f_hidden, torch)
    yt = fwd(batched_matvec(ts[2], ht) + ts[3], f_output, torch)
    (((yt - tensor(y)) ** 2).sum() / 2).backward()
    return max(max_error(f_, t.grad.numpy()) for f_, t in zip(formula, ts))


# the sheet's names: w_kj from hidden unit j to output k, v_ji from input i to hidden unit j
_DELTA2 = "(y_hat_k - y_k)*y_hat_k*(1 - y_hat_k)"
_SIGN = "the sign of the step: + η·δ·input instead of − η·δ·input"
_RATE = "the learning rate η is missing"
_MLP_FORMULAS = (
    Formula("delta2_k", _DELTA2, "the output unit's error term δ⁽²⁾_k = ∂E/∂z⁽²⁾_k",
            ("y_hat_k", "y_k"),
            slips=(("fprime_out", "y_hat_k - y_k", "σ′ = ŷ_k(1 − ŷ_k) was left out of the "
                    "output δ"),)),
    Formula("w_kj_new", f"w_kj - eta*{_DELTA2}*h_j", "the updated weight w_kj from hidden "
            "unit j to output k (h_0 = 1 for the bias)",
            ("w_kj", "eta", "y_hat_k", "y_k", "h_j", "delta2_k"), where=(("delta2_k", _DELTA2),),
            slips=(("sign", "w_kj + eta*delta2_k*h_j", _SIGN),
                   ("lr", "w_kj - delta2_k*h_j", _RATE),
                   ("fprime_out", "w_kj - eta*(y_hat_k - y_k)*h_j", "σ′ = ŷ_k(1 − ŷ_k) was "
                    "left out of the output δ"))),
    Formula("delta1_j", "h_j*(1 - h_j)*(w_1j*delta2_1 + w_2j*delta2_2)", "the hidden unit's "
            "error term δ⁽¹⁾_j, sent back through the weights w_kj of the two outputs",
            ("h_j", "w_1j", "w_2j", "w_j1", "w_j2", "delta2_1", "delta2_2"),
            slips=(("fprime_hidden", "w_1j*delta2_1 + w_2j*delta2_2", "σ′ = h_j(1 − h_j) was "
                    "left out of the hidden δ"),
                   ("transposed", "h_j*(1 - h_j)*(w_j1*delta2_1 + w_j2*delta2_2)", "the weights "
                    "were taken by the wrong index, w_jk for w_kj: W instead of Wᵀ"))),
    Formula("v_ji_new", "v_ji - eta*delta1_j*x_i", "the updated weight v_ji from input i to "
            "hidden unit j (x_0 = 1 for the bias)", ("v_ji", "eta", "delta1_j", "x_i"),
            slips=(("sign", "v_ji + eta*delta1_j*x_i", _SIGN),
                   ("lr", "v_ji - delta1_j*x_i", _RATE))),
)
# linear-backprop in the sheet's (Nielsen's) symbols: vectors are columns; all sizes n so
# that a matrix taken the wrong way round still multiplies, and the slip can be named
_LINEAR = (("a_L", "n", 1), ("y", "n", 1), ("W_next", "n", "n"), ("delta_next", "n", 1),
           ("delta", "n", 1), ("a_prev", "n", 1))
_LINEAR_FORMULAS = (
    Formula("delta_L", "a_L - y", "the output error δ^L for C = ½‖a^L − y‖² and σ(z) = z",
            ("a_L", "y"), matrices=_LINEAR, dims=(("n", 3),)),
    Formula("delta_l", "W_next^T delta_next", "the error δ^l of a hidden layer, from "
            "δ^{l+1} (delta_next) and the weights W^{l+1} (W_next)", ("W_next", "delta_next"),
            matrices=_LINEAR, dims=(("n", 3),),
            slips=(("transposed", "W_next delta_next", "W^{l+1} was not transposed"),)),
    Formula("dC_dW", "delta a_prev^T", "∂C/∂W^l from δ^l (delta) and the layer's input "
            "a^{l−1} (a_prev)", ("delta", "a_prev"), matrices=_LINEAR, dims=(("n", 3),),
            slips=(("transposed", "a_prev delta^T", "the product is the wrong way round: "
                    "∂C/∂W^l = δ^l (a^{l−1})ᵀ has the shape of W^l"),)),
    Formula("dC_db", "delta", "∂C/∂b^l from δ^l (delta)", ("delta",), matrices=_LINEAR,
            dims=(("n", 3),)),
)
_NEURON_FORMULAS = (
    Formula("delta_hidden", "fprime(z_j)*(w_1j*delta_1 + w_2j*delta_2)", "the δ of hidden "
            "neuron j with activation f, sent back from the two neurons above it",
            ("z_j", "w_1j", "w_2j", "delta_1", "delta_2"), functions=("f", "fprime"),
            ranges=(("z_j", -2.0, 2.0),),
            slips=(("sigma_prime", "sigma(z_j)*(1 - sigma(z_j))*(w_1j*delta_1 + w_2j*delta_2)",
                    "σ′ = σ(1 − σ) was kept: with f the factor is f′(z_j)"),
                   ("fprime_hidden", "w_1j*delta_1 + w_2j*delta_2", "f′(z_j) was left out"))),
    Formula("delta_out", "(y_hat - y)*fprime(z)", "the δ of an output neuron with activation "
            "f, y_hat = f(z), C = ½Σ(ŷ − y)²", ("y_hat", "y", "z"), functions=("f", "fprime"),
            where=(("y_hat", "f(z)"),), ranges=(("z", -2.0, 2.0),),
            slips=(("sigma_prime", "(y_hat - y)*y_hat*(1 - y_hat)", "σ′ = ŷ(1 − ŷ) was kept: "
                    "with f the factor is f′(z)"),
                   ("fprime_out", "y_hat - y", "f′(z) was left out"))),
)


@topic("mlp-update", "update rules of a 2-layer sigmoid network with biases",
       formulas=_MLP_FORMULAS)
def mlp_update(rng: np.random.Generator, points: int) -> Derivation:
    symbolic = verify(
        [
            matrix_zero(
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
        ),
        Step(
            "Output deltas:",
            r"\delta^{(2)}_k = \frac{\partial E}{\partial z^{(2)}_k} = (\hat y_k - y_k)\,"
            r"\hat y_k(1 - \hat y_k)",
        ),
        Step(
            "Output-layer updates (weight from hidden unit j to output k):",
            r"\Delta W_{2,kj} = -\eta\,\delta^{(2)}_k\,h_j,\qquad \Delta b_{2,k} = -\eta\,"
            r"\delta^{(2)}_k",
        ),
        Step(
            "Hidden deltas, sent back through $W_2$ (the weights before this step's update):",
            r"\delta^{(1)}_j = h_j(1 - h_j)\sum_k W_{2,kj}\,\delta^{(2)}_k",
        ),
        Step(
            "Hidden-layer updates (weight from input i to hidden unit j):",
            r"\Delta W_{1,ji} = -\eta\,\delta^{(1)}_j\,x_i,\qquad \Delta b_{1,j} = -\eta\,"
            r"\delta^{(1)}_j",
        ),
        Step(
            "In matrix form (⊙ is the element-wise product):",
            r"\delta^{(2)} = (\hat y - y)\odot\hat y\odot(1 - \hat y),\quad"
            r" W_2 \leftarrow W_2 - \eta\,\delta^{(2)}h^\top,\quad"
            r" \delta^{(1)} = (W_2^\top\delta^{(2)})\odot h\odot(1 - h),\quad"
            r" W_1 \leftarrow W_1 - \eta\,\delta^{(1)}x^\top",
        ),
    ]
    check = check_result(
        [("gradients of a 4-3-2 sigmoid network vs torch.autograd", err, 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation(
        "mlp-update", "Update rules of a 2-layer sigmoid network", steps, symbolic, check
    )


@topic("linear-backprop", "backpropagation equations when σ(z) = z", formulas=_LINEAR_FORMULAS)
def linear_backprop(rng: np.random.Generator, points: int) -> Derivation:
    sp = sympy_env()[0]
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
    symbolic = verify(
        [
            matrix_zero(
                "dE/dW^(l) = delta^(l) a^(l-1)^T with delta^(l) = W^(l+1)^T "
                "delta^(l+1) (a 2-2-2-1 linear network)",
                sp.Matrix(diffs),
            ),
            matrix_zero(
                "the network equals one affine map W3 W2 W1 x + c", acts[-1] - (W_prod * x + c)
            ),
        ]
    )
    # numeric: 3-4-4-2 linear networks vs torch, all points in one batch (P, ...)
    sizes = (3, 4, 4, 2)
    Wn = [rng.normal(size=(points, sizes[l + 1], sizes[l])) for l in range(3)]
    bn = [rng.normal(size=(points, sizes[l + 1])) for l in range(3)]
    xn, yn = rng.normal(size=(points, 3)), rng.normal(size=(points, 2))
    a = [xn]
    for W, b in zip(Wn, bn):
        a.append(np.einsum("pij,pj->pi", W, a[-1]) + b)
    d = [None, None, a[-1] - yn]
    d[1] = np.einsum("pji,pj->pi", Wn[2], d[2])
    d[0] = np.einsum("pji,pj->pi", Wn[1], d[1])
    Wt = [tensor(W, True) for W in Wn]
    bt = [tensor(b, True) for b in bn]
    at = tensor(xn)
    for W, b in zip(Wt, bt):
        at = batched_matvec(W, at) + b
    (((at - tensor(yn)) ** 2).sum() / 2).backward()
    errs = [
        max(max_error(np.einsum("pi,pj->pij", d[l], a[l]), Wt[l].grad.numpy()),
            max_error(d[l], bt[l].grad.numpy()))
        for l in range(3)
    ]
    steps = [
        Step(
            "With the identity activation σ(z) = z every σ′(z) is 1, so the element-wise factors "
            "of backpropagation disappear. Network and loss:",
            r"a^{(0)} = x,\quad a^{(l)} = z^{(l)} = W^{(l)}a^{(l-1)} + b^{(l)},\quad"
            r" \hat y = a^{(L)},\quad E = \tfrac12\lVert\hat y - y\rVert^2",
        ),
        Step("Output delta:", r"\delta^{(L)} = \hat y - y"),
        Step(
            "Hidden deltas: no σ′ factor, just the transposed weights:",
            r"\delta^{(l)} = \big(W^{(l+1)}\big)^\top\delta^{(l+1)} = \big(W^{(l+1)}\big)^\top"
            r"\cdots\big(W^{(L)}\big)^\top(\hat y - y)",
        ),
        Step(
            "Gradients (unchanged in form):",
            r"\frac{\partial E}{\partial W^{(l)}} = \delta^{(l)}\big(a^{(l-1)}\big)^\top,\qquad"
            r" \frac{\partial E}{\partial b^{(l)}} = \delta^{(l)}",
        ),
        Step(
            "The whole network is one affine map: depth adds no expressive power (it cannot "
            "represent XOR), although gradient descent on the factors W⁽ˡ⁾ behaves differently "
            "from descent on their product, since every update is scaled by the other layers' "
            "weights.",
            r"\hat y = W^{(L)}\cdots W^{(1)}x + c",
        ),
    ]
    check = check_result(
        [("gradients of a 3-4-4-2 linear network vs torch.autograd", max(errs), 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation("linear-backprop", "Backpropagation with σ(z) = z", steps, symbolic, check)


@topic("neuron-f", "one neuron with a general activation f instead of σ",
       formulas=_NEURON_FORMULAS)
def neuron_f(rng: np.random.Generator, points: int) -> Derivation:
    symbolic = verify(
        [
            matrix_zero(
                "hidden neuron 1 with a general f: delta_1 = f'(z_1) sum_k w_k1 "
                "delta_k, all other gradients keep their form (2-2-2 network)",
                _mlp_symbolic(f_hidden=0),
            ),
            matrix_zero(
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
        ),
        Step(
            "Let one hidden neuron $j^*$ of layer $l$ use a general activation $f$, so "
            r"$a^{(l)}_{j^*} = f(z^{(l)}_{j^*})$. Only that neuron's own delta changes form — "
            r"$f'$ replaces $\sigma'$:",
            r"\delta^{(l)}_{j^*} = f'\big(z^{(l)}_{j^*}\big)\sum_k w^{(l+1)}_{kj^*}\,"
            r"\delta^{(l+1)}_k",
        ),
        Step(
            "Everything else keeps its form. The deltas of the layers above $l$ contain no $f'$ "
            "(they see the neuron only through its value $f(z)$ in the forward pass); the "
            r"weights leaving $j^*$ get $\delta^{(l+1)}_k f(z^{(l)}_{j^*})$; the weights entering "
            r"$j^*$ get $\delta^{(l)}_{j^*} a^{(l-1)}_i$; and the layer below receives the changed "
            "delta through its sum:",
            r"\frac{\partial E}{\partial w^{(l+1)}_{kj^*}} = \delta^{(l+1)}_k\,f\big(z^{(l)}_{j^*}"
            r"\big),\quad \frac{\partial E}{\partial w^{(l)}_{j^*i}} = \delta^{(l)}_{j^*}"
            r"\,a^{(l-1)}_i,\quad \delta^{(l-1)}_i = \sigma'\big(z^{(l-1)}_i\big)\Big("
            r"\sum_{j\ne j^*} w^{(l)}_{ji}\,\delta^{(l)}_j + w^{(l)}_{j^*i}\,\delta^{(l)}_{j^*}"
            r"\Big)",
        ),
        Step(
            "If $j^*$ is an output neuron, its delta is "
            r"$\delta^{(L)}_{j^*} = (\hat y_{j^*} - y_{j^*})\,f'(z^{(L)}_{j^*})$. Examples: "
            "$f = \\tanh$ gives $f' = 1 - f^2$; $f = \\mathrm{relu}$ gives $f' = 1$ for $z > 0$ "
            "and 0 otherwise; $f(z) = z$ gives $f' = 1$. The numeric check uses $f = \\tanh$.",
            r"\delta^{(L)}_{j^*} = (\hat y_{j^*} - y_{j^*})\,f'\big(z^{(L)}_{j^*}\big)",
        ),
    ]
    check = check_result(
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
