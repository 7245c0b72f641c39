"""A worked task in the notebook, without stridelab: its answer, and its values computed again.

The answer a solve computed is shown as Markdown (with its formulas), and for the kinds that
can be recomputed in a few plain lines a code cell computes the same numbers a second way, with
the libraries a course allows, and asserts that they agree:

- ``conv``: SciPy's ``correlate`` over the zero-padded input, then stride, bias and σ;
- ``shape``: the layers built in PyTorch (``nn.Conv2d``, ``nn.MaxPool2d`` ...) and a tensor of
  the input's size pushed through them, output sizes and parameter counts read off;
- ``backprop``: the network in PyTorch, its gradient step taken by autograd;
- ``derive`` on numbers: the 1-D conv layer's loss and gradients by autograd; ridge regression's
  minimiser by least squares on the augmented system. Symbolic derivations are shown as
  Markdown only.

Each function here returns Python source (or None when a task's form is not one it can recompute, e.g. a photo or symbolic
sizes; the Markdown answer is then shown alone).
"""

from __future__ import annotations

import pprint
import re
from fractions import Fraction
from typing import Any

from stridelab.sheets.results import WorkedResult
from stridelab.worked.values import depth as nesting_depth

__all__ = ["recompute_cell", "recompute_heading", "helper_cells"]

# one helper per notebook, defined before the first task that uses it
CONV_HELPER = '''\
import numpy as np
from scipy.signal import correlate

ACTIVATIONS = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0),
               "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh}


def conv_layer(X, W, pad, stride=1, dilation=1, bias=0.0, activation="linear", flip=False):
    """One convolution layer the plain way: X (C, *S) and one filter W (C, *K).

    pad is one (before, after) pair of zero rows/columns per spatial axis; the channels are
    summed, so the output has the spatial shape only. flip=True makes it a true convolution.
    """
    X, W = np.asarray(X, dtype=float), np.asarray(W, dtype=float)
    if flip:
        W = W[(slice(None),) + (slice(None, None, -1),) * (W.ndim - 1)]
    if dilation > 1:  # spread the filter's taps apart with zeros between them
        Wd = np.zeros(W.shape[:1] + tuple((k - 1) * dilation + 1 for k in W.shape[1:]))
        Wd[(slice(None),) + (slice(None, None, dilation),) * (W.ndim - 1)] = W
        W = Wd
    Xp = np.pad(X, [(0, 0)] + [tuple(p) for p in pad])
    z = correlate(Xp, W, mode="valid")[0]  # (1, *S') -> (*S'): the channels summed
    z = z[(slice(None, None, stride),) * z.ndim] + bias
    return ACTIVATIONS[activation](z)
'''

BACKPROP_HELPER = '''\
import numpy as np
import torch

ACT = {"linear": lambda z: z, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
       "softmax": lambda z: torch.softmax(z, 0)}
LOSS = {"sse_half": lambda a, y: 0.5 * ((a - y) ** 2).sum(),
        "mse": lambda a, y: ((a - y) ** 2).mean(),
        "cross_entropy": lambda a, y: -(y * torch.log(a)).sum(),
        "binary_cross_entropy": lambda a, y: -(y * torch.log(a) + (1 - y) * torch.log(1 - a)).sum()}


def gradient_steps(spec):
    """The spec's gradient steps by autograd; returns the weights and biases after them.

    Each layer computes a = act(W a_prev + b); "sequential" steps once per data point, "batch"
    once per pass with the gradient averaged over the points.
    """
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    params = [(t(layer["W"]).requires_grad_(),
               t(layer["b"]).requires_grad_() if layer.get("b") is not None else None,
               layer.get("activation", "linear")) for layer in spec["layers"]]
    leaves = [p for W, b, _ in params for p in (W, b) if p is not None]
    data = [(t(p["x"]), t(p["y"])) for p in spec["data"]]
    groups = [data] if spec.get("mode", "sequential") == "batch" else [[p] for p in data]
    for _ in range(spec.get("steps", 1)):
        for group in groups:
            loss = 0
            for x, y in group:
                a = x
                for W, b, act in params:
                    a = ACT[act](W @ a + (b if b is not None else 0))
                loss = loss + LOSS[spec["loss"]](a, y)
            grads = torch.autograd.grad(loss / len(group), leaves)
            with torch.no_grad():
                for p, g in zip(leaves, grads):
                    p -= spec["lr"] * g
    return [(W.detach().numpy(), None if b is None else b.detach().numpy())
            for W, b, _ in params]
'''

