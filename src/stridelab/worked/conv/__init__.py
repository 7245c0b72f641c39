"""``stridelab conv`` as a package: filters applied to a vector, a matrix or a photo, exactly.

- :func:`solve` applies kernels to typed values in exact arithmetic (``ConvAnswer``, with every
  product behind a cell and two independent routes as a check); :func:`solve_image` does the
  same for a photo in float64 (``ImageAnswer``);
- ``answer.check(student)`` compares a student's result cell by cell and names the likely slip
  (:class:`CheckResult`);
- :func:`figure` and :func:`plot` draw the input and outputs;
- :mod:`stridelab.worked.conv.cli` is the command line (its help lists the conventions).

Called as a function, the package is the notebook API: ``worked.conv(X, "sobel_x")`` is
:func:`stridelab.worked.notebook.conv`.
"""

from __future__ import annotations

from stridelab.worked._callable import make_callable
from stridelab.worked.conv.answer import ConvAnswer, to_dict, to_markdown
from stridelab.worked.conv.check import SLIPS, CheckResult, WrongCell, same_value
from stridelab.worked.conv.compute import (
    ACTIVATIONS,
    MODES,
    KernelResult,
    activate,
    correlate_exact,
)
from stridelab.worked.conv.figure import figure, plot
from stridelab.worked.conv.image import ImageAnswer, solve_image
from stridelab.worked.conv.inputs import parse_biases, read_input
from stridelab.worked.conv.padding import Padding, output_size, resolve_padding
from stridelab.worked.conv.solve import solve
from stridelab.worked.kernels import Kernel
from stridelab.worked.notebook import conv as _notebook_conv

__all__ = [
    "ACTIVATIONS",
    "MODES",
    "SLIPS",
    "CheckResult",
    "ConvAnswer",
    "ImageAnswer",
    "Kernel",
    "KernelResult",
    "Padding",
    "WrongCell",
    "activate",
    "correlate_exact",
    "figure",
    "output_size",
    "parse_biases",
    "plot",
    "read_input",
    "resolve_padding",
    "same_value",
    "solve",
    "solve_image",
    "to_dict",
    "to_markdown",
]

make_callable(__name__, _notebook_conv)
