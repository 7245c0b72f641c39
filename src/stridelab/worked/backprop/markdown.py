"""The chain rule of ``stridelab backprop`` written out as Markdown with LaTeX."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stridelab.worked.backprop.engine import Step, Trace, combined_output_delta
from stridelab.worked.backprop.spec import Layer, Spec
from stridelab.worked.equations import WIDTH, display, display_width, matrix_equations
from stridelab.worked.limits import MAX_EXACT_DIGITS
from stridelab.worked.numbers import Number, fmt, fmt_latex, latex_matrix, normalize, paren

if TYPE_CHECKING:
    from stridelab.worked.backprop.answer import BackpropAnswer

# a run of more steps than 2 * DETAIL_STEPS shows the chain rule of its first DETAIL_STEPS
# steps and its last one; the others briefly (loss and parameters), unless full=True
DETAIL_STEPS = 3


# ---------------------------------------------------------------- Markdown


_ACT_TEX = {
    "linear": r"\mathrm{id}",
    "relu": r"\mathrm{relu}",
    "sigmoid": r"\sigma",
    "tanh": r"\tanh",
    "softmax": r"\mathrm{softmax}",
}
_LOSS_TEX = {
    "sse_half": r"L = \tfrac12\sum_k (\hat y_k - y_k)^2",
    "mse": r"L = \tfrac1K\sum_k (\hat y_k - y_k)^2",
    "cross_entropy": r"L = -\sum_k y_k \ln \hat y_k",
    "binary_cross_entropy": (
        r"L = -\sum_k \left[y_k \ln \hat y_k + (1 - y_k)\ln(1 - \hat y_k)\right]"
    ),
}


class Fmt:
    """Number formatting with a fixed number of significant digits for floats."""

    def __init__(self, digits: int):
        self.digits = digits

    def __call__(self, v: Number) -> str:
        return fmt_latex(v, self.digits)

    def p(self, v: Number) -> str:  # as a factor
        return paren(fmt_latex(v, self.digits))


def _sym_a(l: int, j: int, L: int) -> str:
    """Symbol of activation j (1-based) of layer l (0 = input)."""
    if l == 0:
        return f"x_{{{j}}}"
    if l == L:
        return f"\\hat y_{{{j}}}"
    return f"a^{{({l})}}_{{{j}}}"


def _forward_lines(spec: Spec, layers: list[Layer], t: Trace, f: Fmt) -> list[str]:
    L = len(layers)
    out = []
    for l, ly in enumerate(layers, start=1):
        for i, row in enumerate(ly.W, start=1):
            sym = " + ".join(
                f"w^{{({l})}}_{{{i}{j}}}{_sym_a(l - 1, j, L)}" for j in range(1, len(row) + 1)
            )
            num = " + ".join(f"{f.p(w)}\\cdot {f.p(v)}" for w, v in zip(row, t.a[l - 1]))
            if ly.b is not None:
                sym += f" + b^{{({l})}}_{{{i}}}"
                num += f" + {f.p(ly.b[i - 1])}"
            out.append(f"z^{{({l})}}_{{{i}}} = {sym} = {num} = {f(t.z[l - 1][i - 1])}")
        act = ly.activation
        if act == "softmax":
            zs = ", ".join(f(v) for v in t.z[l - 1])
            vals = ", ".join(f(v) for v in t.a[l])
            name = r"\hat y" if l == L else f"a^{{({l})}}"
            out.append(
                f"{name} = \\mathrm{{softmax}}({zs}) = \\left(\\frac{{e^{{z_i}}}}"
                f"{{\\sum_k e^{{z_k}}}}\\right)_i = ({vals})"
            )
        else:
            for i in range(1, len(ly.W) + 1):
                z, a = t.z[l - 1][i - 1], t.a[l][i - 1]
                rhs = {
                    "linear": "",
                    "relu": f" = \\max(0, {f(z)})",
                    "sigmoid": f" = \\frac{{1}}{{1 + e^{{-{f.p(z)}}}}}",
                    "tanh": "",
                }[act]
                out.append(
                    f"{_sym_a(l, i, L)} = {_ACT_TEX[act]}(z^{{({l})}}_{{{i}}}) = "
                    f"{_ACT_TEX[act]}({f(z)}){rhs} = {f(a)}"
                )
    return [display(e) for e in out]


def _loss_line(spec: Spec, t: Trace, f: Fmt) -> str:
    pairs = list(zip(t.y_hat, t.y))
    if spec.loss in ("sse_half", "mse"):
        inner = " + ".join(f"({f(p)} - {f.p(y)})^2" for p, y in pairs)
        pre = r"\tfrac12" if spec.loss == "sse_half" else f"\\tfrac1{{{len(pairs)}}}"
        num = f"{pre}\\left[{inner}\\right]"
    elif spec.loss == "cross_entropy":
        num = (
            "-\\left[" + " + ".join(f"{f.p(y)}\\ln {f(p)}" for p, y in pairs if y != 0) + "\\right]"
        )
    else:
        num = (
            "-\\left["
            + " + ".join(f"{f.p(y)}\\ln {f(p)} + {f.p(1 - y)}\\ln(1 - {f(p)})" for p, y in pairs)
            + "\\right]"
        )
    return display(f"{_LOSS_TEX[spec.loss]} = {num} = {f(t.loss)}")


def _fprime(act: str, z: Number, a: Number, sym_a: str, f: Fmt) -> tuple[str, str]:
    """f'(z) symbolically and with numbers."""
    if act == "linear":
        return "1", "1"
    if act == "relu":
        return f"\\mathrm{{relu}}'({f(z)})", "1" if z > 0 else "0"
    if act == "sigmoid":
        return f"{sym_a}(1 - {sym_a})", f"{f(a)}\\cdot(1 - {f(a)})"
    return f"(1 - {sym_a}^2)", f"(1 - {f.p(a)}^2)"


