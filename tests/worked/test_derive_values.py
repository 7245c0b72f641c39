"""stridelab derive with a user's values: hand-computed numbers, exact forms, the second check."""

import argparse
import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest

from stridelab.errors import ConfigError, DataError
from stridelab.worked import derive
from stridelab.worked.derive import cli as derive_cli
from stridelab.worked.derive import softmax

pytest.importorskip("sympy")
pytest.importorskip("torch")
pytest.importorskip("sklearn")




def passed(d):
    assert d.check["passed"], d.check
    assert d.check["at"].startswith("your")
    return d


# ---------------------------------------------------------------- softmax


def test_softmax_jacobian_of_equal_logits():
    # z = (5, 5, 5): y_hat = 1/3 each, J = diag(1/3) - 1/9: 2/9 on the diagonal, -1/9 off it
    d = passed(derive.derive("softmax-jacobian", z="5 5 5"))
    expected = np.full((3, 3), -1 / 9) + np.eye(3) / 3
    assert np.allclose(d.output, expected, atol=1e-16)
    assert np.allclose(d.values["y_hat"], [1 / 3] * 3, atol=1e-16)
    assert d.exact["S"] == "3"  # t = (0, 0, 0): S = e^0 + e^0 + e^0
    sp = pytest.importorskip("sympy")
    S = sp.Symbol("S")  # in SymPy's own namespace S is its singleton registry
    exact = [[sp.sympify(e, locals={"S": S}).subs(S, 3) for e in row]
             for row in d.exact["jacobian"]]
    assert exact[0][0] == sp.Rational(2, 9) and exact[0][1] == sp.Rational(-1, 9)
    assert d.inputs == {"z": [5, 5, 5]}


def test_softmax_jacobian_with_the_cli(run_cli):
    code, out, err = run_cli("derive", "softmax-jacobian", "--z", "0 0", "--json")
    doc = json.loads(out)
    assert code == 0 and err == ""
    assert doc["output"] == [[0.25, -0.25], [-0.25, 0.25]]
    assert doc["check"]["passed"] is True
    assert "torch.autograd" in doc["check"]["route"]
    code, out, _ = run_cli("derive", "softmax-jacobian", "--z", "1 2 3")
    assert code == 0 and "S = e^{-2} + e^{-1} + 1" in out.replace("&", "")
    assert "**passed**" in out
    assert "Numerically at your values" in out


def test_softmax_jacobian_long_vector_is_float_only():
    d = passed(derive.derive("softmax-jacobian", z=list(range(8))))
    assert "jacobian" not in d.exact and any("Exact forms" in n for n in d.notes)
    assert d.output.shape == (8, 8) and np.allclose(d.output.sum(axis=1), 0, atol=1e-15)


def test_a_wrong_value_fails_the_check(monkeypatch):
    real = softmax._softmax_float
    monkeypatch.setattr(softmax, "_softmax_float", lambda t: (real(t)[0] * 1.01, real(t)[1]))
    d = derive.derive("softmax-jacobian", z="1 2 3")
    assert not d.check["passed"] and "FAILED" in d.to_markdown()


def test_softmax_cross_entropy_by_hand():
    # z = (0, 0), y = (1, 0): y_hat = (1/2, 1/2), grad = (-1/2, 1/2), L = ln 2
    d = passed(derive.derive("softmax-cross-entropy", z="0 0", y="1 0"))
    assert d.output.tolist() == [-0.5, 0.5]
    assert math.isclose(float(d.values["loss"]), math.log(2), rel_tol=1e-15)
    assert d.exact["grad"] == ["-1 + 1/S", "1/S"]


def test_softmax_cross_entropy_targets_not_summing_to_one():
    # sum y = 0.8, so grad = 0.8 y_hat - y = (0.4 - 0.5, 0.4 - 0.3) = (-0.1, 0.1)
    d = passed(derive.derive("softmax-cross-entropy", z="0 0", y="0.5 0.3"))
    assert np.allclose(d.output, [-0.1, 0.1], atol=1e-16)
    assert "sum to 0.8, not 1" in d.text and "∂L/∂z = 0.8·ŷ - y" in d.text
    assert any("least at ŷ = y/0.8" in n for n in d.notes)
    d = passed(derive.derive("softmax-cross-entropy", z="0 0", y="-1 1"))
    assert any("not a probability distribution" in n for n in d.notes)


