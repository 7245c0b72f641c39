"""Output shapes and parameter counts of a chain of layers, with every formula filled in.

Shapes are channel-last as the sheets write them: H x W x C for images, L x C for sequences
(conv1d), N for flat vectors. Per spatial axis a convolution or pooling window gives
floor((n + 2p - d(k - 1) - 1) / s) + 1 outputs; p=same pads to ceil(n / s) (the extra
zero, for even windows, at the bottom/right) and p=valid means p=0. A conv layer with N
filters has N*(k*k*C + 1) parameters (weights plus one bias per filter; b=0 drops the bias).

A layer that is given no n= (conv, conv1d, dwsep, dense) keeps its filter or unit count as a
symbol n (n1, n2, ... when several do): its output depth is n and its parameters are a formula
in n, carried on by later layers (a dense layer after flatten sees 49*49*n inputs).

layers (options in brackets have defaults):
  conv:k=K[,n=N,s=1,p=0,d=1,b=1]      2-D convolution, N filters of K x K x C (alias conv2d)
  conv1d:k=K[,n=N,s=1,p=0,d=1,b=1]    1-D convolution over an L x C input
  dwsep:k=K[,n=N,s=1,p=0,d=1,b=1,db=b] depthwise-separable: one K x K filter per channel, then
                                      N pointwise 1 x 1 x C filters: C*(K*K + 1) + N*(C + 1)
                                      (db=0 drops the depthwise bias, as Keras' SeparableConv2D)
  depthwise:k=K[,m=1,s,p,d,b=1]       depthwise convolution, m filters per channel
  pool:k=K[,s=K,p=0]                  max pooling (alias maxpool); avgpool: average pooling
  gap / gmp                           global average / max pooling -> C
  upsample:f=2                        nearest-neighbour upsampling by f (s= is the same)
  flatten                             H x W x C -> H*W*C
  reshape:HxWxC                       a flat (or any) input rearranged, channel last (alias
                                      unflatten); H*W*C must equal the input's size
  dense[:n=N,b=1]                     fully connected (aliases fc, linear); needs a flat input
  bn                                  batch normalisation: 2*C trainable parameters (gamma, beta)
  relu, sigmoid, tanh, softmax, dropout   no parameters, shape unchanged

--check SHAPE[,params=P] compares a student's output shape (and total parameter count) with
the computed one and names the most likely slip: padding forgotten or put on one side only,
the +1 forgotten, ceil used for floor, the bias left out of the count, channels miscounted
(in every layer, or in one of the first 8 windowed or dense layers; chains of up to 60 layers).

limits: at most 1,000 layers; sizes, channel and filter counts up to 1,000,000,000; kernel,
stride, dilation, padding and upsampling factors up to 10,000.

examples:
  stridelab shape --input 50x50x1 conv:k=4,s=1,p=1,n=8 pool:k=2,s=2 flatten dense:n=10
  stridelab shape --input 50x50x1 conv:k=4,s=1,p=1 --check 49x49xn,params=17n
  stridelab shape --input 32x32x3 conv:k=3,p=same,n=16 relu dwsep:k=3,n=32 gap dense:n=10
  stridelab shape --input 2 dense:n=392 reshape:7x7x8 upsample:f=2 conv:k=3,p=1,n=4
  stridelab shape --input 100x4 conv1d:k=5,s=2,n=8 pool:k=2 flatten dense:n=1 --json
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field

from stridelab.errors import ConfigError
from stridelab.worked._answer import Answer
from stridelab.worked._limits import MAX_WINDOW, check_limit
from stridelab.worked._render import add_format_arguments, emit

_TIMES = "\u00d7"

# the most layers one chain may have
MAX_LAYERS = 1_000
# the largest input size, channel count, filter/unit count or computed spatial size
MAX_SIZE = 1_000_000_000
# the longest text of one layer spec or of a shape (characters); longer text is refused unread
_MAX_SPEC_CHARS = 200

# layer kind -> (aliases, allowed options, required options)
_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "conv": (("conv", "conv2d"), ("k", "n", "s", "p", "d", "b"), ("k",)),
    "conv1d": (("conv1d",), ("k", "n", "s", "p", "d", "b"), ("k",)),
    "dwsep": (("dwsep", "sepconv", "separable"), ("k", "n", "s", "p", "d", "b", "db"), ("k",)),
    "depthwise": (("depthwise", "dwconv", "dw"), ("k", "m", "s", "p", "d", "b"), ("k",)),
    "maxpool": (("pool", "maxpool", "max", "maxpool2d"), ("k", "s", "p"), ()),
    "avgpool": (("avgpool", "avg", "avgpool2d", "meanpool"), ("k", "s", "p"), ()),
    "gap": (("gap", "globalavgpool", "global_avg_pool"), (), ()),
    "gmp": (("gmp", "globalmaxpool", "global_max_pool"), (), ()),
    "upsample": (("upsample", "up"), ("f", "s"), ()),
    "flatten": (("flatten",), (), ()),
    "reshape": (("reshape", "unflatten", "view"), (), ()),
    "dense": (("dense", "fc", "linear"), ("n", "b"), ()),
    "bn": (("bn", "batchnorm"), (), ()),
    "activation": (
        ("relu", "sigmoid", "tanh", "softmax", "leakyrelu", "elu", "gelu", "identity"),
        (),
        (),
    ),
    "dropout": (("dropout",), ("p", "rate"), ()),
}
_ALIAS = {a: kind for kind, (aliases, _, _) in _KINDS.items() for a in aliases}
_SPATIAL = ("conv", "dwsep", "depthwise")
_WINDOWED = ("conv", "conv1d", "dwsep", "depthwise", "maxpool", "avgpool")
_OPEN_COUNT = ("conv", "conv1d", "dwsep", "dense")  # layers whose n= may be left as a symbol
_DIGITS = re.compile(r"[0-9]+")
_SUBSCRIPTS = str.maketrans("\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089",
                            "0123456789")


# ---------------------------------------------------------------- symbolic counts


class Sym:
    """A polynomial with integer coefficients in the unknown counts ``n`` (or ``n1``, ``n2``).

    ``terms`` maps a monomial (a sorted tuple of symbol names, repeated for powers; ``()`` is
    the constant) to its coefficient. Arithmetic with ints gives a :class:`Sym`; use
    :func:`_norm` to turn a constant back into an ``int``.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: dict[tuple[str, ...], int]):
        self.terms = {m: c for m, c in terms.items() if c}

    @classmethod
    def symbol(cls, name: str) -> Sym:
        return cls({(name,): 1})

    def __add__(self, other):
        other = _as_sym(other)
        if other is NotImplemented:
            return NotImplemented
        t = dict(self.terms)
        for m, c in other.terms.items():
            t[m] = t.get(m, 0) + c
        return _norm(Sym(t))

    __radd__ = __add__

    def __mul__(self, other):
        other = _as_sym(other)
        if other is NotImplemented:
            return NotImplemented
        t: dict[tuple[str, ...], int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                m = tuple(sorted(m1 + m2))
                t[m] = t.get(m, 0) + c1 * c2
        return _norm(Sym(t))

    __rmul__ = __mul__

    def __eq__(self, other) -> bool:
        other = _as_sym(other)
        return other is not NotImplemented and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.terms.items())))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def _ordered(self):
        return sorted(self.terms.items(), key=lambda mc: (-len(mc[0]), mc[0]))

    def _render(self, commas: bool, latex: bool) -> str:
        minus = "-" if latex else "\u2212"
        out = ""
        for m, c in self._ordered():
            name = _latex_symbol if latex else _text_symbol
            syms = "".join(name(s) for s in m)
            num = f"{abs(c):,}" if commas else str(abs(c))
            term = syms if (m and abs(c) == 1) else (num + syms)
            if not out:
                out = (minus if c < 0 else "") + term
            else:
                out += f" {minus if c < 0 else '+'} {term}"
        return out or "0"

    def __str__(self) -> str:
        return self._render(commas=False, latex=False)

    def __repr__(self) -> str:
        return f"Sym({self})"

    def __format__(self, spec: str) -> str:
        return self._render(commas="," in spec, latex=False)

    def latex(self, commas: bool = False) -> str:
        return self._render(commas=commas, latex=True)

    @property
    def symbols(self) -> set[str]:
        return {s for m in self.terms for s in m}