def _dL_dyhat(spec: Spec, i: int, t: Trace, f: Fmt) -> tuple[str, str]:
    p, y = t.y_hat[i - 1], t.y[i - 1]
    yh = f"\\hat y_{{{i}}}"
    if spec.loss == "sse_half":
        return f"({yh} - y_{{{i}}})", f"({f(p)} - {f.p(y)})"
    if spec.loss == "mse":
        K = len(t.y)
        return f"\\tfrac{{2}}{{{K}}}({yh} - y_{{{i}}})", f"\\tfrac{{2}}{{{K}}}({f(p)} - {f.p(y)})"
    if spec.loss == "cross_entropy":
        return (
            f"\\left(-\\frac{{y_{{{i}}}}}{{{yh}}}\\right)",
            f"\\left(-\\frac{{{f(y)}}}{{{f(p)}}}\\right)",
        )
    return (
        f"\\frac{{{yh} - y_{{{i}}}}}{{{yh}(1 - {yh})}}",
        f"\\frac{{{f(p)} - {f.p(y)}}}{{{f(p)}(1 - {f(p)})}}",
    )


def _combined_delta_line(loss: str, head: str, i: int, L: int, t: Trace, f: Fmt) -> str:
    """The output delta of sigmoid + binary cross-entropy or softmax + cross-entropy, with the
    activation's derivative written out and cancelled rather than quoted as y_hat - y."""
    p, y = t.y_hat[i - 1], t.y[i - 1]
    d = t.delta[-1][i - 1]
    yh, yi, zi = f"\\hat y_{{{i}}}", f"y_{{{i}}}", f"z^{{({L})}}_{{{i}}}"
    tail = f"{yh} - {yi} = {f(p)} - {f.p(y)} = {f(d)}"
    if loss == "binary_cross_entropy":
        pn = f(p)
        return (
            f"{head} = \\frac{{\\partial L}}{{\\partial {yh}}}\\,\\sigma'({zi}) = "
            f"\\frac{{{yh} - {yi}}}{{{yh}(1 - {yh})}}\\cdot {yh}(1 - {yh}) = "
            f"\\frac{{{pn} - {f.p(y)}}}{{{pn}(1 - {pn})}}\\cdot {pn}(1 - {pn}) = {tail}"
        )
    sum_y = normalize(sum(t.y))
    return (
        f"{head} = \\sum_k \\frac{{\\partial L}}{{\\partial \\hat y_k}}"
        f"\\frac{{\\partial \\hat y_k}}{{\\partial {zi}}} = "
        f"\\sum_k \\left(-\\frac{{y_k}}{{\\hat y_k}}\\right)\\hat y_k"
        f"\\left(\\mathbb{{1}}[k = {i}] - {yh}\\right) = -{yi} + {yh}\\sum_k y_k = "
        f"{tail}\\quad\\left(\\textstyle\\sum_k y_k = {f(sum_y)}\\right)"
    )


