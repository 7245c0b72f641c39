"""stridelab shape against random malformed and extreme input: an answer or one line, quickly.

Every example goes through ``stridelab.cli.main`` in-process and must end with exit 0 and an
answer on stdout (nothing on stderr) or exit 2 and exactly one line on stderr, within the
Hypothesis deadline and a tracemalloc peak of 200 MB.
"""

import json

import pytest
from cli_probe import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MEMORY_LIMIT = 200 * 2**20  # bytes, tracemalloc peak of one example

# sizes: ordinary, zero, negative, at and past the documented limits, absurd
sizes = st.one_of(
    st.integers(1, 64),
    st.sampled_from([0, -1, -50, 10**9, 10**9 + 1, 10**23, 2**63]),
    st.integers(-10, 10**12),
)
small = st.integers(1, 8).map(str)
size_text = st.one_of(
    small,
    small,
    small,
    small,
    small,
    small,
    sizes.map(str),
    st.sampled_from(["", "x", "1.5", "\u00b2", "\u0663", "9" * 5000, "1e9", "n", "same", "-"]),
    st.text(max_size=8),
)
kinds = st.sampled_from(
    ["conv", "conv1d", "dwsep", "depthwise", "pool", "avgpool", "gap", "gmp", "upsample",
     "flatten", "reshape", "unflatten", "dense", "bn", "relu", "dropout", "wobble", ""]
)
keys = st.sampled_from(["k", "n", "s", "p", "d", "b", "db", "m", "f", "rate", "q", ""])
# the options each kind takes, so that most generated layers are accepted
_TAKES = {"conv": "knspd", "conv1d": "knspd", "dwsep": "knsp", "depthwise": "kmsp",
          "pool": "ksp", "avgpool": "ksp", "upsample": "f", "dense": "n"}


@st.composite
def layer_spec(draw):
    kind = draw(kinds)
    if kind in ("reshape", "unflatten"):
        dims = draw(st.lists(size_text, min_size=0, max_size=4))
        return f"{kind}:{'x'.join(dims)}"
    if kind in _TAKES and draw(st.integers(0, 3)):
        keys_of = st.sampled_from(list(_TAKES[kind]))
        opts = draw(st.lists(st.tuples(keys_of, size_text), max_size=3, unique_by=lambda o: o[0]))
        if kind not in ("upsample", "dense", "pool", "avgpool") and "k" not in dict(opts):
            opts.append(("k", draw(st.sampled_from(["1", "2", "3"]))))
    else:
        opts = draw(st.lists(st.tuples(keys, size_text), max_size=4))
    if not opts and draw(st.booleans()):
        return kind
    return kind + ":" + ",".join(f"{k}={v}" for k, v in opts)


@st.composite
def argv(draw):
    dims = draw(st.lists(size_text, min_size=0, max_size=4))
    good = draw(st.lists(st.integers(1, 64).map(str), min_size=1, max_size=3))
    inp = draw(st.one_of(st.just("x".join(good)), st.just("x".join(good)),
                         st.just("x".join(dims)), st.text(max_size=12)))
    layers = draw(st.lists(st.one_of(layer_spec(), layer_spec(), layer_spec(),
                                     st.text(max_size=20)), max_size=6))
    long_chain = draw(st.integers(0, 20)) == 0
    if long_chain:  # at and past MAX_LAYERS
        layers = layers + [draw(st.sampled_from(["relu", "conv:k=1,n=1", "bn"]))] * draw(
            st.sampled_from([999, 1001]))
    out = ["shape", "--input", inp, *layers]
    check = draw(st.one_of(st.none(), st.text(max_size=20), st.sampled_from(
        ["49x49x8", "49x49xn,params=17n", "10,params=" + "9" * 60, "1x1x1,params=n" * 50])))
    if check is not None:
        out += ["--check", check]
    # the text and HTML renderers of a 1,000-row table take seconds on their own
    formats = ["markdown", "json"] if long_chain else ["markdown", "json", "html", "text"]
    out += ["--format", draw(st.sampled_from(formats))]
    return out


def assert_answer_or_one_line(args):
    code, out, err, peak = run(args)
    assert peak < MEMORY_LIMIT, (args[:6], peak)
    if code == 0:
        assert out.strip() and err == "", (args[:6], err)
    else:
        assert code == 2, (args[:6], code, err)
        assert out == "" and err.startswith("stridelab: error: "), (args[:6], err)
        assert err.count("\n") == 1, (args[:6], err)
    return code, out, err


@settings(max_examples=100, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(args=argv())
def test_random_specs_answer_or_refuse_in_one_line(args):
    assert_answer_or_one_line(args)


# ---------------------------------------------------------------- one test per example


@pytest.mark.parametrize(
    "args, fragment",
    [
        # numbers out of range (#18 item 2): an absurd size, a 5000-digit option
        (["--input", "100000000000000000000000x1x1", "flatten"], "above the limit"),
        (["--input", "50x50x1", "conv:k=3,s=100000000000000000000000"], "above the limit"),
        (["--input", "50x50x1", "conv:k=3,n=" + "9" * 5000], "characters long"),
        # unbounded work (#18 item 3): a chain that grows past the size limit, many layers
        (["--input", "50x50x1", "upsample:f=10000", "upsample:f=10000"], "above the limit"),
        (["--input", "50x50x1", *["relu"] * 1001], "number of layers is 1,001"),
        # negative and zero sizes
        (["--input", "50x-50x1", "flatten"], "input shape"),
        (["--input", "50x50x1", "conv:k=3,n=0"], "must be >= 1"),
        (["--input", "50x50x1", "conv:k=3,p=-1"], "must be an integer"),
        # a reshape whose size does not match
        (["--input", "2", "dense:n=392", "reshape:7x7x9"], "needs 441"),
    ],
)
def test_each_hostile_example_is_one_line(args, fragment):
    code, _, err = assert_answer_or_one_line(["shape", *args])
    assert code == 2 and fragment in err


def test_the_limits_themselves_are_answered():
    code, out, _ = assert_answer_or_one_line(
        ["shape", "--input", "1000000000x1x1", *["relu"] * 999, "flatten", "--format", "json"]
    )
    assert code == 0 and json.loads(out)["output_shape"] == [10**9]


def test_check_of_a_long_chain_is_quick_and_says_why_no_slip_is_named():
    import time

    t0 = time.perf_counter()
    code, out, _ = assert_answer_or_one_line(
        ["shape", "--input", "8x8x1", *["conv:k=1,n=1"] * 999, "--check", "3x3x1,params=5",
         "--format", "json"]
    )
    assert code == 0 and time.perf_counter() - t0 < 10
    check = json.loads(out)["check"]
    assert check["shape_ok"] is False and check["params_ok"] is False  # 8x8x1 and 1998
    assert "chains of up to 60 layers; this one has 999" in check["shape_note"]