def _as_sym(v):
    if isinstance(v, Sym):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return Sym({(): v})
    return NotImplemented


def _norm(v):
    """An int when ``v`` has no symbol left, else ``v``."""
    if isinstance(v, Sym) and all(m == () for m in v.terms):
        return v.terms.get((), 0)
    return v


def _text_symbol(name: str) -> str:
    sub = str.maketrans("0123456789", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089")
    return name[0] + name[1:].translate(sub)


def _latex_symbol(name: str) -> str:
    return name if len(name) == 1 else f"{name[0]}_{{{name[1:]}}}"


def _str(v) -> str:
    return str(v)


def _latex(v) -> str:
    return v.latex() if isinstance(v, Sym) else str(v)


def _count(v) -> str:
    """A parameter count with thousands separators: ``46,226`` or ``24,010n + 10``."""
    return f"{v:,}"


def _count_latex(v) -> str:
    text = v.latex(commas=True) if isinstance(v, Sym) else f"{v:,}"
    return text.replace(",", "{,}")


def _is_sym(v) -> bool:
    return isinstance(v, Sym)


# ---------------------------------------------------------------- results


@dataclass
class LayerRow:
    """One layer of the chain: its output shape, parameter count and the arithmetic.

    Shapes are tuples of ``int`` (or :class:`Sym` for a depth left open), channel last;
    ``params`` is an ``int`` or a :class:`Sym`.
    """

    spec: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    params: int | Sym
    shape_text: str  # how the output shape follows, numbers substituted (plain text)
    shape_latex: str
    params_text: str  # how the parameter count follows
    params_latex: str
    biases: int | Sym = 0  # how many of the parameters are biases

    @property
    def formula(self) -> str:
        return f"{self.shape_text}; params = {self.params_text}"

    @property
    def formula_latex(self) -> str:
        return f"{self.shape_latex};\\quad {self.params_latex}"


def _slip_lines(slips: list[str]) -> list[str]:
    if len(slips) == 1:
        return [f"  - Most likely slip: {slips[0]}"]
    return ["  - Each of these slips gives your answer:"] + [f"    - {s}" for s in slips]


@dataclass
class ShapeCheck(Answer):
    """A student's output shape (and parameter count) compared with the computed ones.

    ``shape_ok``/``params_ok`` are None where the student gave no value; ``shape_slips`` and
    ``params_slips`` hold one Markdown sentence per likely slip (empty when correct or when no
    single slip explains the difference, which ``shape_note``/``params_note`` then say).
    """

    student_shape: tuple | None
    student_params: int | Sym | None
    output: tuple
    total_params: int | Sym
    shape_ok: bool | None
    params_ok: bool | None
    shape_slips: list[str] = field(default_factory=list)
    params_slips: list[str] = field(default_factory=list)
    shape_note: str = ""
    params_note: str = ""

    @property
    def correct(self) -> bool:
        return self.shape_ok is not False and self.params_ok is not False

    def to_markdown(self) -> str:
        out = ["### Your answer", ""]
        given = []
        if self.student_shape is not None:
            given.append(f"output {_fmt_shape(self.student_shape)}")
        if self.student_params is not None:
            given.append(f"{_count(self.student_params)} parameters")
        out.append(f"You wrote: {', '.join(given)}.")
        out.append("")
        if self.correct:
            out += ["**All correct.**", ""]
            return "\n".join(out)
        if self.shape_ok is False:
            out.append(
                f"- **Output shape wrong**: it is {_fmt_shape(self.output)}, not "
                f"{_fmt_shape(self.student_shape)}."
                + (f" {self.shape_note}" if self.shape_note else "")
            )
            out += _slip_lines(self.shape_slips)
        elif self.shape_ok:
            out.append(f"- Output shape {_fmt_shape(self.output)}: correct.")
        if self.params_ok is False:
            out.append(
                f"- **Parameter count wrong**: it is {_count(self.total_params)}, not "
                f"{_count(self.student_params)}."
                + (f" {self.params_note}" if self.params_note else "")
            )
            out += _slip_lines(self.params_slips)
        elif self.params_ok:
            out.append(f"- Parameter count {_count(self.total_params)}: correct.")
        out.append("")
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {
            "student_shape": None
            if self.student_shape is None
            else [_json_dim(v) for v in self.student_shape],
            "student_params": None
            if self.student_params is None
            else _json_dim(self.student_params),
            "shape_ok": self.shape_ok,
            "params_ok": self.params_ok,
            "correct": self.correct,
            "shape_slips": list(self.shape_slips),
            "params_slips": list(self.params_slips),
            "shape_note": self.shape_note,
            "params_note": self.params_note,
        }


@dataclass
class ShapeAnswer(Answer):
    """A layer chain's shapes and parameter counts.

    ``input_shape`` and ``output`` are channel-last tuples ((H, W, C), (L, C) or (N,));
    ``rows`` has one :class:`LayerRow` per layer; ``symbols`` names the open filter counts.
    """

    input_shape: tuple
    rows: list[LayerRow] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    specs: list = field(default_factory=list, repr=False)  # the parsed LayerSpecs
    student_check: ShapeCheck | None = None

    @property
    def layers(self) -> list[LayerRow]:
        return self.rows

    @property
    def total_params(self) -> int | Sym:
        return _norm(sum((r.params for r in self.rows), 0))

    @property
    def output(self) -> tuple:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def output_shape(self) -> tuple:
        return self.output

    def check(self, student) -> ShapeCheck:
        """Compare a student's answer: ``"49x49x8"``, ``"49x49x8,params=136"``, a shape tuple
        or ``{"shape": ..., "params": ...}``; see :class:`ShapeCheck`."""
        return check_answer(self, student)

    def to_markdown(self) -> str:
        return _markdown(self)

    def to_dict(self) -> dict:
        return _dict(self)


# ---------------------------------------------------------------- parsing


def _int_text(text: str, what: str, *, minimum: int, limit: int) -> int:
    """An ASCII integer within [minimum, limit], read only when it is short enough to be so."""
    t = text.strip()
    if not _DIGITS.fullmatch(t):
        raise ConfigError(f"{what}: {text!r} must be a whole number")
    if len(t) > len(str(limit)) or int(t) > limit:
        raise ConfigError(f"{what} is {t[:20]}{'...' if len(t) > 20 else ''}, above the limit "
                          f"of {limit:,}")
    v = int(t)
    if v < minimum:
        raise ConfigError(f"{what} is {v}, must be >= {minimum}")
    return v


def parse_shape(text: str) -> tuple[int, ...]:
    """``"50x50x1"`` -> (50, 50, 1) (H, W, C); ``"100x4"`` -> (L, C); ``"784"`` -> (N,)."""
    raw = str(text)
    if len(raw) > _MAX_SPEC_CHARS:
        raise ConfigError(f"input shape is {len(raw):,} characters long; write HxWxC such as "
                          "50x50x1")
    parts = [p for p in re.split(r"[x\u00d7*,\s()\[\]]+", raw.strip().lower()) if p]
    if not parts or len(parts) > 3 or not all(_DIGITS.fullmatch(p) for p in parts):
        raise ConfigError(
            f"input shape {text!r} not understood; write HxWxC such as 50x50x1 (channel last), "
            "LxC for conv1d, or N for a flat vector"
        )
    dims = tuple(_int_text(p, f"input shape {text!r}: size", minimum=1, limit=MAX_SIZE)
                 for p in parts)
    return dims


def _pair(value: str, key: str, where: str, minimum: int, limit: int = MAX_WINDOW):
    parts = re.split(r"[x\u00d7]", value)
    if len(parts) not in (1, 2) or not all(_DIGITS.fullmatch(p) for p in parts):
        raise ConfigError(f"{where}: {key}={value!r} must be an integer (or AxB for two axes)")
    v = tuple(_int_text(p, f"{where}: {key}", minimum=minimum, limit=limit) for p in parts)
    return (v[0], v[-1])


@dataclass(frozen=True)
class LayerSpec:
    text: str
    kind: str
    name: str  # the name as typed (e.g. relu)
    opts: dict
    target: tuple[int, ...] | None = None  # reshape's shape


def parse_layer(text: str, index: int = 1) -> LayerSpec:
    """``"conv:k=4,s=1,p=1,n=8"`` -> a validated :class:`LayerSpec`."""
    if len(text) > _MAX_SPEC_CHARS:
        raise ConfigError(f"layer {index} is {len(text):,} characters long; a layer spec looks "
                          "like conv:k=3,n=8")
    where = f"layer {index} {text!r}"
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if name not in _ALIAS:
        raise ConfigError(
            f"{where}: unknown layer {name!r}; use one of conv, conv1d, dwsep, depthwise, pool, "
            "avgpool, gap, gmp, upsample, flatten, reshape, dense, bn, relu, dropout (see --help)"
        )
    kind = _ALIAS[name]
    if kind == "reshape":
        target_text = rest.strip().lower()
        if target_text.startswith("shape="):
            target_text = target_text[len("shape="):]
        parts = [p for p in re.split(r"[x\u00d7*,]+", target_text) if p.strip()]
        if not parts or len(parts) > 3:
            raise ConfigError(f"{where}: write the new shape channel last, e.g. reshape:7x7x8")
        target = tuple(_int_text(p, f"{where}: size", minimum=1, limit=MAX_SIZE) for p in parts)
        return LayerSpec(text.strip(), kind, name, {}, target)
    _, allowed, required = _KINDS[kind]
    opts: dict[str, str] = {}
    for item in (i for i in rest.split(",") if i.strip()):
        key, eq, value = item.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if not eq or not value:
            raise ConfigError(f"{where}: option {item.strip()!r} must look like key=value")
        if key not in allowed:
            takes = ", ".join(allowed) if allowed else "no options"
            raise ConfigError(f"{where}: unknown option {key!r}; {name} takes {takes}")
        if key in opts:
            raise ConfigError(f"{where}: option {key}= given twice")
        opts[key] = value
    if kind == "upsample" and "f" in opts and "s" in opts:
        raise ConfigError(f"{where}: give the factor once, as f= (s= is the same)")
    missing = [k for k in required if k not in opts]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}= (e.g. {name}:k=3,n=16)")
    return LayerSpec(text.strip(), kind, name, opts)


