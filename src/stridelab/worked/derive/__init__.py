"""``stridelab derive`` as a package: derivations of the course's results, verified twice.

Each topic is derived step by step (:class:`Step`: a sentence and its display equations),
its identities verified by SymPy, and its final formulas checked numerically by autodiff, at
random points or at the user's values. One module per family of topics registers them with
:func:`~stridelab.worked.derive.registry.topic`:

- :mod:`~stridelab.worked.derive.softmax`: the softmax Jacobian, softmax with cross-entropy,
  where the name softmax comes from;
- :mod:`~stridelab.worked.derive.cross_entropy`: a sigmoid unit with cross-entropy, the
  minimum of cross-entropy, the swapped form;
- :mod:`~stridelab.worked.derive.ridge`: ridge regression in closed form;
- :mod:`~stridelab.worked.derive.conv_layers`: the gradients of 1-D and 2-D convolutional
  layers;
- :mod:`~stridelab.worked.derive.mlp`: the update rules of fully connected networks.

:func:`derive` runs one topic (or ``"all"``); :data:`TOPICS` lists them in that order;
:mod:`stridelab.worked.derive.cli` is the command line. Called as a function, the package is
the notebook API: ``worked.derive("ridge", X=…, y=…, lam=0.1)`` is
:func:`stridelab.worked.notebook.derive`.
"""

from __future__ import annotations

import importlib

from stridelab.worked._callable import make_callable
from stridelab.worked.derive.answer import Derivation, DerivationSet, Step, to_dict, to_markdown
from stridelab.worked.derive.registry import TOPICS, VALUE_OPTIONS, Topic, derive, topic
from stridelab.worked.notebook import derive as _notebook_derive

__all__ = [
    "TOPICS",
    "VALUE_OPTIONS",
    "Derivation",
    "DerivationSet",
    "Step",
    "Topic",
    "derive",
    "to_dict",
    "to_markdown",
    "topic",
]

# the families of topics, imported by name: each registers its topics, in this order
FAMILIES = ("softmax", "cross_entropy", "ridge", "conv_layers", "mlp")
for _family in FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")

make_callable(__name__, _notebook_derive)
