"""Reading a derivation's values: literals, text/CSV files, numbers, lists and arrays."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._limits import MAX_EXACT_CELLS, MAX_LITERAL_CHARS
from stridelab.worked._numbers import normalize, parse_channels, parse_matrix, read_text_file
from stridelab.worked.derive.numeric import FLOAT_MAX, digits

_MAX_VALUES = 1_000  # values in one vector (logits, targets, a 1-D input)
_MAX_FILE_BYTES = 4 * 2**20
_MAX_EXPONENT = 400  # |e| in 1e400: beyond it the literal is refused before it is expanded


# ---------------------------------------------------------------- reading user values

# characters a number literal can contain; anything else suggests a file name
_LITERAL_CHARS = re.compile(r"[\s0-9eE+\-\u2212\u2013.,;/#|]*")
_TOKENS = re.compile(r"[,;|\s]+")
_EXPONENT = re.compile(r"[eE]([+-]?\d+)$")


def _check_literal_text(text: str, what: str) -> None:
    """Refuse, before parsing, text that would be slow or huge to expand exactly."""
    tokens = []
    for line in re.split(r"[;\n]", text):
        tokens += [t for t in _TOKENS.split(line.split("#", 1)[0]) if t]
        if len(tokens) > MAX_EXACT_CELLS:
            raise DataError(
                f"{what} has more than {MAX_EXACT_CELLS:,} values, above the limit of "
                f"{MAX_EXACT_CELLS:,}"
            )
    for t in tokens:
        if len(t) > MAX_LITERAL_CHARS:
            raise DataError(
                f"{what}: a number of {len(t):,} characters is longer than the limit of "
                f"{MAX_LITERAL_CHARS}; values must be finite float64 numbers"
            )
        m = _EXPONENT.search(t)
        if m and len(m.group(1).lstrip("+-")) < 6 and abs(int(m.group(1))) <= _MAX_EXPONENT:
            continue
        if m:
            raise DataError(
                f"{what}: {t[:40]!r} has an exponent beyond ±{_MAX_EXPONENT}; values must be "
                "finite float64 numbers (|v| < 1.8e308)"
            )


def _check_range(rows, what: str) -> None:
    for row in rows:
        for v in row:
            if abs(v) > FLOAT_MAX:
                raise DataError(
                    f"{what}: a value of about 1e{digits(v) - 1} is outside the float64 range; "
                    "values must be finite float64 numbers (|v| < 1.8e308)"
                )


def _text_of(raw: str, what: str) -> tuple[str, str | None]:
    """(text, file name or None): ``raw`` is a literal, or the name of a text/CSV file."""
    t = raw.strip()
    if _LITERAL_CHARS.fullmatch(t):
        return t, None
    looks_like_name = not re.search(r"[\s;]", t)
    if len(t) < 4096 and "\0" not in t:
        p = Path(t)
        try:
            exists = p.exists()
        except (OSError, ValueError):
            exists = False
        if exists:
            if p.is_dir():
                raise DataError(f"{what}: {t!r} is a directory; give a text or CSV file")
            if not p.is_file():
                raise DataError(f"{what}: {t!r} is not a regular file; give a text or CSV file")
            size = p.stat().st_size
            if size > _MAX_FILE_BYTES:
                raise DataError(
                    f"{what}: {t!r} is {size:,} bytes, above the limit of "
                    f"{_MAX_FILE_BYTES:,} for a values file"
                )
            return read_text_file(p, what=what), t
    if looks_like_name:
        raise DataError(
            f"{what}: {t[:60]!r} is neither a file nor numbers; give a text/CSV file or "
            'values such as "1 2 3" (rows split by \';\')'
        )
    return t, None


def _parse_rows(text: str, what: str, *, channels: bool) -> list:
    _check_literal_text(text, what)
    if channels:
        chans = parse_channels(text, what=what)
    else:
        chans = [parse_matrix(text, what=what)]
    for ch in chans:
        _check_range(ch, what)
    return chans


def _from_number(v, what: str):
    if isinstance(v, (bool, np.bool_)):
        raise DataError(f"{what}: {v!r} is not a number")
    if isinstance(v, (int, np.integer)):
        v = int(v)
    elif isinstance(v, Fraction):
        pass
    elif isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            raise DataError(f"{what}: {v!r} is not a finite number; values must be finite")
        v = Fraction(repr(float(v)))  # 0.1 means 1/10, as when typed
    else:
        raise DataError(f"{what}: {v!r} is not a number")
    if abs(v) > FLOAT_MAX:
        raise DataError(f"{what}: a value is outside the float64 range")
    return normalize(v)


def _from_array(value, what: str) -> list:
    """A number, list, nested list or ndarray -> channels (C, H, W) of exact numbers."""
    def depth(v):
        return 1 + depth(v[0]) if isinstance(v, (list, tuple, np.ndarray)) and len(v) else (
            1 if isinstance(v, (list, tuple, np.ndarray)) else 0)

    if isinstance(value, np.ndarray):
        value = value.tolist()
    d = depth(value)
    if d == 0:
        value = [[[value]]]
    elif d == 1:
        value = [[value]]
    elif d == 2:
        value = [value]
    elif d > 3:
        raise DataError(f"{what}: {d} dimensions; give a number, a vector or a matrix")
    chans = []
    for ch in value:
        if not isinstance(ch, (list, tuple)) or not ch:
            raise DataError(f"{what} is empty or ragged; give rows of equal length")
        rows = []
        for row in ch:
            if not isinstance(row, (list, tuple)) or not row:
                raise DataError(f"{what} is empty or ragged; give rows of equal length")
            rows.append([_from_number(v, what) for v in row])
        if any(len(r) != len(rows[0]) for r in rows):
            raise DataError(f"{what}: rows of different lengths; every row needs the same")
        chans.append(rows)
    if any((len(c), len(c[0])) != (len(chans[0]), len(chans[0][0])) for c in chans):
        raise DataError(f"{what}: channels of different sizes; every channel needs the same")
    if sum(len(c) * len(c[0]) for c in chans) > MAX_EXACT_CELLS:
        raise DataError(f"{what} has more than {MAX_EXACT_CELLS:,} values, above the limit")
    return chans


def _read(raw, what: str, *, channels: bool = False) -> tuple[list, str | None]:
    """(channels (C, H, W) of exact numbers, a note on the file read or None)."""
    if not isinstance(raw, str):
        return _from_array(raw, what), None
    text, path = _text_of(raw, what)
    if path is None:
        return _parse_rows(text, what, channels=channels), None
    label = f"{what} file {path!r}"
    try:
        return _parse_rows(text, label, channels=channels), f"{what}: read from {path!r}."
    except DataError:
        lines = [ln for ln in text.splitlines() if ln.split("#", 1)[0].strip()]
        if len(lines) < 2:
            raise
        # a CSV header line: read the rest, and say so
        chans = _parse_rows("\n".join(lines[1:]), label, channels=channels)
        return chans, (f"{what}: read from {path!r}; its first line is not numbers and was "
                       "skipped as a header.")


def read_vector(raw, what: str, notes: list[str] | None = None) -> list:
    """A vector (one row or one column) of exact numbers, at most _MAX_VALUES long."""
    chans, note = _read(raw, what)
    _add_note(notes, note)
    if len(chans) != 1:
        raise DataError(f"{what} must be a vector, got {len(chans)} channels")
    m = chans[0]
    if len(m) == 1:
        v = m[0]
    elif len(m[0]) == 1:
        v = [row[0] for row in m]
    else:
        raise DataError(f"{what} must be a vector (one row or one column), got a "
                        f"{len(m)}×{len(m[0])} matrix")
    if len(v) > _MAX_VALUES:
        raise DataError(f"{what} has {len(v):,} values, above the limit of {_MAX_VALUES:,}")
    return v


def read_matrix(raw, what: str, notes: list[str] | None = None) -> list[list]:
    chans, note = _read(raw, what)
    _add_note(notes, note)
    if len(chans) != 1:
        raise DataError(f"{what} must be one matrix, got {len(chans)} channels")
    return chans[0]


def read_channels(raw, what: str, notes: list[str] | None = None) -> list:
    chans, note = _read(raw, what, channels=True)
    _add_note(notes, note)
    return chans


def read_scalar(raw, what: str):
    if isinstance(raw, str):
        v = read_vector(raw, what)
    else:
        v = [x for ch in _from_array(raw, what) for row in ch for x in row]
    if len(v) != 1:
        raise DataError(f"{what} must be one number, got {len(v)} values")
    return v[0]


def _add_note(notes: list[str] | None, note: str | None) -> None:
    if notes is not None and note:
        notes.append(note)


def one_of(raw, what: str, choices: tuple[str, ...]) -> str:
    v = str(raw).strip().lower()
    if v not in choices:
        raise ConfigError(f"{what} must be one of {', '.join(choices)}, got {str(raw)[:40]!r}")
    return v
