"""Grading derive answers: declared formulas judged as mathematics, numbers with their slips."""

import math

import numpy as np
import pytest

from stridelab.worked.commands import answer
from stridelab.worked.derive import TOPICS
from stridelab.worked.derive.formulas import (
    Formula,
    _sympy_equal,
    constant_value,
    formula_target,
    parse,
    sympy_form,
)
from stridelab.worked.grading import ValueCheck

WITH_VALUES = {
    "softmax-jacobian": ["--z", "1 2 3"],
    "softmax-cross-entropy": ["--z", "1 2 3", "--y", "0 1 0"],
    "softmax-name": ["--z", "1 2 3"],
    "sigmoid-cross-entropy": ["--z", "0.5 -1", "--y", "1 0"],
    "cross-entropy-minimum": ["--y", "0.3"],
    "cross-entropy-swapped": ["--a", "0.7"],
    "ridge": ["--X", "1 2; 3 4; 5 7", "--y", "1 2 3", "--lam", "0.1"],
    "conv1d": ["--x", "3 1 4 1 5 9", "--w", "1 0 -1", "--b", "0", "--y", "0 1 0 1"],
    "conv2d": ["--x", "1 2 3; 4 5 6; 7 8 9", "--w", "1 0; 0 -1", "--b", "0.5",
               "--y", "1 2; 3 4", "--activation", "sigmoid"],
}
_CACHE: dict = {}


def derived(topic: str, values: bool):
    key = (topic, values)
    if key not in _CACHE:
        _CACHE[key] = answer("derive", [topic] + (WITH_VALUES[topic] if values else []))
    return _CACHE[key]


def fmt(v, places=5) -> str:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0:
        return f"{float(v):.{places}f}"
    if v.ndim == 1:
        return " ".join(f"{x:.{places}f}" for x in v)
    return "; ".join(fmt(row, places) for row in v)


def values_of(d) -> dict:
    return {g.key: g for g in d.gradable()}


# ---------------------------------------------------------------- every topic round-trips


@pytest.mark.parametrize("topic", list(TOPICS))
def test_every_topic_without_values_grades_its_formulas(topic):
    d = derived(topic, False)
    gs = d.gradable()
    assert [g.key for g in gs][: len(TOPICS[topic].formulas)] == [
        f.key for f in TOPICS[topic].formulas]
    for g in gs:
        c = d.check_value(g.key, g.literal)
        assert (c.correct, c.problem, c.slip, c.wrong_cells) == (True, None, None, 0), c
    assert all(g.kind == "formula" and g.symbols for g in gs if g.key in {
        f.key for f in TOPICS[topic].formulas})


@pytest.mark.parametrize("topic", list(WITH_VALUES))
def test_every_topic_with_values_grades_its_numbers(topic):
    d = derived(topic, True)
    gs = d.gradable()
    keys = [g.key for g in gs]
    assert len(set(keys)) == len(keys), keys
    numbers = [g for g in gs if g.kind != "formula"]
    assert numbers, "a topic given values grades numbers"
    for g in gs:
        c = d.check_value(g.key, g.literal)
        assert (c.correct, c.problem, c.wrong_cells) == (True, None, 0), c


def test_the_numbers_each_topic_grades():
    keys = {t: [g.key for g in derived(t, True).gradable() if g.kind != "formula"]
            for t in WITH_VALUES}
    assert keys == {
        "softmax-jacobian": ["y_hat", "jacobian"],
        "softmax-cross-entropy": ["y_hat", "dL_dz", "loss"],
        "softmax-name": ["y_hat", "logsumexp"],
        "sigmoid-cross-entropy": ["a", "delta", "loss"],
        "cross-entropy-minimum": ["a_star", "z_star", "c_min"],
        "cross-entropy-swapped": ["C_y0", "C_y1"],
        "ridge": ["w_star", "loss", "sklearn_alpha"],
        "conv1d": ["z", "J", "dJ_dz", "dJ_dw", "dJ_db", "dJ_dx"],
        "conv2d": ["z", "a", "J", "dJ_dz", "dJ_dw", "dJ_db", "dJ_dx"],
    }
    g = values_of(derived("conv1d", True))
    assert (g["dJ_dw"].literal, g["dJ_dx"].kind) == ("-8.5 -25.5 -45.5", "vector")
    assert values_of(derived("ridge", True))["w_star"].literal == "80/647 1630/4529"