SHAPE_HELPER = '''\
import torch
from torch import nn
'''


def _py(value: Any) -> str:
    return pprint.pformat(value, width=88, sort_dicts=False, compact=True)


def helper_cells(kinds: set[str]) -> list[str]:
    """The helper cells the notebook's worked tasks need, for the commands in ``kinds``."""
    return [src for kind, src in (("conv", CONV_HELPER), ("shape", SHAPE_HELPER),
                                  ("backprop", BACKPROP_HELPER)) if kind in kinds]


def _conv(result: WorkedResult) -> str | None:
    data, args = result.data, result.args
    if "results" not in data or getattr(args, "image", None) or data.get("ndim") not in (1, 2):
        return None
    X = data["input"]
    depth = nesting_depth(X)
    ndim = data["ndim"]
    if depth == ndim:
        channels = False
    elif depth == ndim + 1 and getattr(args, "channels_first", False):
        channels = True
    else:
        return None
    lines = [f"X = np.array({_py(X)})" + ("" if channels else "[None]  # one channel: (1, *S)")]
    opts = []
    if data.get("stride", 1) != 1:
        opts.append(f"stride={data['stride']}")
    if data.get("dilation", 1) != 1:
        opts.append(f"dilation={data['dilation']}")
    if data.get("activation", "linear") != "linear":
        opts.append(f"activation={data['activation']!r}")
    if data.get("mode") == "convolve":
        opts.append("flip=True")
    for i, r in enumerate(data["results"]):
        if nesting_depth(r.get("weights")) != depth or not isinstance(r.get("padding"), dict):
            return None
        pad = r["padding"]
        pairs = [(pad["left"], pad["right"])] if ndim == 1 else \
            [(pad["top"], pad["bottom"]), (pad["left"], pad["right"])]
        W = _py(r["weights"])
        bias = r.get("bias", 0) or 0
        call = f"conv_layer(X, np.array({W})" + ("" if channels else "[None]") \
            + f", pad={pairs}" + (f", bias={bias}" if bias else "") \
            + "".join(f", {o}" for o in opts) + ")"
        lines += ["", f"# filter {i + 1}: {r.get('kernel', '')}".rstrip(),
                  f"Y = {call}", "print(Y)",
                  f"assert np.allclose(Y, {_py(r['output'])})  # the answer above"]
    return "\n".join(lines)


_LAYER = re.compile(r"(\w+):?(.*)")


def _shape(result: WorkedResult) -> str | None:
    data = result.data
    if not isinstance(data.get("input_shape"), list) or len(data["input_shape"]) != 3 \
            or not all(isinstance(v, int) for v in data["input_shape"]):
        return None
    open_n = False  # a filter count left as the symbol n: checked with one filter
    H, W, C = data["input_shape"]
    layers, expected = [], []
    channels = C
    for layer in data["layers"]:
        m = _LAYER.fullmatch(layer["spec"])
        if not m:
            return None
        kind = m.group(1).lower()
        opts = {}
        for part in filter(None, m.group(2).split(",")):
            key, _, value = part.partition("=")
            if not value.lstrip("-").isdigit():
                return None
            opts[key.strip()] = int(value)
        out, params = layer.get("output_shape"), layer.get("params", 0)
        if isinstance(out, list) and len(out) == 3 and out[2] == "n":
            m_params = re.fullmatch(r"(\d*)n", str(params))
            if not m_params:
                return None
            out, params, open_n = out[:2] + [1], int(m_params.group(1) or 1), True
        if not isinstance(out, list) or len(out) != 3 or not all(isinstance(v, int) for v in out) \
                or not isinstance(params, int):
            return None
        k, p = opts.get("k"), opts.get("p", 0)
        if k is None:
            return None
        if kind in ("conv", "conv2d"):
            s, d = opts.get("s", 1), opts.get("d", 1)
            extra = "" if opts.get("b", 1) else ", bias=False"
            extra += f", dilation={d}" if d != 1 else ""
            layers.append(f"nn.Conv2d({channels}, {out[2]}, kernel_size={k}, stride={s}, "
                          f"padding={p}{extra})")
        elif kind in ("pool", "maxpool", "max", "maxpool2d", "avgpool", "avg", "avgpool2d"):
            s = opts.get("s", k)
            cls = "nn.AvgPool2d" if kind.startswith("avg") else "nn.MaxPool2d"
            if 2 * p > k:  # PyTorch allows at most half the window as padding
                return None
            layers.append(f"{cls}(kernel_size={k}, stride={s}, padding={p})")
        else:
            return None
        expected.append((tuple(out), params))
        channels = out[2]
    note = ["# the answer leaves the number of filters open (n): built with n = 1 filter, so "
            "the parameters are those of one filter"] if open_n else []
    return "\n".join(note + [
        f"x = torch.zeros(1, {C}, {H}, {W})  # one {H}×{W}×{C} input, as (N, C, H, W)",
        "layers = [" + ",\n          ".join(layers) + "]",
        f"expected = {expected!r}  # (H', W', C') and parameters, from the answer above",
        "for layer, (shape, n_params) in zip(layers, expected):",
        "    x = layer(x)",
        "    n = sum(p.numel() for p in layer.parameters())",
        "    print(f'{layer}: output {x.shape[2]}×{x.shape[3]}×{x.shape[1]}, {n} parameters')",
        "    assert (x.shape[2], x.shape[3], x.shape[1]) == shape and n == n_params",
    ])


