"""One or more gradient-descent steps on a small fully-connected network, chain rule written out.

Reads a network, a loss, a learning rate and data from JSON and prints the forward values,
the loss, every delta and partial derivative as its chain-rule product with the numbers
substituted, and the updated parameters. Arithmetic is exact (integers and fractions, 0.1 is
1/10) while the network has only linear/relu units and an sse_half or mse loss; sigmoid,
tanh, softmax and logarithms switch to float64. Every gradient is checked against the NumPy
engine's autograd (or PyTorch) before it is printed.

SPEC (a file, '-' for stdin, or the JSON text itself):
  {"layers": [{"W": [[0.15, 0.2], [0.25, 0.3]], "b": [0.35, 0.35], "activation": "sigmoid"},
              {"W": [[0.4, 0.45], [0.5, 0.55]], "b": [0.6, 0.6], "activation": "sigmoid"}],
   "loss": "sse_half", "lr": 0.5, "data": [{"x": [0.05, 0.1], "y": [0.01, 0.99]}],
   "mode": "sequential", "steps": 1}

  W has shape (n_out, n_in) and z = W a + b; w_ij connects input j to neuron i (both counted
  from 1); b_i is the weight of a constant input x_0 = 1. A layer without "b" has no bias (and
  none is trained).
  activation: linear, relu (relu'(0) = 0), sigmoid, tanh, softmax
  loss: sse_half = 1/2 sum_k (y_hat_k - y_k)^2; mse = mean over outputs; cross_entropy (ce) =
        -sum_k y_k ln y_hat_k (softmax output, targets summing to 1); binary_cross_entropy
        (bce) = -sum_k [y_k ln a_k + (1 - y_k) ln(1 - a_k)], the cross-entropy of sigmoid
        outputs
  mode: sequential (an update after each data point, in order) or batch (one update with
        the gradient averaged over all points); "steps": N repeats the pass N times.

numbers: every number must be finite in float64 (|v| <= 1.8e308) and at most 400 characters
  long. Numbers stay exact rationals while numerator and denominator have at most 60 digits;
  an input beyond that is read as float64, and when the exact fractions of a step would grow
  beyond it, that step and every later one are computed in float64; the answer says so.
limits: at most 1,000 forward-backward passes (steps x data points), 10,000 weights and
  biases, 200,000 passes x parameters, JSON nested at most 32 deep, 1,000,000 characters.

--graph FILE draws the compute graph of one step (--step N, default 1) with that step's
values and gradients. --check FILE compares a student's updated weights, written as
{"layers": [{"W": ..., "b": ...}, ...]} (the spec's layout), with the computed ones: for each
wrong entry it shows the correct update and the most likely slip (the sign of the step, the
learning rate forgotten, the new weights used in the chain rule, the activation derivative
forgotten, the 1/2 or 1/K of the loss forgotten, the batch summed instead of averaged).

examples:
  stridelab backprop net.json
  stridelab backprop net.json --format json
  stridelab backprop net.json --graph graph.png --step 2
  stridelab backprop net.json --check my_weights.json
  stridelab backprop '{"layers": [{"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"},
      {"W": [[1, 1]], "b": [0]}], "lr": 0.1, "data": [{"x": [1, 2], "y": [1]}]}'
"""

from __future__ import annotations

import argparse

from stridelab.errors import ConfigError
from stridelab.worked._args import positive_int
from stridelab.worked._figures import check_figure_path
from stridelab.worked._render import add_format_arguments, emit
from stridelab.worked.backprop.answer import BackpropAnswer, solve
from stridelab.worked.backprop.graph import plot_graph
from stridelab.worked.backprop.markdown import DETAIL_STEPS
from stridelab.worked.backprop.spec import load_spec
from stridelab.worked.limits import check_limit

__all__ = ["MAX_DIGITS", "add_arguments", "answer_from_args", "load_spec", "main"]

# the most significant digits --digits may ask for (float64 has 17)
MAX_DIGITS = 17


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "spec",
        metavar="SPEC.json",
        help="the network, loss, lr and data as JSON: a file, '-' for stdin, or "
        "the JSON text itself",
    )
    parser.add_argument(
        "--graph", metavar="FILE.png|svg", help="also draw the compute graph of one step"
    )
    parser.add_argument(
        "--step", default=None, metavar="N",
        help="the step --graph draws (1-based, default 1)",
    )
    parser.add_argument(
        "--check",
        metavar="FILE.json",
        help='a student\'s updated parameters, {"layers": [{"W": ..., "b": ...}, ...]} (a file, '
        "'-' or JSON text), compared with the computed update",
    )
    parser.add_argument(
        "--brief",
        action="store_true",
        help="only inputs, losses and updated parameters (no chain-rule lines)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"write out the chain rule of every step (a run of more than {2 * DETAIL_STEPS} "
        f"steps shows it for the first {DETAIL_STEPS} and the last)",
    )
    parser.add_argument(
        "--digits", default="6", metavar="N", help="significant digits for float values (default 6)"
    )
    add_format_arguments(parser)


def answer_from_args(args: argparse.Namespace) -> BackpropAnswer:
    """The answer for parsed ``add_arguments`` args: solved, graph drawn, student checked.

    Options are validated before any work; nothing is printed.
    """
    digits = positive_int(getattr(args, "digits", 6), name="--digits")
    check_limit(digits, MAX_DIGITS, what="--digits")
    graph = getattr(args, "graph", None)
    step_arg = getattr(args, "step", None)
    if graph:
        check_figure_path(graph)
    step = 1
    if step_arg is not None:
        if not graph:
            raise ConfigError("--step chooses the step --graph draws; give --graph FILE.png too")
        step = positive_int(step_arg, name="--step")
    if getattr(args, "spec", None) == "-" and getattr(args, "check", None) == "-":
        raise ConfigError("the spec and --check cannot both be read from stdin")
    spec = load_spec(args.spec)
    n_steps = spec.steps * (len(spec.data) if spec.mode == "sequential" else 1)
    if step > n_steps:
        raise ConfigError(f"--step {step}: this run has {n_steps} step(s); choose 1 to {n_steps}")
    answer = solve(spec)
    answer.digits = digits
    answer.brief = bool(getattr(args, "brief", False))
    answer.full = bool(getattr(args, "full", False))
    if getattr(args, "check", None):
        answer.student_check = answer.check(args.check)
    if graph:
        plot_graph(answer, graph, step=step)
        answer.graph, answer.graph_step = str(graph), step
    return answer


def main(args: argparse.Namespace) -> int:
    answer = answer_from_args(args)
    emit(answer, args)
    return 0