# ---------------------------------------------------------------- formulas


def _declared():
    return [pytest.param(t, f, id=f"{t}:{f.key}") for t, spec in TOPICS.items()
            for f in spec.formulas]


@pytest.mark.parametrize("topic,formula", _declared())
def test_each_declared_slip_is_named(topic, formula):
    d = derived(topic, False)
    for key, text, _what in formula.slips:
        c = d.check_value(formula.key, text)
        assert (c.correct, c.slip, c.problem) == (False, key, None), (key, c)
        assert "most likely slip" in c.message
    negated = d.check_value(formula.key, f"-({formula.expected})")
    declared = {k for k, t, _ in formula.slips}  # a declared slip may be the negation
    assert not negated.correct and negated.slip in {"sign"} | declared
    if not formula.matrices:
        doubled = d.check_value(formula.key, f"2*({formula.expected})")
        assert (doubled.correct, doubled.slip) == (False, "factor")
        assert "2 times" in doubled.message


@pytest.mark.parametrize("topic,formula", [p for p in _declared() if not p.values[1].matrices])
def test_sympy_agrees_with_the_declared_formulas_and_slips(topic, formula):
    assert sympy_form(formula, formula.expected) is not None
    assert _sympy_equal(formula, formula.expected)
    for _key, text, _what in formula.slips:
        assert not _sympy_equal(formula, text)


EQUIVALENT = [
    ("softmax-jacobian", "dyhat_i_dz_i", "y_hat_i - y_hat_i^2"),
    ("softmax-jacobian", "dyhat_i_dz_j", "-(y_hat_j y_hat_i)"),
    ("softmax-cross-entropy", "dL_dz_i", "-(y_i - ŷ_i)"),
    ("sigmoid-cross-entropy", "dL_dz", "sigma(z) - y"),
    ("sigmoid-cross-entropy", "dL_da", "-y/a + (1 - y)/(1 - a)"),
    ("cross-entropy-minimum", "z_star_formula", "ln(y) - ln(1 - y)"),
    ("cross-entropy-minimum", "c_min_formula", "-y*ln(y) - (1-y)*ln(1-y)"),
    ("cross-entropy-swapped", "dCtilde_da", "log((1 - y)/y)"),
    ("ridge", "w_star_formula", "inv(X'X + n lam I) X' y"),
    ("ridge", "w_star_formula", "(XᵀX + nλI)⁻¹Xᵀy"),
    ("ridge", "grad_J", "(2/n) X^T X w - (2/n) X^T y + 2 lambda w"),
    ("conv1d", "delta_k", "-2(y_k - z_k)/K"),
    ("mlp-update", "w_kj_new", "w_kj - η δ2_k h_j"),
    ("mlp-update", "delta1_j", "h_j(1 - h_j)(w_2j delta2_2 + w_1j delta2_1)"),
    ("mlp-update", "v_ji_new", "v_ji - eta*x_i*delta1_j"),
    ("linear-backprop", "dC_dW", "delta*a_prev'"),
    ("linear-backprop", "delta_l", "transpose_free(W_next)"),  # an unknown function: refused
    ("neuron-f", "delta_out", "(f(z) - y) fprime(z)"),
]


@pytest.mark.parametrize("topic,key,text", EQUIVALENT)
def test_equivalent_forms_are_right(topic, key, text):
    c = derived(topic, False).check_value(key, text)
    if "transpose_free" in text:
        assert c.problem == "malformed" and "unknown name" in c.message
    else:
        assert c.correct, c


def test_matrix_formulas_name_sizes_that_do_not_fit():
    d = derived("ridge", False)
    c = d.check_value("w_star_formula", "X^T y (X^T X + n*lam*I)^(-1)")
    assert (c.correct, c.problem) == (False, None) and "sizes do not fit" in c.message


def test_sympy_decides_where_the_numbers_cannot():
    f = Formula("q", "log(x - 2)", "a value not real on the sampled range", ("x",))
    t = formula_target(f)
    right = t.check("log(-2 + x)")
    assert right.correct and "SymPy" in right.message
    assert not t.check("log(x - 3)").correct


