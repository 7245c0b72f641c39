"""Zero padding and output sizes of a sliding window: valid, same, N or per side."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from stridelab.errors import ConfigError
from stridelab.worked._args import shorten
from stridelab.worked.limits import MAX_WINDOW, check_limit
from stridelab.worked.numbers import plural

# ---------------------------------------------------------------- padding and sizes


@dataclass(frozen=True)
class Padding:
    """Zero padding actually applied: rows on top/bottom, columns left/right."""

    spec: str  # as requested: "valid", "same", "1", "1,2" or "0,1,0,1"
    top: int
    bottom: int
    left: int
    right: int

    @property
    def total(self) -> tuple[int, int]:
        """Zeros added along (rows, columns)."""
        return (self.top + self.bottom, self.left + self.right)

    @property
    def any(self) -> bool:
        return (self.top, self.bottom, self.left, self.right) != (0, 0, 0, 0)

    def describe(self, ndim: int = 2) -> str:
        """``"1 zero on every side"`` (2-D) or ``"1 zero at each end"`` (1-D)."""
        if ndim == 1:
            if self.left == self.right:
                if self.left == 0:
                    return "no padding"
                return f"{plural(self.left, 'zero')} at each end"
            return f"{plural(self.left, 'zero')} on the left, {self.right} on the right"
        if self.top == self.bottom == self.left == self.right:
            if self.top == 0:
                return "no padding"
            return f"{plural(self.top, 'zero')} on every side"
        return (
            f"{plural(self.top, 'row')} of zeros on top, {self.bottom} at the bottom, "
            f"{plural(self.left, 'column')} on the left, {self.right} on the right"
        )


def output_size(n: int, k: int, stride: int = 1, dilation: int = 1, pad_total: int = 0) -> int:
    """floor((n + pad_total - dilation*(k - 1) - 1) / stride) + 1; <= 0 if k does not fit."""
    return (n + pad_total - dilation * (k - 1) - 1) // stride + 1


def _same_pad(n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    # TensorFlow/Keras rule: output ceil(n / s); the odd leftover goes to the bottom/right.
    extent = dilation * (k - 1) + 1
    total = max((math.ceil(n / stride) - 1) * stride + extent - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    spec: str | int,
    in_hw: tuple[int, int],
    k_hw: tuple[int, int],
    stride: int,
    dilation: int,
    *,
    ndim: int = 2,
) -> Padding:
    """Turn ``"valid"``, ``"same"``, ``N``, ``"PH,PW"`` or ``"T,B,L,R"`` into a :class:`Padding`.

    For a 1-D input (``ndim=1``) ``N`` puts N zeros at each end and ``"L,R"`` L on the left
    and R on the right; no rows are added. Each number must be at most ``MAX_WINDOW``.
    """
    s = str(spec).strip().lower()
    if s == "valid":
        return Padding("valid", 0, 0, 0, 0)
    if s == "same":
        top, bottom = (0, 0) if ndim == 1 else _same_pad(in_hw[0], k_hw[0], stride, dilation)
        left, right = _same_pad(in_hw[1], k_hw[1], stride, dilation)
        return Padding("same", top, bottom, left, right)
    v = padding_numbers(s)
    if ndim == 1:
        if len(v) == 1:
            return Padding(s, 0, 0, v[0], v[0])
        if len(v) == 2:
            return Padding(s, 0, 0, v[0], v[1])
        raise ConfigError(
            f"padding {shorten(spec)} has {len(v)} numbers but the input is 1-D; use valid, "
            "same, N (zeros at each end) or 'left,right'"
        )
    if len(v) == 1:
        return Padding(s, v[0], v[0], v[0], v[0])
    if len(v) == 2:
        return Padding(s, v[0], v[0], v[1], v[1])
    return Padding(s, *v)


def padding_numbers(spec: str | int) -> list[int]:
    """The numbers of an explicit padding (``"1"``, ``"1,2"``, ``"0,1,0,1"``), each checked
    against ``MAX_WINDOW``; ``valid``/``same`` give ``[]``."""
    s = str(spec).strip().lower()
    if s in ("valid", "same"):
        return []
    parts = [p for p in re.split(r"[,\s]+", s) if p]
    if len(parts) in (1, 2, 4) and all(re.fullmatch(r"[0-9]{1,100}", p) for p in parts):
        v = [int(p) for p in parts]
        for n in v:
            check_limit(n, MAX_WINDOW, what="--padding")
        return v
    raise ConfigError(
        f"padding {shorten(spec)} not understood; use valid, same, a number of zeros N >= 0, "
        "'PH,PW' or 'top,bottom,left,right' (1-D: N or 'left,right')"
    )
