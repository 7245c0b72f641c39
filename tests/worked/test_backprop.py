"""stridelab backprop: hand-computed steps, autograd cross-checks, JSON and bad specs."""

import argparse
import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridelab.errors import ConfigError, DataError, StridelabError
from stridelab.worked import backprop
from stridelab.worked.backprop import cli as backprop_cli

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
RELU_NET_TEXT = json.dumps(RELU_NET)

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


def flat(latex: str) -> str:
    """LaTeX with the line breaks and alignment marks of a long display taken out."""
    return re.sub(r"\s+", " ", latex.replace("&", "").replace("\\\\", " "))


def run_main(capsys, *argv):
    parser = argparse.ArgumentParser()
    backprop_cli.add_arguments(parser)
    code = backprop_cli.main(parser.parse_args([str(a) for a in argv]))
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


# ---------------------------------------------------------------- the TU Eindhoven ReLU chain

# w0 = 1, w1 = 2, no biases, ReLU on both layers, sequential, lr 0.1, (x, y) = (1, 2), (2, 3)
# step 1: y_hat = 2*1*1 = 2 = y, every gradient 0; step 2: q = 2, y_hat = 4, L = 1/2,
# dL/dw1 = (4 - 3)*q = 2, dL/dw0 = (4 - 3)*w1*x = 4: w1 = 2 - 0.2 = 1.8, w0 = 1 - 0.4 = 0.6
CHAIN = {
    "layers": [{"W": [[1]], "activation": "relu"}, {"W": [[2]], "activation": "relu"}],
    "loss": "sse_half",
    "lr": 0.1,
    "data": [{"x": [1], "y": [2]}, {"x": [2], "y": [3]}],
}




def test_relu_chain_steps_by_hand():
    ans = backprop.solve(CHAIN)
    s1, s2 = ans.steps
    assert s1.loss == 0 and s1.dW == [[[0]], [[0]]]
    assert s2.loss == Fraction(1, 2) and s2.dW == [[[4]], [[2]]]
    assert ans.final[0].W == [[Fraction(3, 5)]] and ans.final[1].W == [[Fraction(9, 5)]]
    # the arrays of the notebook API
    assert [w.tolist() for w in s2.weights] == [[[0.6]], [[1.8]]]
    assert [g.tolist() for g in s2.grad_weights] == [[[4.0]], [[2.0]]]
    assert s2.biases == [None, None] and ans.biases == [None, None]
    assert [o["W"].tolist() for o in ans.output] == [[[0.6]], [[1.8]]]


@pytest.mark.parametrize("step, grads", [(1, (0, 0)), (2, (4, 2))])
def test_graph_of_any_step_draws_that_steps_numbers(tmp_path, run_cli, step, grads):
    f = tmp_path / "chain.json"
    f.write_text(json.dumps(CHAIN))
    g = tmp_path / f"step{step}.png"
    code, out, err = run_cli("backprop", f, "--graph", g, "--step", step, "--format", "json")
    assert code == 0 and err == "" and g.read_bytes()[:4] == b"\x89PNG"
    d = json.loads(out)
    assert d["graph"] == str(g) and d["graph_step"] == step
    ans = backprop.solve(CHAIN)
    data = backprop.graph_data(ans, step)
    assert data["dW"] == [[[grads[0]]], [[grads[1]]]]
    assert data["x"] == ([1] if step == 1 else [2])
    fig = backprop.graph_figure(ans, step=step)
    assert fig.graph_data == data
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert f"w=1\n\u2202={grads[0]}" in texts and f"w=2\n\u2202={grads[1]}" in texts
    assert f"Compute graph of step {step}" in fig.axes[0].get_title()
    if step == 1:  # the all-zero step: every delta drawn is 0
        assert [t for t in texts if t.startswith("\u03b4=")] == ["\u03b4=0", "\u03b4=0"]
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--graph", "g.png", "--step", "3"], "this run has 2 step(s)"),
        (["--graph", "g.png", "--step", "0"], "--step must be an integer >= 1"),
        (["--step", "2"], "give --graph"),
        (["--graph", "g.txt"], "cannot write a figure"),
        (["--digits", "99"], "--digits is 99, above the limit of 17"),
    ],
)
def test_graph_and_step_options_are_checked_first(tmp_path, run_cli, extra, fragment):
    f = tmp_path / "chain.json"
    f.write_text(json.dumps(CHAIN))
    code, out, err = run_cli("backprop", f, *[str(tmp_path / e) if e.startswith("g.") else e
                                      for e in extra])
    assert code == 2 and out == "" and err.count("\n") == 1 and fragment in err
    assert not list(tmp_path.glob("g.*"))


