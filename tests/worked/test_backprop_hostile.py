"""stridelab backprop against random malformed and extreme JSON: an answer or one line, quickly.

Specs are written as JSON text with number literals chosen to hurt (1e400, 5000 digits,
1e-400, long decimals), wrong types, ragged matrices, deep nesting and truncation, then fed to
``stridelab.cli.main`` in-process. Each must end with exit 0 and an answer (nothing on stderr)
or exit 2 and exactly one line on stderr, within the Hypothesis deadline and a tracemalloc peak
of 200 MB.
"""

import json

from cli_probe import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MEMORY_LIMIT = 200 * 2**20  # bytes, tracemalloc peak of one example


class Raw(str):
    """A JSON fragment written as is (a number literal JSON's own encoder would not write)."""


def dump(node) -> str:
    if isinstance(node, Raw):
        return str(node)
    if isinstance(node, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dump(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(dump(v) for v in node) + "]"
    return json.dumps(node)


ordinary = st.one_of(
    st.integers(-5, 5).map(lambda v: Raw(str(v))),
    st.sampled_from(["0.1", "-0.25", "0.5", "1.5", "2", "0", "0.05", "0.99"]).map(Raw),
)
extreme = st.sampled_from(
    ["1e400", "-1e400", "1e-400", "1e308", "1.7976931348623157e308", "4.9e-324",
     "9" * 5000, "1" + "0" * 350, "0." + "3" * 80, "0.123456789", "1e999999999", "-0",
     "123456789012345678901234567890", "true", "null", '"1"', "[1]", "{}", "NaN", "Infinity"]
).map(Raw)
# most numbers are ordinary, so that a spec often has only one or two extreme ones
number = st.integers(0, 49).flatmap(lambda i: extreme if i == 0 else ordinary)


@st.composite
def matrix(draw, rows, cols):
    if draw(st.integers(0, 19)) == 0:  # ragged
        return [[draw(number) for _ in range(draw(st.integers(0, 3)))] for _ in range(rows)]
    return [[draw(number) for _ in range(cols)] for _ in range(rows)]


@st.composite
def spec(draw):
    n_layers = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 3)) for _ in range(n_layers + 1)]
    layers = []
    for i in range(n_layers):
        ly = {"W": draw(matrix(sizes[i + 1], sizes[i]))}
        if draw(st.booleans()):
            ly["b"] = [draw(number) for _ in range(sizes[i + 1])]
        ly["activation"] = draw(st.sampled_from(
            ["linear", "relu", "sigmoid", "tanh", "softmax"] * 3 + ["swish", "", "RELU"]))
        if draw(st.integers(0, 15)) == 0:
            ly["extra"] = 1
        layers.append(ly)
    points = [
        {"x": [draw(number) for _ in range(sizes[0])],
         "y": [draw(number) for _ in range(sizes[-1])]}
        for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 0])))
    ]
    d = {
        "layers": layers,
        "loss": draw(st.sampled_from(
            ["sse_half", "mse"] * 3 + ["cross_entropy", "binary_cross_entropy", "ce", "bce",
                                       "hinge"])),
        "lr": draw(number),
        "data": points,
    }
    if draw(st.booleans()):
        d["mode"] = draw(st.sampled_from(["sequential", "batch", "online", "BATCH"]))
    if draw(st.booleans()):
        d["steps"] = Raw(draw(st.sampled_from(
            ["1", "2", "3", "12"] * 4 + ["0", "-1", "2.5", "3.0", '"3"', "true", "1001",
             "100000000",
             "1" + "0" * 400])))
    return d


@st.composite
def spec_text(draw):
    text = dump(draw(spec()))
    how = draw(st.integers(0, 29))
    if how == 0:  # truncated
        text = text[: draw(st.integers(0, len(text)))]  # "" included: an empty spec
    elif how == 1:  # nested deep
        depth = draw(st.sampled_from([10, 33, 1000, 100_000]))
        text = "[" * depth + text + "]" * depth
    elif how == 2:  # a character changed
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.characters()) + text[i + 1:]
    return text


def assert_answer_or_one_line(args):
    code, out, err, peak = run(args)
    head = args[1][:120]
    assert peak < MEMORY_LIMIT, (head, peak)
    if code == 0:
        assert out.strip() and err == "", (head, err)
    else:
        assert code == 2, (head, code, err)
        assert out == "" and err.startswith("stridelab: error: "), (head, err)
        assert err.count("\n") == 1, (head, err)
    return code, out, err


@settings(max_examples=100, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(text=spec_text(), fmt=st.sampled_from(["markdown", "json", "html", "text"]))
def test_random_specs_answer_or_refuse_in_one_line(text, fmt):
    assert_answer_or_one_line(["backprop", text, "--format", fmt])


@settings(max_examples=30, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(student=spec_text())
def test_random_student_answers_are_checked_or_refused_in_one_line(student):
    net = (
        '{"layers": [{"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"}, '
        '{"W": [[1, 1]], "b": [0]}], "lr": 0.1, "data": [{"x": [1, 2], "y": [1]}]}'
    )
    assert_answer_or_one_line(["backprop", net, "--check", student, "--format", "json"])


def test_the_generator_reaches_answers():
    """Not only refusals: a share of the generated specs is answered (exit 0)."""
    codes = []

    @settings(max_examples=100, deadline=None, database=None, derandomize=True)
    @given(text=spec_text())
    def collect(text):
        codes.append(run(["backprop", text, "--format", "json"])[0])

    collect()
    assert set(codes) <= {0, 2} and codes.count(0) >= 3
