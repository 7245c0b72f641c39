"""stridelab backprop: hand-computed steps, autograd cross-checks, JSON and bad specs."""

import argparse
import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridelab.errors import ConfigError, DataError, StridelabError
from stridelab.worked import _backprop as backprop

# x = (1, 2), y = 1: z1 = (-1, 3), a1 = (0, 3), y_hat = 3, L = 1/2 (3 - 1)^2 = 2
# delta2 = 2; delta1 = (1*2*relu'(-1), 1*2*relu'(3)) = (0, 2)
# dW2 = 2*(0, 3) = (0, 6); dW1 = delta1 x^T = [[0, 0], [2, 4]]
RELU_NET = {
    "layers": [
        {"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"},
        {"W": [[1, 1]], "b": [0]},
    ],
    "loss": "sse_half",
    "lr": 0.1,
    "data": [{"x": [1, 2], "y": [1]}],
}
SECOND = {"x": [0, 1], "y": [0]}

# the classic 2-2-2 sigmoid network with published numbers (Mazur's step-by-step example)
MAZUR = {
    "layers": [
        {"W": [[0.15, 0.2], [0.25, 0.3]], "b": [0.35, 0.35], "activation": "sigmoid"},
        {"W": [[0.4, 0.45], [0.5, 0.55]], "b": [0.6, 0.6], "activation": "sigmoid"},
    ],
    "loss": "sse_half",
    "lr": 0.5,
    "data": [{"x": [0.05, 0.1], "y": [0.01, 0.99]}],
}


def spec(**changes):
    d = json.loads(json.dumps(RELU_NET))
    d.update(changes)
    return json.loads(json.dumps(d), parse_float=lambda s: Fraction(s))


def run_main(capsys, *argv):
    parser = argparse.ArgumentParser()
    backprop.add_arguments(parser)
    code = backprop.main(parser.parse_args([str(a) for a in argv]))
    return code, capsys.readouterr().out


def test_one_exact_step():
    ans = backprop.solve(spec())
    (step,) = ans.steps
    t = step.traces[0]
    assert t.z == [[-1, 3], [3]] and t.y_hat == [3] and t.loss == 2
    assert t.delta == [[0, 2], [2]]
    assert step.dW == [[[0, 0], [2, 4]], [[0, 6]]]
    assert step.db == [[0, 2], [2]]
    W1, W2 = step.after
    assert W1.W == [[1, -1], [Fraction(9, 5), Fraction(-2, 5)]] and W1.b == [0, Fraction(4, 5)]
    assert W2.W == [[1, Fraction(2, 5)]] and W2.b == [Fraction(-1, 5)]
    assert ans.exact


def test_batch_mode_averages_gradients():
    # second point: z1 = (-1, 1), a1 = (0, 1), y_hat = 1, L = 1/2, delta2 = 1, delta1 = (0, 1)
    ans = backprop.solve(spec(data=[RELU_NET["data"][0], SECOND], mode="batch"))
    (step,) = ans.steps
    assert step.loss == Fraction(5, 4)  # (2 + 1/2) / 2
    assert step.dW == [[[0, 0], [1, Fraction(5, 2)]], [[0, Fraction(7, 2)]]]
    assert step.db == [[0, Fraction(3, 2)], [Fraction(3, 2)]]
    W1, W2 = step.after
    assert W1.W == [[1, -1], [Fraction(19, 10), Fraction(-1, 4)]]
    assert W2.W == [[1, Fraction(13, 20)]] and W2.b == [Fraction(-3, 20)]


def test_sequential_mode_updates_after_each_point():
    # after point 1 (see test_one_exact_step), point 2 sees z1 = (-1, 0.4), y_hat = -0.04
    ans = backprop.solve(spec(data=[RELU_NET["data"][0], SECOND]))
    assert len(ans.steps) == 2
    t = ans.steps[1].traces[0]
    assert t.y_hat == [Fraction(-1, 25)] and t.loss == Fraction(1, 1250)
    W1, W2 = ans.final
    assert W2.W == [[1, Fraction(4016, 10000)]] and W2.b == [Fraction(-196, 1000)]
    assert W1.W == [[1, -1], [Fraction(9, 5), Fraction(-3984, 10000)]]
    assert W1.b == [0, Fraction(8016, 10000)]


def test_steps_repeat_the_pass():
    ans = backprop.solve(spec(steps=3))
    assert [s.epoch for s in ans.steps] == [1, 2, 3]
    losses = [s.loss for s in ans.steps]
    assert losses[0] == 2 and losses[1] < losses[0] and losses[2] < losses[1]


def test_published_sigmoid_example():
    ans = backprop.solve(json.loads(json.dumps(MAZUR), parse_float=Fraction))
    step = ans.steps[0]
    assert float(step.loss) == pytest.approx(0.298371109, abs=1e-9)
    W1, W2 = step.after
    published_W2 = [[0.35891648, 0.408666186], [0.511301270, 0.561370121]]
    published_W1 = [[0.149780716, 0.19956143], [0.24975114, 0.29950229]]
    assert np.allclose(np.array(W2.W, float), published_W2, atol=1e-8)
    assert np.allclose(np.array(W1.W, float), published_W1, atol=1e-8)
    assert not ans.exact
    assert step.check["passed"] and step.check["max_abs_error"] < 1e-12


