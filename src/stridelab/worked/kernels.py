"""Named convolution kernels and kernel parsing.

Sign convention: kernels are written as they are *slid* over the image in
cross-correlation (what the exercise sheets call "applying a filter"), with x the column
index growing to the right and y the row index growing downwards. So ``sobel_x`` is
positive where the image gets brighter to the right, ``sobel_y`` where it gets brighter
downwards. ``--mode convolve`` rotates the kernel by 180 degrees first, which flips the sign
of both Sobel responses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from stridelab.errors import ConfigError
from stridelab.worked.numbers import Matrix, Number, normalize
from stridelab.worked.values import channels_from_array, parse_channels

_NAME = re.compile(r"[A-Za-z_][\w\-]*")


@dataclass(frozen=True)
class Kernel:
    """A (C, KH, KW) kernel stored as an exact ``table`` times a ``scale``.

    Named smoothing kernels keep their integer table and the common factor apart
    (``gaussian5`` = table / 273) so answers can be written the way a sheet writes them.
    """

    name: str  # a registered name, or the literal as the user typed it
    table: tuple  # (C, KH, KW) nested tuples of int/Fraction
    scale: Fraction = Fraction(1)
    description: str | None = None  # one sentence on what the kernel detects
    named: bool = False
    alias: str | None = None  # a literal equal to a named kernel up to sign: "sobel_x", "-sobel_x"

    @property
    def channels(self) -> int:
        return len(self.table)

    @property
    def size(self) -> tuple[int, int]:
        return (len(self.table[0]), len(self.table[0][0]))

    @property
    def weights(self) -> list[list[list[Number]]]:
        """(C, KH, KW) effective weights ``scale * table``."""
        return [[[normalize(self.scale * w) for w in row] for row in ch] for ch in self.table]

    def flipped(self) -> Kernel:
        """The kernel rotated by 180 degrees (what convolution slides)."""
        table = tuple(tuple(tuple(row[::-1]) for row in ch[::-1]) for ch in self.table)
        return Kernel(self.name, table, self.scale, self.description, self.named, self.alias)

    def negated(self) -> Kernel:
        """The kernel with every weight's sign changed (name and description dropped)."""
        table = tuple(tuple(tuple(-w for w in row) for row in ch) for ch in self.table)
        return Kernel(f"-({self.name})", table, self.scale)

    @property
    def label(self) -> str:
        """How answers name the kernel: ``sobel_x``, ``−sobel_x`` (a literal equal to minus a
        named kernel) or the literal as typed."""
        if self.named:
            return self.name
        if self.alias:
            return self.alias.replace("-", "\u2212", 1)
        return self.name

    def broadcast(self, n_channels: int) -> Kernel:
        """Repeat a one-channel kernel over ``n_channels`` input channels."""
        if self.channels == n_channels:
            return self
        return Kernel(
            self.name, self.table * n_channels, self.scale, self.description, self.named,
            self.alias,
        )


