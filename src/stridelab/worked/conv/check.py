"""A student's result compared cell by cell, each wrong value with its most likely slip."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked.answer import Answer
from stridelab.worked.conv.compute import (
    CellTerms,
    KernelResult,
    activate,
    activate_array,
    border_mask,
    correlate_exact,
    dilate,
)
from stridelab.worked.conv.markdown import cell_name, explain_line
from stridelab.worked.conv.padding import output_size, resolve_padding
from stridelab.worked.limits import MAX_CHECK_DETAILS, MAX_EXACT_PADDED_CELLS
from stridelab.worked.numbers import (
    Matrix,
    Number,
    fmt,
    normalize,
    paren,
    plural,
    same_value,
    to_json,
)
from stridelab.worked.values import read_values

if TYPE_CHECKING:
    from stridelab.worked.conv.answer import ConvAnswer

# ---------------------------------------------------------------- a student's answer


SLIPS = {
    "flipped": "kernel flipped",
    "shifted": "window off by one",
    "padding": "padding",
    "stride": "stride",
    "dilation": "dilation",
    "sign": "sign error",
    "product_sign": "one product's sign",
    "omitted": "a product left out",
    "bias": "bias left out",
    "activation": "activation not applied",
    "transposed": "rows and columns swapped",
    "shape": "wrong shape",
    "arithmetic": "arithmetic slip",
}


@dataclass
class WrongCell:
    """One cell of a student's answer that differs from the right one."""

    cell: tuple[int, int]  # 0-based (row, column); (0, k) in 1-D
    student: Number
    correct: Number
    slip: str  # a key of SLIPS
    detail: str  # what the slip was, one sentence (Markdown)
    terms: CellTerms  # the correct products and their sum


@dataclass
class CheckResult(Answer):
    """A student's result compared with the computed one.

    ``correct`` is true when every cell matches (a decimal is accepted when it is the right
    value rounded to the places written). ``wrong_cells`` lists each differing cell with the
    correct products and sum and the slip that best reproduces the student's value; ``slip``
    is the most likely slip overall (a key of :data:`SLIPS`), ``message`` says it in words.
    """

    kernel: str
    ndim: int
    one_based: bool
    correct: bool
    expected_shape: tuple[int, ...]
    student_shape: tuple[int, ...]
    n_cells: int
    wrong_cells: list[WrongCell]
    slip: str | None
    message: str
    compared_with: str = "the output"
    n_wrong: int = 0  # wrong cells in all; only the first MAX_CHECK_DETAILS are in wrong_cells
    answer: ConvAnswer | None = field(default=None, repr=False)  # what was compared against
    index: int = 0  # kernel number in ``answer`` (0-based)
    number: int = 1  # the kernel's number in the task (1-based), for the heading
    detail: str = ""  # what the slip was, one clause (the message's part after the slip's name)

    def to_markdown(self, digits: int | None = None) -> str:
        digits = (self.answer.digits if self.answer else 6) if digits is None else digits
        return _check_markdown(self, digits)

    def to_dict(self) -> dict:
        base = 1 if self.one_based else 0
        out = {
            "kernel": self.kernel,
            "correct": self.correct,
            "expected_shape": list(self.expected_shape),
            "student_shape": list(self.student_shape),
            "compared_with": self.compared_with,
            "slip": self.slip,
            "message": self.message,
            "n_wrong": self.n_wrong,
            "wrong_cells": [],
        }
        for wc in self.wrong_cells:
            cell = [wc.cell[1] + base] if self.ndim == 1 else [wc.cell[0] + base,
                                                               wc.cell[1] + base]
            out["wrong_cells"].append({
                "cell": cell,
                "student": to_json(wc.student),
                "correct": to_json(wc.correct),
                "slip": wc.slip,
                "detail": wc.detail,
                "products": [
                    [to_json(w), to_json(x)] for ch in wc.terms.terms for w, x, _ in ch
                ],
                "sum": to_json(wc.terms.z),
            })
        return out


def student_matrix(student, ndim: int) -> Matrix:
    """A student's answer -> (rows, cols) exact numbers; a 1-D vector is one row."""
    chans = read_values(student, what="--check").channels
    if len(chans) > 1:
        again = "repeat --check" if isinstance(student, str) else "check each kernel on its own"
        raise DataError(f"--check takes one matrix per kernel; {again} for more kernels")
    m = chans[0]
    if ndim == 1 and len(m) > 1 and all(len(r) == 1 for r in m):
        m = [[r[0] for r in m]]  # a column typed for a vector
    return m