def test_sigmoid_cross_entropy_by_hand():
    # z = 0: a = 1/2, delta = a - y = (-1/2, 1/2), L = ln 2 for both targets
    d = passed(derive.derive("sigmoid-cross-entropy", z="0 0", y="1 0"))
    assert d.output.tolist() == [-0.5, 0.5]
    assert np.allclose(d.values["loss"], [math.log(2)] * 2, rtol=1e-15)


# ---------------------------------------------------------------- the new cross-entropy topics


def test_cross_entropy_minimum_at_soft_targets():
    # y = 1/2: a* = 1/2, z* = 0, C_min = ln 2; y = 0.3: C_min = -(0.3 ln 0.3 + 0.7 ln 0.7)
    d = passed(derive.derive("cross-entropy-minimum", y="0.5 0.3"))
    assert d.values["z_star"][0] == 0.0
    assert math.isclose(d.output[0], 0.6931471805599453, rel_tol=1e-15)
    assert math.isclose(d.output[1], 0.6108643020548935, rel_tol=1e-14)
    assert math.isclose(float(d.values["c_min_mean"]), (0.6931471805599453
                                                        + 0.6108643020548935) / 2, rel_tol=1e-14)
    assert d.exact["entropy"][0] == "log(2)"
    assert math.isclose(d.values["z_star"][1], math.log(0.3 / 0.7), rel_tol=1e-15)


def test_cross_entropy_minimum_at_hard_targets():
    d = passed(derive.derive("cross-entropy-minimum", y="0 1"))
    assert d.output.tolist() == [0.0, 0.0]
    assert d.values["z_star"].tolist() == [-math.inf, math.inf]
    assert "approached, not reached" in d.text


def test_cross_entropy_swapped_values():
    # a = 0.7: the usual form is -ln(1 - a) = -ln 0.3 at y = 0 and -ln 0.7 at y = 1; the
    # swapped form is +inf at both, with slope ln((1 - y)/y) = +inf at y = 0, -inf at y = 1
    d = passed(derive.derive("cross-entropy-swapped", a="0.7", y="0.3 0.5"))
    assert d.values["y"].tolist() == [0, 1, 0.3, 0.5]
    assert np.allclose(d.values["usual"][:2], [1.2039728043259361, 0.35667494393873245],
                       rtol=1e-15)
    assert d.values["swapped"][:2].tolist() == [math.inf, math.inf]
    assert d.values["swapped_grad"][:2].tolist() == [math.inf, -math.inf]
    # y = 0.3: C~ = -(0.7 ln 0.3 + 0.3 ln 0.7), the slope ln(0.7/0.3) > 0: least at a -> 0
    # = 0.7 * 1.2039728043259361 + 0.3 * 0.35667494393873245
    assert math.isclose(d.values["swapped"][2], 0.9497834462097750, rel_tol=1e-14)
    assert "least at a → 0, not at a = y" in d.text
    assert "the same for every a" in d.text  # y = 1/2: slope 0
    assert d.exact["usual_at_0_1"] == ["-log(3/10)", "-log(7/10)"]
    assert "tends to +∞ as y → 0⁺ and to +∞ as y → 1⁻" in d.text
    doc = json.loads(d.to_json())
    assert doc["values"]["swapped"][:2] == ["inf", "inf"]  # JSON has no inf


def test_softmax_name_numbers():
    d = derive.derive("softmax-name", z="1 2 3")
    passed(d)
    c = list(d.values["c"])
    at1 = d.output[c.index(1)]
    # softmax(1, 2, 3) = e^(k-3) / (1 + e^-1 + e^-2)
    e = np.exp([-2.0, -1.0, 0.0])
    assert np.allclose(at1, e / e.sum(), atol=1e-16)
    dist = d.values["distance_to_one_hot"]
    assert np.all(np.diff(dist) < 0) and dist[-1] < 1e-40
    assert np.allclose(d.values["logsumexp"][-1], 3.0, atol=1e-12)
    tie = derive.derive("softmax-name", z="1 3 3")
    assert np.allclose(tie.output[-1], [0, 0.5, 0.5], atol=1e-40)
    assert "2-way tie" in tie.text
    example = derive.derive("softmax-name", points=3)
    assert example.check["points"] == 3 and example.check["passed"]
    assert "the example z = (1, 2, 3)" in example.text


