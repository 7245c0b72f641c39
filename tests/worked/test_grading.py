"""Grading worked answers: gradable values, a student's value checked, the slip named.

Every command's right literals check as right, each slip its check names is planted and named,
and bad input (malformed, the wrong shape, an unknown key) gives a check with ``problem`` set,
never an exception; the five built-in sheets' worked tasks round-trip.
"""

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from stridelab.worked.commands import answer
from stridelab.worked.grading import KINDS, PROBLEMS, ValueCheck, check_all

BUILTIN = Path(__file__).resolve().parents[2] / "src" / "stridelab" / "sheets" / "builtin"
RPTU_X = "8 2 9 8 3; 3 4 6 2 7; 5 9 3 9 7; 6 1 3 6 8; 5 1 6 8 1"


def text(m) -> str:
    """A matrix or vector of numbers as an answers file holds it."""
    m = np.asarray(m, dtype=object)
    if m.ndim == 1:
        return " ".join(str(v) for v in m)
    return "; ".join(" ".join(str(v) for v in row) for row in m)


def decimals(m, places: int = 4) -> str:
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 0:
        return f"{float(m):.{places}f}"
    if m.ndim == 1:
        return " ".join(f"{v:.{places}f}" for v in m)
    return "; ".join(" ".join(f"{v:.{places}f}" for v in row) for row in m)


def assert_round_trip(a) -> list:
    gs = a.gradable()
    keys = [g.key for g in gs]
    assert len(set(keys)) == len(keys), keys
    for g in gs:
        assert g.kind in KINDS
        assert g.n_cells >= 1 and g.description and g.literal
        c = a.check_value(g.key, g.literal)
        assert isinstance(c, ValueCheck)
        assert (c.correct, c.wrong_cells, c.problem, c.slip) == (True, 0, None, None), c
        assert c.n_cells == g.n_cells and c.expected == g.literal
    return gs


# ---------------------------------------------------------------- the built-in sheets


def _worked_tasks():
    out = []
    for f in sorted(BUILTIN.glob("*.toml")):
        data = tomllib.loads(f.read_text())
        out += [pytest.param(t, id=f"{f.stem}:{t['label']}") for t in data["task"]
                if t.get("kind") == "worked"]
    return out


_ANSWERS: dict = {}


def sheet_answer(task, tmp_path_factory):
    """The task's answer, built as the sheets build it (once per test session)."""
    key = (task["label"], task["command"], json.dumps(task.get("args")), json.dumps(
        task.get("spec")))
    if key not in _ANSWERS:
        where = tmp_path_factory.mktemp("task")
        argv = [str(where / a) if a.endswith(".png") else a for a in task.get("args", [])]
        if "spec" in task:
            spec = where / "spec.json"
            spec.write_text(json.dumps(task["spec"]))
            argv = [str(spec)] + argv
        _ANSWERS[key] = answer(task["command"], argv)
    return _ANSWERS[key]


def test_every_builtin_sheet_has_worked_tasks():
    sheets = {p.id.split(":")[0] for p in _worked_tasks()}
    assert sheets == {"lmu-4", "rptu-2", "tue-4", "tuwien-4", "yale-663-2"}
    assert len(_worked_tasks()) >= 30


@pytest.mark.parametrize("task", _worked_tasks())
def test_builtin_worked_task_round_trips(task, tmp_path_factory):
    a = sheet_answer(task, tmp_path_factory)
    gs = assert_round_trip(a)
    assert gs, "every worked task of the built-in sheets has something to grade"
    checks = check_all(a, {g.key: g.literal for g in gs})
    assert [c.key for c in checks] == [g.key for g in gs]
    assert all(c.correct for c in checks)
    # an empty answers table: every key missing, scored 0 with the reason
    missing = check_all(a, {})
    assert all(c.problem == "missing" and c.wrong_cells == c.n_cells for c in missing)


def test_builtin_keys_the_sheet_side_declares_points_for(tmp_path_factory):
    tasks = {(p.values[0]["label"]): p.values[0] for p in _worked_tasks()}

    def keys(label):
        return [g.key for g in sheet_answer(tasks[label], tmp_path_factory).gradable()]

    assert keys("2.1 i)") == ["output.1", "output.2", "output.3"]
    assert keys("Problem 4.1 (c)") == ["output_shape"]  # pooling only: no parameters asked
    assert keys("2.1 vi)") == ["output_shape", "total_params", "layer.1.shape",
                               "layer.1.params", "layer.2.params"]
    assert keys("Problem 3.3")[:4] == ["W1", "b1", "W2", "b2"]
    assert "step.2.dW1" in keys("Backpropagation")
    assert keys("2.2 ii)") == ["dL_dz_i"] and keys("Problem 2.2") == ["dL_dz_i"]
    # the sheet gives no data; the sheet file's data (which variants draw anew) add the numbers
    assert keys("2.3") == ["w_star_formula", "grad_J", "w_star", "loss", "sklearn_alpha"]