def _alternative(answer: ConvAnswer, index: int, **changes) -> KernelResult:
    """Kernel ``index`` of ``answer`` recomputed with ``changes`` (exact, no checks kept)."""
    res = answer.results[index]
    mode = changes.get("mode", answer.mode)
    pad_spec = changes.get("padding", answer.padding_spec)
    stride = changes.get("stride", answer.stride)
    dilation = changes.get("dilation", answer.dilation)
    H, W = answer.input_shape[1:]
    kernel = res.kernel
    pad = resolve_padding(pad_spec, (H, W), kernel.size, stride, dilation, ndim=answer.ndim)
    slid = kernel.flipped() if mode == "convolve" else kernel
    bias = changes.get("bias", res.bias)
    act = changes.get("activation", answer.activation)
    alt = correlate_exact(answer.X, slid, pad, stride, dilation, bias=bias, activation=act)
    alt.kernel, alt.slid, alt.broadcast = kernel, slid, res.broadcast
    return alt


def _all_windows(res: KernelResult, answer: ConvAnswer, edge: bool = False) -> np.ndarray:
    """Every stride-1 window of the padded input, with one more zero all round (for the
    shifts), or with edge-replicated padding: (Hq', Wq') float64."""
    from numpy.lib.stride_tricks import sliding_window_view

    p, d = res.padding, answer.dilation
    X = np.array(answer.X, dtype=np.float64)  # (C, H, W)
    mode = "edge" if edge else "constant"
    Xp = np.pad(X, ((0, 0), (p.top, p.bottom), (p.left, p.right)), mode=mode)  # (C, Hp, Wp)
    ey = 0 if answer.ndim == 1 else 1
    Xq = np.pad(Xp, ((0, 0), (ey, ey), (1, 1)))  # one more zero all round, for the shifts
    w = dilate(np.array(res.slid.weights, dtype=np.float64), d)  # (C, KH', KW')
    win = sliding_window_view(Xq, w.shape[1:], axis=(1, 2))  # (C, Hq', Wq', KH', KW')
    return np.einsum("chwij,cij->hw", win, w)  # (Hq', Wq')


def _float_alternative(res: KernelResult, answer: ConvAnswer, *, di: int = 0, dj: int = 0,
                       edge: bool = False, full: np.ndarray | None = None) -> np.ndarray:
    """The output with every window shifted by (di, dj), or with edge-replicated padding.

    Float64 (the comparison allows for it): (H_out, W_out). ``full`` is
    :func:`_all_windows` when already computed (the shifts share it).
    """
    s = answer.stride
    ey = 0 if answer.ndim == 1 else 1
    if full is None:
        full = _all_windows(res, answer, edge)
    H_out, W_out = res.output_shape
    rows = np.arange(H_out) * s + di + ey
    cols = np.arange(W_out) * s + dj + 1
    z = full[np.ix_(rows, cols)] + float(res.bias)
    return activate_array(z, answer.activation)


def _touches_padding(ct: CellTerms) -> bool:
    return any(p for ch in ct.terms for _, _, p in ch)


def _shift_words(di: int, dj: int, ndim: int) -> str:
    if ndim == 1:
        return "one position to the right" if dj > 0 else "one position to the left"
    parts = []
    if di:
        parts.append("one row lower" if di > 0 else "one row higher")
    if dj:
        parts.append("one column to the right" if dj > 0 else "one column to the left")
    return " and ".join(parts)