HOSTILE = ["__import__('os')", "x" * 10_000, "y_i**y_i**y_i**y_i**99999", "().__class__",
           "lambda: 0", "y_i if 1 else 0", "(" * 5_000, "[y_i]", "'os'", "y_i; import os",
           "exec('1')", "eval", "9" * 50, "1e999999", "y_i.real", "\x00", "y_i @ y_i",
           "2^^3", "-" * 300 + "y_i", "((" * 30 + "y_i" + "))" * 30, "2**(3**(4**5))",
           "y_i^(10^10)", "", "   ", "y_i +", "sigma()", "exp(y_i, y_i)", "y_hat_i(", "𝑦"]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_formulas_are_refused_with_a_reason(text):
    d = derived("softmax-cross-entropy", False)
    c = d.check_value("dL_dz_i", text)
    assert isinstance(c, ValueCheck)
    assert (c.correct, c.problem, c.wrong_cells) == (False, "malformed", 1), c
    assert len(c.given) <= 120 and c.message.endswith(".")


def test_huge_but_legal_formulas_stay_bounded():
    d = derived("softmax-cross-entropy", False)
    for text in ["(y_hat_i - y_i)^100", "exp(exp(exp(exp(exp(y_i)))))",
                 "y_i^y_i^y_i^y_i^y_i", "(2^100)^100 * 0 + y_hat_i - y_i"]:
        c = d.check_value("dL_dz_i", text)
        assert c.problem is None and not c.correct  # (2^100)^100 overflows float64: judged
    assert d.check_value("dL_dz_i", "(2^10)^3/2^30*(y_hat_i - y_i)").correct  # as different


def test_the_parser_reads_the_notation_of_the_sheets():
    assert parse("2x", ("x",)) == ("mul", ("num", 2), ("sym", "x"))
    assert parse("X^TX", ("X",)) == ("mul", ("T", ("sym", "X")), ("sym", "X"))
    assert parse("a^-1", ("a",))[0] == "pow"
    assert parse("ln(a)", ("a",)) == ("call", "log", ("sym", "a"))
    assert constant_value("-log(3/10)") == pytest.approx(-math.log(0.3))
    with pytest.raises(Exception, match="unknown name"):
        parse("b", ("a",))


# ---------------------------------------------------------------- numbers and their slips


def _slip(d, key, value) -> str | None:
    c = d.check_value(key, value)
    assert not c.correct and c.problem is None, c
    return c.slip


def test_softmax_slips():
    d = derived("softmax-jacobian", True)
    z = np.array([1.0, 2.0, 3.0])
    p = np.exp(z) / np.exp(z).sum()
    J = np.diag(p) - np.outer(p, p)
    off = ~np.eye(3, dtype=bool)
    assert _slip(d, "jacobian", fmt(np.where(off, -J, J))) == "offdiag_sign"
    assert _slip(d, "jacobian", fmt(np.diag(p * (1 - p)))) == "diagonal_only"
    assert _slip(d, "jacobian", fmt(-np.outer(p, p))) == "outer_only"
    assert _slip(d, "jacobian", fmt(-J)) == "sign"
    assert _slip(d, "y_hat", fmt(np.exp(z), 3)) == "unnormalised"
    assert _slip(d, "y_hat", fmt(z / z.sum())) == "linear"
    ce = derived("softmax-cross-entropy", True)
    y = np.array([0.0, 1.0, 0.0])
    assert _slip(ce, "dL_dz", fmt((p - y) * p * (1 - p))) == "fprime_kept"
    assert _slip(ce, "dL_dz", fmt(np.where(y == 0, 0, -y / p))) == "dL_dyhat"
    assert _slip(ce, "dL_dz", fmt(y - p)) == "sign"
    L = -math.log(p[1])
    assert _slip(ce, "loss", fmt(L / math.log(10))) == "log_base"
    soft = answer("derive", ["softmax-cross-entropy", "--z", "1 2 3", "--y", "0 0.5 0"])
    assert _slip(soft, "dL_dz", fmt(p - [0, 0.5, 0])) == "targets_sum"
    name = derived("softmax-name", True)
    assert _slip(name, "logsumexp", "3") == "hard_max"