def test_softmax_cross_entropy_delta_is_y_hat_minus_y():
    s = {
        "layers": [{"W": [[0, 0], [0, 0], [0, 0]], "activation": "softmax"}],
        "loss": "cross_entropy",
        "lr": 1,
        "data": [{"x": [1, 2], "y": [1, 0, 0]}],
    }
    step = backprop.solve(s).steps[0]
    t = step.traces[0]
    assert t.y_hat == [Fraction(1, 3)] * 3  # equal logits
    assert t.loss == pytest.approx(math.log(3))
    assert t.delta == [[Fraction(-2, 3), Fraction(1, 3), Fraction(1, 3)]]
    assert step.dW[0] == [
        [Fraction(-2, 3), Fraction(-4, 3)],
        [Fraction(1, 3), Fraction(2, 3)],
        [Fraction(1, 3), Fraction(2, 3)],
    ]
    assert step.db == [None]  # no bias given: none trained


def test_sigmoid_binary_cross_entropy_and_mse():
    s = {
        "layers": [{"W": [[1, -1]], "activation": "sigmoid"}],
        "loss": "binary_cross_entropy",
        "lr": 1,
        "data": [{"x": [2, 2], "y": [1]}],
    }
    t = backprop.solve(s).steps[0].traces[0]
    assert t.y_hat == [Fraction(1, 2)] and t.delta == [[Fraction(-1, 2)]]
    assert t.loss == pytest.approx(math.log(2))
    s = {
        "layers": [{"W": [[1, 1], [0, 1]]}],
        "loss": "mse",
        "lr": 1,
        "data": [{"x": [1, 2], "y": [1, 1]}],
    }
    t = backprop.solve(s).steps[0].traces[0]
    # y_hat = (3, 2): L = ((3-1)^2 + (2-1)^2)/2 = 5/2; dL/dy_hat = (2/2)(y_hat - y) = (2, 1)
    assert t.y_hat == [3, 2] and t.loss == Fraction(5, 2) and t.delta == [[2, 1]]


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    acts=st.lists(st.sampled_from(backprop.ACTIVATIONS), min_size=2, max_size=3),
    loss=st.sampled_from(["sse_half", "mse"]),
    mode=st.sampled_from(backprop.MODES),
)
def test_gradients_match_torch(seed, acts, loss, mode):
    import torch

    rng = np.random.default_rng(seed)
    sizes = [3] + [int(rng.integers(1, 4)) for _ in acts]
    layers = [
        {
            "W": rng.normal(size=(sizes[i + 1], sizes[i])).round(3).tolist(),
            "b": rng.normal(size=sizes[i + 1]).round(3).tolist(),
            "activation": a,
        }
        for i, a in enumerate(acts)
    ]
    data = [
        {"x": rng.normal(size=3).round(3).tolist(), "y": rng.normal(size=sizes[-1]).tolist()}
        for _ in range(2)
    ]
    step = backprop.solve(
        {"layers": layers, "loss": loss, "lr": 0.1, "data": data, "mode": mode}
    ).steps[0]
    params = [
        (
            torch.tensor(ly["W"], dtype=torch.float64, requires_grad=True),
            torch.tensor(ly["b"], dtype=torch.float64, requires_grad=True),
        )
        for ly in layers
    ]
    points = data if mode == "batch" else data[:1]
    total = 0
    for p in points:
        a = torch.tensor(p["x"], dtype=torch.float64)
        for (W, b), act in zip(params, acts):
            z = W @ a + b
            a = {
                "linear": z,
                "relu": torch.relu(z),
                "sigmoid": torch.sigmoid(z),
                "tanh": torch.tanh(z),
                "softmax": torch.softmax(z, 0),
            }[act]
        d = a - torch.tensor(p["y"], dtype=torch.float64)
        total = total + ((d**2).sum() / 2 if loss == "sse_half" else (d**2).mean())
    (total / len(points)).backward()
    for l, (W, b) in enumerate(params):
        assert np.allclose(np.array(step.dW[l], float), W.grad.numpy(), atol=1e-10)
        assert np.allclose(np.array(step.db[l], float), b.grad.numpy(), atol=1e-10)


def test_markdown_shows_the_chain_rule():
    md = backprop.to_markdown(backprop.solve(spec()))
    assert (
        r"z^{(1)}_{1} = w^{(1)}_{11}x_{1} + w^{(1)}_{12}x_{2} + b^{(1)}_{1} = 1\cdot 1 + "
        r"(-1)\cdot 2 + 0 = -1" in md
    )
    assert r"\left(1\cdot 2\right)\cdot 0 = 2\cdot 0 = 0" in md  # relu'(-1) = 0
    assert r"\delta^{(2)}_{1}\,a^{(1)}_{2} = 2\cdot 3 = 6" in md
    assert (
        r"w^{(2)}_{12} \leftarrow w^{(2)}_{12} - \eta\frac{\partial L}"
        r"{\partial w^{(2)}_{12}} = 1 - 0.1\cdot 6 = 0.4"
    ) in md
    assert "exact rational arithmetic" in md
    assert "Gradients checked against" in md