def split_layers(layers: str | list[str] | tuple[str, ...]) -> list[str]:
    """Layer spec texts from arguments that may hold several specs each (``a b``, ``a -> b``)."""
    if isinstance(layers, str):
        layers = [layers]
    specs: list[str] = []
    for item in layers:
        for s in re.split(r"\s+|->|\u2192", str(item).strip()):
            if s:
                specs.append(s)
                check_limit(len(specs), MAX_LAYERS, what="the number of layers")
    return specs


# ---------------------------------------------------------------- arithmetic

# slips a student makes in the window formula (applied when checking an answer)
_AXIS_SLIPS = ("padding", "one_side", "plus_one", "ceil")


def _window_out(n: int, k: int, s: int, p: int, d: int, slip: str | None = None) -> int:
    ext = d * (k - 1) + 1
    if slip == "padding":
        p = 0
    pad = p if slip == "one_side" else 2 * p
    if slip == "ceil":
        return -((ext - n - pad) // s) + 1
    plus = 0 if slip == "plus_one" else 1
    return (n + pad - ext) // s + plus


def _axis(n: int, k: int, s: int, pad: str, d: int, where: str, axis: str,
          slip: str | None = None):
    """Output length along one axis and its formula (text, LaTeX)."""
    if pad == "same" and slip != "padding":
        out = math.ceil(n / s)
        ext = d * (k - 1) + 1
        total = max((out - 1) * s + ext - n, 0)
        split = (
            f"p = {total // 2} per side"
            if total % 2 == 0
            else f"{total // 2} before, {total - total // 2} after"
        )
        return (
            out,
            f"\u2308{n}/{s}\u2309 = {out} (same: {split})",
            f"\\lceil {n}/{s} \\rceil = {out}\\ (\\text{{same: {split}}})",
        )
    p = 0 if pad in ("valid", "same") else int(pad)
    if slip == "padding":
        p_shown = 0
    else:
        p_shown = p
    out = _window_out(n, k, s, p, d, slip)
    if out < 1:
        raise ConfigError(
            f"{where}: the window (k={k}, d={d}) does not fit the {axis} size {n} with padding "
            f"{p}; use a smaller k, more padding or p=same"
        )
    two = "" if slip == "one_side" else "2\u00b7"
    two_l = "" if slip == "one_side" else "2\\cdot "
    num_t = f"{n} + {two}{p_shown}" if p_shown else f"{n}"
    num_l = f"{n} + {two_l}{p_shown}" if p_shown else f"{n}"
    if d == 1:
        num_t, num_l = f"{num_t} \u2212 {k}", f"{num_l} - {k}"
    else:
        num_t += f" \u2212 {d}\u00b7({k}\u22121) \u2212 1"
        num_l += f" - {d}\\cdot({k}-1) - 1"
    lo_t, hi_t, lo_l, hi_l = "\u230a", "\u230b", "\\lfloor", "\\rfloor"
    if slip == "ceil":
        lo_t, hi_t, lo_l, hi_l = "\u2308", "\u2309", "\\lceil", "\\rceil"
    plus_t = "" if slip == "plus_one" else " + 1"
    return (
        out,
        f"{lo_t}({num_t})/{s}{hi_t}{plus_t} = {out}",
        f"{lo_l} ({num_l})/{s} {hi_l}{plus_t} = {out}",
    )


def _pad_value(spec: LayerSpec, where: str) -> tuple[str, str]:
    p = spec.opts.get("p", "0")
    if p in ("same", "valid"):
        return (p, p)
    a, b = _pair(p, "p", where, 0)
    return (str(a), str(b))


def _spatial(spec: LayerSpec, shape, where: str, default_k: int | None = None, pool=False,
             slip: str | None = None):
    """Output spatial dims and formulas for a windowed layer on (H, W, C) or (L, C)."""
    o = spec.opts
    dims = shape[:-1]  # (H, W) or (L,)
    ks = _pair(o.get("k", str(default_k)), "k", where, 1)
    ss = _pair(o["s"], "s", where, 1) if "s" in o else (ks if pool else (1, 1))
    ds = _pair(o.get("d", "1"), "d", where, 1)
    ps = _pad_value(spec, where)
    names = ("H", "W") if len(dims) == 2 else ("L",)
    outs, texts, latexes = [], [], []
    for a, n in enumerate(dims):
        out, t, lx = _axis(n, ks[a], ss[a], ps[a], ds[a], where, names[a], slip)
        outs.append(out)
        texts.append(t)
        latexes.append(lx)
    if len(dims) == 2 and dims[0] == dims[1] and texts[0] == texts[1]:
        text, latex = f"H' = W' = {texts[0]}", f"H' = W' = {latexes[0]}"
    else:
        text = "; ".join(f"{nm}' = {t}" for nm, t in zip(names, texts))
        latex = ",\\; ".join(f"{nm}' = {lx}" for nm, lx in zip(names, latexes))
    return tuple(outs), ks, text, latex


def _fmt_shape(shape: tuple) -> str:
    return _TIMES.join(_str(s) for s in shape)


def _bias(spec: LayerSpec, where: str, key: str = "b", default: str = "1") -> int:
    b = spec.opts.get(key, default)
    if b not in ("0", "1"):
        raise ConfigError(f"{where}: {key}={b} must be 1 (with bias) or 0 (no bias)")
    return int(b)


def _filters(spec: LayerSpec, where: str, symbol: str | None):
    """The layer's filter/unit count: an int from n=, or the open symbol."""
    if "n" in spec.opts:
        return _pair(spec.opts["n"], "n", where, 1, MAX_SIZE)[0]
    if symbol is None:  # pragma: no cover - solve assigns a symbol to every open count
        raise ConfigError(f"{where}: missing n=")
    return Sym.symbol(symbol)


def _dot(*factors) -> tuple[str, str]:
    """``a·b·c`` in text and LaTeX."""
    return ("\u00b7".join(_str(f) for f in factors), "\\cdot ".join(_latex(f) for f in factors))


def layer_output(spec: LayerSpec, shape: tuple, index: int = 1, *, symbol: str | None = None,
                 slip: str | None = None) -> LayerRow:
    """Apply one layer to an input shape: output shape, parameters and the arithmetic.

    ``symbol`` names the filter count of a layer given without n=; ``slip`` (used by
    :func:`check_answer`) computes the layer the way a student with that slip would.
    """
    where = f"layer {index} {spec.text!r}"
    kind, o = spec.kind, spec.opts
    C = shape[-1]
    axis_slip = slip if slip in _AXIS_SLIPS else None
    if kind in _SPATIAL + ("maxpool", "avgpool", "upsample", "gap", "gmp") and len(shape) == 1:
        raise ConfigError(
            f"{where}: needs a spatial input (HxWxC or LxC), got the flat {_str(shape[0])}; "
            "add reshape:HxWxC first"
        )
    if kind in _SPATIAL and len(shape) != 3:
        raise ConfigError(
            f"{where}: needs an HxWxC input, got {_fmt_shape(shape)}; use conv1d for LxC"
        )
    if kind == "conv1d" and len(shape) != 2:
        raise ConfigError(f"{where}: needs an LxC input, got {_fmt_shape(shape)}")

    if kind in ("conv", "conv1d"):
        n = _filters(spec, where, symbol)
        dims, ks, t, lx = _spatial(spec, shape, where, slip=axis_slip)
        b = _bias(spec, where)
        if slip == "bias":
            b = 0
        kdims = ks[: len(dims)]
        kprod = math.prod(kdims)
        chan = 1 if slip == "channels" else C
        params = n * (kprod * chan + b)
        factors = (*kdims,) if slip == "channels" else (*kdims, C)
        kk_t, kk_l = _dot(*factors)
        pt = f"{_str(n)}\u00b7({kk_t} + 1)" if b else f"{_str(n)}\u00b7{kk_t}"
        pl = f"{_latex(n)}\\cdot({kk_l} + 1)" if b else f"{_latex(n)}\\cdot {kk_l}"
        depth = C if slip == "depth" else n
        return _row(spec, shape, dims + (depth,), params, t, lx, pt, pl, n * b)
    if kind == "dwsep":
        n = _filters(spec, where, symbol)
        dims, ks, t, lx = _spatial(spec, shape, where, slip=axis_slip)
        b = _bias(spec, where)
        db = _bias(spec, where, "db", str(b))
        if slip == "bias":
            b = db = 0
        params = C * (ks[0] * ks[1] + db) + n * (C + b)
        kk_t, kk_l = f"{ks[0]}\u00b7{ks[1]}", f"{ks[0]}\\cdot {ks[1]}"
        Ct, Cl = _str(C), _latex(C)
        nt, nl = _str(n), _latex(n)
        dw_t, dw_l = (
            (f"{Ct}\u00b7({kk_t} + 1)", f"{Cl}\\cdot({kk_l} + 1)")
            if db
            else (f"{Ct}\u00b7{kk_t}", f"{Cl}\\cdot {kk_l}")
        )
        pw_t, pw_l = (
            (f"{nt}\u00b7({Ct} + 1)", f"{nl}\\cdot({Cl} + 1)")
            if b
            else (f"{nt}\u00b7{Ct}", f"{nl}\\cdot {Cl}")
        )
        pt = f"{dw_t} + {pw_t} = {_count(params)} (depthwise + pointwise)"
        pl = f"{dw_l} + {pw_l} = {_count_latex(params)}\\ (\\text{{depthwise + pointwise}})"
        depth = C if slip == "depth" else n
        return _row(spec, shape, dims + (depth,), params, t, lx, pt, pl, C * db + n * b)
    if kind == "depthwise":
        m = _pair(o.get("m", "1"), "m", where, 1)[0]
        dims, ks, t, lx = _spatial(spec, shape, where, slip=axis_slip)
        b = 0 if slip == "bias" else _bias(spec, where)
        params = C * m * (ks[0] * ks[1] + b)
        pt = f"{_str(C)}\u00b7{m}\u00b7({ks[0]}\u00b7{ks[1]}" + (" + 1)" if b else ")")
        pl = f"{_latex(C)}\\cdot {m}\\cdot({ks[0]}\\cdot {ks[1]}" + (" + 1)" if b else ")")
        return _row(spec, shape, dims + (_norm(C * m),), params, t, lx, pt, pl, C * m * b)
    if kind in ("maxpool", "avgpool"):
        dims, _, t, lx = _spatial(spec, shape, where, default_k=2, pool=True, slip=axis_slip)
        return _row(spec, shape, dims + (C,), 0, t, lx, "0 (no weights)", "0")
    if kind in ("gap", "gmp"):
        how = "mean" if kind == "gap" else "max"
        return _row(
            spec,
            shape,
            (C,),
            0,
            f"one {how} per channel: {_str(C)}",
            f"\\text{{one {how} per channel: }}{_latex(C)}",
            "0",
            "0",
        )
    if kind == "upsample":
        f = _pair(o.get("f", o.get("s", "2")), "f", where, 1)
        dims = tuple(n * f[a] for a, n in enumerate(shape[:-1]))
        names = ("H", "W") if len(dims) == 2 else ("L",)
        for a, v in enumerate(dims):
            check_limit(v, MAX_SIZE, what=f"{where}: the output size {names[a]}'")
        t = "; ".join(
            f"{names[a]}' = {n}\u00b7{f[a]} = {dims[a]}" for a, n in enumerate(shape[:-1])
        )
        lx = ",\\; ".join(
            f"{names[a]}' = {n}\\cdot {f[a]} = {dims[a]}" for a, n in enumerate(shape[:-1])
        )
        return _row(spec, shape, dims + (C,), 0, t + " (nearest)", lx, "0", "0")
    if kind == "flatten":
        n = _norm(math.prod(shape))
        t_prod, l_prod = _dot(*shape)
        if len(shape) > 1:
            t, lx = f"{t_prod} = {_str(n)}", f"{l_prod} = {_latex(n)}"
        else:
            t, lx = f"{_str(n)} (already flat)", _latex(n)
        return _row(spec, shape, (n,), 0, t, lx, "0", "0")
    if kind == "reshape":
        size = _norm(math.prod(shape))
        target = spec.target
        want = math.prod(target)
        if _is_sym(size):
            raise ConfigError(
                f"{where}: the input has {_str(size)} values, with a filter count left open; "
                "give the layers before it n= so the size can be checked"
            )
        if size != want:
            raise ConfigError(
                f"{where}: the input has {size:,} values"
                + (f" ({_fmt_shape(shape)})" if len(shape) > 1 else "") + " but "
                f"{_fmt_shape(target)} needs {want:,}; the sizes must match"
            )
        t_prod, l_prod = _dot(*target)
        t = f"{_fmt_shape(shape)} \u2192 {_fmt_shape(target)} ({t_prod} = {want})"
        lx = f"{l_prod} = {want}"
        return _row(spec, shape, target, 0, t, lx, "0", "0")
    if kind == "dense":
        if len(shape) != 1:
            raise ConfigError(
                f"{where}: needs a flat input, got {_fmt_shape(shape)}; add flatten (or gap) first"
            )
        n = _filters(spec, where, symbol)
        b = 0 if slip == "bias" else _bias(spec, where)
        M = shape[0]
        params = n * (M + b)
        pt = f"{_str(n)}\u00b7({_str(M)} + 1)" if b else f"{_str(n)}\u00b7{_str(M)}"
        pl = f"{_latex(n)}\\cdot({_latex(M)} + 1)" if b else f"{_latex(n)}\\cdot {_latex(M)}"
        return _row(spec, shape, (n,), params, f"{_str(n)} units",
                    f"{_latex(n)}\\ \\text{{units}}", pt, pl, n * b)
    if kind == "bn":
        two_c = _norm(2 * C)
        return _row(
            spec,
            shape,
            shape,
            two_c,
            "shape unchanged",
            "\\text{unchanged}",
            f"2\u00b7{_str(C)} = {_count(two_c)} (\u03b3, \u03b2 per channel)",
            f"2\\cdot {_latex(C)} = {_count_latex(two_c)}\\ (\\gamma, \\beta\\ "
            "\\text{per channel})",
        )
    if kind == "dropout":
        p = o.get("p", o.get("rate", "0.5"))
        try:
            ok = len(p) <= 40 and 0 <= float(p) < 1
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"{where}: dropout rate {p[:40]!r} must be a number in [0, 1)")
    return _row(spec, shape, shape, 0, "shape unchanged", "\\text{unchanged}", "0", "0")