def _backprop(result: WorkedResult) -> str | None:
    spec = result.task.spec
    final = result.data.get("final", {}).get("layers")
    if spec is None or not final:
        return None
    spec = dict(spec)
    if "data" not in spec and "x" in spec:
        spec["data"] = [{"x": spec.pop("x"), "y": spec.pop("y")}]
    expected = [(layer["W"], layer.get("b")) for layer in final]
    return "\n".join([
        f"spec = {_py(spec)}",
        "after = gradient_steps(spec)",
        f"expected = {_py(expected)}  # the weights after the update(s), from the answer above",
        "for i, ((W, b), (W_exp, b_exp)) in enumerate(zip(after, expected), start=1):",
        "    print(f'layer {i}: W =', W.round(6).tolist(), ' b =', "
        "None if b is None else b.round(6).tolist())",
        "    assert np.allclose(W, W_exp) and (b is None or np.allclose(b, b_exp))",
    ])


def _derive(result: WorkedResult) -> str | None:
    """A derivation checked a second way: the 1-D conv layer's gradients by autograd, ridge
    regression's minimiser by least squares on the augmented system (not the normal equations
    the answer solves), the cross-entropy's minimiser by a numerical minimiser, the softmax
    temperature table and its smooth maximum by torch; the softmax-with-cross-entropy gradient,
    the softmax Jacobian and the backpropagation rules (sigmoid, identity, one neuron with
    another f) by autograd at random points. Other symbolic derivations: None."""
    data = result.data
    symbolic = _SYMBOLIC.get(data.get("topic"))
    if symbolic is not None:  # a formula: checked by autograd at random points
        return symbolic
    inputs, values = data.get("inputs"), data.get("values")
    if not inputs or not values:
        return None
    num = (lambda v: float(Fraction(str(v))))
    if data.get("topic") == "cross-entropy-minimum" and "a_star" in values:
        ys = [num(v) for v in inputs["y"]]
        return "\n".join([
            "import numpy as np",
            "from scipy.optimize import minimize_scalar",
            "# C(a) = -[y ln a + (1 - y) ln(1 - a)] minimised numerically over 0 < a < 1",
            f"for y, a_star, c_min in zip({_py(ys)}, {_py(values['a_star'])}, "
            f"{_py(values['c_min'])}):",
            "    res = minimize_scalar(lambda a: -(y * np.log(a) + (1 - y) * np.log(1 - a)),",
            "                          bounds=(1e-9, 1 - 1e-9), method='bounded',"
            " options={'xatol': 1e-10})",
            "    print(f'y = {y}: minimum at a = {res.x:.6f}, C = {res.fun:.6f}')",
            "    assert np.isclose(res.x, a_star, atol=1e-6) and np.isclose(res.fun, c_min)"
            "  # the answer above",
        ])
    if data.get("topic") == "softmax-name" and "softmax" in values:
        return "\n".join([
            "import numpy as np",
            "import torch",
            f"z = torch.tensor({_py([num(v) for v in inputs['z']])}, dtype=torch.float64)",
            f"for c, answer in zip({_py(values['c'])}, {_py(values['softmax'])}):",
            "    zc = z.clone().requires_grad_(True)",
            "    smooth_max = torch.logsumexp(c * zc, 0) / c  # (1/c) ln Σ e^(c z)",
            "    smooth_max.backward()  # its gradient is softmax(c z)",
            "    s = torch.softmax(c * z, 0)",
            "    print(f'c = {c:>5}: softmax(cz) = {np.round(s.numpy(), 6).tolist()}, '",
            "          f'(1/c) ln Σ e^(cz) = {smooth_max.item():.6f}')",
            "    assert np.allclose(s, answer) and np.allclose(zc.grad, s)  # the answer above",
            "    assert z.max() <= smooth_max.item() <= z.max() + np.log(len(z)) / c + 1e-12",
        ])
    if data.get("topic") == "conv1d" and "y" in inputs and "J" in values:
        act = {"linear": "z", "sigmoid": "torch.sigmoid(z)", "tanh": "torch.tanh(z)"}.get(
            inputs.get("activation", "linear"))
        if act is None:
            return None
        x = [[num(v) for v in row] for row in inputs["x"]]
        w = [[num(v) for v in row] for row in inputs["w"]]
        return "\n".join([
            "import numpy as np",
            "import torch",
            f"x = torch.tensor({_py(x)}, dtype=torch.float64, requires_grad=True)  # (C, L)",
            f"w = torch.tensor({_py(w)}, dtype=torch.float64, requires_grad=True)  # (C, M)",
            f"b = torch.tensor({num(inputs.get('b', 0))!r}, dtype=torch.float64, requires_grad=True)",
            f"y = torch.tensor({_py([num(v) for v in inputs['y']])}, dtype=torch.float64)",
            "# torch's conv1d is a cross-correlation, as the layer is",
            f"z = torch.nn.functional.conv1d(x[None], w[None], b.reshape(1), "
            f"stride={int(inputs.get('stride', 1))})[0, 0]",
            f"J = (({act} - y) ** 2).mean()",
            "J.backward()",
            "print('J =', J.item(), ' dJ/dw =', w.grad.tolist(), ' dJ/db =', b.grad.item())",
            "print('dJ/dx =', x.grad.tolist())",
            f"assert np.isclose(J.item(), {values['J']!r})  # the answer above",
            f"assert np.allclose(w.grad, {_py(values['dJ_dw'])})",
            f"assert np.isclose(b.grad.item(), {values['dJ_db']!r})",
            f"assert np.allclose(x.grad, {_py(values['dJ_dx'])})",
        ])
    if data.get("topic") == "ridge" and "w" in values:
        X = [[num(v) for v in row] for row in inputs["X"]]
        return "\n".join([
            "import numpy as np",
            f"X = np.array({_py(X)})",
            f"y = np.array({_py([num(v) for v in inputs['y']])})",
            f"lam = {num(inputs['lam'])!r}",
            "n, d = X.shape",
            "# (1/n)||Xw - y||² + λ||w||² is n⁻¹ times the least-squares error of the system",
            "# [X; √(nλ) I] w ≈ [y; 0]: solved by lstsq, without the normal equations",
            "A = np.vstack([X, np.sqrt(n * lam) * np.eye(d)])",
            "w = np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]",
            "print('w* =', w.round(6).tolist())",
            f"assert np.allclose(w, {_py(values['w'])})  # the answer above",
        ])
    return None


