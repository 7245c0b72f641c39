"""Small validators shared by the worked-answer commands (one-line ConfigError messages)."""

from __future__ import annotations

from stridelab.errors import ConfigError


def positive_int(value: object, *, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; strings such as ``"2"`` are accepted."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if isinstance(value, int):
        n = value
    else:
        try:
            n = int(str(value).strip())
        except ValueError:
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if n < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {n}")
    return n
