"""stridelab derive against careless and hostile input: an answer (exit 0) or one line (exit 2),
in bounded time and memory, for every topic and value option."""

import io
import json
import time
import tracemalloc
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta

import pytest

from stridelab.cli import main
from stridelab.worked import derive

pytest.importorskip("sympy")
pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TIME_BOUND_S = 5.0
MEMORY_BOUND = 300 * 2**20
DERANDOMIZE = True


def run(argv: list[str]) -> tuple[int, str, str, float, int]:
    """cli.main in-process: (exit code, stdout, stderr, seconds, peak traced bytes)."""
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["derive", *argv])
    finally:
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return code, out.getvalue(), err.getvalue(), seconds, peak


def assert_answer_or_one_line(argv, code, out, err):
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert out == "", argv
        assert err.startswith("stridelab: error: ") and err.count("\n") == 1, (argv, err)
    else:
        assert err == "" and out.strip(), (argv, err)
        if "--json" in argv:
            json.loads(out)


@pytest.fixture(scope="module")
def warm():
    """Import torch, SymPy, SciPy and scikit-learn and cache every topic's symbolic part once,
    so the time bound measures the work of one request, not start-up."""
    for topic in derive.TOPICS:
        derive.derive(topic, points=1)
    derive.derive("ridge", X="1 2; 3 4", y="1 2", lam="1")
    derive.derive("cross-entropy-swapped", a="0.5")
    return True


# ---------------------------------------------------------------- the examples, one by one


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["ridge", "--points", "100000000"], "--points is 100,000,000, above the limit of 1,000"),
        (["conv1d", "--points", "9" * 5000], "--points"),
        (["softmax-jacobian", "--z", "1 2; 3"], "row 2 has 1 values"),
        (["softmax-jacobian", "--z", ""], "empty"),
        (["softmax-jacobian", "--z", ";"], "empty"),
        (["softmax-jacobian", "--z", "1 two 3"], "not a number"),
        (["softmax-jacobian", "--z", "1e400"], "--z"),
        (["softmax-jacobian", "--z", "1 nan"], "finite"),
        (["softmax-jacobian", "--z", "inf 1"], "finite"),
        (["softmax-jacobian", "--z", "1e-99999999"], "--z"),
        (["softmax-jacobian", "--z", "1" * 5000], "characters"),
        (["softmax-cross-entropy", "--z", "1 2 3", "--y", "1 0"], "--y has 2 values"),
        (["sigmoid-cross-entropy", "--z", "1", "--y", "2"], "outside [0, 1]"),
        (["ridge", "--X", "1 2; 3", "--y", "1 2", "--lam", "1"], "row 2 has 1 values"),
        (["ridge", "--X", "1 2; 3 4", "--y", "1 2", "--lam", "0"], "--lam must be > 0"),
        (["ridge", "--X", "1 2; 3 4", "--y", "1 2", "--lam", "-1"], "--lam must be > 0"),
        (["ridge", "--X", "1 2; 3 4", "--y", "1 2", "--lam", "1 2"], "one number"),
        (["ridge", "--X", "no-such-file.csv", "--y", "1 2", "--lam", "1"], "file 'no-such-file.csv' not found"),
        (["ridge", "--X", "/dev/zero", "--y", "1", "--lam", "1"], "not a regular file"),
        (["ridge", "--X", "1e300 1; 1 1", "--y", "1 1", "--lam", "1"], "overflows float64"),
        (["conv1d", "--x", "1 2 3", "--w", "1 2 3 4"], "larger than the input"),
        (["conv1d", "--x", "1 2 3", "--w", "1 1", "--stride", "10" * 20], "--stride"),
        (["conv1d", "--x", "1 2 3", "--w", "1 1", "--stride", "0"], "--stride"),
        (["conv1d", "--x", "1e200 1", "--w", "1e200", "--y", "0 0"], "overflow float64"),
        (["conv2d", "--x", "1 2; 3 4", "--w", "1 2 3; 4 5 6; 7 8 9"], "larger than the input"),
        (["cross-entropy-swapped", "--a", "0"], "strictly between 0 and 1"),
        (["cross-entropy-minimum", "--y", "-0.1"], "outside [0, 1]"),
        (["neuron-f", "--a", "0.5"], "neuron-f does not take --a"),
    ],
)
def test_each_malformed_value_is_one_line(argv, fragment):
    code, out, err, _, _ = run(argv)
    assert_answer_or_one_line(argv, code, out, err)
    assert code == 2 and fragment in err, err


