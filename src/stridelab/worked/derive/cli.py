"""Derivations of the backpropagation results of the course, verified by SymPy and by autodiff.

Each topic is derived step by step in LaTeX and in plain text. SymPy verifies the identities
symbolically on small sizes. Without values, the final formulas are evaluated at random points
and compared with PyTorch autograd (float64); with your values (--z, --y, --X, ...), the answer
is computed with those numbers (exactly where the arithmetic allows it) and checked a second
way at exactly those numbers (autograd, scikit-learn or SciPy).

topics (the values each one takes):
  softmax-jacobian        d softmax(z)_i / d z_j = y_hat_i (delta_ij - y_hat_j)      --z
  softmax-cross-entropy   dL/dz = y_hat - y for L = -sum_k y_k ln y_hat_k           --z --y
  sigmoid-cross-entropy   why delta = a - y for a sigmoid unit                      --z --y
  cross-entropy-minimum   C = -[y ln a + (1-y) ln(1-a)] is least at a = y, even
                          for y in (0, 1); its value there                          --y
  cross-entropy-swapped   why -[a ln y + (1-a) ln(1-y)] breaks at y in {0, 1}
                          and the usual form does not                               --a [--y]
  softmax-name            where the name comes from: softmax(c z) -> one-hot of
                          arg max z as c grows                                      [--z]
  ridge                   closed-form minimiser of (1/n) sum_i (y_hat_i - y_i)^2
                          + lambda ||w||^2, checked against scikit-learn            --X --y --lam
  conv1d                  1-D layer z_k = sum_m w_m x_(k+m) + b, J = (1/K) sum_k
                          (y_k - z_k)^2 (the TU Wien sheet's names): dJ/dw is a
                          cross-correlation, dJ/dx a full convolution    --x --w [--b --y ...]
  conv2d                  the 2-D relation for one filter and its gradients --x --w [--b --y ...]
  mlp-update              update rules of a 2-layer sigmoid network with biases
  linear-backprop         the backpropagation equations when sigma(z) = z
  neuron-f                one neuron with a general activation f instead of sigma
  all                     every topic; list: the topics with one line each

values: a literal ("1 2 3", rows of a matrix split by ';': "1 2; 3 4 | 5 6; 7 8" for two
channels) or a text/CSV file; integers, decimals and fractions (1/3) are read exactly.
conv1d/conv2d also take --b, --stride and --activation linear|sigmoid|tanh; without --y they
give the output and the gradients as sums over dJ/dz_k.

limits (refused up front, one line): --points at most 1,000; a vector at most 1,000 values,
a matrix at most 10,000 cells, a number literal at most 400 characters, values finite in
float64 (|v| < 1.8e308); ridge at most 200 features; a convolution at most 200,000
products; the softmax Jacobian at most 100 logits; a file at most 4 MiB.

examples:
  stridelab derive softmax-jacobian --z "1 2 3"
  stridelab derive softmax-cross-entropy --z "1 2 3" --y "0 0 1"
  stridelab derive ridge --X "1 2; 3 4; 5 6" --y "1 2 2" --lam 0.1
  stridelab derive conv1d --x "1 2 3 4 5" --w "1 0 -1" --b 0 --y "0 1 0"
  stridelab derive cross-entropy-minimum --y 0.3
  stridelab derive cross-entropy-swapped --a 0.7
  stridelab derive all --seed 1 --points 10
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from stridelab.errors import ConfigError
from stridelab.worked._render import add_format_arguments, emit
from stridelab.worked.answer import Answer
from stridelab.worked.derive.registry import TOPICS, VALUE_OPTIONS, check_points, derive
from stridelab.worked.limits import MAX_POINTS


@dataclass(eq=False)
class TopicList(Answer):
    """``derive list``: every topic with one line and the values it takes."""

    def to_markdown(self) -> str:
        rows = ["| topic | what | values |", "|---|---|---|"]
        for name, t in TOPICS.items():
            opts = " ".join(f"`{VALUE_OPTIONS[o]}`" for o in t.options) or "–"
            rows.append(f"| `{name}` | {t.summary} | {opts} |")
        return "\n".join(rows) + "\n"

    def to_dict(self) -> dict:
        return {name: t.summary for name, t in TOPICS.items()}

    def to_text(self, width: int = 100) -> str:
        return "\n".join(f"{name:24s}{t.summary}" for name, t in TOPICS.items())


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "topic",
        metavar="TOPIC",
        help="one of: " + ", ".join(TOPICS) + "; 'all' for every topic, 'list' for one line each",
    )
    parser.add_argument(
        "--seed", default="0", metavar="N", help="seed of the random check points (default 0)"
    )
    parser.add_argument(
        "--points",
        default="5",
        metavar="N",
        help=f"number of random check points without values (default 5, at most {MAX_POINTS:,})",
    )
    values = parser.add_argument_group(
        "values (a literal such as \"1 2 3\" / \"1 2; 3 4\", or a text/CSV file)"
    )
    values.add_argument("--z", metavar="VALUES",
                        help="logits (softmax-*), pre-activations (sigmoid-cross-entropy)")
    values.add_argument("--y", metavar="VALUES",
                        help="targets: one per logit, example, row of X or layer output")
    values.add_argument("--X", metavar="MATRIX", help="ridge: the n×d data matrix")
    values.add_argument("--lam", metavar="λ", help="ridge: the penalty λ > 0 of the sheet's loss")
    values.add_argument("--x", metavar="VALUES",
                        help="conv1d/conv2d: the input (conv1d: one row per channel)")
    values.add_argument("--w", metavar="VALUES", help="conv1d/conv2d: the filter")
    values.add_argument("--b", metavar="NUMBER", help="conv1d/conv2d: the bias (default 0)")
    values.add_argument("--stride", metavar="N", help="conv1d/conv2d: the stride (default 1)")
    values.add_argument("--activation", metavar="NAME",
                        help="conv1d/conv2d: linear (the sheet's, default), sigmoid or tanh")
    values.add_argument("--a", metavar="NUMBER",
                        help="cross-entropy-swapped: the output a = σ(z) in (0, 1)")
    add_format_arguments(parser)


def answer_from_args(args: argparse.Namespace) -> Answer:
    """The answer for parsed ``args`` (from a parser set up by :func:`add_arguments`).

    Builds a :class:`Derivation`, a :class:`DerivationSet` (``all``) or a :class:`TopicList`
    (``list``); prints nothing. Raises ConfigError/DataError for anything the user can fix.
    """
    topic = str(args.topic).strip().lower()
    seed = getattr(args, "seed", 0)
    points = getattr(args, "points", 5)
    values = {k: getattr(args, k, None) for k in VALUE_OPTIONS}
    if topic == "list":
        check_points(seed, points)
        if any(val is not None for val in values.values()):
            raise ConfigError("'derive list' takes no values")
        return TopicList()
    return derive(topic, seed=seed, points=points, **values)


def main(args: argparse.Namespace) -> int:
    emit(answer_from_args(args), args)
    return 0


__all__ = ["TopicList", "add_arguments", "answer_from_args", "main"]