# ---------------------------------------------------------------- conv


@pytest.fixture(scope="module")
def rptu():
    return answer("conv", ["--input", RPTU_X, "--kernel", "1 0 -1; 2 0 -2; 1 0 -1",
                           "--kernel", "1 2 1; 0 0 0; -1 -2 -1", "--kernel", "0 1 0; 1 -4 1; 0 1 0",
                           "--padding", "same", "--one-based"])


def test_conv_gradables_are_the_kernels_outputs(rptu):
    gs = assert_round_trip(rptu)
    assert [(g.key, g.kind, g.n_cells) for g in gs] == [
        ("output.1", "matrix", 25), ("output.2", "matrix", 25), ("output.3", "matrix", 25)]
    assert gs[0].literal.startswith("-8 -5 -10 11 18; -19 -5 -2 0 21")  # K1 is −sobel_x
    assert "padding same" in gs[0].description


def _conv_alt(a, index, **changes):
    from stridelab.worked.conv.check import _alternative

    return _alternative(a, index, **changes).output


def test_conv_names_its_slips(rptu):
    from stridelab.worked.conv.check import _float_alternative

    res = rptu.results[1]
    E = np.array(res.output, dtype=object)
    planted = {
        "flipped": text(_conv_alt(rptu, 1, mode="convolve")),
        "shifted": text(np.rint(_float_alternative(res, rptu, dj=1)).astype(int)),
        "padding": text(np.rint(_float_alternative(res, rptu, edge=True)).astype(int)),
        "transposed": text(E.T),
    }
    for slip, value in planted.items():
        c = rptu.check_value("output.2", value)
        assert (c.correct, c.slip, c.problem) == (False, slip, None), (slip, c)
        assert 0 < c.wrong_cells <= 25 and "most likely slip" in c.message
    one = E.copy()
    one[2, 3] = -one[2, 3] if one[2, 3] else 7
    c = rptu.check_value("output.2", text(one))
    assert (c.wrong_cells, c.n_cells) == (1, 25) and c.slip in ("sign", "arithmetic")
    assert c.credit == pytest.approx(24 / 25)
    # the padding left out: a 3×3 'valid' output for a 'same' task
    valid = answer("conv", ["--input", RPTU_X, "--kernel", "1 0 -1; 2 0 -2; 1 0 -1"])
    c = rptu.check_value("output.1", valid.gradable()[0].literal)
    assert (c.problem, c.slip, c.wrong_cells) == ("shape", "padding", 25)
    assert "padding was left out" in c.message


def test_conv_sign_bias_activation_and_stride_slips():
    a = answer("conv", ["--input", "1 2 3 4; 2 4 6 8; 1 1 1 1; 0 3 0 3", "--kernel",
                        "-1 0 1; -2 0 2; -1 0 1", "--bias", "-6", "--activation", "relu"])
    z = np.array(a.results[0].z, dtype=object)
    assert z.tolist() == [[4, 4], [-2, -2]]
    assert a.check_value("output.1", text(z)).slip == "activation"
    assert a.check_value("output.1", text(np.maximum(z + 6, 0))).slip == "bias"
    b = answer("conv", ["--input", RPTU_X, "--kernel", "1 2; 3 4", "--stride", "2"])
    stride1 = answer("conv", ["--input", RPTU_X, "--kernel", "1 2; 3 4"])
    c = b.check_value("output.1", stride1.gradable()[0].literal)
    assert (c.problem, c.slip) == ("shape", "stride")
    neg = np.array(b.results[0].output, dtype=object) * -1
    assert b.check_value("output.1", text(neg)).slip == "sign"


