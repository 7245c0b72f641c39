"""The model answer of ``stridelab conv`` as Markdown with LaTeX."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from stridelab.worked.conv.compute import CellTerms, KernelResult
from stridelab.worked.conv.padding import output_size, resolve_padding
from stridelab.worked.equations import WIDTH, display, display_width, matrix_equations
from stridelab.worked.kernels import Kernel
from stridelab.worked.numbers import (
    Matrix,
    Number,
    all_exact,
    approx,
    fmt_latex,
    latex_matrix,
    normalize,
    ordinal,
    paren,
    plural,
)

if TYPE_CHECKING:
    from stridelab.worked.conv.answer import ConvAnswer

# ---------------------------------------------------------------- Markdown


def cell_name(cell: tuple[int, int], ndim: int, one_based: bool) -> str:
    i, j = cell
    base = 1 if one_based else 0
    return f"{j + base}" if ndim == 1 else f"{i + base},{j + base}"


def _idx(i: int, j: int, one_based: bool) -> str:
    return f"{i + 1},{j + 1}" if one_based else f"{i},{j}"


def shape_text(*dims: int) -> str:
    return "×".join(str(d) for d in dims)


_ACT_LATEX = {"relu": r"\mathrm{relu}", "sigmoid": r"\sigma", "tanh": r"\tanh"}


def _symbols(answer: ConvAnswer, f: int) -> dict[str, str]:
    """LaTeX names of output, activation, bias and kernel for kernel ``f``."""
    F = len(answer.results)
    sup = f"^{{({f})}}" if F > 1 else ""
    if answer.ndim == 1:
        return {"z": "z" + sup, "a": "a" + sup, "b": "b" + sup, "w": "w" + sup, "x": "x"}
    if answer.layer:
        return {"z": "Z" + sup, "a": "A" + sup, "b": "b" + sup, "w": "K", "x": "X"}
    return {"z": "Y", "a": "Y", "b": "b", "w": "K", "x": "X"}


def _result_index(answer: ConvAnswer, res: KernelResult) -> int:
    return next((n for n, r in enumerate(answer.results) if r is res), 0)


def _idx1d(s: int, d: int, one_based: bool) -> str:
    if one_based:
        if s == d == 1:
            return "k+m-1"
        ks = "(k-1)" if s == 1 else f"{s}(k-1)"
        ms = "(m-1)" if d == 1 else f"{d}(m-1)"
        return f"{ks}+{ms}+1"
    return ("k" if s == 1 else f"{s}k") + "+" + ("m" if d == 1 else f"{d}m")


def _definition(answer: ConvAnswer) -> str:
    if answer.ndim == 1:
        return _definition_1d(answer)
    s, d = answer.stride, answer.dilation
    C = answer.input_shape[0]
    csum, cidx = (r"\sum_{c}", "c,") if C > 1 else ("", "")
    where = ""
    if answer.one_based:  # the 1-based indices are long: named p, q and given after the sum
        rows = "p,q"
        sums = r"\sum_{m=1}^{k_h}\sum_{n=1}^{k_w}"
        where = r",\qquad p = s(i-1)+d(m-1)+1,\quad q = s(j-1)+d(n-1)+1"
    else:
        rows = r"s\,i+d\,m,\; s\,j+d\,n"
        sums = r"\sum_{m=0}^{k_h-1}\sum_{n=0}^{k_w-1}"
    K = r"K^{\mathrm{rot}}" if answer.mode == "convolve" else "K"
    xpad = r"X^{\mathrm{pad}}"
    Y = "Z" if answer.layer else "Y"
    bias = " + b" if answer.has_bias else ""
    act = ""
    if answer.activation != "linear":
        act = f",\\qquad A_{{i,j}} = {_ACT_LATEX[answer.activation]}(Z_{{i,j}})"
    lines = [
        display(f"{Y}_{{i,j}} = {csum}{sums} {K}_{{{cidx}m,n}}\\, {xpad}_{{{cidx}{rows}}}{bias}{act}"
                f"{where}"),
        "",
    ]
    base = "1-based" if answer.one_based else "0-based"
    text = (
        f"with stride s = {s} and dilation d = {d}. Indices are {base} (row, column); "
        r"$X^{\mathrm{pad}}$ is the input with its zero padding"
    )
    if answer.has_bias:
        text += "; b is the kernel's bias"
    if answer.mode == "convolve":
        text += (
            r". Convolution slides the kernel rotated by 180°, "
            r"$K^{\mathrm{rot}}_{m,n} = K_{k_h-1-m,\,k_w-1-n}$"
        )
    else:
        text += " (cross-correlation: the kernel is slid as written, not flipped)"
    lines.append(text + ".")
    return "\n".join(lines)


def _definition_1d(answer: ConvAnswer) -> str:
    s, d = answer.stride, answer.dilation
    C, F = answer.input_shape[0], len(answer.results)
    fs = "^{(f)}" if F > 1 else ""
    sup = "f,c" if F > 1 and C > 1 else ("c" if C > 1 else ("f" if F > 1 else ""))
    sup = f"({sup})" if sup else ""
    if answer.mode == "convolve":
        sup = r"\mathrm{rot}" + ("," + sup if sup else "")
    w = "w" + (f"^{{{sup}}}" if sup else "")
    x = "x^{(c)}" if C > 1 else "x"
    csum = r"\sum_{c}" if C > 1 else ""
    msum = r"\sum_{m=1}^{M}" if answer.one_based else r"\sum_{m=0}^{M-1}"
    bias = f" + b{fs}" if answer.has_bias else ""
    z = f"z{fs}_k"
    rel = f"{z} = {csum}{msum} {w}_m\\, {x}_{{{_idx1d(s, d, answer.one_based)}}}{bias}"
    if answer.activation != "linear":
        rel += f",\\qquad a{fs}_k = {_ACT_LATEX[answer.activation]}({z})"
    elif answer.layer:
        rel += f",\\qquad a{fs}_k = {z}"
    Ms = sorted({r.kernel.size[1] for r in answer.results})
    M = " or ".join(str(m) for m in Ms)
    base = "1" if answer.one_based else "0"
    parts = [f"M = {M} filter taps, stride s = {s}, dilation d = {d}; k counts output positions "
             f"from {base}"]
    if any(r.padding.any for r in answer.results):
        parts.append("x is the input with its zero padding")
    if C > 1:
        parts.append(f"the sum runs over the {C} input channels c")
    if answer.has_bias:
        parts.append("b is the filter's bias")
    if answer.activation == "linear" and answer.layer:
        parts.append("the activation is linear, so a = z")
    text = "; ".join(parts)
    if answer.mode == "convolve":
        text += r". Convolution slides the filter reversed, $w^{\mathrm{rot}}_m = w_{M-1-m}$"
    else:
        text += " (cross-correlation: the filter is slid as written, not reversed)"
    return f"{display(rel)}\n\nwith {text}."


def _size_formula(n: int, k: int, p_total: int, s: int, d: int) -> str:
    if d == 1:
        inner = f"{n} + {p_total} - {k}" if p_total else f"{n} - {k}"
    else:
        inner = (
            f"{n} + {p_total} - {d}\\cdot({k}-1) - 1"
            if p_total
            else (f"{n} - {d}\\cdot({k}-1) - 1")
        )
    out = output_size(n, k, s, d, p_total)
    return f"\\left\\lfloor \\frac{{{inner}}}{{{s}}} \\right\\rfloor + 1 = {out}"


def _term_latex(w: Number, x: Number, is_pad: bool, digits: int) -> str:
    xs = r"\underline{0}" if is_pad else paren(fmt_latex(x, digits))
    return f"{paren(fmt_latex(w, digits))}\\cdot {xs}"


def explain_line(answer: ConvAnswer, res: KernelResult, ct: CellTerms, digits: int) -> str:
    """``$$Y_{0,1} = ... = -5$$``; for a layer z = ... + b and, for σ, a second formula."""
    f = _result_index(answer, res)
    sym = _symbols(answer, f)
    cell = cell_name(ct.cell, answer.ndim, answer.one_based)
    groups = [" + ".join(_term_latex(w, x, p, digits) for w, x, p in ch) for ch in ct.terms]
    if len(groups) == 1:
        body = groups[0]
        steps = []
    else:
        body = " + ".join(f"\\left({g}\\right)_{{c={c}}}" for c, g in enumerate(groups))
        partial = [normalize(sum(w * x for w, x, _ in ch)) for ch in ct.terms]
        steps = [" + ".join(paren(fmt_latex(p, digits)) for p in partial)]
    b = f" + {paren(fmt_latex(res.bias, digits))}" if answer.has_bias else ""
    scale = res.kernel.scale
    lhs = f"{sym['z']}_{{{cell}}}"
    if scale != 1:
        sl = fmt_latex(Fraction(scale), digits)
        line = f"{lhs} = {sl}\\left({body}\\right){b}"
        line += "".join(f" = {sl}\\left({st}\\right){b}" for st in steps)
        line += f" = {sl}\\cdot {paren(fmt_latex(ct.raw, digits))}{b}"
    else:
        line = f"{lhs} = {body}{b}" + "".join(f" = {st}{b}" for st in steps)
        if b and not steps and len(ct.terms[0]) > 1:
            line += f" = {fmt_latex(ct.raw, digits)}{b}"
    z = ct.z
    line += f" = {fmt_latex(z, digits)}"
    ap = approx(z)
    if ap is not None:
        line += f" \\approx {ap}"
    out = display(line)
    act = answer.activation
    if act != "linear":
        a_lhs = f"{sym['a']}_{{{cell}}}"
        zs = fmt_latex(z, digits)
        if act == "relu":
            a_line = f"\\max(0,\\ {zs}) = {fmt_latex(ct.value, digits)}"
        elif act == "sigmoid":
            a_line = (f"\\frac{{1}}{{1 + e^{{{fmt_latex(normalize(-z), digits)}}}}} \\approx "
                      f"{fmt_latex(ct.value, digits)}")
        else:
            a_line = f"\\tanh({zs}) \\approx {fmt_latex(ct.value, digits)}"
        out += "\n\n" + display(f"{a_lhs} = {_ACT_LATEX[act]}({lhs}) = {a_line}")
    return out


def _vec(m: Matrix, digits: int) -> str:
    return latex_matrix(m, digits)


def _output_latex(answer: ConvAnswer, res: KernelResult, digits: int) -> str:
    """``$$Y = ...$$`` (z and, for σ, a = σ(z))."""
    sym = _symbols(answer, _result_index(answer, res))
    z = res.z
    b = f" + {paren(fmt_latex(res.bias, digits))}" if answer.has_bias else ""
    if res.kernel.scale != 1:
        sl = fmt_latex(Fraction(res.kernel.scale), digits)
        s = f"{sym['z']} = {sl}{_vec(res.raw, digits)}{b}"
        if any(approx(v) is not None for row in z for v in row):
            s += " \\approx " + latex_matrix([[float(v) for v in r] for r in z], 4)
        else:
            s += " = " + latex_matrix(z, digits)
    elif b:
        s = f"{sym['z']} = {_vec(res.raw, digits)}{b} = {_vec(z, digits)}"
    else:
        s = f"{sym['z']} = {_vec(z, digits)}"
    if display_width(s) > WIDTH:  # too wide for a page: the result alone, in column blocks
        rel = r"\approx" if res.kernel.scale != 1 and any(
            approx(v) is not None for row in z for v in row) else "="
        cells = [[fmt_latex(float(v), 4) if rel != "=" else fmt_latex(v, digits) for v in row]
                 for row in z]
        out = display(*matrix_equations(sym["z"], cells, relation=rel))
    else:
        out = display(s)
    if answer.activation != "linear":
        rel = "=" if answer.activation == "relu" and all_exact(res.output) else "\\approx"
        act = f"{sym['a']} = {_ACT_LATEX[answer.activation]}({sym['z']})"
        one = f"{act} {rel} {_vec(res.output, digits)}"
        out += "\n\n" + (display(one) if display_width(one) <= WIDTH else display(
            act, *matrix_equations(sym["a"], [[fmt_latex(v, digits) for v in row]
                                              for row in res.output], relation=rel)))
    return out


def _matrices(names: list[str], chans: list[Matrix], digits: int) -> str:
    """A display of ``name = [matrix]`` for each channel; a matrix too wide for a page is
    shown in blocks of columns."""
    return display(*(eq for name, ch in zip(names, chans)
                     for eq in matrix_equations(name, [[fmt_latex(v, digits) for v in row]
                                                       for row in ch])))


def _channels_latex(sym: str, chans: list[Matrix], digits: int) -> str:
    names = [sym] if len(chans) == 1 else [f"{sym}_{{c={c}}}" for c in range(len(chans))]
    return _matrices(names, chans, digits)


def _vectors_latex(sym: str, chans: list[Matrix], digits: int, f: str = "") -> str:
    """1-D channels (C, 1, L) as ``x = [...]`` or ``x^{(0)} = [...], x^{(1)} = ...``."""
    if len(chans) == 1:
        names = [f"{sym}^{{({f})}}" if f else sym]
    else:
        names = [f"{sym}^{{({f + ',' if f else ''}{c})}}" for c in range(len(chans))]
    return _matrices(names, chans, digits)


def _stride_relation_1d(answer: ConvAnswer, s: int) -> str:
    """``z_k = \\sum_m w_m x_{2k+m} + b`` for stride ``s`` (dilation and rotation as given)."""
    w = r"w^{\mathrm{rot}}" if answer.mode == "convolve" else "w"
    b = " + b" if answer.has_bias else ""
    C = answer.input_shape[0]
    csum, x = (r"\sum_{c}", "x^{(c)}") if C > 1 else ("", "x")
    idx = _idx1d(s, answer.dilation, answer.one_based)
    return f"$z_k = {csum}\\sum_m {w}_m\\, {x}_{{{idx}}}{b}$"


def _fewer(n1: int, n2: int) -> str:
    """``"9 values instead of 25, about 2.8 times fewer"``, from the two counts."""
    if n1 == n2:
        return f"the same {plural(n2, 'value')}"
    ratio = n1 / n2
    times = f"{ratio:.0f}" if ratio == int(ratio) else f"about {ratio:.2g}"
    return f"{plural(n2, 'value')} instead of {n1}, {times} times fewer"


def _stride_note(answer: ConvAnswer) -> str:
    res = answer.results[0]
    H, W = answer.input_shape[1:]
    KH, KW = res.kernel.size
    p, s, d = res.padding, answer.stride, answer.dilation
    ph, pw = p.total
    one_d = answer.ndim == 1
    spec = str(answer.padding_spec).strip().lower()
    this = f"this padding ({spec}" + ("" if spec == "valid" else f": {p.describe(answer.ndim)}")
    this += ")"
    H1, W1 = output_size(H, KH, 1, d, ph), output_size(W, KW, 1, d, pw)
    if s == 1:
        h2, w2 = output_size(H, KH, 2, d, ph), output_size(W, KW, 2, d, pw)
        ext = d * (KW - 1) + 1
        if (h2 * w2 if not one_d else w2) == (H1 * W1 if not one_d else W1):
            formula = (f"$L_{{out}} = \\lfloor ({W} + {pw} - {ext})/2 \\rfloor + 1 = {w2}$"
                       if one_d else
                       f"$\\lfloor ({H} + {ph} - {d * (KH - 1) + 1})/2 \\rfloor + 1 = {h2}$ by "
                       f"$\\lfloor ({W} + {pw} - {ext})/2 \\rfloor + 1 = {w2}$")
            size = plural(w2, "value") if one_d else shape_text(h2, w2)
            text = (
                f"**Stride.** A larger stride skips positions, but this output is too small for "
                f"that to show: with {this}, stride 2 gives {formula}, the same {size} as "
                "stride 1."
            )
        elif one_d:
            text = (
                f"**Stride.** With stride 1 the filter visits every position, giving "
                f"{plural(W1, 'value')}. A larger stride skips positions: with {this}, stride 2 "
                f"would give $L_{{out}} = \\lfloor ({W} + {pw} - {ext})/2 \\rfloor + 1 = {w2}$ "
                f"({_stride_relation_1d(answer, 2)}): every {ordinal(2)} position of the "
                f"stride-1 output, {_fewer(W1, w2)}, a cheaper but coarser signal that may step "
                "over short features."
            )
        else:
            exth = d * (KH - 1) + 1
            text = (
                f"**Stride.** With stride 1 the kernel visits every position, giving "
                f"{shape_text(*res.output_shape)}. A larger stride skips positions: with {this}, "
                f"stride 2 would give "
                f"$\\lfloor ({H} + {ph} - {exth})/2 \\rfloor + 1 = {h2}$ "
                f"{'row' if h2 == 1 else 'rows'} and {plural(w2, 'column')} ({shape_text(h2, w2)}), "
                f"exactly every {ordinal(2)} row and column of "
                f"the stride-1 output: {_fewer(H1 * W1, h2 * w2)}, a cheaper but coarser map "
                "that may step over thin features."
            )
        if spec == "same":
            p2 = resolve_padding("same", (H, W), (KH, KW), 2, d, ndim=answer.ndim)
            if p2 != p and p2.total != p.total:
                n2 = (plural(output_size(W, KW, 2, d, p2.total[1]), "value") if one_d else
                      shape_text(output_size(H, KH, 2, d, p2.total[0]),
                             output_size(W, KW, 2, d, p2.total[1])))
                text += (f" ('same' padding worked out for stride 2 would instead put "
                         f"{p2.describe(answer.ndim)} and give {n2}.)")
        return text
    n_out = res.output_shape[0] * res.output_shape[1]
    if n_out == H1 * W1:
        size = plural(n_out, "value") if one_d else shape_text(*res.output_shape)
        return (
            f"**Stride.** Stride {s} moves the window {s} {'positions' if one_d else 'cells'} at "
            f"a time, but this output is too small for that to show: it is {size}, the same as "
            f"with stride 1 and {this}."
        )
    if one_d:
        kept = list(range(0, W1, s))
        idx = ", ".join(str(k) for k in kept[:4]) + (", …" if len(kept) > 4 else "")
        L_out = res.output_shape[1]
        return (
            f"**Stride.** Stride {s} moves the window {s} positions at a time "
            f"({_stride_relation_1d(answer, s)}), so the output has {plural(L_out, 'value')} "
            f"instead of {W1} with stride 1 and {this}: it keeps every {ordinal(s)} position of "
            f"the stride-1 output (positions {idx}), {_fewer(W1, L_out)}."
        )
    return (
        f"**Stride.** Stride {s} moves the window {s} cells at a time, so the output is "
        f"{shape_text(*res.output_shape)} instead of {shape_text(H1, W1)} with stride 1 and {this}: it "
        f"keeps every {ordinal(s)} row and column of the stride-1 output "
        f"({_fewer(H1 * W1, res.output_shape[0] * res.output_shape[1])}), downsampling the map "
        "and skipping positions in between."
    )


def _checks_text(checks: list[dict]) -> str:
    if not checks:
        return ""
    parts = [f"`{c['route']}` agrees (max $|\\Delta|$ = {c['max_abs_error']:.3g})" for c in checks]
    return "Checked: " + "; ".join(parts) + "."


def _kernel_label(k: Kernel) -> str:
    if k.named:
        return f"`{k.name}`"
    if k.alias:
        return f"literal, = `{k.label}`"
    return "literal"


def conv_markdown(answer: ConvAnswer, digits: int) -> str:
    C, H, W = answer.input_shape
    F = len(answer.results)
    one_d = answer.ndim == 1
    title = "Convolution" if answer.mode == "convolve" else "Cross-correlation"
    if answer.layer:
        title += " layer"
    if one_d:
        head = f"## {title}: {plural(F, 'filter')} on a 1-D input of length {W}"
    else:
        head = f"## {title}: {plural(F, 'kernel')} on a {shape_text(H, W)} input"
    head += f" with {C} channels" if C > 1 else ""
    if answer.activation != "linear":
        head += f", {answer.activation} activation"
    out = [head, "", _definition(answer), ""]
    out += [note for n in answer.notes for note in (n, "")]
    x_latex = (_vectors_latex("x", answer.X, digits) if one_d
               else _channels_latex("X", answer.X, digits))
    out += ["**Input**", "", x_latex, ""]
    shown_pad = None
    for r, res in enumerate(answer.results, start=1):
        k = res.kernel
        KH, KW = k.size
        sym = _symbols(answer, r - 1)
        if one_d:
            out += [f"### Filter {r}: {_kernel_label(k)} (length {KW})", ""]
        else:
            out += [f"### Kernel {r}: {_kernel_label(k)} ({shape_text(KH, KW)})", ""]
        if k.description:
            out += [k.description, ""]
        if res.broadcast:
            what = "1-D filter" if one_d else "2-D kernel"
            out += [
                f"The {what} is applied to each of the {C} input channels and the "
                "responses are summed (one filter with identical slices).",
                "",
            ]
        kern = [[[normalize(w) for w in row] for row in ch] for ch in k.table]
        if one_d:
            f = str(r - 1) if F > 1 else ""
            out += [_vectors_latex("w", kern if not res.broadcast else kern[:1], digits, f), ""]
        else:
            kname = "K" if k.scale == 1 else f"K = {fmt_latex(Fraction(k.scale), digits)}\\,T,\\; T"
            out += [_channels_latex(kname, kern, digits), ""]
        if answer.mode == "convolve":
            rot = [[list(row) for row in ch] for ch in res.slid.table]
            if one_d:
                out += ["Reversed for convolution:", "",
                        _vectors_latex(r"w^{\mathrm{rot}}", rot, digits), ""]
            else:
                rs = r"K^{\mathrm{rot}}" if k.scale == 1 else r"T^{\mathrm{rot}}"
                out += ["Rotated by 180° for convolution:", "", _channels_latex(rs, rot, digits),
                        ""]
        if answer.has_bias:
            out += [f"Bias ${sym['b']} = {fmt_latex(res.bias, digits)}$.", ""]
        p = res.padding
        out.append(f"**Padding** `{p.spec}`: {p.describe(answer.ndim)}.")
        if p.any:
            xp = r"x^{\mathrm{pad}}" if one_d else r"X^{\mathrm{pad}}"
            if res.X_pad == shown_pad:
                out[-1] += f" ${xp}$ as above."
            else:
                pad_latex = (_vectors_latex(xp, res.X_pad, digits) if one_d
                             else _channels_latex(xp, res.X_pad, digits))
                out += ["", pad_latex]
                shown_pad = res.X_pad
        s, d = answer.stride, answer.dilation
        if one_d:
            out += [
                "",
                "**Output length** $\\lfloor (L + p_{total} - d(M-1) - 1)/s \\rfloor + 1$ "
                "($p_{total}$ = zeros added at both ends): "
                f"$L_{{out}} = {_size_formula(W, KW, p.total[1], s, d)}$.",
                "",
            ]
        else:
            out += [
                "",
                "**Output size** $\\lfloor (n + p_{total} - d(k-1) - 1)/s \\rfloor + 1$ "
                "($p_{total}$ = zeros added along the axis): "
                f"$H_{{out}} = {_size_formula(H, KH, p.total[0], s, d)}$, "
                f"$W_{{out}} = {_size_formula(W, KW, p.total[1], s, d)}$.",
                "",
            ]
        out += [_output_latex(answer, res, digits), ""]
        if answer.explain is not None:
            cells = sorted(res.cells) if answer.explain == "all" else answer.explain
            out += [
                "**Step by step**" + (r" ($\underline{0}$ = padding)" if p.any else ""),
                "",
            ]
            for cell in cells:
                out += [explain_line(answer, res, res.cells[cell], digits), ""]
        chk = _checks_text(res.checks)
        if chk:
            out += [chk, ""]
    out += [_stride_note(answer), ""]
    for cr in answer.student_checks:
        out += [cr.to_markdown(digits), ""]
    return "\n".join(out).rstrip("\n") + "\n"