def _row(spec, shape, out, params, t, lx, pt, pl, biases=0) -> LayerRow:
    params = _norm(params)
    out = tuple(_norm(v) for v in out)
    for v in out:
        if isinstance(v, int) and len(out) > 1:
            check_limit(v, MAX_SIZE, what=f"layer {spec.text!r}: an output size")
    if not pt.startswith("0") and "=" not in pt:
        pt, pl = f"{pt} = {_count(params)}", f"{pl} = {_count_latex(params)}"
    return LayerRow(spec.text, spec.kind, tuple(shape), out, params, t, lx, pt, pl,
                    _norm(biases))


def _symbols_for(specs: list[LayerSpec]) -> list[str | None]:
    """One symbol per layer whose filter count is open: ``n``, or ``n1``, ``n2``, ..."""
    open_ = [i for i, s in enumerate(specs) if s.kind in _OPEN_COUNT and "n" not in s.opts]
    names = ["n"] if len(open_) == 1 else [f"n{j}" for j in range(1, len(open_) + 1)]
    out: list[str | None] = [None] * len(specs)
    for i, name in zip(open_, names):
        out[i] = name
    return out


def _propagate(shape: tuple, specs: list[LayerSpec], symbols: list[str | None],
               slip: str | None = None, only: int | None = None) -> list[LayerRow]:
    rows = []
    for i, spec in enumerate(specs):
        use = slip if only is None or only == i else None
        row = layer_output(spec, shape, i + 1, symbol=symbols[i], slip=use)
        rows.append(row)
        shape = row.output_shape
    return rows