def test_conv_1d_and_sigmoid_outputs_are_judged_by_the_places_written():
    a = answer("conv", ["--input", "3 1 4 1 5 9", "--kernel", "1 0 -1", "--kernel", "1 2 1",
                        "--bias=0,-1", "--activation", "sigmoid"])
    gs = assert_round_trip(a)
    assert [(g.key, g.kind, g.n_cells) for g in gs] == [("output.1", "vector", 4),
                                                        ("output.2", "vector", 4)]
    out = np.asarray(a.outputs[0])
    assert a.check_value("output.1", decimals(out, 4)).correct
    assert a.check_value("output.1", decimals(out[:, None], 4).replace(" ", "; ")).correct
    assert not a.check_value("output.1", decimals(out + 0.001, 4)).correct
    assert a.check_value("output.1", decimals(out[:3], 4)).problem == "shape"


# ---------------------------------------------------------------- shape


def test_shape_gradables_and_their_slips():
    a = answer("shape", ["--input", "50x50x1", "conv:k=4,s=1,p=1,n=8"])
    assert [(g.key, g.kind, g.literal) for g in assert_round_trip(a)] == [
        ("output_shape", "shape", "49x49x8"), ("total_params", "number", "136")]
    c = a.check_value("output_shape", "47x47x8")
    assert (c.slip, c.wrong_cells, c.n_cells) == ("padding", 2, 3)
    assert a.check_value("output_shape", "48x48x8").slip in ("one_side", "plus_one")
    assert a.check_value("output_shape", "49x49x1").slip == "depth"
    assert a.check_value("total_params", "128").slip == "bias"
    assert a.check_value("output_shape", "49x49").problem == "shape"
    p = answer("shape", ["--input", "50x50x1", "pool:k=10,s=3"])
    assert [g.key for g in p.gradable()] == ["output_shape"]
    assert p.check_value("output_shape", "15x15x1").slip == "ceil"  # ⌈40/3⌉ + 1 for ⌊40/3⌋ + 1
    ch = answer("shape", ["--input", "5x5x3", "conv:k=3,n=2"])
    assert ch.check_value("total_params", "20").slip == "channels"  # 2·(3·3 + 1), not 2·(27 + 1)


def test_shape_per_layer_values():
    a = answer("shape", ["--input", "5x5x1", "conv:k=3,p=1,n=3", "conv:k=3,p=1,n=8"])
    gs = assert_round_trip(a)
    assert [(g.key, g.literal) for g in gs] == [
        ("output_shape", "5x5x8"), ("total_params", "254"), ("layer.1.shape", "5x5x3"),
        ("layer.1.params", "30"), ("layer.2.params", "224")]
    assert a.check_value("layer.1.shape", "3x3x3").slip == "padding"
    assert a.check_value("layer.2.params", "216").slip == "bias"
    assert a.check_value("layer.2.params", "80").slip == "channels"


def test_shape_open_filter_counts_are_formulas_in_n():
    a = answer("shape", ["--input", "50x50x1", "conv:k=4,p=1", "flatten", "dense"])
    gs = assert_round_trip(a)
    assert gs[0].symbols == ("n1", "n2")
    assert dict((g.key, g.literal) for g in gs)["layer.1.shape"] == "49x49xn1"
    assert a.check_value("layer.1.params", "16n1").slip == "bias"
    assert a.check_value("total_params", "17m").problem == "malformed"
    assert a.check_value("total_params", "17n").slip is None  # a formula, but not this one


# ---------------------------------------------------------------- backprop


def _spec(tmp_path, spec: dict) -> str:
    p = tmp_path / "net.json"
    p.write_text(json.dumps(spec))
    return str(p)


LMU = {"layers": [{"W": [[0.1, -0.2], [0.4, 0.3]], "b": [0.1, -0.1], "activation": "sigmoid"},
                  {"W": [[0.5, -0.3], [0.2, 0.6]], "b": [0.0, 0.1], "activation": "sigmoid"}],
       "loss": "sse_half", "lr": 0.5, "data": [{"x": [1, 2], "y": [1, 0]}]}


@pytest.fixture(scope="module")
def lmu(tmp_path_factory):
    return answer("backprop", [_spec(tmp_path_factory.mktemp("net"), LMU)])


def _planted(a, slip, key):
    """What a student with ``slip`` writes for ``key`` (four decimals)."""
    from stridelab.worked.backprop.check import slip_steps

    run = slip_steps(a.spec, slip)
    layer = int(key[-1]) - 1
    if key.startswith("d") and not key.startswith("delta"):
        return decimals(run[0].grads[layer][0 if key[1] == "W" else 1], 5)
    if key.startswith("delta"):
        return decimals(run[0].deltas[0][layer], 5)
    return decimals(run[-1].params[layer][0 if key[0] == "W" else 1], 5)