def test_cross_entropy_slips():
    d = derived("sigmoid-cross-entropy", True)
    a = 1 / (1 + np.exp(-np.array([0.5, -1.0])))
    y = np.array([1.0, 0.0])
    assert _slip(d, "delta", fmt((a - y) * a * (1 - a))) == "fprime_kept"
    assert _slip(d, "delta", fmt((a - y) / (a * (1 - a)))) == "dL_da"
    m = derived("cross-entropy-minimum", True)
    assert _slip(m, "z_star", fmt(math.log10(0.3 / 0.7))) == "log_base"
    assert _slip(m, "z_star", fmt(math.log(0.7 / 0.3))) == "sign"
    many = answer("derive", ["cross-entropy-minimum", "--y", "0.3 0.6"])
    mean = float(many.values["c_min_mean"])
    assert _slip(many, "c_min_mean", fmt(2 * mean)) == "sum"
    s = derived("cross-entropy-swapped", True)
    assert _slip(s, "C_y0", fmt(-math.log(0.7))) == "swapped_targets"
    assert _slip(s, "C_y1", "-ln(0.3)") == "swapped_targets"  # a closed form, by its value


def test_ridge_slips():
    d = derived("ridge", True)
    X = np.array([[1, 2], [3, 4], [5, 7]], dtype=float)
    y, n, lam = np.array([1.0, 2.0, 3.0]), 3, 0.1

    def w(penalty):
        return np.linalg.solve(X.T @ X + penalty * np.eye(2), X.T @ y)

    for penalty, slip in [(lam, "missing_n"), (n * n * lam, "alpha_twice"), (0, "no_penalty"),
                          (n * lam / 2, "half_penalty"), (2 * n * lam, "double_penalty")]:
        assert _slip(d, "w_star", fmt(w(penalty), 6)) == slip
    assert _slip(d, "sklearn_alpha", "0.1") == "missing_n"
    assert _slip(d, "sklearn_alpha", "1/30") == "divided"


def test_conv_layer_slips():
    d = derived("conv1d", True)
    delta = np.array([-0.5, -0.5, -0.5, -4.5])
    assert _slip(d, "dJ_dz", fmt(-delta)) == "sign"
    assert _slip(d, "dJ_dz", fmt(4 * delta)) == "mean_k"
    assert _slip(d, "dJ_dz", fmt(delta / 2)) == "half"
    x, w = np.array([3, 1, 4, 1, 5, 9.0]), np.array([1, 0, -1.0])
    conv_w = [sum(delta[::-1][k] * x[k + m] for k in range(4)) for m in range(3)]
    assert _slip(d, "dJ_dw", fmt(conv_w)) == "flipped"
    corr_x = np.zeros(6)
    for k in range(4):
        corr_x[k:k + 3] += delta[k] * w[::-1]
    c = d.check_value("dJ_dx", fmt(corr_x))
    assert c.slip == "flipped" and "so does: the sign" in c.message  # w = −(w flipped) here
    assert _slip(d, "z", fmt(np.correlate(x, w[::-1], "valid"))) == "flipped"
    assert _slip(d, "J", "84") == "mean_k"
    assert _slip(d, "dJ_db", "-24") == "mean_k"  # ∂J/∂b = Σ δ, times K = 4
    sym = answer("derive", ["conv1d", "--x", "3 1 4 1 5 9", "--w", "1 2 0", "--y", "0 1 0 1"])
    dz = np.asarray(sym.values["dJ_dz"])
    corr = np.zeros(6)
    for k in range(4):
        corr[k:k + 3] += dz[k] * np.array([0, 2, 1.0])  # the filter (1, 2, 0) not flipped
    c = sym.check_value("dJ_dx", fmt(corr))
    assert c.slip == "flipped" and "so does" not in c.message
    two = derived("conv2d", True)
    z = np.asarray(two.values["z"])
    assert _slip(two, "a", fmt(z)) == "activation"
    assert _slip(two, "z", fmt(z - 0.5)) == "bias"
    a, yv = 1 / (1 + np.exp(-z)), np.array([[1, 2], [3, 4.0]])
    assert _slip(two, "dJ_dz", fmt(2 / 4 * (a - yv), 6)) == "fprime"
