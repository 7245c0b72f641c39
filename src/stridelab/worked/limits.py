"""Documented limits on what one worked-solution command will compute.

Every command refuses, before any work, a request whose size is beyond these limits, with
one line that names the limit. The limits are fixed (no option raises them); they are chosen
so that a request at the limit answers in a few seconds and a few hundred MiB on a laptop.

Values read by any worked command (:mod:`stridelab.worked.values`): a file at most
``MAX_TEXT_BYTES`` bytes (and a regular file), at most ``MAX_EXACT_CELLS`` values per matrix
typed or read from a file, at most ``MAX_VECTOR`` values in one vector.

Numbers typed by a user (:func:`stridelab.worked.numbers.parse_number`):

- only finite values inside float64's range are accepted: ``nan``, ``inf``, ``1e400`` and
  non-zero values closer to 0 than 2.2e-308 are refused with one line;
- a literal longer than ``MAX_LITERAL_CHARS`` characters (a 5000-digit integer) is refused;
- a value stays an exact rational while its numerator and denominator have at most
  ``MAX_EXACT_DIGITS`` digits; a longer one (``0.1234…`` with 70 digits) is read as the nearest
  float64 and the answer says that it was computed in floating point.

``stridelab conv`` on typed matrices (exact arithmetic, every product kept for the answer):

- ``MAX_EXACT_CELLS`` values per matrix typed or read from a file (input, kernel, ``--check``);
- ``MAX_EXACT_PADDED_CELLS`` cells of the zero-padded input, all channels together;
- ``MAX_EXACT_PRODUCTS`` products over all output cells and kernels;
- ``MAX_EXPLAIN_TERMS`` products written out by ``--explain``;
- ``MAX_CHECK_DETAILS`` wrong cells of a ``--check`` diagnosed one by one (more are counted).

``stridelab conv --image`` (float64): ``MAX_CELLS`` cells of one padded channel and
``MAX_IMAGE_PRODUCTS`` multiply-adds per kernel. For both: ``MAX_WINDOW`` for the stride, the
dilation and each explicit padding; ``MAX_DIGITS`` for ``--digits``.
"""

from __future__ import annotations

from stridelab.errors import ConfigError

# conv: cells of one (padded) input channel; a 512x512 photo padded by 256 is 1,048,576
MAX_CELLS = 4_194_304
# conv --image: multiply-adds per kernel (the engine's im2col check holds 8 bytes per one)
MAX_IMAGE_PRODUCTS = 40_000_000
# conv: cells of a matrix typed on the command line or in a text file (exact arithmetic)
MAX_EXACT_CELLS = 10_000
# conv: cells of the zero-padded typed input, all channels together (exact arithmetic)
MAX_EXACT_PADDED_CELLS = 20_000
# conv: products w*x computed exactly, over every output cell of every kernel
MAX_EXACT_PRODUCTS = 200_000
# conv --explain: products written out, over every explained cell of every kernel
MAX_EXPLAIN_TERMS = 20_000
# conv --check: wrong cells diagnosed and listed with their products (the rest are counted)
MAX_CHECK_DETAILS = 50
# the largest stride, dilation or explicit padding accepted (beyond it, the output is empty
# or all padding for every input this command can hold)
MAX_WINDOW = 10_000
# --digits: float64 holds 17 significant digits, more would print noise
MAX_DIGITS = 17
# backprop: gradient-descent steps (each step is exact rational arithmetic on every weight)
MAX_STEPS = 1_000
# backprop: weights in the whole network
MAX_WEIGHTS = 10_000
# derive: random points for the numerical check
MAX_POINTS = 1_000
# derive: values in one vector (logits, targets, a 1-D input)
MAX_VECTOR = 1_000
# exact rationals are kept while numerator and denominator have at most this many digits;
# past it the command falls back to float64 and says so
MAX_EXACT_DIGITS = 60
# the longest number literal read (digits); longer text is refused, not parsed
MAX_LITERAL_CHARS = 400
# JSON nesting depth accepted in a backprop spec
MAX_JSON_DEPTH = 32
# the largest file read as a value, a kernel, a spec or a student's answer, by every
# command (bytes)
MAX_TEXT_BYTES = 4_000_000


def check_limit(value: int, limit: int, *, what: str) -> None:
    """Refuse ``value`` above ``limit`` with one line naming the limit."""
    if value > limit:
        shown = f"{value:,}" if value < 10**30 else f"a {len(str(value))}-digit number"
        raise ConfigError(f"{what} is {shown}, above the limit of {limit:,}")