def test_backprop_gradables_and_the_slips_of_check(lmu):
    gs = assert_round_trip(lmu)
    assert [g.key for g in gs] == ["W1", "b1", "W2", "b2", "dW1", "db1", "dW2", "db2",
                                   "delta1", "delta2"]
    for slip, key in [("sign", "W1"), ("lr", "W2"), ("new_weights", "W1"), ("fprime", "W1"),
                      ("fprime_out", "W1"), ("fprime_hidden", "W1"), ("half", "dW2"), ("fprime", "delta2"), ("fprime_hidden", "delta1")]:
        c = lmu.check_value(key, _planted(lmu, slip, key))
        assert (c.correct, c.slip) == (False, slip), (slip, key, c)
    # with lr = 0.5 the ½ forgotten and the learning rate forgotten give the same weights
    c = lmu.check_value("W2", _planted(lmu, "half", "W2"))
    assert c.slip == "lr" and "so does: forgot the ½" in c.message
    neg = -np.asarray(lmu.steps[0].grad_weights[1])
    assert lmu.check_value("dW2", decimals(neg, 5)).slip == "grad_sign"
    # within one unit of the fourth decimal, as --check: 0.10 for 0.104029 is not enough
    assert not lmu.check_value("b1", "0.10 -0.11").correct
    assert not lmu.check_value("b1", "0.1039 -0.1129").correct
    assert lmu.check_value("b1", "0.1040 -0.1129").correct


def test_backprop_batch_mean_and_mse(tmp_path):
    spec = {"layers": [{"W": [[1]], "activation": "relu"}, {"W": [[2]], "activation": "relu"}],
            "loss": "sse_half", "lr": 0.1, "mode": "batch",
            "data": [{"x": [1], "y": [2]}, {"x": [2], "y": [3]}]}
    a = answer("backprop", [_spec(tmp_path, spec)])
    assert_round_trip(a)
    c = a.check_value("W1", _planted(a, "sum", "W1"))
    assert c.slip in ("half", "sum") and "so does" in c.message  # here both give 0.6
    mse = dict(LMU, loss="mse", lr=0.1)  # with lr 0.5 and K = 2 the 1/K is the lr slip
    b = answer("backprop", [_spec(tmp_path, mse)])
    assert b.check_value("W2", _planted(b, "mean_k", "W2")).slip == "mean_k"


def test_backprop_sequential_steps_are_graded_one_by_one(tmp_path):
    spec = {"layers": [{"W": [[1]], "activation": "relu"}, {"W": [[2]], "activation": "relu"}],
            "loss": "sse_half", "lr": 0.1, "data": [{"x": [1], "y": [2]}, {"x": [2], "y": [3]}]}
    a = answer("backprop", [_spec(tmp_path, spec)])
    keys = [g.key for g in assert_round_trip(a)]
    assert keys == ["W1", "W2", "step.1.W1", "step.1.W2", "dW1", "dW2", "delta1", "delta2",
                    "step.2.dW1", "step.2.dW2", "step.2.delta1", "step.2.delta2"]
    assert a.check_value("W1", "0.6").correct and a.check_value("step.2.dW1", "4").correct
    assert a.check_value("W2", "2.2").slip == "sign"


# ---------------------------------------------------------------- bad input


BAD_VALUES = ["", "   ", "abc", "1 2; 3", "nan", "inf", "1e400", "1/0", "0x10", "8 2 9 | 3 4 6",
              "\x00", "é", "9" * 5000, "1 " * 20_000, "/etc/passwd", "../../secret.csv",
              "{'a': 1}", "[[1, 2], [3, 4]]", None, {"a": 1}, [1, 2], float("nan"), True,
              object()]


@pytest.mark.parametrize("value", BAD_VALUES, ids=[f"bad{i}" for i in range(len(BAD_VALUES))])
def test_bad_values_score_zero_with_the_reason(value, rptu, lmu):
    shape = answer("shape", ["--input", "50x50x1", "conv:k=4,s=1,p=1,n=8"])
    for a, key in [(rptu, "output.1"), (shape, "output_shape"), (shape, "total_params"),
                   (lmu, "W1"), (lmu, "delta2")]:
        c = a.check_value(key, value)
        assert isinstance(c, ValueCheck) and not c.correct
        assert c.problem in ("malformed", "shape"), (key, value, c)
        assert c.wrong_cells == c.n_cells and c.slip is None or c.problem == "shape"
        assert len(c.given) <= 120 and c.message.endswith(".")


