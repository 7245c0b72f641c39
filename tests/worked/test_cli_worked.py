"""The worked-solution commands through the real command line: exit codes and one-line errors."""

import json
import subprocess
import sys

import pytest
from latex_text import flat

SHEET = "8 2 9; 3 4 6; 5 9 3"
NET = (
    '{"layers": [{"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"}, '
    '{"W": [[1, 1]], "b": [0]}], "lr": 0.1, "data": [{"x": [1, 2], "y": [1]}]}'
)




@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["conv", "--input", "1 2; 3", "--kernel", "box3"], "row 2 has 1 values"),
        (["conv", "--input", "1 two; 3 4", "--kernel", "box3"], "not a number"),
        (["conv", "--input", ";", "--kernel", "box3"], "empty"),
        (["conv", "--input", "1 2; 3 4", "--kernel", "gaussian5"], "padded input"),
        (["conv", "--input", SHEET, "--kernel", "sobel"], "unknown kernel"),
        (["conv", "--input", "nope.csv", "--kernel", "box3"], "not found"),
        (["conv", "--input", SHEET, "--kernel", "box3", "--stride", "x"], "stride"),
        (["shape", "--input", "50x50x1", "conv:k=4,n=8", "dense:n=10"], "flatten"),
        (["shape", "--input", "4x4x1", "conv:k=5,n=8"], "does not fit"),
        (["shape", "--input", "4x4x1", "wobble"], "unknown layer"),
        (["shape", "--input", "axb", "flatten"], "input shape"),
        (["backprop", '{"layers": ['], "not valid JSON"),
        (["backprop", "missing-spec.json"], "not found"),
        (["backprop", NET.replace("[[1, 1]]", "[[1, 1, 1]]")], "3 columns but layer 1 has 2"),
        (["backprop", NET.replace("relu", "swish")], "unknown activation"),
        (["derive", "softmax-hessian"], "unknown topic"),
        (["derive", "ridge", "--points", "none"], "--points"),
    ],
)
def test_bad_input_exits_2_with_one_line(run_cli, argv, fragment):
    code, out, err = run_cli(*argv)
    assert code == 2
    assert err.startswith("stridelab: error: ") and err.count("\n") == 1
    assert fragment in err
    assert out == ""


def test_conv_json_through_the_cli(run_cli):
    code, out, _ = run_cli(
        "conv", "--input", SHEET, "--kernel", "1 0 -1; 2 0 -2; 1 0 -1", "--json"
    )
    assert code == 0 and json.loads(out)["results"][0]["output"] == [[-5]]


def test_ragged_backprop_file(tmp_path, run_cli):
    f = tmp_path / "net.json"
    f.write_text(NET.replace("[[1, -1], [2, 0]]", "[[1, -1], [2]]"))
    code, _, err = run_cli("backprop", str(f))
    assert code == 2 and "row 2 has 1 values" in err


def _run(*argv):
    return subprocess.run(
        [sys.executable, "-m", "stridelab", *argv], capture_output=True, text=True, timeout=120
    )


def test_conv_subprocess():
    p = _run(
        "conv", "--input", SHEET, "--kernel", "sobel_x", "--padding", "same", "--explain", "0,1"
    )
    assert p.returncode == 0, p.stderr
    # Y[0,1] = -(2) + ... : sobel_x on the padded window [0 0 0; 8 2 9; 3 4 6] = 5
    out = flat(p.stdout)
    assert r"Y_{0,1} = (-1)\cdot \underline{0}" in out and "= 5$$" in out


def test_shape_subprocess():
    p = _run(
        "shape",
        "--input",
        "50x50x1",
        "conv:k=4,s=1,p=1,n=8",
        "pool:k=2,s=2",
        "flatten",
        "dense:n=10",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["total_params"] == 46226


def test_backprop_subprocess():
    p = _run("backprop", NET, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["final"]["layers"][1]["W"] == [[1, 0.4]]


def test_derive_subprocess():
    p = _run("derive", "softmax-cross-entropy", "--points", "2")
    assert p.returncode == 0, p.stderr
    assert r"\nabla_z L = \hat y - y" in p.stdout and "**passed**" in p.stdout


def test_help_shows_examples():
    p = _run("conv", "--help")
    assert p.returncode == 0 and "examples:" in p.stdout and "sobel_x" in p.stdout