def test_a_long_literal_is_numbers_not_a_file_name(warm):
    z = " ".join(str(k / 7)[:12] for k in range(60))  # about 700 characters
    assert len(z) > 255
    code, out, err, _, _ = run(["softmax-jacobian", "--z", z, "--json"])
    assert code == 0 and err == "" and len(json.loads(out)["output"]) == 60


def test_limits_answer_in_bounded_time(warm):
    z = " ".join(str(k % 10) for k in range(100))  # the largest Jacobian: 100 x 100
    code, out, err, seconds, peak = run(["softmax-jacobian", "--z", z, "--json"])
    assert code == 0 and seconds < 10 * TIME_BOUND_S and peak < MEMORY_BOUND
    code, _, err, _, _ = run(["softmax-jacobian", "--z", z + " 1"])
    assert code == 2 and "above the limit of 100" in err


def test_tiny_lambda_on_collinear_data_still_answers(warm):
    # X^T X is singular; n lambda I = 3e-300 I keeps the system invertible in exact arithmetic
    code, out, err, _, _ = run(["ridge", "--X", "1 2; 2 4; 3 6", "--y", "1 2 3",
                                "--lam", "1e-300", "--json"])
    assert code in (0, 2) and (code == 0 or err.count("\n") == 1), err


# ---------------------------------------------------------------- the property

_NUMBERS = st.one_of(  # well-formed values, so that many examples get to an answer
    st.integers(-20, 20).map(str),
    st.fractions(min_value=-10, max_value=10, max_denominator=12).map(str),
    st.decimals(min_value=-100, max_value=100, places=2, allow_nan=False).map(str),
)
_JUNK = st.one_of(
    st.sampled_from([
        "0", "1", "-2", "0.5", "1/3", "-1/7", "0.3", "1e308", "-1e308", "1e400", "1e-400",
        "nan", "inf", "-inf", "NaN", "1/0", "abc", "−1", "1e99999999", "0x10", "1_0", "",
        "9" * 450, "0." + "3" * 70, "1e-5", "2.5e3", "++1", "1..2", "#",
    ]),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.fractions(max_denominator=1000).map(str),
)
_TOKENS = st.one_of(_NUMBERS, _NUMBERS, _JUNK)


@st.composite
def _values(draw):
    """A vector, a ragged or rectangular matrix, channels, or junk, as text."""
    rows = draw(st.lists(st.lists(_TOKENS, min_size=0, max_size=5), min_size=1, max_size=3))
    sep = draw(st.sampled_from([" ", ",", ", "]))
    text = "; ".join(sep.join(r) for r in rows)
    if draw(st.booleans()) and len(rows) > 1:
        text = text.replace(";", " |", 1)  # channels
    return text


_OPTION_VALUES = {
    "z": _values(),
    "y": _values(),
    "X": _values(),
    "x": _values(),
    "w": _values(),
    "lam": _TOKENS,
    "b": _TOKENS,
    "a": _TOKENS,
    "stride": st.one_of(st.sampled_from(["1", "2", "3", "0", "-1", "10000", "10001", "x"]),
                        _TOKENS),
    "activation": st.sampled_from(["linear", "sigmoid", "tanh", "relu", "SIGMOID", ""]),
}


