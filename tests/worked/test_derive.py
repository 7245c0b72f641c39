"""stridelab derive: every topic verified symbolically and numerically; JSON; bad input."""

import argparse
import json

import numpy as np
import pytest

from stridelab.errors import ConfigError
from stridelab.worked import _derive as derive

pytest.importorskip("sympy")
pytest.importorskip("torch")


def run_main(capsys, *argv):
    parser = argparse.ArgumentParser()
    derive.add_arguments(parser)
    code = derive.main(parser.parse_args(list(argv)))
    return code, capsys.readouterr().out


# formula fragments each derivation must state
EXPECTED = {
    "softmax-jacobian": r"\hat y_i(\delta_{ij} - \hat y_j)",
    "softmax-cross-entropy": r"\nabla_z L = \hat y - y",
    "sigmoid-cross-entropy": r"= a - y",
    "ridge": r"w^\star = \left(X^\top X + n\lambda I\right)^{-1} X^\top y",
    "conv1d": r"\big(\delta^{\uparrow s} * w\big)_l",
    "conv2d": r"\big(\delta^{\uparrow s} * w_c\big)_{pq}",
    "mlp-update": r"\delta^{(1)}_j = h_j(1 - h_j)\sum_k W_{2,kj}\,\delta^{(2)}_k",
    "linear-backprop": r"\delta^{(l)} = \big(W^{(l+1)}\big)^\top\delta^{(l+1)}",
    "neuron-f": r"\delta^{(l)}_{j^*} = f'\big(z^{(l)}_{j^*}\big)",
}


@pytest.mark.parametrize("topic", list(derive.TOPICS))
def test_topic_is_verified(topic):
    d = derive.solve(topic, seed=3, points=2)
    assert d.topic == topic and d.symbolic
    assert d.check["passed"], d.check
    assert d.check["max_abs_error"] < 1e-6
    assert d.check["points"] == 2 and d.check["seed"] == 3
    assert EXPECTED[topic] in d.latex
    assert d.text and "\\frac" not in d.text  # the plain text is not LaTeX
    doc = derive.to_dict(d)
    assert set(doc) >= {"topic", "latex", "text", "check"}
    assert isinstance(doc["check"]["passed"], bool)
    assert isinstance(doc["check"]["max_abs_error"], float)


def test_expected_covers_every_topic():
    assert set(EXPECTED) == set(derive.TOPICS)


def test_ridge_closed_form_agrees_with_scikit_learn():
    # the derivation's w* = (X^T X + n lambda I)^-1 X^T y is Ridge with alpha = n * lambda
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X, y, lam = rng.normal(size=(30, 4)), rng.normal(size=30), 0.2
    w_star = np.linalg.solve(X.T @ X + 30 * lam * np.eye(4), X.T @ y)
    ref = Ridge(alpha=30 * lam, fit_intercept=False).fit(X, y).coef_
    assert np.allclose(w_star, ref, atol=1e-10)


def test_conv1d_explicit_input_gradient():
    d = derive.solve("conv1d", points=1)
    assert r"\frac{\partial J}{\partial x_2} = \delta_{0} w_{2} + \delta_{1} w_{0}" in d.latex
    assert r"\frac{\partial J}{\partial x_5} = 0" in d.latex  # stride 2 never reaches x_5


def test_conv_formulas_by_hand():
    # x = (1, 2, 3), w = (1, 1), b = 0, s = 1: u = (3, 5); with sigma(u) -> y and target z = y
    # the deltas vanish, so every gradient is exactly 0
    x, w = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 1.0]])
    z = derive._sigmoid(np.array([3.0, 5.0]))
    dw, db, dx = derive._conv1d_formula(x, w, 0.0, z, 1)
    assert np.all(dw == 0) and db == 0 and np.all(dx == 0)


def test_sigmoid_cross_entropy_reports_the_infinite_swapped_loss():
    d = derive.solve("sigmoid-cross-entropy", points=1)
    assert "L̃ = inf" in d.text and "∂L̃/∂a = -inf" in d.text


def test_a_wrong_formula_fails_the_check(monkeypatch):
    monkeypatch.setattr(derive, "_sigmoid", np.tanh)  # the formula side now uses tanh
    d = derive.solve("conv1d", points=1)
    assert not d.check["passed"] and d.check["max_abs_error"] > 1e-3
    assert "FAILED" in derive.to_markdown(d)


def test_a_wrong_identity_fails_symbolically():
    sp = derive._sympy()[0]
    x = sp.Symbol("x")
    with pytest.raises(RuntimeError, match="symbolic check failed"):
        derive._verify([("d/dx x^2 = x", sp.diff(x**2, x) - x)])


def test_json_and_markdown(capsys):
    code, out = run_main(capsys, "softmax-cross-entropy", "--json", "--points", "2")
    assert code == 0
    d = json.loads(out)
    assert d["topic"] == "softmax-cross-entropy" and d["check"]["passed"] is True
    assert "ŷ_j − y_j" in d["text"]
    code, out = run_main(capsys, "neuron-f")
    assert code == 0 and "**Check.**" in out and "passed" in out and "```text" in out


def test_list(capsys):
    code, out = run_main(capsys, "list")
    assert code == 0 and all(t in out for t in derive.TOPICS)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["softmax"], "unknown topic 'softmax'"),
        (["ridge", "--points", "0"], "--points"),
        (["ridge", "--seed", "-1"], "--seed"),
    ],
)
def test_bad_input(argv, fragment, capsys):
    with pytest.raises(ConfigError, match=fragment):
        run_main(capsys, *argv)