def _named(name: str, rows: Matrix, description: str, scale: Fraction = Fraction(1)) -> Kernel:
    return Kernel(name, (tuple(tuple(r) for r in rows),), scale, description, named=True)


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in [
        _named(
            "sobel_x",
            [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
            description=(
                "sobel_x estimates the derivative along x (left to right), so it responds to "
                "vertical edges; with this sign convention it is positive where the image gets "
                "brighter to the right (the sheets' 1 0 -1 kernel is its negative)."
            ),
        ),
        _named(
            "sobel_y",
            [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
            description=(
                "sobel_y estimates the derivative along y (top to bottom), so it responds to "
                "horizontal edges; it is positive where the image gets brighter downwards."
            ),
        ),
        _named(
            "prewitt_x",
            [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
            description=(
                "prewitt_x is the unweighted x-derivative: vertical edges, positive where the "
                "image gets brighter to the right."
            ),
        ),
        _named(
            "prewitt_y",
            [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
            description=(
                "prewitt_y is the unweighted y-derivative: horizontal edges, positive where the "
                "image gets brighter downwards."
            ),
        ),
        _named(
            "laplace4",
            [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
            description=(
                "laplace4 is the discrete Laplacian (second derivative in x plus y): zero on flat "
                "regions and linear ramps, large at blobs, corners and thin lines, and it "
                "changes sign across an edge (a zero crossing)."
            ),
        ),
        _named(
            "laplace8",
            [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
            description=(
                "laplace8 is the Laplacian including the diagonals: a more rotation-invariant "
                "second derivative that highlights blobs, points and lines in every direction."
            ),
        ),
        _named(
            "gaussian5",
            [
                [1, 4, 7, 4, 1],
                [4, 16, 26, 16, 4],
                [7, 26, 41, 26, 7],
                [4, 16, 26, 16, 4],
                [1, 4, 7, 4, 1],
            ],
            scale=Fraction(1, 273),
            description=(
                "gaussian5 is a 5x5 Gaussian blur (weights sum to 1): it averages neighbours "
                "with weights falling off from the centre, removing noise and fine detail."
            ),
        ),
        _named(
            "box3",
            [[1, 1, 1], [1, 1, 1], [1, 1, 1]],
            scale=Fraction(1, 9),
            description=(
                "box3 is the 3x3 mean filter: every output is the average of its window, a "
                "blur that smooths noise and edges alike."
            ),
        ),
        _named(
            "identity",
            [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
            description="identity copies the centre pixel: the output equals the (padded) input.",
        ),
        _named(
            "sharpen",
            [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
            description=(
                "sharpen is identity minus laplace4: it keeps the image and adds back its "
                "edges and fine detail, so contrast at edges increases."
            ),
        ),
    ]
}


# What minus each named kernel does: a literal such as the sheets' "1 0 -1; 2 0 -2; 1 0 -1" is
# -sobel_x, and its sign convention is the opposite of sobel_x's.
NEGATIVE_DESCRIPTIONS: dict[str, str] = {
    "sobel_x": (
        "it estimates minus the derivative along x, so it responds to vertical edges like "
        "sobel_x but with the opposite sign: positive where the image gets brighter to the "
        "left (darker to the right)."
    ),
    "sobel_y": (
        "it estimates minus the derivative along y, so it responds to horizontal edges like "
        "sobel_y but with the opposite sign: positive where the image gets brighter upwards "
        "(darker downwards)."
    ),
    "prewitt_x": (
        "the unweighted x-derivative with the opposite sign: vertical edges, positive where "
        "the image gets brighter to the left."
    ),
    "prewitt_y": (
        "the unweighted y-derivative with the opposite sign: horizontal edges, positive where "
        "the image gets brighter upwards."
    ),
    "laplace4": (
        "the discrete Laplacian with the opposite sign (centre +4): zero on flat regions and "
        "linear ramps, positive on bright points, blobs and thin bright lines, and it changes "
        "sign across an edge."
    ),
    "laplace8": (
        "the 8-neighbour Laplacian with the opposite sign (centre +8): zero on flat regions, "
        "positive on bright points, blobs and lines in every direction."
    ),
    "gaussian5": (
        "a 5x5 Gaussian blur with the sign changed (weights sum to -1): the smoothed image, "
        "negated."
    ),
    "box3": "minus the 3x3 mean: every output is the negated average of its window.",
    "identity": "it copies the centre pixel with its sign changed: the output is minus the input.",
    "sharpen": (
        "laplace4 minus identity: the negated image with its edges and fine detail "
        "emphasised."
    ),
}


def identify(kernel: Kernel) -> tuple[int, Kernel] | None:
    """``(+1, named)`` or ``(-1, named)`` when ``kernel``'s weights equal ± a named kernel's.

    Only one-channel kernels are compared (every named kernel has one channel); the weights,
    not the tables, are compared, so ``"1/9 1/9 1/9; ..."`` is ``box3``.
    """
    if kernel.channels != 1:
        return None
    weights = kernel.weights
    for named in KERNELS.values():
        if named.size != kernel.size:
            continue
        w = named.weights
        if w == weights:
            return 1, named
        if [[[-v for v in row] for row in ch] for ch in w] == weights:
            return -1, named
    return None


def _with_alias(kernel: Kernel) -> Kernel:
    """A literal kernel with the description of the named kernel it equals up to sign."""
    found = identify(kernel)
    if found is None:
        return kernel
    sign, named = found
    if sign > 0:
        alias, text = named.name, named.description
        description = f"This is {named.name}: {text}"
    else:
        alias = f"-{named.name}"
        description = f"This is \u2212{named.name}: {NEGATIVE_DESCRIPTIONS[named.name]}"
    # keep the named table and scale (box3 as 1/9 times ones) when the weights are the same
    table, scale = (named.table, named.scale) if sign > 0 else (kernel.table, kernel.scale)
    return Kernel(kernel.name, table, scale, description, False, alias)


def parse_kernel(spec: str, *, channels_first: bool = False) -> Kernel:
    """A kernel from a registered name (``sobel_x``) or a literal (``"1 0 -1; 2 0 -2; ..."``).

    Literal kernels may have several channels separated by ``|``. With ``channels_first``
    the literal is a 1-D kernel with one row per input channel (``"1 0; 0 1"``: two channels
    of length 2), as for ``stridelab conv --channels-first``. A literal equal to a named
    kernel up to sign gets that kernel's description (``alias`` ``"-sobel_x"``).
    """
    from stridelab.worked.limits import MAX_EXACT_CELLS

    text = spec.strip()
    if _NAME.fullmatch(text):
        key = text.lower().replace("-", "_")
        if key in KERNELS:
            if channels_first:
                raise ConfigError(
                    f"kernel {text!r} is 2-D; with --channels-first give a literal 1-D kernel, "
                    'one row per input channel, such as "1 0; 0 1"'
                )
            return KERNELS[key]
        raise ConfigError(
            f'unknown kernel {_short(text)}; use a literal such as "1 0 -1; 2 0 -2; 1 0 -1" or '
            f"one of: {', '.join(KERNELS)}"
        )
    what = f"kernel {_short(text)}"
    channels = parse_channels(text, what=what, max_cells=MAX_EXACT_CELLS)
    if channels_first:
        if len(channels) > 1:
            raise ConfigError(
                f"{what}: with --channels-first write one channel per row separated by ';' "
                "(not '|')"
            )
        channels = [[row] for row in channels[0]]  # (C, 1, K)
    kernel = Kernel(text, tuple(tuple(tuple(r) for r in ch) for ch in channels))
    return _with_alias(kernel)


def kernel_from_array(weights, *, name: str = "literal", channels_first: bool = False) -> Kernel:
    """A :class:`Kernel` from nested lists or an array: (K,) 1-D, (KH, KW) 2-D, (C, KH, KW);
    with ``channels_first`` a 2-D array is (C, K), one 1-D kernel row per input channel."""
    table = channels_from_array(weights, what=f"kernel {name!r}", channels_first=channels_first)
    return _with_alias(Kernel(name, tuple(tuple(tuple(r) for r in ch) for ch in table)))


def _short(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit] + "…")