def _backward_lines(spec: Spec, layers: list[Layer], t: Trace, f: Fmt) -> list[str]:
    L = len(layers)
    out = []
    last = layers[-1]
    for i in range(1, len(last.W) + 1):
        d = t.delta[-1][i - 1]
        head = f"\\delta^{{({L})}}_{{{i}}} = \\frac{{\\partial L}}{{\\partial z^{{({L})}}_{{{i}}}}}"
        if combined_output_delta(spec.loss, last.activation):
            out.append(_combined_delta_line(spec.loss, head, i, L, t, f))
        elif last.activation == "softmax":
            g = ", ".join(f(v) for v in t.dL_dyhat)
            out.append(
                f"{head} = \\hat y_{{{i}}}\\left("
                f"\\frac{{\\partial L}}{{\\partial \\hat y_{{{i}}}}}"
                f" - \\sum_k \\frac{{\\partial L}}{{\\partial \\hat y_k}}\\hat y_k\\right) = {f(d)}"
                f"\\quad\\left(\\frac{{\\partial L}}{{\\partial \\hat y}} = ({g})\\right)"
            )
        else:
            sym, num = _dL_dyhat(spec, i, t, f)
            fs, fn = _fprime(last.activation, t.z[-1][i - 1], t.y_hat[i - 1], f"\\hat y_{{{i}}}", f)
            out.append(
                f"{head} = \\frac{{\\partial L}}{{\\partial \\hat y_{{{i}}}}}"
                f"\\frac{{\\partial \\hat y_{{{i}}}}}{{\\partial z^{{({L})}}_{{{i}}}}} = "
                f"{sym}\\cdot {fs} = {num}\\cdot {fn} = {f(d)}"
            )
    for l in range(L - 1, 0, -1):
        ly, nxt = layers[l - 1], layers[l]
        for j in range(1, len(ly.W) + 1):
            g = t.back[l - 1][j - 1]
            sym = " + ".join(
                f"w^{{({l + 1})}}_{{{k}{j}}}\\delta^{{({l + 1})}}_{{{k}}}"
                for k in range(1, len(nxt.W) + 1)
            )
            num = " + ".join(
                f"{f.p(nxt.W[k - 1][j - 1])}\\cdot {f.p(t.delta[l][k - 1])}"
                for k in range(1, len(nxt.W) + 1)
            )
            d = t.delta[l - 1][j - 1]
            head = f"\\delta^{{({l})}}_{{{j}}}"
            if ly.activation == "softmax":
                out.append(
                    f"\\frac{{\\partial L}}{{\\partial a^{{({l})}}_{{{j}}}}} = {sym} = "
                    f"{num} = {f(g)}"
                )
                out.append(
                    f"{head} = a^{{({l})}}_{{{j}}}\\left(\\frac{{\\partial L}}"
                    f"{{\\partial a^{{({l})}}_{{{j}}}}} - \\sum_k \\frac{{\\partial L}}"
                    f"{{\\partial a^{{({l})}}_k}} a^{{({l})}}_k\\right) = {f(d)}"
                )
                continue
            fs, fn = _fprime(
                ly.activation, t.z[l - 1][j - 1], t.a[l][j - 1], f"a^{{({l})}}_{{{j}}}", f
            )
            out.append(
                f"{head} = \\left({sym}\\right) {fs} = \\left({num}\\right)\\cdot {fn}"
                f" = {f.p(g)}\\cdot {fn} = {f(d)}"
            )
    return [display(e) for e in out]