_RANDOM_POINTS = (
    "import numpy as np\n"
    "import torch\n"
    "torch.manual_seed(0)\n"
    "for n in (2, 3, 5):  # random points, several sizes\n"
    "    z = torch.randn(n, dtype=torch.float64, requires_grad=True)\n"
)
def _backprop_rules(sizes: tuple[int, ...], f: str, df: str, note: str, setup: str = "") -> str:
    """A cell: the derived delta rules against autograd on random networks of ``sizes``, with
    activation ``f(z, l)`` and its derivative ``df(z, l)`` in layer l (from 0)."""
    return (
        "import torch\n"
        "torch.manual_seed(0)\n"
        + setup +
        f"sizes = {sizes!r}  # {note}\n"
        f"f = lambda z, l: {f}\n"
        f"df = lambda z, l: {df}\n"
        "for point in range(5):  # random weights, biases, input and target\n"
        "    Ws = [torch.randn(m, n, dtype=torch.float64, requires_grad=True)\n"
        "          for n, m in zip(sizes, sizes[1:])]\n"
        "    bs = [torch.randn(m, dtype=torch.float64, requires_grad=True) for m in sizes[1:]]\n"
        "    x = torch.randn(sizes[0], dtype=torch.float64)\n"
        "    y = torch.rand(sizes[-1], dtype=torch.float64)\n"
        "    a, zs, acts = x, [], [x]\n"
        "    for l, (W, b) in enumerate(zip(Ws, bs)):\n"
        "        zs.append(W @ a + b)\n"
        "        a = f(zs[-1], l)\n"
        "        acts.append(a)\n"
        "    E = 0.5 * ((a - y) ** 2).sum()\n"
        "    E.backward()\n"
        "    with torch.no_grad():  # the rules derived above\n"
        "        delta = (a - y) * df(zs[-1], len(Ws) - 1)  # output delta\n"
        "        for l in reversed(range(len(Ws))):\n"
        "            assert torch.allclose(Ws[l].grad, torch.outer(delta, acts[l]))  # δ aᵀ\n"
        "            assert torch.allclose(bs[l].grad, delta)\n"
        "            if l:  # sent back through the weights, times the activation's slope\n"
        "                delta = (Ws[l].T @ delta) * df(zs[l - 1], l - 1)\n"
        "print('the derived rules give autograd\\'s gradients at 5 random points')"
    )


