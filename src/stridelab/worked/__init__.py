"""Worked solutions: exact, explained answers to the hand exercises of a CNN course.

The notebook API: each function takes the numbers as Python or NumPy values, runs the same
code as the command line (so the same validation and the same second check), and returns an
answer object that Jupyter renders (``_repr_markdown_``/``_repr_latex_``), with the numbers as
arrays and ``to_markdown()``, ``to_text()``, ``to_json()``, ``to_dict()``:

>>> from stridelab import worked
>>> a = worked.conv([[8, 2, 9], [3, 4, 6], [5, 9, 3]], "sobel_x", padding="same")
>>> a.output[0].tolist()
[[8.0, 5.0, -8.0], [19.0, 5.0, -19.0], [22.0, -1.0, -22.0]]
>>> worked.shape("50x50x1", "conv:k=4,s=1,p=1,n=8").output
(49, 49, 8)

- ``worked.conv``: filters applied to a matrix, a vector or a photo, cell by cell;
- ``worked.shape``: output shapes and parameter counts of a layer chain;
- ``worked.backprop``: forward pass, chain rule and SGD updates of a small network;
- ``worked.derive``: SymPy derivations checked numerically by autodiff.

Each of the four is a package (``stridelab.worked.conv`` …) that is also the notebook call
(:mod:`stridelab.worked.notebook`); its ``cli`` module serves the command (``stridelab conv``
…). Importing this package imports only NumPy; a command package loads when it is first
used, and SciPy, SymPy, matplotlib and PyTorch when an answer needs them.
"""

from __future__ import annotations

import importlib

from stridelab.worked.answer import Answer
from stridelab.worked.values import literal

__all__ = ["Answer", "backprop", "conv", "derive", "literal", "shape"]

_PACKAGES = ("conv", "shape", "backprop", "derive")


def __getattr__(name: str):
    # PEP 562: worked.conv and the others are imported when first used, so that importing
    # stridelab.worked (the command line's start-up) stays light
    if name in _PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