# ---------------------------------------------------------------- ridge


def test_ridge_by_hand_and_against_sklearn():
    # X^T X + n lambda I = [[35.3, 44], [44, 56.3]], X^T y = (17, 22), det = 51.39:
    # w = (-10.9, 28.6) / 51.39 = (-1090/5139, 2860/5139)
    d = passed(derive.derive("ridge", X="1 2; 3 4; 5 6", y="1 2 2", lam="0.1"))
    assert d.exact["w"] == ["-1090/5139", "2860/5139"]
    assert np.allclose(d.output, [-1090 / 5139, 2860 / 5139], atol=1e-15)
    assert float(d.values["sklearn_alpha"]) == pytest.approx(0.3)
    assert "nλ = 0.3 — scikit-learn's alpha" in d.text
    assert "sklearn Ridge(alpha = nλ = 0.3" in d.check["details"][0]["quantity"]


def test_ridge_one_feature():
    # n = 2, lambda = 1/2: w = (1 + 4) / (1 + 4 + n lambda) = 5/6
    d = passed(derive.derive("ridge", X=[[1], [2]], y=[1, 2], lam=0.5))
    assert d.exact["w"] == ["5/6"] and d.inputs["lam"] == "1/2"  # 0.5 read as the decimal


def test_ridge_from_files(tmp_path):
    X, y = tmp_path / "X.csv", tmp_path / "y.txt"
    X.write_text("x1,x2\n1,2\n3,4\n5,6\n")
    y.write_text("1\n2\n2\n")
    d = passed(derive.derive("ridge", X=str(X), y=str(y), lam="1/10"))
    assert d.exact["w"] == ["-1090/5139", "2860/5139"]
    assert any("skipped as a header" in n for n in d.notes)


def test_ridge_large_data_is_float():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 12)).round(3)
    y = rng.normal(size=30).round(3)
    d = passed(derive.derive("ridge", X=X, y=y, lam=0.05))
    assert "w" not in d.exact and any("float64" in n for n in d.notes)
    assert np.allclose(d.output, np.linalg.solve(X.T @ X + 1.5 * np.eye(12), X.T @ y))


# ---------------------------------------------------------------- convolution layers


def test_conv1d_by_hand():
    # x = (1..5), w = (1, 0, -1), b = 1/2: z_k = x_k - x_(k+2) + 1/2 = -3/2 each; y = (0, 1, 0):
    # J = (9/4 + 25/4 + 9/4)/3 = 43/12, dJ/dz = (2/3)(z - y) = (-1, -5/3, -1),
    # dJ/dw_m = sum_k dJ/dz_k x_(k+m) = (-22/3, -11, -44/3), dJ/db = -11/3,
    # dJ/dx = dJ/dz full-convolved with w = (-1, -5/3, 0, 5/3, 1)
    d = passed(derive.derive("conv1d", x="1 2 3 4 5", w="1 0 -1", b="0.5", y="0 1 0"))
    assert d.exact["z"] == ["-3/2"] * 3 and d.exact["J"] == "43/12"
    assert d.exact["dJ_dz"] == [-1, "-5/3", -1]
    assert d.exact["dJ_dw"] == [["-22/3", -11, "-44/3"]] and d.exact["dJ_db"] == "-11/3"
    assert d.exact["dJ_dx"] == [[-1, "-5/3", 0, "5/3", 1]]
    assert np.allclose(d.output, [[-22 / 3, -11, -44 / 3]])
    quantities = " ".join(x["quantity"] for x in d.check["details"])
    assert "torch.autograd" in quantities and "scipy.signal.correlate2d" in quantities
    assert "give the same numbers" in d.text


def test_conv1d_stride_two():
    # x = (1..5), w = (1, 1), s = 2: z = (3, 7); y = (3, 8), K = 2: dJ/dz = (0, -1),
    # dJ/dw = -1 * (x_2, x_3) = (-3, -4), dJ/dx = (0, 0, -1, -1, 0), J = 1/2
    d = passed(derive.derive("conv1d", x="1 2 3 4 5", w="1 1", y="3 8", stride=2))
    assert d.exact["z"] == [3, 7] and d.exact["J"] == "1/2"
    assert d.exact["dJ_dw"] == [[-3, -4]] and d.exact["dJ_dx"] == [[0, 0, -1, -1, 0]]


