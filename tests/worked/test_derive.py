"""stridelab derive: every topic verified symbolically and numerically; JSON; bad input."""

import argparse
import json

import numpy as np
import pytest

from stridelab.errors import ConfigError
from stridelab.worked import derive
from stridelab.worked.answer import Answer
from stridelab.worked.derive import cli as derive_cli
from stridelab.worked.derive import conv_layers, numeric, symbolic
from stridelab.worked.limits import MAX_POINTS

pytest.importorskip("sympy")
pytest.importorskip("torch")


def flat(latex: str) -> str:
    """The LaTeX with the alignment marks of a display set on several lines taken out."""
    return latex.replace("&", "")


def run_main(capsys, *argv):
    parser = argparse.ArgumentParser()
    derive_cli.add_arguments(parser)
    code = derive_cli.main(parser.parse_args(list(argv)))
    return code, capsys.readouterr().out


# formula fragments each derivation must state
EXPECTED = {
    "softmax-jacobian": r"\hat y_i(\delta_{ij} - \hat y_j)",
    "softmax-cross-entropy": r"\nabla_z L = \hat y - y",
    "sigmoid-cross-entropy": r"= a - y",
    "cross-entropy-minimum": r"z^\star = \ln\frac{y}{1 - y}",
    "cross-entropy-swapped": r"-a\ln 0 = +\infty",
    "softmax-name": r"\xrightarrow{\;c\to\infty\;}\ 1",
    "ridge": r"w^\star = \left(X^\top X + n\lambda I\right)^{-1} X^\top y",
    "conv1d": r"\big(\delta^{\uparrow s} * w\big)_l",
    "conv2d": r"\big(\delta^{\uparrow s} * w_c\big)_{pq}",
    "mlp-update": r"\delta^{(1)}_j = h_j(1 - h_j)\sum_k W_{2,kj}\,\delta^{(2)}_k",
    "linear-backprop": r"\delta^{(l)} = \big(W^{(l+1)}\big)^\top\delta^{(l+1)}",
    "neuron-f": r"\delta^{(l)}_{j^*} = f'\big(z^{(l)}_{j^*}\big)",
}


@pytest.mark.parametrize("topic", list(derive.TOPICS))
def test_topic_is_verified(topic):
    d = derive.derive(topic, seed=3, points=2)
    assert d.topic == topic and d.symbolic
    assert d.check["passed"], d.check
    assert d.check["max_abs_error"] < 1e-6
    assert d.check["points"] == 2 and d.check["seed"] == 3
    assert EXPECTED[topic] in flat(d.latex)
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
    d = derive.derive("conv1d", points=1)
    assert r"\frac{\partial J}{\partial x_2} = \delta_{0} w_{2} + \delta_{1} w_{0}" in flat(d.latex)
    assert r"\frac{\partial J}{\partial x_5} = 0" in flat(d.latex)  # stride 2 never reaches x_5


def test_conv_formulas_by_hand():
    # x = (1, 2, 3), w = (1, 1), b = 0, s = 1: z = (3, 5); with the target y = sigma(z) the
    # deltas vanish, so every gradient is exactly 0
    x, w = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 1.0]])
    y = numeric.sigmoid(np.array([3.0, 5.0]))
    dw, db, dx = conv_layers._conv1d_formula(x, w, 0.0, y, 1)
    assert np.all(dw == 0) and db == 0 and np.all(dx == 0)
    # linear, the sheet's layer: z = (3, 5), y = (2, 5), K = 2: delta = (2/2)(z - y) = (1, 0);
    # dJ/dw_m = sum_k delta_k x_(k+m) = (1, 2); dJ/dx = delta full-convolved with w = (1, 1, 0)
    dw, db, dx = conv_layers._conv1d_formula(x, w, 0.0, np.array([2.0, 5.0]), 1, "linear")
    assert dw.tolist() == [[1.0, 2.0]] and db == 1.0 and dx.tolist() == [[1.0, 1.0, 0.0]]


def test_conv1d_uses_the_sheets_names():
    d = derive.derive("conv1d", points=1)
    assert r"z_k = a_k = \sum_{m=0}^{M-1} w_m\,x_{k+m} + b" in flat(d.latex)
    assert r"J = \frac1K\sum_{k=0}^{K-1}(y_k - z_k)^2" in flat(d.latex)
    assert r"(x \star \delta)_m" in flat(d.latex) and r"(\delta * w)_l" in flat(d.latex)
    assert "∂J/∂w is a cross-correlation" in d.text and "∂J/∂x a full convolution" in d.text