def solve(input_shape: str | tuple[int, ...], layers: str | list[str]) -> ShapeAnswer:
    """Propagate ``input_shape`` (H, W, C) through ``layers`` (specs such as ``"conv:k=3,n=8"``).

    ``layers`` is a list of spec texts (each may hold several, space-separated) or one string.
    """
    if isinstance(input_shape, str):
        shape = parse_shape(input_shape)
    else:
        shape = tuple(input_shape)
        if not 1 <= len(shape) <= 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE for v in shape
        ):
            raise ConfigError(f"input shape {shape!r}: give 1 to 3 sizes from 1 to {MAX_SIZE:,}")
    texts = split_layers(layers)
    if not texts:
        raise ConfigError("give at least one layer, e.g. conv:k=3,n=8 pool:k=2 flatten dense:n=10")
    specs = [parse_layer(text, i) for i, text in enumerate(texts, start=1)]
    symbols = _symbols_for(specs)
    rows = _propagate(shape, specs, symbols)
    return ShapeAnswer(shape, rows, [s for s in symbols if s], specs)


# ---------------------------------------------------------------- a student's answer


_SHAPE_SLIPS = {
    "padding": "forgot the padding (computed as if p = 0)",
    "one_side": "padded one side only (h + p instead of h + 2p)",
    "plus_one": "forgot the +1 in \u230a(h + 2p \u2212 k)/s\u230b + 1",
    "ceil": "used ceil instead of floor in (h + 2p \u2212 k)/s",
    "depth": "counted channels wrong: a conv layer's output depth is its number of filters "
    "n, not the input's channels",
}
_PARAM_SLIPS = {
    "bias": "forgot the bias in the parameter count (one per filter or unit)",
    "channels": "counted channels wrong: each filter spans all C input channels "
    "(k\u00b7k\u00b7C weights, not k\u00b7k)",
}