# ---------------------------------------------------------------- wording


def test_sigmoid_bce_output_delta_shows_sigma_prime_cancel():
    s = {
        "layers": [{"W": [[1, -1]], "activation": "sigmoid"}],
        "loss": "bce",
        "lr": 1,
        "data": [{"x": [2, 2], "y": [1]}],
    }
    md = flat(backprop.solve(s).to_markdown())  # z = 0: y_hat = 1/2, delta = 1/2 - 1 = -1/2
    assert flat(
        r"\frac{\partial L}{\partial \hat y_{1}}\,\sigma'(z^{(1)}_{1}) = "
        r"\frac{\hat y_{1} - y_{1}}{\hat y_{1}(1 - \hat y_{1})}\cdot \hat y_{1}(1 - \hat y_{1}) = "
        r"\frac{0.5 - 1}{0.5(1 - 0.5)}\cdot 0.5(1 - 0.5) = \hat y_{1} - y_{1} = 0.5 - 1 = -0.5"
    ) in md


def test_softmax_cross_entropy_delta_shows_the_jacobian_sum():
    s = {
        "layers": [{"W": [[0, 0], [0, 0]], "activation": "softmax"}],
        "loss": "cross_entropy",
        "lr": 1,
        "data": [{"x": [1, 2], "y": [1, 0]}],
    }
    md = flat(backprop.solve(s).to_markdown())  # equal logits: y_hat = (1/2, 1/2)
    assert flat(
        r"\sum_k \left(-\frac{y_k}{\hat y_k}\right)\hat y_k\left(\mathbb{1}[k = 1] - \hat y_{1}"
        r"\right) = -y_{1} + \hat y_{1}\sum_k y_k = \hat y_{1} - y_{1} = 0.5 - 1 = -0.5"
    ) in md


def test_two_layer_sigmoid_sheet_reading():
    # LMU 4-1: 2-2-2 sigmoid network with biases and sum of squares
    md = backprop.solve(json.loads(json.dumps(MAZUR), parse_float=Fraction)).to_markdown()
    assert r"$b^{(l)}_i$ is the weight $w^{(l)}_{i0}$ of a constant input $x_0 = 1$" in md
    assert r"$v = W^{(1)}$, $w = W^{(2)}$" in md
    assert r"a^{(1)}_{1}(1 - a^{(1)}_{1})" in md  # sigma' of the hidden layer