def _gradient_lines(layers: list[Layer], t: Trace, f: Fmt) -> list[str]:
    L = len(layers)
    out = []
    for l in range(L, 0, -1):
        ly = layers[l - 1]
        for i in range(1, len(ly.W) + 1):
            d = t.delta[l - 1][i - 1]
            for j in range(1, len(ly.W[0]) + 1):
                a = t.a[l - 1][j - 1]
                out.append(
                    f"\\frac{{\\partial L}}{{\\partial w^{{({l})}}_{{{i}{j}}}}} = "
                    f"\\frac{{\\partial L}}{{\\partial z^{{({l})}}_{{{i}}}}}"
                    f"\\frac{{\\partial z^{{({l})}}_{{{i}}}}}"
                    f"{{\\partial w^{{({l})}}_{{{i}{j}}}}} = "
                    f"\\delta^{{({l})}}_{{{i}}}\\,{_sym_a(l - 1, j, L)} = {f.p(d)}\\cdot {f.p(a)}"
                    f" = {f(t.dW[l - 1][i - 1][j - 1])}"
                )
            if ly.b is not None:
                out.append(
                    f"\\frac{{\\partial L}}{{\\partial b^{{({l})}}_{{{i}}}}} = "
                    f"\\delta^{{({l})}}_{{{i}}} = {f(d)}"
                )
    return [display(e) for e in out]


def update_entries(step: Step, lr: Number, f: Fmt) -> list[tuple[int, str, tuple, str]]:
    """One (layer, "W"|"b", index, LaTeX update line) per parameter of ``step``."""
    n_points = len(step.traces)
    out = []
    bar = r"\bar L" if n_points > 1 else "L"
    for l, (ly, new) in enumerate(zip(step.before, step.after), start=1):
        params = [
            (
                "W",
                (i, j),
                f"w^{{({l})}}_{{{i + 1}{j + 1}}}",
                ly.W[i][j],
                step.dW[l - 1][i][j],
                new.W[i][j],
                [t.dW[l - 1][i][j] for t in step.traces],
            )
            for i in range(len(ly.W))
            for j in range(len(ly.W[0]))
        ]
        if ly.b is not None:
            params += [
                (
                    "b",
                    (i,),
                    f"b^{{({l})}}_{{{i + 1}}}",
                    ly.b[i],
                    step.db[l - 1][i],
                    new.b[i],
                    [t.db[l - 1][i] for t in step.traces],
                )
                for i in range(len(ly.b))
            ]
        for kind, index, sym, old, g, nw, per in params:
            avg = ""
            if n_points > 1:
                avg = (
                    f"\\frac{{\\partial \\bar L}}{{\\partial {sym}}} = \\tfrac1{{{n_points}}}"
                    f"\\left({' + '.join(f.p(v) for v in per)}\\right) = {f(g)},\\quad "
                )
            out.append(
                (
                    l,
                    kind,
                    index,
                    f"{avg}{sym} \\leftarrow {sym} - \\eta\\frac{{\\partial {bar}}}"
                    f"{{\\partial {sym}}} = {f(old)} - {f(lr)}\\cdot {f.p(g)} = {f(nw)}",
                )
            )
    return out


def _update_lines(step: Step, lr: Number, n_points: int, f: Fmt) -> list[str]:
    return [display(line) for _, _, _, line in update_entries(step, lr, f)]