def test_json_document_and_graph(tmp_path, capsys):
    f = tmp_path / "net.json"
    f.write_text(json.dumps(RELU_NET))
    g = tmp_path / "graph.png"
    code, out = run_main(capsys, f, "--json", "--graph", g)
    assert code == 0 and g.read_bytes()[:4] == b"\x89PNG"
    d = json.loads(out)
    (s,) = d["steps"]
    assert s["x"] == [1, 2] and s["y"] == [1] and s["y_hat"] == [3] and s["loss"] == 2
    assert s["grads"] == {"W1": [[0, 0], [2, 4]], "b1": [0, 2], "W2": [[0, 6]], "b2": [2]}
    assert s["params_after"]["W1"] == [[1, -1], [1.8, -0.4]]
    assert d["final"]["layers"][1] == {"W": [[1, 0.4]], "b": [-0.2], "activation": "linear"}
    assert d["exact"] is True and s["check"]["passed"] is True


def test_inline_json_and_brief(capsys):
    code, out = run_main(capsys, json.dumps(RELU_NET), "--brief")
    assert code == 0 and "**Loss**" in out and "**Forward**" not in out


@pytest.mark.parametrize(
    "text, error, fragment",
    [
        ('{"layers": [', DataError, "not valid JSON"),
        ("[1, 2]", DataError, "JSON object"),
        ('{"layers": []}', DataError, "non-empty list"),
        (
            '{"layers": [{"W": [[1, 2], [3]]}], "lr": 1, "data": [{"x": [1, 2], "y": [1, 2]}]}',
            DataError,
            "row 2 has 1 values",
        ),
        (
            '{"layers": [{"W": [[1, "a"]]}], "lr": 1, "data": [{"x": [1, 2], "y": [1]}]}',
            DataError,
            "'a' is not a number",
        ),
        (
            '{"layers": [{"W": [[1, 2]]}, {"W": [[1, 2]]}], "lr": 1, "data": [{"x": [1, 2], "y": [1]}]}',
            DataError,
            "2 columns but layer 1 has 1 outputs",
        ),
        (
            '{"layers": [{"W": [[1, 2]], "b": [1, 2]}], "lr": 1, "data": [{"x": [1, 2], "y": [1]}]}',
            DataError,
            "one bias per output",
        ),
        (
            '{"layers": [{"W": [[1]], "activation": "swish"}], "lr": 1, "data": [{"x": [1], "y": [1]}]}',
            ConfigError,
            "unknown activation",
        ),
        (
            '{"layers": [{"W": [[1]]}], "loss": "hinge", "lr": 1, "data": [{"x": [1], "y": [1]}]}',
            ConfigError,
            "unknown loss",
        ),
        ('{"layers": [{"W": [[1]]}], "data": [{"x": [1], "y": [1]}]}', ConfigError, '"lr"'),
        (
            '{"layers": [{"W": [[1]]}], "lr": -1, "data": [{"x": [1], "y": [1]}]}',
            ConfigError,
            "positive",
        ),
        (
            '{"layers": [{"W": [[1]]}], "lr": 1, "data": [{"x": [1, 2], "y": [1]}]}',
            DataError,
            "x has 2 values but 1",
        ),
        (
            '{"layers": [{"W": [[1], [1]], "activation": "softmax"}], "loss": "cross_entropy", '
            '"lr": 1, "data": [{"x": [1], "y": [1, 1]}]}',
            DataError,
            "sum to 1",
        ),
        (
            '{"layers": [{"W": [[1]]}], "lr": 1, "data": [{"x": [1], "y": [1]}], "epochs": 2}',
            ConfigError,
            "unknown key",
        ),
        (
            '{"layers": [{"W": [[1]]}], "lr": 1, "data": [{"x": [1], "y": [1]}], "mode": "online"}',
            ConfigError,
            "unknown mode",
        ),
        (
            '{"layers": [{"W": [[NaN]]}], "lr": 1, "data": [{"x": [1], "y": [1]}]}',
            DataError,
            "finite",
        ),
        ('{"layers": [{"W": [[1]]}], "lr": 1, "data": []}', DataError, '"data"'),
    ],
)
def test_bad_specs(text, error, fragment, tmp_path, capsys):
    f = tmp_path / "spec.json"
    f.write_text(text)
    with pytest.raises(error, match=fragment) as info:
        run_main(capsys, f)
    assert isinstance(info.value, StridelabError) and "\n" not in str(info.value)


def test_missing_file(capsys):
    with pytest.raises(DataError, match="not found"):
        run_main(capsys, "no-such-spec.json")