def test_two_layer_sigmoid_with_biases_and_cross_entropy_matches_torch():
    # a Yale Problem 3.3-shaped network: 2-2-2, sigmoid on h1, h2, o1, o2, cross-entropy
    import torch

    s = {
        "layers": [
            {"W": [[0.1, 0.2], [0.3, 0.4]], "b": [0.5, 0.5], "activation": "sigmoid"},
            {"W": [[0.6, 0.7], [0.8, 0.9]], "b": [0.1, 0.1], "activation": "sigmoid"},
        ],
        "loss": "binary_cross_entropy",
        "lr": 0.5,
        "data": [{"x": [1, 0.5], "y": [1, 0]}],
    }
    step = backprop.solve(s).steps[0]
    W1 = torch.tensor(s["layers"][0]["W"], dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor(s["layers"][0]["b"], dtype=torch.float64, requires_grad=True)
    W2 = torch.tensor(s["layers"][1]["W"], dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor(s["layers"][1]["b"], dtype=torch.float64, requires_grad=True)
    a = torch.sigmoid(W2 @ torch.sigmoid(W1 @ torch.tensor([1, 0.5], dtype=torch.float64) + b1)
                      + b2)
    torch.nn.functional.binary_cross_entropy(
        a, torch.tensor([1.0, 0.0], dtype=torch.float64), reduction="sum"
    ).backward()
    for mine, ref in zip(step.grad_weights + step.grad_biases, [W1, W2, b1, b2]):
        assert np.allclose(mine, ref.grad.numpy(), atol=1e-12)
    assert step.check["passed"]


# ---------------------------------------------------------------- a student's answer

RELU_RIGHT = {"layers": [{"W": [[1, -1], [1.8, -0.4]], "b": [0, 0.8]}, {"W": [[1, 0.4]], "b": [-0.2]}]}


@pytest.mark.parametrize(
    "net, student, wrong, slip",
    [
        # w + lr*g: W1 row 2 = (2 + 0.2, 0 + 0.4), b1_2 = 1.2, W2_12 = 1 + 0.6, b2 = 0.2
        (RELU_NET, {"layers": [{"W": [[1, -1], [2.2, 0.4]], "b": [0, 1.2]},
                               {"W": [[1, 1.6]], "b": [0.2]}]}, 5, "the sign of the step"),
        # w - g: (2 - 2, 0 - 4), 1 - 2, 1 - 6, 0 - 2
        (RELU_NET, {"layers": [{"W": [[1, -1], [0, -4]], "b": [0, -1]},
                               {"W": [[1, -5]], "b": [-2]}]}, 5, "forgot the learning rate"),
        # delta1 with the new W2 = (1, 0.4): (0, 0.8): W1 row 2 = (2 - 0.08, 0 - 0.16), b 0.92
        (RELU_NET, {"layers": [{"W": [[1, -1], [1.92, -0.16]], "b": [0, 0.92]},
                               {"W": [[1, 0.4]], "b": [-0.2]}]}, 3, "used the new"),
        # relu'(-1) left out: delta1 = (2, 2), W1 row 1 = (1 - 0.2, -1 - 0.4), b1_1 = -0.2
        (RELU_NET, {"layers": [{"W": [[0.8, -1.4], [1.8, -0.4]], "b": [-0.2, 0.8]},
                               {"W": [[1, 0.4]], "b": [-0.2]}]}, 3, "forgot the activation"),
        # dL/dy_hat = 2(3 - 1) = 4: every gradient doubled
        (RELU_NET, {"layers": [{"W": [[1, -1], [1.6, -0.8]], "b": [0, 0.6]},
                               {"W": [[1, -0.2]], "b": [-0.4]}]}, 5, "forgot the ½"),
        # mse over K = 2 outputs of W = (1, 1)^T, x = 1, y = (0, 0): the right gradient is
        # (2/2)(1 - 0) = 1 (W = 0.9 each); without the 1/K it is 2 (W = 0.8 each)
        ({"layers": [{"W": [[1], [1]]}], "loss": "mse", "lr": 0.1,
          "data": [{"x": [1], "y": [0, 0]}]}, {"layers": [{"W": [[0.8], [0.8]]}]}, 2,
         "forgot the 1/K"),
        # the chain as one batch with mse (K = 1): point 2 has dL/dy_hat = 2(4 - 3) = 2, so
        # gradients (8, 4), mean (4, 2): (0.6, 1.8); summed: 1 - 0.8 = 0.2, 2 - 0.4 = 1.6
        ({**CHAIN, "mode": "batch", "loss": "mse"}, {"layers": [{"W": [[0.2]]}, {"W": [[1.6]]}]},
         2, "summed the batch"),
        # with sse_half, summing two points doubles the gradients as the forgotten 1/2 does:
        # mean (2, 1) gives (0.8, 1.9), doubled (4, 2) gives (0.6, 1.8); both slips are named
        ({**CHAIN, "mode": "batch"}, {"layers": [{"W": [[0.6]]}, {"W": [[1.8]]}]}, 2,
         ("forgot the ½", "summed the batch")),
    ],
)
def test_check_names_each_slip(net, student, wrong, slip):
    slips = (slip,) if isinstance(slip, str) else slip
    c = backprop.solve(net).check(student)
    assert not c.correct and len(c.wrong) == wrong
    for e in c.wrong:
        assert len(e.slips) == len(slips), (e.name, e.slips)
        assert all(got.startswith(want) for got, want in zip(e.slips, slips)), e.slips
        assert [backprop.SLIPS[k] for k in e.slip_keys] == [s.split(" (that gives")[0]
                                                           for s in e.slips]
        assert r"\leftarrow" in e.update


def test_check_all_correct_and_the_correct_update_shown(tmp_path, run_cli):
    f = tmp_path / "mine.json"
    f.write_text(json.dumps(RELU_RIGHT))
    code, out, _ = run_cli("backprop", json.dumps(RELU_NET), "--check", f, "--format", "markdown")
    assert code == 0 and "**All correct**: 9 of 9 parameters match the update."  # 4 + 2 + 2 + 1 in out
    wrong = json.loads(json.dumps(RELU_RIGHT))
    wrong["layers"][1]["W"][0][1] = 0.5
    code, out, _ = run_cli("backprop", json.dumps(RELU_NET), "--check", json.dumps(wrong), "--format",
                       "json")
    d = json.loads(out)["check"]
    assert d["correct"] is False and d["n_wrong"] == 1
    (e,) = [e for e in d["entries"] if not e["ok"]]
    assert e["param"] == "W2" and e["index"] == [1, 2] and e["student"] == 0.5
    assert e["update"].endswith(r"= 1 - 0.1\cdot 6 = 0.4") and e["slips"] == []


def test_check_tolerance_follows_the_written_decimals():
    ans = backprop.solve(json.loads(json.dumps(MAZUR), parse_float=Fraction))
    W1, W2 = ans.weights  # W1[0, 0] = 0.149780716...
    b1, b2 = ans.biases
    good = {"layers": [{"W": np.round(W1, 4).tolist(), "b": np.round(b1, 4).tolist()},
                       {"W": np.round(W2, 6).tolist(), "b": np.round(b2, 6).tolist()}]}
    assert ans.check(good).correct
    coarse = json.loads(json.dumps(good))
    coarse["layers"][0]["W"][0][0] = 0.15  # the old weight, two decimals: not an update
    c = ans.check(coarse)
    assert [e.name for e in c.wrong] == ["w^{(1)}_{11}"]


@pytest.mark.parametrize(
    "student, fragment",
    [
        ({"layers": [{"W": [[1, -1], [1.8, -0.4]]}]}, "has 1 layer(s); the network has 2"),
        ({"layers": [{"W": [[1, -1]]}, {"W": [[1, 0.4]]}]}, "W is 1×2 but the network's is 2×2"),
        ({"W": [[1]]}, '{"layers"'),
        ({"layers": [{"W": [[1, -1], [1.8, -0.4]], "b": [0, 0.8]},
                     {"W": [[1, 0.4]], "b": [-0.2], "c": 1}]}, "unknown key"),
    ],
)
def test_check_refuses_a_malformed_answer(student, fragment):
    with pytest.raises(DataError, match=re.escape(fragment)):
        backprop.solve(RELU_NET).check(student)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    acts=st.lists(st.sampled_from(backprop.ACTIVATIONS), min_size=1, max_size=3),
    loss=st.sampled_from(backprop.LOSSES),
    mode=st.sampled_from(backprop.MODES),
)
def test_slip_free_variant_reproduces_solve(seed, acts, loss, mode):
    """The float64 re-computation the slips are built on agrees with the exact solver."""
    rng = np.random.default_rng(seed)
    if loss == "cross_entropy":
        acts = acts[:-1] + ["softmax"]
    if loss == "binary_cross_entropy":
        acts = acts[:-1] + ["sigmoid"]
    sizes = [2] + [int(rng.integers(1, 4)) for _ in acts]
    if loss == "cross_entropy":
        sizes[-1] = max(sizes[-1], 2)
    layers = [
        {"W": rng.normal(size=(sizes[i + 1], sizes[i])).round(2).tolist(),
         "b": rng.normal(size=sizes[i + 1]).round(2).tolist(), "activation": a}
        for i, a in enumerate(acts)
    ]
    ys = [rng.dirichlet(np.ones(sizes[-1])).round(6) for _ in range(2)]
    ys = [(y / y.sum()).tolist() if loss == "cross_entropy" else y.tolist() for y in ys]
    spec = {"layers": layers, "loss": loss, "lr": 0.3, "mode": mode, "steps": 2,
            "data": [{"x": rng.normal(size=2).round(2).tolist(), "y": y} for y in ys]}
    try:
        ans = backprop.solve(spec)
    except DataError:  # a target that does not sum to exactly 1 after rounding
        return
    for (W, b), Wr, br in zip(backprop.run_with_slip(ans.spec, None), ans.weights, ans.biases):
        assert np.allclose(W, Wr, atol=1e-9) and np.allclose(b, br, atol=1e-9)


# ---------------------------------------------------------------- hostile input (#18)


def one_line_error(run_cli, *argv):
    code, out, err = run_cli("backprop", *argv)
    assert code == 2 and out == "" and err.startswith("stridelab: error: ")
    assert err.count("\n") == 1
    return err


def test_1e400_is_refused(run_cli):
    err = one_line_error(run_cli, RELU_NET_TEXT.replace('"lr": 0.1', '"lr": 1e400'))
    assert "'1e400' is beyond float64's range" in err


def test_5000_digit_number_is_refused(run_cli):
    err = one_line_error(run_cli, RELU_NET_TEXT.replace('"lr": 0.1', '"lr": ' + "7" * 5000))
    assert "a number of 5,000 characters" in err and "limit of 400 characters" in err


def test_long_exact_input_is_read_as_float64(run_cli):
    lr = "0." + "1" * 70  # 70 digits: beyond MAX_EXACT_DIGITS, within float64
    code, out, _ = run_cli("backprop", RELU_NET_TEXT.replace('"lr": 0.1', f'"lr": {lr}'),
                       "--format", "markdown")
    assert code == 0 and "1 input number(s) had more than 60 digits" in out
    assert "Numbers: float64" in out


def test_many_steps_with_an_awkward_lr_fall_back_to_float64(run_cli):
    import time

    text = RELU_NET_TEXT.replace('"lr": 0.1', '"lr": 0.123456789, "steps": 300')
    t0 = time.perf_counter()
    code, out, err = run_cli("backprop", text, "--format", "json")
    took = time.perf_counter() - t0
    assert code == 0 and err == "" and took < 10  # 14 s and a crash before the fallback
    d = json.loads(out)
    k = d["float_from_step"]
    assert 1 < k < 300 and d["exact"] is False and len(d["steps"]) == 300
    assert all(s["exact"] for s in d["steps"][: k - 1]) and not d["steps"][k - 1]["exact"]
    ans = backprop.solve(backprop.load_spec(text))
    for step in ans.steps[: k - 1]:  # every exact value printed stays within 60 digits
        for ly in step.after:
            for v in [w for row in ly.W for w in row] + ly.b:
                v = Fraction(v)
                assert abs(v.numerator) < 10**60 and v.denominator < 10**60
    md = ans.to_markdown()
    assert f"exact rational arithmetic in steps 1 to {k - 1}; from step {k} on float64" in md


def test_100_million_steps_refused_up_front(run_cli):
    err = one_line_error(run_cli, RELU_NET_TEXT.replace('"lr": 0.1', '"lr": 0.1, "steps": 100000000'))
    assert "steps is 100,000,000, above the limit of 1,000" in err


@pytest.mark.parametrize("deep", ["[" * 100_000 + "]" * 100_000,
                                  '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_json_nested_100000_deep_is_one_line(tmp_path, run_cli, deep):
    f = tmp_path / "deep.json"
    f.write_text(deep)
    assert "nested more than 32 levels deep" in one_line_error(run_cli, f)
    assert "nested more than 32" in one_line_error(run_cli, deep)  # as text, not a file name


def test_too_large_network_refused_up_front(run_cli):
    big = {"layers": [{"W": [[0] * 101] * 100}], "lr": 0.1, "data": [{"x": [0] * 101, "y": [0] * 100}]}
    err = one_line_error(run_cli, json.dumps(big))
    assert "weights and biases is 10,100, above the limit of 10,000" in err


def test_divergence_is_one_line(run_cli):
    s = {"layers": [{"W": [[1e300]]}], "lr": 1e300, "steps": 5, "data": [{"x": [1e300], "y": [0]}]}
    assert "overflowed float64" in one_line_error(run_cli, json.dumps(s))


def test_python_floats_in_a_dict_are_their_decimals():
    ans = backprop.solve({**RELU_NET, "lr": 0.1})
    assert ans.exact and ans.final[1].W == [[1, Fraction(2, 5)]]


def test_a_long_run_writes_out_the_chain_rule_of_its_first_and_last_steps_only():
    ans = backprop.solve({**RELU_NET, "steps": 8})
    md = ans.to_markdown()
    assert md.count("**Backward**") == backprop.DETAIL_STEPS + 1  # steps 1-3 and 8
    assert md.count("### Step ") == 8 and "Steps 4 to 7 are shown briefly" in md
    ans.full = True
    assert ans.to_markdown().count("**Backward**") == 8
    assert backprop.solve({**RELU_NET, "steps": 6}).to_markdown().count("**Backward**") == 6


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_spec_is_not_the_current_directory(run_cli, text):
    assert "the spec is empty" in one_line_error(run_cli, text)


def test_a_long_non_json_argument_is_not_opened_as_a_file(run_cli):
    assert "neither a file name nor JSON text" in one_line_error(run_cli, "a" * 5000)