def test_unknown_keys_and_check_all(rptu):
    c = rptu.check_value("output.4", "1 2; 3 4")
    assert (c.problem, c.correct, c.expected) == ("unknown key", False, "")
    assert "output.1, output.2, output.3" in c.message
    assert rptu.check_value(None, "1").problem == "unknown key"
    checks = check_all(rptu, {"output.2": rptu.gradable()[1].literal, "output.9": "1",
                              "bogus": "2"})
    assert [c.key for c in checks] == ["output.1", "output.2", "output.3", "output.9", "bogus"]
    assert [c.problem for c in checks] == ["missing", None, "missing", "unknown key",
                                           "unknown key"]
    assert set(c.problem for c in checks if c.problem) <= set(PROBLEMS)


def test_a_list_of_matrices_from_an_answers_file_is_one_value():
    a = answer("derive", ["conv2d", "--x", "1 2; 3 4 | 5 6; 7 8", "--w", "1 | -1",
                          "--y", "0 0; 0 0"])
    g = {g.key: g for g in a.gradable()}["dJ_dx"]
    assert g.kind == "matrices" and g.n_cells == 8
    assert a.check_value("dJ_dx", g.literal.split(" | ")).correct  # a TOML array of strings


def test_answers_with_nothing_or_little_to_grade(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # a photo's answer writes its figure beside it

    relu = answer("shape", ["--input", "4x4x1", "relu"])  # no parameters: the shape only
    assert [g.key for g in relu.gradable()] == ["output_shape"]
    listing = answer("derive", ["list"])
    assert listing.gradable() == [] and listing.check_value("x", "1").problem == "unknown key"
    plt.imsave(tmp_path / "tiny.png", np.random.default_rng(0).random((8, 8)), cmap="gray")
    photo = answer("conv", ["--image", str(tmp_path / "tiny.png"), "--kernel", "sobel_x"])
    assert photo.gradable() == []  # a photo's output is shown, not typed by a student


def test_number_policy_exact_fractions_and_rounded_decimals():
    a = answer("derive", ["ridge", "--X", "1 2; 3 4; 5 7", "--y", "1 2 3", "--lam", "0.1"])
    g = {g.key: g for g in a.gradable()}
    assert g["w_star"].literal == "80/647 1630/4529"
    assert a.check_value("w_star", "80/647 1630/4529").correct
    assert not a.check_value("w_star", "80/646 1630/4529").correct  # fractions exactly
    assert a.check_value("w_star", "0.1236 0.3599").correct  # rounded to the places written
    assert a.check_value("w_star", "0.124 0.360").correct
    assert not a.check_value("w_star", "0.1237 0.3599").correct
    assert g["loss"].literal == "556/13587" and a.check_value("loss", "0.04092").correct
    assert a.check_value("sklearn_alpha", "3/10").correct
    assert Fraction(g["sklearn_alpha"].literal) == Fraction(3, 10)
    # a float's literal is rounded, not a whole number judged as exact
    s = answer("derive", ["cross-entropy-swapped", "--a", "0.7"])
    assert {g.key: g.literal for g in s.gradable()}["C_y0"] == "1.20397"
    assert s.check_value("C_y0", "-log(3/10)").correct  # a closed form, by its value
    assert s.check_value("C_y0", "1.2").correct and not s.check_value("C_y0", "1").correct


def test_a_copied_or_pickled_answer_grades_the_same(rptu, lmu):
    import copy
    import pickle

    d = answer("derive", ["conv1d", "--x", "3 1 4 1 5 9", "--w", "1 0 -1", "--y", "0 1 0 1"])
    for a in (d, lmu, answer("shape", ["--input", "5x5x1", "conv:k=3,n=2"])):
        gs = a.gradable()  # the checks are built and kept on the answer …
        again = pickle.loads(pickle.dumps(a))  # … and rebuilt, not carried, by a copy
        assert "_grading_targets_cache" not in again.__dict__
        assert [g.key for g in again.gradable()] == [g.key for g in gs]
        assert all(again.check_value(g.key, g.literal).correct for g in gs)
    rptu.check_value("output.1", "1 2 3 4 5; 1 2 3 4 5; 1 2 3 4 5; 1 2 3 4 5; 1 2 3 4 5")
    assert "_slip_outputs" in rptu.__dict__ and "_slip_outputs" not in copy.copy(rptu).__dict__