def check_student(answer: ConvAnswer, index: int, student) -> CheckResult:
    res = answer.results[index]
    S = student_matrix(student, answer.ndim)
    E = res.output
    shape_s = (len(S), len(S[0]))
    label = res.kernel.label
    if shape_s != res.output_shape:
        return _check_shape(answer, index, S, shape_s)
    cells = [(i, j) for i in range(len(E)) for j in range(len(E[0]))]
    n = len(cells)
    wrong = [c for c in cells if not same_value(S[c[0]][c[1]], E[c[0]][c[1]])]
    shape = _dims(res.output_shape, answer.ndim)
    n_wrong = len(wrong)
    listed = wrong[:MAX_CHECK_DETAILS]
    if not wrong:
        return CheckResult(label, answer.ndim, answer.one_based, True, shape, shape, n, [], None,
                           f"All correct: every one of the {plural(n, 'value')} matches.",
                           answer=answer, index=index, number=index + 1)
    hyps = _hypotheses(answer, index)
    # 1. one slip made everywhere: the student's whole matrix is an alternative output
    for key, detail, alt in hyps:
        if all(same_value(S[i][j], alt[i][j]) for i, j in cells):
            wcs = [_wrong(S, E, res, c, key, "") for c in listed]
            msg = (f"{_count_differ(len(wrong), n)} Most likely slip — {SLIPS[key]}: {detail}; "
                   "this reproduces every value you wrote." + _listed(n_wrong))
            return CheckResult(label, answer.ndim, answer.one_based, False, shape, shape, n, wcs,
                               key, msg, answer=answer, index=index, number=index + 1,
                               n_wrong=n_wrong, detail=detail)
    # 2. cell by cell: which slip reproduces each wrong value
    wcs = [_diagnose_cell(answer, res, S, c, hyps) for c in listed]
    counts = Counter(wc.slip for wc in wcs)
    key, k = counts.most_common(1)[0]
    n_border = int(border_mask(res, answer.input_shape[1:], answer.stride, answer.dilation).sum())
    border = (res.padding.any and all(_touches_padding(res.cells[c]) for c in wrong)
              and len(wrong) >= max(2, n_border / 2))
    if border and key in ("arithmetic", "padding"):
        key, k = "padding", len(wcs)
        detail = (
            "every wrong cell's window reaches into the zero padding and every other cell is "
            "right: the padding zeros were not used as zeros there"
        )
    else:
        detail = next(wc.detail for wc in wcs if wc.slip == key)
        if k > 1:
            detail = _generic_detail(key, detail)
    share = "" if k == len(wcs) else f" ({k} of the {len(wcs)} wrong values diagnosed)"
    msg = (f"{_count_differ(len(wrong), n)} Most likely slip — {SLIPS[key]}{share}: {detail}."
           + _listed(n_wrong))
    return CheckResult(label, answer.ndim, answer.one_based, False, shape, shape, n, wcs, key,
                       msg, answer=answer, index=index, number=index + 1, n_wrong=n_wrong,
                       detail=detail + share)


def _listed(n_wrong: int) -> str:
    if n_wrong <= MAX_CHECK_DETAILS:
        return ""
    return f" The first {MAX_CHECK_DETAILS} wrong values are shown."


def _count_differ(k: int, n: int) -> str:
    return f"{k} of {plural(n, 'value')} {'differs' if k == 1 else 'differ'}."


def _generic_detail(key: str, detail: str) -> str:
    return {
        "sign": "these values have the wrong sign",
        "product_sign": "in each of these, one product entered with the wrong sign",
        "omitted": "in each of these, one product was left out of the sum",
        "arithmetic": "the products are right but their sums are not",
    }.get(key, detail)


def _dims(shape: tuple[int, int], ndim: int) -> tuple[int, ...]:
    return (shape[1],) if ndim == 1 else shape


def _wrong(S, E, res, c, key, detail) -> WrongCell:
    i, j = c
    return WrongCell(c, S[i][j], E[i][j], key, detail, res.cells[c])


def _hypotheses(answer: ConvAnswer, index: int) -> list[tuple[str, str, Matrix]]:
    """(slip, what it was, the output it gives) for every slip made over the whole matrix.

    Kept on the answer (they depend only on it), so a class's answers are checked against
    one set of alternatives per kernel.
    """
    cache = answer.__dict__.setdefault("_slip_outputs", {})
    if index not in cache:
        cache[index] = _compute_hypotheses(answer, index)
    return cache[index]


