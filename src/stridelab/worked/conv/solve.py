"""Apply kernels to typed values exactly, after every size and limit is checked."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from stridelab.errors import ConfigError
from stridelab.worked._args import positive_int, shorten
from stridelab.worked.conv.answer import ConvAnswer
from stridelab.worked.conv.compute import (
    MODES,
    KernelResult,
    check_activation,
    check_route,
    conv_engine,
    conv_scipy,
    correlate_exact,
)
from stridelab.worked.conv.inputs import as_kernel, parse_biases, parse_cells
from stridelab.worked.conv.markdown import cell_name
from stridelab.worked.conv.padding import Padding, output_size, padding_numbers, resolve_padding
from stridelab.worked.kernels import Kernel
from stridelab.worked.limits import (
    MAX_EXACT_DIGITS,
    MAX_EXACT_PADDED_CELLS,
    MAX_EXACT_PRODUCTS,
    MAX_EXPLAIN_TERMS,
    MAX_WINDOW,
)
from stridelab.worked.numbers import (
    all_exact,
    is_exact,
    plural,
)
from stridelab.worked.values import channels_from_array, depth


def _precheck_sizes(
    C: int, H: int, W: int, kernels: list[Kernel], pads: list[Padding], stride: int,
    dilation: int, explain,
) -> None:
    """Refuse, before any arithmetic, work beyond the documented exact-arithmetic limits."""
    products = explained = 0
    for kernel, pad in zip(kernels, pads):
        Hp, Wp = H + pad.top + pad.bottom, W + pad.left + pad.right
        if C * Hp * Wp > MAX_EXACT_PADDED_CELLS:
            raise ConfigError(
                f"the zero-padded input is {C}×{Hp}×{Wp} = {C * Hp * Wp:,} cells, "
                f"above the limit of {MAX_EXACT_PADDED_CELLS:,} for exact arithmetic; use less "
                "padding (or --image for a photo)"
            )
        KH, KW = kernel.size
        H_out = max(output_size(Hp, KH, stride, dilation), 0)
        W_out = max(output_size(Wp, KW, stride, dilation), 0)
        products += H_out * W_out * C * KH * KW
        if isinstance(explain, list):
            explained += len(explain) * C * KH * KW
        elif explain == "all":
            explained += H_out * W_out * C * KH * KW
    if products > MAX_EXACT_PRODUCTS:
        raise ConfigError(
            f"this needs {products:,} exact products, above the limit of "
            f"{MAX_EXACT_PRODUCTS:,}; use a smaller input, kernel or padding, or a larger stride"
        )
    if explained > MAX_EXPLAIN_TERMS:
        raise ConfigError(
            f"--explain would write out {explained:,} products, above the limit of "
            f"{MAX_EXPLAIN_TERMS:,}; name a few cells, e.g. --explain 0,1"
        )


def _fraction_fallback(res: KernelResult) -> bool:
    """Turn outputs whose exact fractions outgrow ``MAX_EXACT_DIGITS`` into floats."""
    big = 10**MAX_EXACT_DIGITS

    def grown(v) -> bool:
        if type(v) is int:
            return abs(v) >= big
        return isinstance(v, Fraction) and (abs(v.numerator) >= big or v.denominator >= big)

    if not any(grown(v) for m in (res.output, res.z, res.raw) for row in m for v in row):
        return False
    for m in {id(res.output): res.output, id(res.z): res.z, id(res.raw): res.raw}.values():
        for row in m:
            row[:] = [float(v) for v in row]
    return True


# ---------------------------------------------------------------- solve


def solve(
    X,
    kernels: list,
    *,
    padding: str | int = "valid",
    stride: int = 1,
    dilation: int = 1,
    mode: str = "correlate",
    explain: list[tuple[int, int]] | str | None = None,
    one_based: bool = False,
    bias=None,
    activation: str = "linear",
    channels_first: bool = False,
    ndim: int | None = None,
) -> ConvAnswer:
    """Apply each kernel to ``X`` exactly and check the result by independent routes.

    Parameters
    ----------
    X : a vector (L,), a matrix (H, W), or channels (C, H, W); nested lists or an ndarray.
        ints/Fractions are kept exact. With ``channels_first`` a matrix is (C, L): C channels
        of a 1-D signal.
    kernels : :class:`Kernel` objects, strings (names such as ``"sobel_x"`` or literals) or
        arrays, (K,), (KH, KW) or (C, KH, KW); with ``channels_first`` a matrix is (C, K).
    padding : ``"valid"``, ``"same"``, ``N``, ``"PH,PW"`` or ``"top,bottom,left,right"``
        (1-D: ``N`` zeros at each end or ``"left,right"``).
    explain : 0-based cells ``[(i, j), ...]`` (1-D: ``[(0, k), ...]``), a string such as
        ``"0,1"``, ``"all"``, or ``None`` for no step-by-step.
    bias : one number per kernel (or a single number for one kernel), ``None`` for none.
    activation : ``"linear"``, ``"relu"``, ``"sigmoid"`` or ``"tanh"``: a = sigma(z).
    ndim : 1 or 2; ``None`` decides: 1-D when ``X`` is a vector (or ``channels_first``) and
        every kernel is one row, else 2-D (a (1, W) matrix stays a 2-D input).

    Returns
    -------
    ConvAnswer whose ``output`` is (F, H', W') for 2-D and (F, L') for 1-D input.
    """
    if mode not in MODES:
        raise ConfigError(f"mode {shorten(mode)} not understood; use correlate or convolve")
    activation = check_activation(activation)
    stride = positive_int(stride, name="--stride", maximum=MAX_WINDOW)
    dilation = positive_int(dilation, name="--dilation", maximum=MAX_WINDOW)
    padding_numbers(padding)  # refuses a bad or huge padding before anything is read
    vector = channels_first or (X.ndim if isinstance(X, np.ndarray) else depth(X)) == 1
    X = channels_from_array(X, what="the input", channels_first=channels_first)
    if not kernels:
        raise ConfigError("give at least one --kernel (a name such as sobel_x or a literal)")
    ks = [as_kernel(k, channels_first) for k in kernels]
    C, H, W = len(X), len(X[0]), len(X[0][0])
    if ndim is None:
        ndim = 1 if vector and all(k.size[0] == 1 for k in ks) else 2
    if ndim not in (1, 2):
        raise ConfigError(f"ndim must be 1 or 2, got {ndim!r}")
    if ndim == 1 and (H != 1 or any(k.size[0] != 1 for k in ks)):
        raise ConfigError("a 1-D convolution needs one-row inputs and kernels")
    biases = parse_biases(bias)
    if biases is not None and len(biases) != len(ks):
        raise ConfigError(
            f"--bias gives {plural(len(biases), 'value')} but there "
            f"{'is' if len(ks) == 1 else 'are'} {plural(len(ks), 'kernel')}; give one per "
            "kernel, e.g. --bias 0.5" + (",-1" if len(ks) == 2 else "")
        )
    if isinstance(explain, str):
        explain = parse_cells(explain, one_based=one_based, ndim=ndim)
    if isinstance(explain, list):
        explain = [tuple(c) for c in explain]
    prepared = []
    for kernel in ks:
        broadcast = False
        if kernel.channels != C:
            if kernel.channels != 1:
                sep = "one row per channel" if channels_first else "separated by '|'"
                raise ConfigError(
                    f"kernel {shorten(kernel.name)} has {kernel.channels} channels but the "
                    f"input has {C}; give one kernel slice per input channel, {sep}"
                )
            kernel, broadcast = kernel.broadcast(C), True
        pad = resolve_padding(padding, (H, W), kernel.size, stride, dilation, ndim=ndim)
        prepared.append((kernel, broadcast, pad))
    _precheck_sizes(C, H, W, [k for k, _, _ in prepared], [p for _, _, p in prepared], stride,
                    dilation, explain)
    results = []
    grown = False
    for f, (kernel, broadcast, pad) in enumerate(prepared):
        b = biases[f] if biases is not None else 0
        slid = kernel.flipped() if mode == "convolve" else kernel
        res = correlate_exact(X, slid, pad, stride, dilation, bias=b, activation=activation)
        res.kernel, res.slid, res.broadcast = kernel, slid, broadcast
        grown |= _fraction_fallback(res)
        w = np.array(kernel.weights, dtype=np.float64)  # (C, KH, KW), unflipped
        dim = "" if ndim == 1 else "2d"
        fn = "conv1d" if ndim == 1 else "conv2d"
        routes = [
            ("scipy.signal." + ("correlate" if mode == "correlate" else "convolve") + dim,
             conv_scipy),
            (f"stridelab.core.functional.{fn}", conv_engine),
        ]
        Xf = np.array(X, dtype=np.float64)
        for name, route in routes:
            other = route(Xf, w, pad, stride, dilation, mode, ndim=ndim)
            chk = check_route(name, res.output, other, bias=b, activation=activation,
                         exact_z=res.pre)
            if chk is not None:
                res.checks.append(chk)
        failed = [c for c in res.checks if not c["passed"]]
        if failed:  # a bug in stridelab, not in the user's input
            raise RuntimeError(f"conv check failed for kernel {kernel.name!r}: {failed}")
        results.append(res)
    if isinstance(explain, list):
        for res in results:
            H_out, W_out = res.output_shape
            for i, j in explain:
                if not (0 <= i < H_out and 0 <= j < W_out):
                    base = 1 if one_based else 0
                    where = cell_name((i, j), ndim, one_based)
                    size = (f"output of {plural(W_out, 'value')}" if ndim == 1
                            else f"{H_out}×{W_out} output")
                    raise ConfigError(
                        f"--explain {'position' if ndim == 1 else 'cell'} {where} is outside "
                        f"the {size} of kernel {shorten(res.kernel.label)} "
                        f"({'positions' if ndim == 1 else 'rows and columns'} count from {base})"
                    )
    answer = ConvAnswer(
        X, str(padding), stride, dilation, mode, results, explain, one_based,
        ndim=ndim, activation=activation, layer=biases is not None or activation != "linear",
        channels_first=channels_first, has_bias=biases is not None,
    )
    exact_in = all_exact(X) and all(all_exact(r.kernel.weights) for r in results)
    exact_in = exact_in and all(is_exact(r.bias) for r in results)
    if not exact_in:
        answer.notes.append(
            f"Some values have more than {MAX_EXACT_DIGITS} digits or were given as floats, so "
            "this answer is computed in float64, not exactly."
        )
    if grown:
        answer.notes.append(
            f"Exact fractions of the output would have more than {MAX_EXACT_DIGITS} digits; "
            "they are shown in float64."
        )
    return answer
