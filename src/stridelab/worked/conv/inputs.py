"""Reading the values of ``stridelab conv``: typed literals or files, arrays, kernels, biases, cells."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import shorten
from stridelab.worked._limits import MAX_EXACT_CELLS
from stridelab.worked._numbers import (
    Matrix,
    Number,
    exact_from_array,
    parse_channels,
    parse_number,
    read_text_file,
)
from stridelab.worked.kernels import Kernel, kernel_from_array, parse_kernel


def depth(v) -> int:
    d = 0
    while isinstance(v, (list, tuple)):
        if not v:
            return d + 1
        v, d = v[0], d + 1
    return d


def as_channels(X, *, channels_first: bool = False, what: str = "the input") -> list[Matrix]:
    """Any accepted input form -> (C, H, W) nested lists of exact numbers.

    A vector (L,) is one channel of one row, (1, 1, L); a matrix (H, W) is one channel, or
    with ``channels_first`` C = H channels of one row each, (H, 1, W); (C, H, W) is kept.
    NumPy arrays are accepted; floats must be finite.
    """
    values = exact_from_array(X, what=what)
    d = depth(values)
    if d == 1 and values and not isinstance(values[0], list):
        values = [[values]]
    elif d == 2:
        values = [[row] for row in values] if channels_first else [values]
    elif d != 3:
        raise DataError(f"{what} must be a vector, a matrix or (C, H, W) channels")
    if not values or not values[0] or not values[0][0]:
        raise DataError(f"{what} is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
    H, W = len(values[0]), len(values[0][0])
    for c, ch in enumerate(values):
        if len(ch) != H or any(len(row) != W for row in ch):
            raise DataError(f"{what}: channel {c} is not {H}×{W} like channel 0")
    cells = len(values) * H * W
    if cells > MAX_EXACT_CELLS:
        raise DataError(
            f"{what} has {cells:,} values, above the limit of {MAX_EXACT_CELLS:,} for exact "
            "arithmetic; use --image for a photo"
        )
    return values


def as_kernel(k, channels_first: bool) -> Kernel:
    if isinstance(k, Kernel):
        return k
    if isinstance(k, str):
        return parse_kernel(k, channels_first=channels_first)
    return kernel_from_array(k, channels_first=channels_first)


def parse_biases(values) -> list[Number] | None:
    """``--bias`` values (each a number or a comma/space list) -> one number per kernel."""
    if values is None:
        return None
    if isinstance(values, (int, float, Fraction)) and not isinstance(values, bool):
        return [exact_from_array(values, what="--bias")]
    if isinstance(values, str):
        values = [values]
    out: list[Number] = []
    for v in values:
        if isinstance(v, (list, tuple)) and not v:
            v = ""  # argparse hands `--bias=--` over as an empty list: as empty as ""
        if isinstance(v, str):
            toks = [t for t in re.split(r"[,;\s]+", v.strip()) if t]
            if not toks:
                raise DataError("--bias is empty; give one number per kernel, e.g. --bias 0.5")
            out += [parse_number(t, what="--bias") for t in toks]
        else:
            value = exact_from_array(v, what="--bias")
            if isinstance(value, list):
                raise DataError("--bias takes one number per kernel, e.g. --bias 0.5,-1; "
                                "got a nested list")
            out.append(value)
    if len(out) > MAX_EXACT_CELLS:
        raise DataError(f"--bias has {len(out):,} values, above the limit of {MAX_EXACT_CELLS:,}")
    return out or None


def parse_cells(
    text: str, *, one_based: bool = False, ndim: int = 2
) -> list[tuple[int, int]] | str:
    """``"0,1"`` or ``"0,1; 2,2"`` -> 0-based cells; ``"all"`` -> ``"all"``.

    For a 1-D output (``ndim=1``) cells are positions: ``"2"``, ``"0;2"`` or ``"0,2"`` give
    ``[(0, 2)]``-style cells (row 0).
    """
    t = text.strip().lower()
    if t in ("", "all"):
        return "all"
    base = 1 if one_based else 0
    cells = []
    if ndim == 1:
        for part in re.split(r"[;,\s]+", t):
            if not part:
                continue
            if not re.fullmatch(r"\(?\[?[0-9]{1,12}\]?\)?", part):
                raise ConfigError(
                    f"--explain position {shorten(part)} not understood; write positions such "
                    "as '2' or '0;2' (or 'all')"
                )
            k = int(part.strip("()[]"))
            if k < base:
                raise ConfigError(f"--explain position {k}: with --one-based, positions start at 1")
            cells.append((0, k - base))
        return cells
    for part in re.split(r"[;\s]+", t):
        if not part:
            continue
        m = re.fullmatch(r"\(?\[?([0-9]{1,12}),([0-9]{1,12})\]?\)?", part)
        if not m:
            raise ConfigError(
                f"--explain cell {shorten(part)} not understood; write row,col pairs such as "
                "'0,1' or '0,1;2,2' (or 'all')"
            )
        i, j = int(m.group(1)), int(m.group(2))
        if one_based:
            if i < 1 or j < 1:
                raise ConfigError(
                    f"--explain cell {part!r}: with --one-based, rows and columns start at 1"
                )
            i, j = i - 1, j - 1
        cells.append((i, j))
    return cells


_NUMERIC = re.compile(r"[\d\s.,;|/+\-\u2212\u2013eE#]*")


def looks_like_path(text: str) -> bool:
    """A file name rather than a literal matrix such as "1/9 2/9; 0.5 -1".

    Text made only of numbers and separators is a literal, whatever its length (a 10×10
    matrix is over 255 characters, too long for a file name); a name the system cannot take
    as a path is simply not a file.
    """
    t = text.strip()
    if not t:  # Path("") is the current directory; an empty argument is an empty matrix
        return False
    if _NUMERIC.fullmatch(t):  # only numbers and separators
        return False
    if ";" in t or "\n" in t or "|" in t:  # rows or channels: a literal (with a typo)
        return False
    try:
        if Path(t).exists():
            return True
    except (OSError, ValueError):  # too long, or an embedded NUL byte: not an existing file
        pass
    return bool(re.search(r"\.(csv|tsv|txt|dat)$", t, re.I)) or "/" in t or "\\" in t


def is_vector_text(text: str) -> bool:
    """Whether a literal (or a file's text) is one row per channel: no ';' or line breaks
    between rows, so ``"1 2 3 4 5"`` and ``"1 2 3 | 4 5 6"`` are 1-D, ``"1 2 3;"`` is not."""
    blocks = [b for b in re.split(r"\||\n[ \t]*\n", text) if b.strip()]
    return bool(blocks) and all(len(re.findall(r"[;\n]", b.strip())) == 0 for b in blocks)


def read_input(values: list[str], *, channels_first: bool = False) -> list[Matrix]:
    """Literal matrices or CSV/whitespace files (channels: '|' or blank lines) -> (C, H, W).

    With ``channels_first`` every row is one channel of a 1-D input: (rows, 1, L).
    """
    chans: list[Matrix] = []
    for v in values:
        if looks_like_path(v):
            text = read_text_file(v, what="--input")
            got = parse_channels(text, what=f"input file {shorten(v)}", max_cells=MAX_EXACT_CELLS)
        else:
            got = parse_channels(v, what="--input", max_cells=MAX_EXACT_CELLS)
        if channels_first:
            if len(got) > 1:
                raise DataError(
                    "--input: with --channels-first write one channel per row separated by ';' "
                    "(not '|')"
                )
            got = [[row] for row in got[0]]  # (rows, 1, L)
        chans += got
    for c, ch in enumerate(chans[1:], start=1):
        if (len(ch), len(ch[0])) != (len(chans[0]), len(chans[0][0])):
            raise DataError(
                f"--input channel {c} is {len(ch)}×{len(ch[0])} but channel 0 is "
                f"{len(chans[0])}×{len(chans[0][0])}; every channel needs the same size"
            )
    cells = sum(len(ch) * len(ch[0]) for ch in chans)
    if cells > MAX_EXACT_CELLS:
        raise DataError(
            f"--input has {cells:,} values, above the limit of {MAX_EXACT_CELLS:,} for exact "
            "arithmetic; use --image for a photo"
        )
    return chans