def _params_latex(layers: list[Layer], f: Fmt) -> str:
    """Every weight matrix and bias vector, as a display (wide matrices in column blocks)."""
    parts = []
    for l, ly in enumerate(layers, start=1):
        parts += matrix_equations(f"W^{{({l})}}", [[f(v) for v in row] for row in ly.W],
                                  name_of=lambda a, b, l=l: f"W^{{({l})}}_{{:,{a}..{b}}}")
        if ly.b is not None:
            parts.append(f"b^{{({l})}} = {latex_matrix([[v] for v in ly.b], f.digits)}")
    return display(*parts)


def graph_latex(spec: Spec) -> str:
    """The compute graph as one LaTeX chain x -> z1 -> a1 -> ... -> L."""
    L = len(spec.layers)
    parts = ["x"]
    for l, ly in enumerate(spec.layers, start=1):
        prev = "x" if l == 1 else f"a^{{({l - 1})}}"
        bias = f" + b^{{({l})}}" if ly.b is not None else ""
        parts.append(f"z^{{({l})}} = W^{{({l})}}{prev}{bias}")
        out = r"\hat y" if l == L else f"a^{{({l})}}"
        parts.append(f"{out} = {_ACT_TEX[ly.activation]}(z^{{({l})}})")
    parts.append(_LOSS_TEX[spec.loss])
    chain = r" \;\to\; ".join(parts)
    if display_width(chain) <= WIDTH:
        return f"$${chain}$$"
    # too wide for a page: one layer per line, each line starting with its arrow
    rows = [parts[0]] + [rf"\to {parts[k]} \;\to\; {parts[k + 1]}"
                         for k in range(1, len(parts) - 1, 2)]
    rows.append(rf"\to {parts[-1]}")
    return r"$$\begin{aligned} &" + r" \\ &".join(rows) + r" \end{aligned}$$"


def _conventions(answer: BackpropAnswer, digits: int) -> list[str]:
    spec = answer.spec
    if answer.exact:
        arith = "exact rational arithmetic"
    elif answer.float_from is not None and answer.float_from > 1:
        arith = (
            f"exact rational arithmetic in steps 1 to {answer.float_from - 1}; from step "
            f"{answer.float_from} on float64 ({digits} significant digits shown), because the "
            f"exact fractions would have grown beyond {MAX_EXACT_DIGITS} digits"
        )
    elif answer.float_from == 1:
        arith = (
            f"float64 ({digits} significant digits shown): the exact fractions of step 1 would "
            f"have grown beyond {MAX_EXACT_DIGITS} digits"
        )
    else:
        arith = f"float64 ({digits} significant digits shown)"
    text = (
        r"$W^{(l)}$ has shape $n_{out}\times n_{in}$ and $w^{(l)}_{ij}$ connects input $j$ to "
        r"neuron $i$ (counted from 1); $\delta^{(l)}_i = \partial L/\partial z^{(l)}_i$."
    )
    if any(ly.b is not None for ly in spec.layers):
        text += r" $b^{(l)}_i$ is the weight $w^{(l)}_{i0}$ of a constant input $x_0 = 1$."
    if len(spec.layers) == 2:
        text += (
            r" (Sheets that name the input-to-hidden weights $v$ and the hidden-to-output "
            r"weights $w$ mean $v = W^{(1)}$, $w = W^{(2)}$.)"
        )
    text += f" Numbers: {arith}."
    out = [text, ""]
    if spec.rounded_inputs:
        out += [
            f"{spec.rounded_inputs} input number(s) had more than {MAX_EXACT_DIGITS} digits in "
            "numerator or denominator and were read as float64.",
            "",
        ]
    if spec.loss == "cross_entropy" and spec.layers[-1].activation == "sigmoid":
        out += [
            "Note: `cross_entropy` is $-\\sum_k y_k \\ln \\hat y_k$, meant for a softmax "
            "output; the cross-entropy of sigmoid outputs is `binary_cross_entropy`.",
            "",
        ]
    return out