def _compute_hypotheses(answer: ConvAnswer, index: int) -> list[tuple[str, str, Matrix]]:
    res = answer.results[index]
    k = res.kernel
    hyps: list[tuple[str, str, Matrix]] = []
    other = "convolve" if answer.mode == "correlate" else "correlate"
    if k.flipped().table != k.table:
        alt = _alternative(answer, index, mode=other).output
        if answer.mode == "correlate":
            detail = ("the kernel was rotated by 180° first: this is the convolution, not the "
                      "cross-correlation the task asks for")
        else:
            detail = ("the kernel was not rotated by 180°: this is the cross-correlation, not "
                      "the convolution the task asks for")
        if k.flipped().table == k.negated().table:
            detail += " (for this kernel the rotation is the same as changing every sign)"
        hyps.append(("flipped", detail, alt))
    shifts = [(0, -1), (0, 1)] if answer.ndim == 1 else [
        (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]
    windows = _all_windows(res, answer)
    for di, dj in shifts:
        alt = _float_alternative(res, answer, di=di, dj=dj, full=windows).tolist()
        hyps.append(("shifted", f"every window was placed {_shift_words(di, dj, answer.ndim)}",
                     alt))
    if res.padding.any:
        alt = _float_alternative(res, answer, edge=True).tolist()
        hyps.append(("padding", "the input was padded by repeating its edge values instead of "
                     "with zeros", alt))
    if res.bias != 0:
        alt = _alternative(answer, index, bias=0).output
        hyps.append(("bias", f"the bias b = {fmt(res.bias)} was left out", alt))
    if answer.activation != "linear":
        hyps.append(("activation", f"{answer.activation} was not applied: these are the z "
                     "values", res.z))
    H, W = res.output_shape
    if answer.ndim == 2 and H == W and H > 1:
        hyps.append(("transposed", "rows and columns were swapped (the transpose)",
                     [list(r) for r in zip(*res.output)]))
    hyps.append(("sign", "every value has the wrong sign",
                 [[normalize(-v) for v in row] for row in res.output]))
    return hyps


def _diagnose_cell(answer: ConvAnswer, res: KernelResult, S: Matrix, c, hyps) -> WrongCell:
    i, j = c
    s_val, e_val = S[i][j], res.output[i][j]
    ct = res.cells[c]
    scale, act = res.kernel.scale, answer.activation
    if res.padding.any and _touches_padding(ct) and s_val == 0:
        return _wrong(S, res.output, res, c, "padding",
                      "this window reaches into the padding and was left as 0")
    if e_val != 0 and same_value(s_val, normalize(-e_val)):
        return _wrong(S, res.output, res, c, "sign", "the sign is wrong")
    z = ct.z
    products = [(w, x) for ch in ct.terms for w, x, _ in ch if w * x != 0]
    for w, x in products:
        p = scale * w * x
        if same_value(s_val, activate(normalize(z - 2 * p), act)):
            return _wrong(S, res.output, res, c, "product_sign",
                          f"the product {_prod_text(w, x)} = {fmt(normalize(w * x))} entered "
                          "with the wrong sign")
    for w, x in products:
        p = scale * w * x
        if same_value(s_val, activate(normalize(z - p), act)):
            return _wrong(S, res.output, res, c, "omitted",
                          f"the product {_prod_text(w, x)} = {fmt(normalize(w * x))} was left "
                          "out of the sum")
    for key, detail, alt in hyps:
        if key == "sign":
            continue
        if same_value(s_val, alt[i][j]):
            if key == "padding" and not _touches_padding(ct):
                continue
            return _wrong(S, res.output, res, c, key, detail)
    diff = normalize(s_val - e_val)
    return _wrong(S, res.output, res, c, "arithmetic",
                  f"the products sum to {fmt(e_val)}, not {fmt(s_val)} (off by {fmt(diff)})")


def _prod_text(w: Number, x: Number) -> str:
    return f"{paren(fmt(w))}·{paren(fmt(x))}"


def _check_shape(answer: ConvAnswer, index: int, S: Matrix, shape_s) -> CheckResult:
    """The student's matrix has another shape: find the setting that gives that shape."""
    res = answer.results[index]
    label, ndim = res.kernel.label, answer.ndim
    exp_shape = _dims(res.output_shape, ndim)
    stu_shape = _dims(shape_s, ndim) if not (ndim == 1 and shape_s[0] != 1) else shape_s
    spec = str(answer.padding_spec).strip().lower()
    KH, KW = res.kernel.size
    full = f"{KH - 1},{KW - 1}" if ndim == 2 else f"{KW - 1}"
    candidates = []
    if spec != "valid":
        candidates.append(("padding", dict(padding="valid"), "the 'valid' output (no padding)",
                           "the padding was left out"))
    if spec != "same":
        candidates.append(("padding", dict(padding="same"), "the 'same' output",
                           f"padding was added, but the task's padding is `{answer.padding_spec}`"))
    candidates.append(("padding", dict(padding=full), "the 'full' output (k − 1 zeros on every "
                       "side)", f"the task's padding is `{answer.padding_spec}`"))
    if answer.stride > 1:
        candidates.append(("stride", dict(stride=1), "the stride-1 output",
                           f"the stride of {answer.stride} was not applied"))
    if answer.dilation > 1:
        candidates.append(("dilation", dict(dilation=1), "the output without dilation",
                           f"the dilation of {answer.dilation} was not applied"))
    H, W = answer.input_shape[1:]
    for key, change, name, why in candidates:
        try:
            pad = resolve_padding(change.get("padding", answer.padding_spec), (H, W),
                                  res.kernel.size, change.get("stride", answer.stride),
                                  change.get("dilation", answer.dilation), ndim=ndim)
        except ConfigError:
            continue
        Hp, Wp = H + pad.top + pad.bottom, W + pad.left + pad.right
        s, d = change.get("stride", answer.stride), change.get("dilation", answer.dilation)
        shape_alt = (output_size(Hp, KH, s, d), output_size(Wp, KW, s, d))
        if shape_alt != shape_s or answer.input_shape[0] * Hp * Wp > MAX_EXACT_PADDED_CELLS:
            continue
        spec = str(change.get("padding", answer.padding_spec))
        alt_res = _alternative(answer, index, padding=spec, stride=s, dilation=d)
        alt = dataclasses.replace(answer, padding_spec=spec, stride=s, dilation=d,
                                  results=[alt_res], explain=None, student_checks=[], notes=[],
                                  figure=None)
        sub = alt.check(S)
        head = (f"Your answer is {_shape_text(stu_shape)} but the output is "
                f"{_shape_text(exp_shape)}: {_shape_text(stu_shape)} is the size of {name}, "
                f"so {why}.")
        if sub.correct:
            msg = head + f" Every value matches {name}."
        else:
            msg = head + f" Compared with {name}: " + sub.message
        return CheckResult(label, ndim, answer.one_based, False, exp_shape, stu_shape,
                           sub.n_cells, sub.wrong_cells, key, msg, compared_with=name,
                           answer=alt, index=0, number=index + 1, n_wrong=sub.n_wrong)
    msg = (f"Your answer is {_shape_text(stu_shape)} but the output is "
           f"{_shape_text(exp_shape)} ({_size_sentence(answer, res)}); no padding, stride or "
           "dilation slip gives your size.")
    return CheckResult(label, ndim, answer.one_based, False, exp_shape, stu_shape,
                       0, [], "shape", msg, answer=answer, index=index, number=index + 1)


def _shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return plural(shape[0], "value")
    return "×".join(str(s) for s in shape)


def _size_sentence(answer: ConvAnswer, res: KernelResult) -> str:
    H, W = answer.input_shape[1:]
    KH, KW = res.kernel.size
    pt, s, d = res.padding.total, answer.stride, answer.dilation
    if answer.ndim == 1:
        return f"L_out = {_size_plain(W, KW, pt[1], s, d)}"
    return f"H_out = {_size_plain(H, KH, pt[0], s, d)}, W_out = {_size_plain(W, KW, pt[1], s, d)}"


def _size_plain(n: int, k: int, p: int, s: int, d: int) -> str:
    ext = d * (k - 1) + 1
    return f"floor(({n} + {p} - {ext})/{s}) + 1 = {output_size(n, k, s, d, p)}"


def _check_markdown(cr: CheckResult, digits: int) -> str:
    out = [f"### Your answer for {'filter' if cr.ndim == 1 else 'kernel'} {cr.number}: "
           f"`{cr.kernel}`", ""]
    if cr.correct:
        out += ["**All correct**: " + cr.message.removeprefix("All correct: "), ""]
    else:
        out += [cr.message, ""]
    if cr.wrong_cells and cr.answer is not None:
        res = cr.answer.results[cr.index]
        for wc in cr.wrong_cells:
            where = cell_name(wc.cell, cr.ndim, cr.one_based)
            why = f": {wc.detail}" if wc.detail else ""
            out.append(
                f"- {'Position' if cr.ndim == 1 else 'Cell'} {where}: you wrote "
                f"{fmt(wc.student, digits)}, the right value is {fmt(wc.correct, digits)}{why}."
            )
            out += ["", explain_line(cr.answer, res, wc.terms, digits), ""]
    return "\n".join(out).rstrip() + "\n"
