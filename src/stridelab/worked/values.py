"""The one reader of the values a worked command is given, and the one writer of them.

A value is typed as a literal (``"8 2 9; 3 4 6"``: rows split by ``;`` or line breaks, values by
spaces or commas, channels by ``|`` or blank lines), kept in a text or CSV file that holds one,
or given from Python as a number, a (nested) list or a NumPy array. Whatever its form it is read
into channels of exact numbers, (C, H, W) nested lists, by one set of rules:

- every number through :func:`~stridelab.worked.numbers.parse_number` (typed) or
  :func:`~stridelab.worked.numbers.exact_number` (Python), so ``0.1`` is 1/10 either way;
- a vector is one row (1, 1, L); a matrix one channel (1, H, W), or with ``channels_first`` one
  channel per row (H, 1, W); rows and channels must agree in length;
- at most ``MAX_EXACT_CELLS`` values, counted before any is parsed; a file at most
  ``MAX_TEXT_BYTES`` bytes, and only a regular file (a FIFO could block forever);
- a file whose first line is not numbers (a CSV header) is read without it, and the answer says so.

:func:`read_values` is the reader; :func:`read_matrix`, :func:`read_vector` and
:func:`read_scalar` ask for a shape. :func:`literal` writes values back as the command line's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from stridelab.errors import DataError
from stridelab.worked.limits import MAX_EXACT_CELLS, MAX_TEXT_BYTES, MAX_VECTOR
from stridelab.worked.numbers import Matrix, Number, exact_number, parse_number

__all__ = [
    "Values",
    "channels_from_array",
    "count_values",
    "depth",
    "exact_from_array",
    "is_vector_text",
    "json_number_hooks",
    "literal",
    "number_literal",
    "looks_like_path",
    "parse_channels",
    "parse_matrix",
    "read_channels",
    "read_matrix",
    "read_scalar",
    "read_text",
    "read_text_file",
    "read_values",
    "read_vector",
]

_SEP = re.compile(r"[,\s]+")
# a literal is made of numbers and separators only (any length: a 10x10 matrix is over 255
# characters, too long for a file name)
_NUMERIC = re.compile(r"[\d\s.,;|/+\-\u2212\u2013eE#]*")


def _short(text: str, limit: int = 30) -> str:
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit] + "…") + f" ({len(text):,} characters)"


# ------------------------------------------------------------------ the text of a value


def looks_like_path(text: str) -> bool:
    """Whether ``text`` names a file rather than being a literal such as ``"1/9 2/9; 0.5 -1"``.

    Text made only of numbers and separators is a literal, whatever its length; so is text
    with rows or channels (``;``, a line break, ``|``), even with a typo in it. A name the
    system cannot take as a path is simply not a file.
    """
    t = text.strip()
    if not t or _NUMERIC.fullmatch(t):  # Path("") is the current directory, not a value
        return False
    if ";" in t or "\n" in t or "|" in t:
        return False
    try:
        if Path(t).exists():
            return True
    except (OSError, ValueError):  # too long, or an embedded NUL byte: not an existing file
        pass
    return bool(re.search(r"\.(csv|tsv|txt|dat)$", t, re.I)) or "/" in t or "\\" in t


def read_text_file(path: str | Path, *, what: str, max_bytes: int | None = None) -> str:
    """Read a small text file, turning OS errors into one-line :class:`DataError`.

    Only a regular file is read (a FIFO or a device could block or never end), and at most
    ``max_bytes`` (default ``MAX_TEXT_BYTES``) of it: a larger file is refused without reading
    it all. A name that is too long or otherwise impossible as a path is reported as not found.
    """
    limit = MAX_TEXT_BYTES if max_bytes is None else max_bytes
    p = Path(path)
    shown = _short(str(p), 60)
    try:
        exists, is_dir, is_file = p.exists(), p.is_dir(), p.is_file()
    except (OSError, ValueError):  # ENAMETOOLONG, an embedded NUL byte ...
        exists = is_dir = is_file = False
    if not exists:
        raise DataError(f"{what}: file {shown} not found; check the path")
    if is_dir:
        raise DataError(f"{what}: {shown} is a directory; give a file")
    if not is_file:
        raise DataError(f"{what}: {shown} is not a regular file; give a text or CSV file")
    try:
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise DataError(
            f"{what}: cannot read {shown} ({e.strerror or e.__class__.__name__})"
        ) from None
    if len(data) > limit:
        raise DataError(
            f"{what}: {shown} is larger than the limit of {limit:,} bytes; give a smaller file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{what}: cannot read {shown} as UTF-8 text") from None


def read_text(raw: str, *, what: str) -> tuple[str, str | None]:
    """``(text, path)``: the literal ``raw`` itself (path None), or the text of the file it names."""
    if looks_like_path(raw):
        path = raw.strip()
        return read_text_file(path, what=what), path
    return raw, None


# ------------------------------------------------------------------ parsing text


def count_values(text: str) -> int:
    """How many values ``text`` holds (tokens between separators), without parsing them."""
    return sum(
        1 for line in re.split(r"[;\n|]", text) for tok in _SEP.split(line.split("#", 1)[0]) if tok
    )


def parse_matrix(text: str, *, what: str = "matrix") -> Matrix:
    """Parse ``"8 2 9; 3 4 6"`` (rows split by ``;`` or newlines, values by spaces/commas)."""
    rows = []
    for line in re.split(r"[;\n]", text):
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append([parse_number(tok, what=what) for tok in _SEP.split(line) if tok])
    if not rows:
        raise DataError(f"{what} is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
    _same_lengths(rows, what)
    return rows


def _same_lengths(rows: list[list], what: str) -> None:
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise DataError(
                f"{what}: row {i} has {len(row)} values but row 1 has {len(rows[0])}; "
                "every row needs the same number of values"
            )


def _same_sizes(channels: list[Matrix], what: str) -> None:
    shape0 = (len(channels[0]), len(channels[0][0]))
    for c, ch in enumerate(channels[1:], start=1):
        if (len(ch), len(ch[0])) != shape0:
            raise DataError(
                f"{what}: channel {c} is {_times((len(ch), len(ch[0])))} but channel 0 is "
                f"{_times(shape0)}; every channel needs the same size"
            )


def _times(shape: Iterable[int]) -> str:
    return "\u00d7".join(str(s) for s in shape)


def parse_channels(
    text: str, *, what: str = "matrix", max_cells: int | None = None
) -> list[Matrix]:
    """Parse one or more channels separated by ``|`` (or blank lines in a file); (C, H, W).

    With ``max_cells``, text holding more values is refused (one line) before any is parsed.
    """
    if max_cells is not None:
        n = count_values(text)
        if n > max_cells:
            raise DataError(
                f"{what} has {n:,} values, above the limit of {max_cells:,}; give a smaller "
                "matrix"
            )
    blocks = [b for b in re.split(r"\||\n[ \t]*\n", text) if b.strip()]
    if not blocks:
        raise DataError(f"{what} is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
    channels = [
        parse_matrix(b, what=f"{what} channel {c}" if len(blocks) > 1 else what)
        for c, b in enumerate(blocks)
    ]
    _same_sizes(channels, what)
    return channels


def is_vector_text(text: str) -> bool:
    """Whether a literal (or a file's text) is one row per channel: no ';' or line breaks
    between rows, so ``"1 2 3 4 5"`` and ``"1 2 3 | 4 5 6"`` are 1-D, ``"1 2 3;"`` is not."""
    blocks = [b for b in re.split(r"\||\n[ \t]*\n", text) if b.strip()]
    return bool(blocks) and all(len(re.findall(r"[;\n]", b.strip())) == 0 for b in blocks)


# ------------------------------------------------------------------ Python values


def depth(v: Any) -> int:
    """How deeply ``v`` nests lists or tuples (an empty list counts one level)."""
    d = 0
    while isinstance(v, (list, tuple)):
        if not v:
            return d + 1
        v, d = v[0], d + 1
    return d


def exact_from_array(values: Any, *, what: str = "value") -> Any:
    """Nested lists, tuples or a NumPy array -> nested lists of exact numbers (nesting kept).

    Each number goes through :func:`~stridelab.worked.numbers.exact_number`: ints and Fractions
    stay exact, floats are their decimals, strings are parsed; NaN and Inf are refused.
    """
    if hasattr(values, "tolist") and not isinstance(values, (list, tuple)):
        values = values.tolist()  # ndarray -> nested lists of Python scalars
    if isinstance(values, (list, tuple)):
        return [exact_from_array(v, what=what) for v in values]
    return exact_number(values, what=what)


def channels_from_array(value: Any, *, what: str, channels_first: bool = False) -> list[Matrix]:
    """A number, vector, matrix or (C, H, W) channels from Python -> (C, H, W) exact numbers.

    A number is a 1×1 matrix and a vector (L,) one row, (1, 1, L); a matrix (H, W) is one
    channel, or with ``channels_first`` one channel per row, (H, 1, W).
    """
    values = exact_from_array(value, what=what)
    d = depth(values)
    if d == 0:
        values = [[[values]]]
    elif d == 1:
        values = [[values]]
    elif d == 2:
        values = [[row] for row in values] if channels_first else [values]
    elif d > 3:
        raise DataError(f"{what} has {d} dimensions; give a number, a vector, a matrix or "
                        "(C, H, W) channels")
    if not values or not values[0] or not values[0][0] or not isinstance(values[0][0], list):
        raise DataError(f"{what} is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
    for ch in values:
        if not ch or any(not isinstance(row, list) or not row for row in ch):
            raise DataError(f"{what} is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
        _same_lengths(ch, what)
    _same_sizes(values, what)
    cells = sum(len(ch) * len(ch[0]) for ch in values)
    if cells > MAX_EXACT_CELLS:
        raise DataError(f"{what} has {cells:,} values, above the limit of {MAX_EXACT_CELLS:,}; "
                        "give a smaller matrix")
    return values


# ------------------------------------------------------------------ the reader


@dataclass(frozen=True)
class Values:
    """What :func:`read_values` read: the channels, and where they came from."""

    channels: list[Matrix]  # (C, H, W) exact numbers
    note: str | None = None  # "--X: read from 'X.csv'." (None for a literal or a Python value)
    text: str | None = None  # the literal or the file's text (None for a Python value)


def read_values(raw: Any, *, what: str, max_cells: int = MAX_EXACT_CELLS) -> Values:
    """Read a value (a literal, a file, or a Python number, list or array) into channels."""
    if not isinstance(raw, str):
        return Values(channels_from_array(raw, what=what))
    text, path = read_text(raw, what=what)
    if path is None:
        return Values(parse_channels(text, what=what, max_cells=max_cells), None, text)
    label = f"{what} file {_short(path, 60)}"
    try:
        channels = parse_channels(text, what=label, max_cells=max_cells)
        return Values(channels, f"{what}: read from {path!r}.", text)
    except DataError:
        lines = [ln for ln in text.splitlines() if ln.split("#", 1)[0].strip()]
        if len(lines) < 2:
            raise
        # a CSV header line: read the rest, and say so
        rest = "\n".join(lines[1:])
        channels = parse_channels(rest, what=label, max_cells=max_cells)
        return Values(channels, f"{what}: read from {path!r}; its first line is not numbers "
                                "and was skipped as a header.", rest)


def _note(notes: list[str] | None, read: Values) -> None:
    if notes is not None and read.note:
        notes.append(read.note)


def read_channels(raw: Any, *, what: str, notes: list[str] | None = None) -> list[Matrix]:
    """Channels (C, H, W); a note on a file read goes to ``notes``."""
    read = read_values(raw, what=what)
    _note(notes, read)
    return read.channels


def read_matrix(raw: Any, *, what: str, notes: list[str] | None = None) -> Matrix:
    """One matrix (H, W); a note on a file read goes to ``notes``."""
    channels = read_channels(raw, what=what, notes=notes)
    if len(channels) != 1:
        raise DataError(f"{what} must be one matrix, got {len(channels)} channels")
    return channels[0]


def read_vector(raw: Any, *, what: str, notes: list[str] | None = None,
                max_len: int = MAX_VECTOR) -> list[Number]:
    """A vector (one row or one column) of at most ``max_len`` values."""
    m = read_matrix(raw, what=what, notes=notes)
    if len(m) == 1:
        v = m[0]
    elif len(m[0]) == 1:
        v = [row[0] for row in m]
    else:
        raise DataError(f"{what} must be a vector (one row or one column), got a "
                        f"{len(m)}×{len(m[0])} matrix")
    if len(v) > max_len:
        raise DataError(f"{what} has {len(v):,} values, above the limit of {max_len:,}")
    return v


def read_scalar(raw: Any, *, what: str) -> Number:
    """One number."""
    values = [x for ch in read_values(raw, what=what).channels for row in ch for x in row]
    if len(values) != 1:
        raise DataError(f"{what} must be one number, got {len(values)} values")
    return values[0]


def json_number_hooks(*, what: str = "value", max_exact_digits: int | None = None) -> dict:
    """``parse_int``/``parse_float``/``parse_constant`` for :func:`json.loads` with the policy
    of :func:`~stridelab.worked.numbers.parse_number`: ``json.loads(text,
    **json_number_hooks(what="spec"))`` refuses ``NaN``, ``Infinity``, ``1e400`` and 5000-digit
    integers with one line, and reads every other number exactly (decimals as Fractions; with
    ``max_exact_digits``, longer ones stay exact for the caller to judge)."""

    def number(s: str):
        return parse_number(s, what=what, max_exact_digits=max_exact_digits)

    def constant(s: str):
        raise DataError(f"{what}: {s} is not a finite number; give finite values only")

    return {"parse_int": number, "parse_float": number, "parse_constant": constant}


# ------------------------------------------------------------------ writing values


def number_literal(v: Any) -> str:
    """One number as a literal the commands parse exactly (ints stay ints, floats round-trip)."""
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, Fraction):
        return str(v)
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def literal(value: Any) -> str:
    """A vector, matrix or stack of matrices as the commands' text: ``"1 2; 3 4"``, ``"…|…"``.

    Strings pass through unchanged (a kernel name, a literal, a file name).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(r, (list, tuple, np.ndarray))
                                                        for r in value):
        if {np.ndim(r) for r in value} == {1}:  # rows of a matrix, possibly ragged: the command
            return "; ".join(" ".join(number_literal(x) for x in r) for r in value)  # says which
    a = np.asarray(value, dtype=object)
    if a.ndim == 0:
        return number_literal(a.item())
    if a.ndim == 1:
        return " ".join(number_literal(x) for x in a)
    if a.ndim == 2:
        return "; ".join(" ".join(number_literal(x) for x in row) for row in a)
    if a.ndim == 3:
        return " | ".join(literal(ch) for ch in a)
    raise ValueError(f"expected a vector, a matrix or a stack of matrices, got {a.ndim} dims")
