"""``stridelab backprop`` as a package: gradient descent on a small network, every derivative shown.

- :func:`load_spec` and :func:`parse_spec` read the network, loss, learning rate and data
  (:class:`Spec`); :func:`solve` runs the steps in exact arithmetic where it can
  (:class:`BackpropAnswer`, one :class:`Step` per update with its :class:`Trace`), each gradient
  checked against autograd;
- ``answer.check(student)`` compares a student's updated weights entry by entry and names the
  slips (:class:`BackpropCheck`; :func:`run_with_slip` computes a step the way a slip would);
- :func:`graph_figure` draws the compute graph of one step;
- :mod:`stridelab.worked.backprop.cli` is the command line (its help shows the spec's layout).

Called as a function, the package is the notebook API: ``worked.backprop(spec)`` is
:func:`stridelab.worked.notebook.backprop`.
"""

from __future__ import annotations

from stridelab.worked._callable import make_callable
from stridelab.worked.backprop.answer import BackpropAnswer, solve, to_dict
from stridelab.worked.backprop.check import (
    SLIPS,
    BackpropCheck,
    EntryCheck,
    check_answer,
    run_with_slip,
)
from stridelab.worked.backprop.engine import (
    Step,
    Trace,
    activate,
    activation_grad,
    forward_backward,
    loss_grad,
    loss_value,
)
from stridelab.worked.backprop.graph import graph_data, graph_figure, plot_graph
from stridelab.worked.backprop.markdown import DETAIL_STEPS, graph_latex, to_markdown
from stridelab.worked.backprop.spec import (
    ACTIVATIONS,
    LOSSES,
    MODES,
    Layer,
    Spec,
    load_json,
    load_spec,
    parse_spec,
)
from stridelab.worked.notebook import backprop as _notebook_backprop

__all__ = [
    "ACTIVATIONS",
    "DETAIL_STEPS",
    "LOSSES",
    "MODES",
    "SLIPS",
    "BackpropAnswer",
    "BackpropCheck",
    "EntryCheck",
    "Layer",
    "Spec",
    "Step",
    "Trace",
    "activate",
    "activation_grad",
    "check_answer",
    "forward_backward",
    "graph_data",
    "graph_figure",
    "graph_latex",
    "load_json",
    "load_spec",
    "loss_grad",
    "loss_value",
    "parse_spec",
    "plot_graph",
    "run_with_slip",
    "solve",
    "to_dict",
    "to_markdown",
]

make_callable(__name__, _notebook_backprop)