def _parse_sym(text: str, what: str) -> int | Sym:
    """``"136"``, ``"17n"``, ``"24010n + 10"``, ``"9n1n2 + n2"`` -> int or :class:`Sym`."""
    t = text.strip().lower().translate(_SUBSCRIPTS).replace("\u2212", "-")
    t = t.replace(" ", "").replace("_", "").replace("\u00b7", "").replace("*", "")
    if not t or len(t) > _MAX_SPEC_CHARS:
        raise ConfigError(f"{what}: {text[:40]!r} is not a number or a formula in n")
    terms = re.findall(r"([+-]?)([0-9]*)((?:n[0-9]*)*)", t)
    rebuilt = "".join(a + b + c for a, b, c in terms)
    if rebuilt != t or any(not b and not c for _, b, c in terms if (_ or b or c)):
        raise ConfigError(f"{what}: {text[:40]!r} is not a number or a formula in n such as 17n")
    total: int | Sym = 0
    for sign, coef, syms in terms:
        if not coef and not syms:
            continue
        if len(coef) > 40:
            raise ConfigError(f"{what}: {coef[:20]}... is too long a number")
        c = int(coef) if coef else 1
        if sign == "-":
            c = -c
        names = tuple(sorted(re.findall(r"n[0-9]*", syms)))
        total = _norm(total + Sym({names: c}))
    return total