def _check_line(step: Step) -> str:
    c = step.check
    line = (
        f"Gradients checked against `{c['route']}`: max $|\\Delta|$ = {c['max_abs_error']:.3g}"
    )
    if c.get("passed", True):
        return line + "."
    kink = any(
        ly.activation == "relu" and any(v == 0 for v in t.z[l])
        for t in step.traces
        for l, ly in enumerate(step.before)
    )
    why = (
        " A ReLU input is exactly 0 in this step, where float64 autograd may take the other "
        "one-sided derivative."
        if kink
        else ""
    )
    return line + " — **the check did not pass**." + why


def backprop_markdown(answer: BackpropAnswer, digits: int = 6, brief: bool = False) -> str:
    spec = answer.spec
    f = Fmt(digits)
    sizes = "-".join(str(n) for n in [len(spec.layers[0].W[0])] + [len(ly.W) for ly in spec.layers])
    out = [
        f"## Backpropagation: {sizes} network, loss `{spec.loss}`, "
        f"$\\eta$ = {fmt(spec.lr, digits)}, {spec.mode}, {spec.steps} pass(es) over "
        f"{len(spec.data)} data point(s)",
        "",
        "**Compute graph**",
        "",
        graph_latex(spec),
        "",
        *_conventions(answer, digits),
        "**Initial parameters**",
        "",
        _params_latex(spec.layers, f),
        "",
    ]
    n_steps = len(answer.steps)
    shorten = not brief and not answer.full and n_steps > 2 * DETAIL_STEPS
    if shorten:
        out += [
            f"Steps {DETAIL_STEPS + 1} to {n_steps - 1} are shown briefly (loss and updated "
            "parameters); `--full` writes out the chain rule of every step.",
            "",
        ]
    all_brief = brief
    for s, step in enumerate(answer.steps, start=1):
        brief = all_brief or (shorten and DETAIL_STEPS < s < n_steps)
        if step.point is not None:
            where = f"epoch {step.epoch}, data point {step.point}"
        else:
            where = f"epoch {step.epoch}, batch of {len(step.traces)}"
        out += [f"### Step {s} ({where})", ""]
        if answer.float_from == s and s > 1:
            out += [f"From this step on: float64 (exact fractions beyond {MAX_EXACT_DIGITS} "
                     "digits).", ""]
        for n, t in enumerate(step.traces, start=1):
            if len(step.traces) > 1:
                out += [f"#### Data point {n}", ""]
            xs = ", ".join(f(v) for v in t.x)
            ys = ", ".join(f(v) for v in t.y)
            out += [f"$x = ({xs})$, $y = ({ys})$", ""]
            if not brief:
                out += ["**Forward**", ""] + _forward_lines(spec, step.before, t, f) + [""]
            out += ["**Loss**", "", _loss_line(spec, t, f), ""]
            if not brief:
                out += ["**Backward** (chain rule, output layer first)", ""]
                out += _backward_lines(spec, step.before, t, f) + [""]
                out += ["**Gradients**", ""] + _gradient_lines(step.before, t, f) + [""]
        if len(step.traces) > 1:
            out += [f"Mean loss over the batch: {f(step.loss)}", ""]
        out += [f"**Update** ($\\eta$ = {f(spec.lr)})", ""]
        if not brief:
            out += _update_lines(step, spec.lr, len(step.traces), f) + [""]
        out += [_params_latex(step.after, f), "", _check_line(step), ""]
    if answer.graph:
        out += [f"Compute graph of step {answer.graph_step}: `{answer.graph}`", ""]
    if answer.student_check is not None:
        out.append(answer.student_check.to_markdown())
    return "\n".join(out)


def to_markdown(answer: BackpropAnswer, digits: int = 6, brief: bool = False) -> str:
    """The answer as Markdown with LaTeX (``answer.to_markdown(digits, brief)``)."""
    return answer.to_markdown(digits, brief)
