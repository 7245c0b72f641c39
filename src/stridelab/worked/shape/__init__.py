"""``stridelab shape`` as a package: output shapes and parameter counts of a layer chain.

- :func:`solve` propagates an input shape (H×W×C, channel last) through layer specs such as
  ``"conv:k=3,n=8"`` (``ShapeAnswer``: one :class:`LayerRow` per layer with its formulas); a
  filter count left out stays a symbol (:class:`Sym`);
- ``answer.check("49x49x8,params=136")`` compares a student's shape and parameter count and
  names the slip (:class:`ShapeCheck`);
- :mod:`stridelab.worked.shape.cli` is the command line (its help lists every layer).

Called as a function, the package is the notebook API: ``worked.shape("50x50x1", "conv:k=4")``
is :func:`stridelab.worked.notebook.shape`.
"""

from __future__ import annotations

from stridelab.worked._callable import make_callable
from stridelab.worked.notebook import shape as _notebook_shape
from stridelab.worked.shape.answer import ShapeAnswer, solve, to_dict, to_markdown
from stridelab.worked.shape.check import (
    PARAM_SLIPS,
    SHAPE_SLIPS,
    ShapeCheck,
    check_answer,
    parse_student,
)
from stridelab.worked.shape.layers import (
    MAX_LAYERS,
    MAX_SIZE,
    LayerRow,
    LayerSpec,
    layer_output,
    parse_layer,
    parse_shape,
    split_layers,
)
from stridelab.worked.shape.sym import Sym

__all__ = [
    "MAX_LAYERS",
    "MAX_SIZE",
    "PARAM_SLIPS",
    "SHAPE_SLIPS",
    "LayerRow",
    "LayerSpec",
    "ShapeAnswer",
    "ShapeCheck",
    "Sym",
    "check_answer",
    "layer_output",
    "parse_layer",
    "parse_shape",
    "parse_student",
    "solve",
    "split_layers",
    "to_dict",
    "to_markdown",
]

make_callable(__name__, _notebook_shape)