def parse_student(student) -> tuple[tuple | None, int | Sym | None]:
    """``"49x49x8,params=136"`` (or a tuple, or ``{"shape":, "params":}``) -> (shape, params)."""
    if isinstance(student, dict):
        shape, params = student.get("shape"), student.get("params")
        shape = None if shape is None else parse_student(shape if isinstance(shape, str)
                                                         else tuple(shape))[0]
        if isinstance(params, str):
            params = _parse_sym(params, "--check params")
        return shape, params
    if isinstance(student, (tuple, list)):
        dims = tuple(_parse_sym(str(v), "--check shape") if not isinstance(v, int) else v
                     for v in student)
        return dims, None
    text = str(student).strip()
    if not text or len(text) > 4 * _MAX_SPEC_CHARS:
        raise ConfigError("--check: give the output shape, e.g. 49x49x8 or 49x49x8,params=136")
    shape: tuple | None = None
    params = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if eq:
            if key.strip().lower() not in ("params", "p", "parameters"):
                raise ConfigError(f"--check: unknown key {key.strip()!r}; use params=N")
            params = _parse_sym(value, "--check params")
        elif shape is None:
            dims = [d for d in re.split(r"[x\u00d7*]", part.lower()) if d.strip()]
            if not dims or len(dims) > 3:
                raise ConfigError(f"--check: {part!r} is not a shape such as 49x49x8")
            shape = tuple(_parse_sym(d, "--check shape") for d in dims)
        else:
            raise ConfigError(f"--check: {part!r}: give one shape and optionally params=N")
    return shape, params


def _first_difference(right: list[LayerRow], wrong: list[LayerRow], attr: str):
    for r, w in zip(right, wrong):
        if getattr(r, attr) != getattr(w, attr):
            return r, w
    return None


def _slip_sentence(message: str, right: list[LayerRow], wrong: list[LayerRow], attr: str) -> str:
    pair = _first_difference(right, wrong, attr)
    if pair is None:
        return message + "."
    r, w = pair
    if attr == "output_shape":
        how_w, how_r = w.shape_text, r.shape_text
        if r.output_shape[-1] != w.output_shape[-1] and how_w == how_r:
            how_w = f"depth {_str(w.output_shape[-1])}"
            how_r = f"depth {_str(r.output_shape[-1])}"
    else:
        how_w, how_r = w.params_text, r.params_text
    got = f" ({_fmt_shape(w.output_shape)} there)" if attr == "output_shape" else ""
    return f"{message}. At layer `{r.spec}` that gives {how_w}{got}; correct is {how_r}."


# slips are looked for in chains of up to this many layers (longer ones get the verdict only)
MAX_SLIP_LAYERS = 60
# a slip in a single layer is looked for in the first this many windowed or dense layers
_ONE_LAYER_CANDIDATES = 8


def _variant_rows(answer: ShapeAnswer, symbols, slip: str, only: int | None):
    if only is None:
        return _propagate(answer.input_shape, answer.specs, symbols, slip)
    # the layers before ``only`` are the correct ones; recompute from there on
    shape = answer.rows[only - 1].output_shape if only else answer.input_shape
    spec = answer.specs[only]
    row = layer_output(spec, shape, only + 1, symbol=symbols[only], slip=slip)
    right = answer.rows[only]
    if (row.output_shape, row.params) == (right.output_shape, right.params):
        return None  # this slip changes nothing in this layer
    rest = _propagate(row.output_shape, answer.specs[only + 1:], symbols[only + 1:])
    return answer.rows[:only] + [row] + rest


def _variants(answer: ShapeAnswer, slips) -> list[tuple[str, list[LayerRow]]]:
    """Every way of computing the chain with one slip: in all layers, then in one layer."""
    out = []
    symbols = _symbols_for(answer.specs)
    candidates = [i for i, s in enumerate(answer.specs) if s.kind in _WINDOWED + ("dense", "bn")]
    for slip in slips:
        tried = []
        for only in [None] + candidates[:_ONE_LAYER_CANDIDATES]:
            try:
                rows = _variant_rows(answer, symbols, slip, only)
            except ConfigError:
                continue
            if rows is None:
                continue
            key = tuple((r.output_shape, r.params) for r in rows)
            if key not in tried:
                tried.append(key)
                out.append((slip, rows))
    return out