def test_sigmoid_cross_entropy_reports_the_infinite_swapped_loss():
    d = derive.derive("sigmoid-cross-entropy", points=1)
    assert "L̃ = inf" in d.text and "∂L̃/∂a = -inf" in d.text


def test_a_wrong_formula_fails_the_check(monkeypatch):
    monkeypatch.setattr(conv_layers, "sigmoid", np.tanh)  # the formula side now uses tanh
    d = derive.derive("conv1d", points=1)
    assert not d.check["passed"] and d.check["max_abs_error"] > 1e-3
    assert "FAILED" in derive.to_markdown(d)


def test_a_wrong_identity_fails_symbolically():
    sp = symbolic.sympy_env()[0]
    x = sp.Symbol("x")
    with pytest.raises(RuntimeError, match="symbolic check failed"):
        symbolic.verify([("d/dx x^2 = x", sp.diff(x**2, x) - x)])


def test_json_and_markdown(capsys):
    code, out = run_main(capsys, "softmax-cross-entropy", "--json", "--points", "2")
    assert code == 0
    d = json.loads(out)
    assert d["topic"] == "softmax-cross-entropy" and d["check"]["passed"] is True
    assert "∂L/∂zⱼ = ŷⱼ - yⱼ" in d["text"]
    code, out = run_main(capsys, "softmax-cross-entropy", "--format", "json", "--points", "2")
    assert code == 0 and json.loads(out)["check"]["points"] == 2
    code, out = run_main(capsys, "neuron-f")
    assert code == 0 and "**Check.**" in out and "passed" in out
    # the typeset form only (issue 26): the plain text is the terminal's and the JSON's
    assert "```text" not in out and "Plain text" not in out
    code, out = run_main(capsys, "neuron-f", "--format", "html")
    assert code == 0 and "<p>" in out and "**Check.**" not in out


def test_answer_object():
    d = derive.derive("softmax-jacobian", points=1)
    assert isinstance(d, Answer) and d.output is None  # no values given: no numbers
    assert d._repr_markdown_() == d.to_markdown() == derive.to_markdown(d)
    assert json.loads(d.to_json())["topic"] == "softmax-jacobian"
    assert d._repr_latex_().startswith("$$")


def test_all_is_one_answer(capsys):
    code, out = run_main(capsys, "all", "--json", "--points", "1")
    doc = json.loads(out)
    assert code == 0 and doc["topics"] == list(derive.TOPICS)
    assert [d["topic"] for d in doc["derivations"]] == list(derive.TOPICS)
    assert doc["check"]["passed"] is True
    s = derive.derive("all", points=1)
    assert isinstance(s, derive.DerivationSet) and isinstance(s, Answer)
    assert s.to_markdown().count("**Check.**") == len(derive.TOPICS)


def test_list(capsys):
    code, out = run_main(capsys, "list")
    assert code == 0 and all(t in out for t in derive.TOPICS)
    assert "| `ridge` |" in out and "`--lam`" in out  # which values each topic takes
    code, out = run_main(capsys, "list", "--json")
    assert code == 0 and set(json.loads(out)) == set(derive.TOPICS)


def test_points_limit_is_documented_and_enforced(capsys):
    parser = argparse.ArgumentParser()
    derive_cli.add_arguments(parser)
    assert f"at most {MAX_POINTS:,}" in parser.format_help()
    assert "--points at most 1,000" in derive_cli.__doc__
    with pytest.raises(ConfigError, match="--points is 100,000,000, above the limit of 1,000"):
        run_main(capsys, "conv1d", "--points", "100000000")
    assert derive.derive("ridge", points=MAX_POINTS).check["points"] == MAX_POINTS


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["softmax"], "unknown topic 'softmax'"),
        (["ridge", "--points", "0"], "--points"),
        (["ridge", "--seed", "-1"], "--seed"),
        (["mlp-update", "--z", "1 2"], "mlp-update does not take --z"),
        (["ridge", "--z", "1 2"], "ridge does not take --z"),
        (["all", "--z", "1 2"], "not with 'all'"),
        (["list", "--y", "1"], "takes no values"),
        (["ridge", "--X", "1 2; 3 4"], "also needs --y --lam"),
    ],
)
def test_bad_input(argv, fragment, capsys):
    with pytest.raises(ConfigError, match=fragment):
        run_main(capsys, *argv)
