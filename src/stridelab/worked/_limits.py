"""Documented limits on what one worked-solution command will compute.

Every command refuses, before any work, a request whose size is beyond these limits, with
one line that names the limit and how to raise it (``--max-cells N`` and friends where the
command has that option). The numbers are chosen so that a request at the limit answers in a
few seconds and a few hundred MiB on a laptop.
"""

from __future__ import annotations

from stridelab.errors import ConfigError

# conv: cells of one (padded) input channel; a 512x512 photo padded by 256 is 1,048,576
MAX_CELLS = 4_194_304
# conv: cells of a matrix typed on the command line or in a text file (exact arithmetic)
MAX_EXACT_CELLS = 10_000
# the largest stride, dilation or explicit padding accepted (beyond it, the output is empty
# or all padding for every input this command can hold)
MAX_WINDOW = 10_000
# backprop: gradient-descent steps (each step is exact rational arithmetic on every weight)
MAX_STEPS = 1_000
# backprop: weights in the whole network
MAX_WEIGHTS = 10_000
# derive: random points for the numerical check
MAX_POINTS = 1_000
# exact rationals are kept while numerator and denominator have at most this many digits;
# past it the command falls back to float64 and says so
MAX_EXACT_DIGITS = 60
# the longest number literal read (digits); longer text is refused, not parsed
MAX_LITERAL_CHARS = 400
# JSON nesting depth accepted in a backprop spec
MAX_JSON_DEPTH = 32


def check_limit(value: int, limit: int, *, what: str, option: str | None = None) -> None:
    """Refuse ``value`` above ``limit`` with one line naming the limit (and how to raise it)."""
    if value > limit:
        how = f"; raise it with {option} N" if option else ""
        raise ConfigError(f"{what} is {value:,}, above the limit of {limit:,}{how}")