def check_answer(answer: ShapeAnswer, student) -> ShapeCheck:
    """Compare a student's output shape and parameter count with ``answer``; name the slip."""
    s_shape, s_params = parse_student(student)
    if s_shape is None and s_params is None:
        raise ConfigError("--check: give the output shape, e.g. 49x49x8 or 49x49x8,params=136")
    out, total = answer.output, answer.total_params
    shape_ok = None if s_shape is None else tuple(s_shape) == tuple(out)
    params_ok = None if s_params is None else s_params == total
    check = ShapeCheck(s_shape, s_params, out, total, shape_ok, params_ok)
    if len(answer.rows) > MAX_SLIP_LAYERS and not (shape_ok is not False and params_ok is not False):
        note = (f"(Slips are looked for in chains of up to {MAX_SLIP_LAYERS} layers; this one has "
                f"{len(answer.rows):,}.)")
        check.shape_note = note if shape_ok is False else ""
        check.params_note = note if params_ok is False else ""
        return check
    variants = _variants(answer, {**_PARAM_SLIPS, **_SHAPE_SLIPS})
    if shape_ok is False:
        if len(s_shape) != len(out):
            axes = {3: "H\u00d7W\u00d7C", 2: "L\u00d7C", 1: "a flat N"}[len(out)]
            check.shape_note = (
                f"You gave {len(s_shape)} size(s); the output has {len(out)} ({axes})."
            )
        else:
            seen = set()
            for slip, rows in variants:
                if (slip in _SHAPE_SLIPS and rows[-1].output_shape == tuple(s_shape)
                        and slip not in seen):
                    seen.add(slip)
                    check.shape_slips.append(
                        _slip_sentence(_SHAPE_SLIPS[slip], answer.rows, rows, "output_shape")
                    )
            if not seen:
                check.shape_note = "No single slip explains it; " + _chain_note(answer)
    if params_ok is False:
        seen = set()
        for slip, rows in variants:
            got = _norm(sum((r.params for r in rows), 0))
            if got == s_params and slip not in seen:
                seen.add(slip)
                msg = _PARAM_SLIPS.get(slip) or (
                    _SHAPE_SLIPS[slip] + ", which changes the inputs a later layer counts"
                )
                check.params_slips.append(_slip_sentence(msg, answer.rows, rows, "params"))
        if not seen:
            per_layer = " + ".join(_count(r.params) for r in answer.rows if r.params) or "0"
            check.params_note = f"No single slip explains it; per layer: {per_layer}."
    return check


def _chain_note(answer: ShapeAnswer) -> str:
    chain = " \u2192 ".join(_fmt_shape(s) for s in [answer.input_shape]
                           + [r.output_shape for r in answer.rows])
    return f"layer by layer: {chain}."


# ---------------------------------------------------------------- rendering


def _json_dim(v):
    return str(v) if isinstance(v, Sym) else v


def _markdown(answer: ShapeAnswer) -> str:
    inp = answer.input_shape
    axes = {3: "H\u00d7W\u00d7C", 2: "L\u00d7C", 1: "N"}[len(inp)]
    out = [
        f"## Shapes and parameters: input {_fmt_shape(inp)} ({axes})",
        "",
        "On an axis of size h a window of size k with stride s, padding p and dilation d gives "
        r"$\left\lfloor \frac{h + 2p - d(k-1) - 1}{s} \right\rfloor + 1$ outputs "
        r"($\lfloor (h + 2p - k)/s \rfloor + 1$ when d = 1; `same` gives $\lceil h/s \rceil$). "
        r"A conv layer with N filters of size k×k on C channels has $N\cdot(k\cdot k\cdot C + 1)$ "
        r"parameters; a dense layer with N units on M inputs has $N\cdot(M + 1)$.",
        "",
    ]
    if answer.symbols:
        names = ", ".join(f"${_latex_symbol(s)}$" for s in answer.symbols)
        which = [f"`{r.spec}`" for r, s in zip(answer.rows, _symbols_for(answer.specs)) if s]
        out += [
            f"The number of filters (or units) of {', '.join(which)} is not given: it stays "
            f"the symbol {names}, and the sizes and counts that depend on it are formulas in it.",
            "",
        ]
    out += [
        "| # | layer | output shape | how | parameters | how |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(answer.rows, start=1):
        how_p = f"${r.params_latex}$" if r.params else ""
        out.append(
            f"| {i} | `{r.spec}` | {_fmt_shape(r.output_shape)} | ${r.shape_latex}$ | "
            f"{_count(r.params)} | {how_p} |"
        )
    nonzero = [r.params for r in answer.rows if r.params]
    total = answer.total_params
    if len(nonzero) > 1:
        parts = [f"({_count(p)})" if _is_sym(p) and len(p.terms) > 1 else _count(p)
                 for p in nonzero]
        sum_text = " + ".join(parts) + f" = {_count(total)}"
    else:
        sum_text = _count(total)
    out += [
        "",
        f"**Output** {_fmt_shape(answer.output)}; **total parameters** {sum_text}.",
        "",
    ]
    if answer.student_check is not None:
        out.append(answer.student_check.to_markdown())
    return "\n".join(out)


def _dict(answer: ShapeAnswer) -> dict:
    d = {
        "input_shape": list(answer.input_shape),
        "layers": [
            {
                "spec": r.spec,
                "output_shape": [_json_dim(v) for v in r.output_shape],
                "params": _json_dim(r.params),
                "formula": r.formula,
                "formula_latex": r.formula_latex,
            }
            for r in answer.rows
        ],
        "output_shape": [_json_dim(v) for v in answer.output],
        "total_params": _json_dim(answer.total_params),
        "symbols": list(answer.symbols),
    }
    if answer.student_check is not None:
        d["check"] = answer.student_check.to_dict()
    return d


def to_markdown(answer: ShapeAnswer) -> str:
    """The answer as Markdown with LaTeX (the same as ``answer.to_markdown()``)."""
    return answer.to_markdown()


def to_dict(answer: ShapeAnswer) -> dict:
    """The answer as plain JSON types (the same as ``answer.to_dict()``)."""
    return answer.to_dict()


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--input",
        required=True,
        metavar="HxWxC",
        help="input shape, channel last: 50x50x1, 32x32x3; LxC for conv1d; N flat",
    )
    parser.add_argument(
        "layers",
        nargs="*",
        metavar="LAYER",
        help="layer specs such as conv:k=4,s=1,p=1,n=8 pool:k=2 flatten dense:n=10",
    )
    parser.add_argument(
        "--check",
        metavar="SHAPE[,params=P]",
        help="a student's output shape (and total parameter count) to check, e.g. 49x49x8 or "
        "49x49x8,params=136 (49x49xn,params=17n with an open filter count)",
    )
    add_format_arguments(parser)


def answer_from_args(args: argparse.Namespace) -> ShapeAnswer:
    """The answer for parsed ``add_arguments`` args (with the student check); prints nothing."""
    answer = solve(args.input, list(args.layers or []))
    if getattr(args, "check", None):
        answer.student_check = answer.check(args.check)
    return answer


def main(args: argparse.Namespace) -> int:
    answer = answer_from_args(args)
    emit(answer, args)
    return 0