_SIGMOID = "torch.sigmoid(z)"
_SIGMOID_SLOPE = "torch.sigmoid(z) * (1 - torch.sigmoid(z))"
_SYMBOLIC = {
    "mlp-update": _backprop_rules((4, 3, 2), _SIGMOID, _SIGMOID_SLOPE,
                                  "one hidden layer of sigmoid units, sigmoid outputs"),
    "linear-backprop": _backprop_rules((3, 4, 4, 2), "z", "torch.ones_like(z)",
                                       "every activation the identity: σ′ = 1"),
    "neuron-f": _backprop_rules(
        (4, 3, 2), "torch.where(tanh_units[l], torch.tanh(z), torch.sigmoid(z))",
        "torch.where(tanh_units[l], 1 - torch.tanh(z) ** 2, "
        "torch.sigmoid(z) * (1 - torch.sigmoid(z)))",
        "sigmoid units, except the two below", setup="tanh_units = [torch.tensor([False, "
        "True, False]), torch.tensor([True, False])]  # hidden neuron 2, output neuron 1: "
        "f = tanh\n"),
    "softmax-cross-entropy": _RANDOM_POINTS
    + "    y = torch.softmax(torch.randn(n, dtype=torch.float64), 0)  # any target, Σ y = 1\n"
      "    L = -(y * torch.log_softmax(z, 0)).sum()\n"
      "    L.backward()\n"
      "    derived = torch.softmax(z, 0) - y  # the answer above: ŷ − y\n"
      "    print(f'n = {n}: max |autograd − (ŷ − y)| = {(z.grad - derived).abs().max():.1e}')\n"
      "    assert torch.allclose(z.grad, derived)",
    "softmax-jacobian": _RANDOM_POINTS
    + "    J = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, 0), z)\n"
      "    s = torch.softmax(z, 0).detach()\n"
      "    derived = torch.diag(s) - torch.outer(s, s)  # the answer above: ŷ_i (δ_ij − ŷ_j)\n"
      "    print(f'n = {n}: max |autograd − derived| = {(J - derived).abs().max():.1e}')\n"
      "    assert torch.allclose(J, derived)",
}


_HOW = {"conv": "SciPy's correlate over the zero-padded input",
        "shape": "the layers built in PyTorch",
        "backprop": "PyTorch's autograd"}
_DERIVE_HOW = {"ridge": "NumPy's least squares on the augmented system",
               "cross-entropy-minimum": "SciPy's bounded minimiser"}


def recompute_heading(result: WorkedResult) -> str:
    """The Markdown line above :func:`recompute_cell`'s cell: what it checks, and with what."""
    topic = result.data.get("topic") if result.task.command == "derive" else None
    what = "The formula checked" if topic in _SYMBOLIC else "The same values"
    how = _DERIVE_HOW.get(topic, "PyTorch's autograd") if topic else _HOW[result.task.command]
    return f"{what} a second way, with {how}:"


def recompute_cell(result: WorkedResult) -> str | None:
    """Source that computes ``result``'s values a second way, or None (Markdown only)."""
    build = {"conv": _conv, "shape": _shape, "backprop": _backprop,
             "derive": _derive}.get(result.task.command)
    if build is None:
        return None
    try:
        return build(result)
    except (KeyError, TypeError, ValueError):  # a form of the answer this cannot rebuild
        return None
