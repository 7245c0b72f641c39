"""The options of ``stridelab conv`` read: the input (through the shared reader), kernels, biases, cells."""

from __future__ import annotations

import re
from fractions import Fraction

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import shorten
from stridelab.worked.kernels import Kernel, kernel_from_array, parse_kernel
from stridelab.worked.limits import MAX_EXACT_CELLS
from stridelab.worked.numbers import Matrix, Number, parse_number
from stridelab.worked.values import exact_from_array, read_values


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


def read_input(values: list[str], *, channels_first: bool = False,
               notes: list[str] | None = None) -> list[Matrix]:
    """Literal matrices or CSV/whitespace files (channels: '|' or blank lines) -> (C, H, W).

    With ``channels_first`` every row is one channel of a 1-D input: (rows, 1, L). A note on
    each file read goes to ``notes``.
    """
    chans: list[Matrix] = []
    for v in values:
        read = read_values(v, what="--input")
        if notes is not None and read.note:
            notes.append(read.note)
        got = read.channels
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


