"""The notebook API: worked.conv/shape/backprop/derive return answers with arrays and reprs."""

import json

import numpy as np
import pytest

from stridelab import worked
from stridelab.errors import StridelabError
from stridelab.worked import literal

RPTU_X = [[8, 2, 9, 8, 3], [3, 4, 6, 2, 7], [5, 9, 3, 9, 7], [6, 1, 3, 6, 8], [5, 1, 6, 8, 1]]


def test_literal_forms():
    assert literal([1, 2, 3]) == "1 2 3"
    assert literal([[1, 2], [3, 4]]) == "1 2; 3 4"
    assert literal(np.array([[[1, 0]], [[0, 1]]])) == "1 0 | 0 1"
    assert literal([0.5, 2.0]) == "0.5 2"
    assert literal("sobel_x") == "sobel_x"
    with pytest.raises(ValueError):
        literal(np.zeros((1, 1, 1, 1)))


def test_conv_answer_has_arrays_and_renders():
    a = worked.conv(np.array(RPTU_X), "1 0 -1; 2 0 -2; 1 0 -1", padding="same")
    out = a.output
    assert out.shape == (1, 5, 5)
    # Y[0, 0] = 2*0... by hand: the window at (0,0) of the padded X
    assert out[0, 0, 0] == 0 * 1 + 4 * 0 + 2 * (-2) + (-1) * 4 + 8 * 0 + 3 * 0 + 0 * 2 + 0 * 0
    assert out[0, 2, 2] == (4 - 2) + 2 * (9 - 9) + (1 - 6)  # rows 1..3, cols 1..3
    md = a._repr_markdown_()
    assert "$$" in md and "bmatrix" in md
    assert "\\begin" not in a.to_text(80)
    assert json.loads(a.to_json())  # the JSON form parses
    assert a._repr_latex_().startswith("$$")


def test_conv_matches_the_command_line(capsys):
    from stridelab.cli import main

    a = worked.conv([[8, 2, 9], [3, 4, 6], [5, 9, 3]], "sobel_x", padding="same")
    assert main(["conv", "--input", "8 2 9; 3 4 6; 5 9 3", "--kernel", "sobel_x",
                 "--padding", "same", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.strip() == a.to_markdown().strip()


def test_conv_bad_input_raises_a_stridelab_error():
    with pytest.raises(StridelabError):
        worked.conv([[1, 2], [3]], "sobel_x")
    with pytest.raises(StridelabError):
        worked.conv([[1, 2], [3, 4]], "no_such_kernel")


def test_shape_answer():
    a = worked.shape((50, 50, 1), "conv:k=4,s=1,p=1,n=8", "pool:k=2,s=2")
    assert tuple(a.output) == (24, 24, 8)
    assert "24×24×8" in a.to_markdown()


def test_backprop_answer_steps_are_arrays():
    spec = {"layers": [{"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"},
                       {"W": [[1, 1]], "b": [0]}],
            "loss": "sse_half", "lr": 0.1, "data": [{"x": [1, 2], "y": [1]}]}
    a = worked.backprop(spec)
    assert len(a.steps) == 1
    # dL/dy = 3 - 1 = 2; the output weights get a(1) = (0, 3) times 2: W2 <- (1, 1) - 0.1*(0, 6)
    w2 = np.asarray(a.weights[1]["W"] if isinstance(a.weights[1], dict) else a.weights[1],
                    dtype=float)
    np.testing.assert_allclose(w2.ravel(), [1.0, 0.4])


def test_derive_softmax_jacobian_with_values():
    a = worked.derive("softmax-jacobian", z=[1, 2, 3])
    z = np.array([1.0, 2.0, 3.0])
    s = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(np.asarray(a.output, dtype=float), np.diag(s) - np.outer(s, s),
                               atol=1e-12)
    assert "$$" in a._repr_markdown_()


def test_negative_values_reach_the_command_as_values():
    # "--bias -1" would be read as an option; the API passes "--bias=-1"
    np.testing.assert_array_equal(worked.conv([1, 2, 3], [1, -1], bias=-1).output, [[-2, -2]])
    w = worked.derive("ridge", X=[[1, 2], [3, 4], [5, 6]], y=[1, 2, 2], lam=0.1).output
    np.testing.assert_allclose(np.asarray(w, dtype=float), [-1090 / 5139, 2860 / 5139])
