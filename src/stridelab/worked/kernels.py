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
from stridelab.worked._numbers import Matrix, Number, normalize, parse_channels

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
        return Kernel(self.name, table, self.scale, self.description, self.named)

    def broadcast(self, n_channels: int) -> Kernel:
        """Repeat a one-channel kernel over ``n_channels`` input channels."""
        if self.channels == n_channels:
            return self
        return Kernel(self.name, self.table * n_channels, self.scale, self.description, self.named)


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


def parse_kernel(spec: str) -> Kernel:
    """A kernel from a registered name (``sobel_x``) or a literal (``"1 0 -1; 2 0 -2; ..."``).

    Literal kernels may have several channels separated by ``|``.
    """
    text = spec.strip()
    if _NAME.fullmatch(text):
        key = text.lower().replace("-", "_")
        if key in KERNELS:
            return KERNELS[key]
        raise ConfigError(
            f'unknown kernel {text!r}; use a literal such as "1 0 -1; 2 0 -2; 1 0 -1" or one '
            f"of: {', '.join(KERNELS)}"
        )
    channels = parse_channels(text, what=f"kernel {text!r}")
    return Kernel(text, tuple(tuple(tuple(r) for r in ch) for ch in channels))