@st.composite
def _clean_argv(draw):
    """A topic with the values it needs, of matching sizes, mostly well-formed: these examples
    reach the computation (and its overflow and range checks) rather than the parser."""
    topic = draw(st.sampled_from([t for t, spec in derive.TOPICS.items() if spec.options]))
    num = st.one_of(_NUMBERS, _NUMBERS, _NUMBERS, _JUNK)
    prob = st.sampled_from(["0", "1", "0.5", "0.25", "1/3", "0.999", "0.001"])

    def vec(n, tokens=num):
        return " ".join(draw(st.lists(tokens, min_size=n, max_size=n)))

    n = draw(st.integers(1, 5))
    if topic in ("softmax-jacobian", "softmax-name"):
        opts = {"z": vec(n)}
    elif topic in ("softmax-cross-entropy", "sigmoid-cross-entropy"):
        opts = {"z": vec(n), "y": vec(n, prob if topic.startswith("sigmoid") else num)}
    elif topic == "cross-entropy-minimum":
        opts = {"y": vec(n, prob)}
    elif topic == "cross-entropy-swapped":
        opts = {"a": draw(prob)} | ({"y": vec(n, prob)} if draw(st.booleans()) else {})
    elif topic == "ridge":
        d = draw(st.integers(1, 3))
        opts = {"X": "; ".join(vec(d) for _ in range(n)), "y": vec(n),
                "lam": draw(st.one_of(prob, num))}
    else:  # conv1d, conv2d
        m = draw(st.integers(1, n))
        s = draw(st.integers(1, 3))
        k = (n - m) // s + 1
        if topic == "conv1d":
            opts = {"x": vec(n), "w": vec(m), "y": vec(k)}
        else:
            opts = {"x": "; ".join(vec(n) for _ in range(n)),
                    "w": "; ".join(vec(m) for _ in range(m)),
                    "y": "; ".join(vec(k) for _ in range(k))}
        opts |= {"stride": str(s), "b": draw(num),
                 "activation": draw(st.sampled_from(["linear", "sigmoid", "tanh"]))}
        if draw(st.booleans()):
            del opts["y"]
    argv = [topic] + [f"{derive.VALUE_OPTIONS[k]}={v}" for k, v in opts.items()]
    if draw(st.booleans()):
        argv.append("--json")
    return argv


@st.composite
def _noisy_argv(draw):
    topic = draw(st.sampled_from(list(derive.TOPICS) + ["all", "list", "softmax", "Ridge"]))
    own = list(derive.TOPICS[topic].options) if topic in derive.TOPICS else []
    names = draw(st.lists(st.sampled_from(own), unique=True, max_size=len(own))) if own else []
    if draw(st.integers(0, 4)) == 0:  # now and then an option the topic does not take
        names.append(draw(st.sampled_from(list(derive.VALUE_OPTIONS))))
    if topic == "all" and not names:
        names = ["z"]  # every topic at once takes a few seconds: the limits are tested above
    argv = [topic]
    for name in dict.fromkeys(names):
        value = draw(_OPTION_VALUES[name])
        argv.append(f"{derive.VALUE_OPTIONS[name]}={value}")
    if draw(st.booleans()):
        argv.append("--points=" + draw(st.sampled_from(["1", "2", "0", "-3", "1000", "1001",
                                                        "100000000", "x", "1e3"])))
    if draw(st.booleans()):
        argv.append("--seed=" + draw(st.sampled_from(["0", "7", "-1", "9" * 30, "y"])))
    if draw(st.booleans()):
        argv.append(draw(st.sampled_from(["--json", "--format=markdown", "--format=text",
                                          "--format=html", "--format=pdf"])))
    return argv


@settings(
    max_examples=50,
    deadline=timedelta(seconds=TIME_BOUND_S),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=DERANDOMIZE,
)
@given(argv=st.one_of(_clean_argv(), _noisy_argv()))
def test_any_input_answers_or_refuses_in_one_line(warm, argv):
    code, out, err, seconds, peak = run(argv)
    assert_answer_or_one_line(argv, code, out, err)
    assert seconds < TIME_BOUND_S, (argv, seconds)
    assert peak < MEMORY_BOUND, (argv, peak)