def test_conv1d_two_channels_sigmoid_is_float_and_checked():
    d = passed(derive.derive("conv1d", x="1 2 3 4; 4 3 2 1", w="1 -1; 0.5 0.5", y="0 1 0",
                             activation="sigmoid"))
    assert d.output.shape == (2, 2) and not d.exact
    assert d.values["dJ_dx"].shape == (2, 4)


def test_conv1d_without_targets():
    d = passed(derive.derive("conv1d", x="1 2 3 4 5", w="1 0 -1"))
    assert d.output.tolist() == [-2.0, -2.0, -2.0]  # z, with no y to differentiate
    assert "∂J/∂w₀ = 1·δ₀ + 2·δ₁ + 3·δ₂" in d.text


def test_conv2d_by_hand():
    # x = [[1, 2], [3, 4]], w = I: z = 1 + 4 = 5; y = 4, K = 1: dJ/dz = 2, J = 1,
    # dJ/dw = 2 x, dJ/dx = 2 w, dJ/db = 2
    d = passed(derive.derive("conv2d", x="1 2; 3 4", w="1 0; 0 1", y="4"))
    assert d.exact["z"] == [[5]] and d.exact["J"] == 1 and d.exact["dJ_db"] == 2
    assert d.exact["dJ_dw"] == [[[2, 4], [6, 8]]] and d.exact["dJ_dx"] == [[[2, 0], [0, 2]]]


def test_answer_from_args_is_what_main_prints(capsys):
    parser = argparse.ArgumentParser()
    derive_cli.add_arguments(parser)
    args = parser.parse_args(["conv1d", "--x", "1 2 3", "--w", "1 1", "--y", "2 5", "--json"])
    answer = derive_cli.answer_from_args(args)
    assert capsys.readouterr().out == ""  # builds, prints nothing
    assert derive_cli.main(args) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(answer.to_json())
    assert answer.exact["dJ_dw"] == [[1, 2]]  # delta = (1, 0): (x_0, x_1)


@pytest.mark.parametrize(
    "topic, values, error, fragment",
    [
        ("softmax-cross-entropy", {"z": "1 2", "y": "1 0 0"}, DataError, "--y has 3 values"),
        ("ridge", {"X": "1 2; 3 4", "y": "1 2", "lam": "0"}, ConfigError, "--lam must be > 0"),
        ("ridge", {"X": "1 2; 3 4", "y": "1 2 3", "lam": "1"}, DataError, "--X has 2 rows"),
        ("ridge", {"X": "1e200 1; 1 1", "y": "1 2", "lam": "1"}, DataError, "overflows float64"),
        ("conv1d", {"x": "1 2", "w": "1 2 3"}, DataError, "larger than the input"),
        ("conv1d", {"x": "1 2 3", "w": "1 2", "y": "1"}, DataError, "K = 2 outputs"),
        ("conv1d", {"x": "1 2 3", "w": "1 2", "activation": "relu"}, ConfigError, "relu"),
        ("conv2d", {"x": "1 2; 3 4", "w": "1"}, DataError, None),
        ("conv2d", {"x": "1 2; 3 4 | 1 1; 1 1", "w": "1"}, DataError, "1 channel(s)"),
        ("cross-entropy-minimum", {"y": "1.5"}, DataError, "outside [0, 1]"),
        ("cross-entropy-swapped", {"a": "1"}, DataError, "strictly between 0 and 1"),
        ("softmax-jacobian", {"z": "1 2; 3 4"}, DataError, "must be a vector"),
        ("softmax-jacobian", {"z": list(range(101))}, ConfigError, "above the limit of 100"),
    ],
)
def test_bad_values(topic, values, error, fragment):
    if fragment is None:  # a 1x1 filter on a 2x2 input is fine: the answer, no error
        assert derive.derive(topic, **values).check["passed"]
        return
    with pytest.raises(error, match=re.escape(fragment)):
        derive.derive(topic, **values)


def test_values_from_arrays_are_exact():
    d = derive.derive("softmax-cross-entropy", z=np.array([0.0, 0.0]), y=[Fraction(1, 4), 0.75])
    assert d.inputs["y"] == ["1/4", "3/4"] and d.check["passed"]
