"""Small validators shared by the worked-answer commands (one-line ConfigError messages)."""

from __future__ import annotations

import re

from stridelab.errors import ConfigError

_INT = re.compile(r"[+-]?[0-9]+")


def shorten(text: object, limit: int = 40) -> str:
    """``repr(text)`` cut to about ``limit`` characters, for one-line error messages."""
    s = repr(str(text))
    if len(s) <= limit:
        return s
    return s[: limit - 5] + "…' (" + f"{len(str(text)):,} characters)"


def positive_int(
    value: object, *, name: str, minimum: int = 1, maximum: int | None = None
) -> int:
    """``value`` as an int >= ``minimum`` (and <= ``maximum``); strings such as ``"2"`` too.

    Digits other than 0-9 (``"²"``) and integers of more than 100 digits are refused with one
    line, as is anything above ``maximum`` (naming the limit).
    """
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if isinstance(value, int):
        n = value
    else:
        text = str(value).strip()
        if not _INT.fullmatch(text):
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {shorten(value)}")
        if len(text) > 100:  # int() refuses 4300 digits; no option here needs 100
            raise ConfigError(
                f"{name} is a {len(text.lstrip('+-')):,}-digit number; give an integer "
                f">= {minimum}" + (f" and <= {maximum:,}" if maximum is not None else "")
            )
        n = int(text)
    if n < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {n}")
    if maximum is not None and n > maximum:
        from stridelab.worked.limits import check_limit

        check_limit(n, maximum, what=name)
    return n


def one_of(value: object, what: str, choices: tuple[str, ...]) -> str:
    """``value`` (case and spaces ignored) if it is one of ``choices``, else a one-line error."""
    v = str(value).strip().lower()
    if v not in choices:
        raise ConfigError(f"{what} must be one of {', '.join(choices)}, got {str(value)[:40]!r}")
    return v
