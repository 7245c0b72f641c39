"""stridelab conv: hand-computed cases, independent routes, JSON shape and bad input."""

import argparse
import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from latex_text import flat
from scipy.signal import correlate2d

from stridelab.errors import ConfigError, DataError, StridelabError
from stridelab.worked import conv
from stridelab.worked.conv import cli as conv_cli
from stridelab.worked.kernels import KERNELS, parse_kernel

SHEET = "8 2 9; 3 4 6; 5 9 3"
EDGE = "1 0 -1; 2 0 -2; 1 0 -1"


def X(text):
    return conv.read_input([text])


def outputs(answer):
    return [r.output for r in answer.results]


def run_main(capsys, *argv):
    parser = argparse.ArgumentParser()
    conv_cli.add_arguments(parser)
    code = conv_cli.main(parser.parse_args(list(argv)))
    return code, capsys.readouterr().out


# ------------------------------------------------------------------ hand-computed answers


def test_valid_sheet_example():
    # 1*8 - 1*9 + 2*3 - 2*6 + 1*5 - 1*3 = -5
    (y,) = outputs(conv.solve(X(SHEET), [EDGE]))
    assert y == [[-5]]


def test_same_padding_sheet_example():
    # e.g. Y[1,0]: window [0 8 2; 0 3 4; 0 5 9], right column -(2 + 2*4 + 9) = -19
    ans = conv.solve(X(SHEET), [EDGE], padding="same")
    assert ans.results[0].output == [[-8, -5, 8], [-19, -5, 19], [-22, 1, 22]]
    p = ans.results[0].padding
    assert (p.top, p.bottom, p.left, p.right) == (1, 1, 1, 1)
    assert all(type(v) is int for row in ans.results[0].output for v in row)


def test_convolve_flips_the_kernel():
    # the edge kernel rotated by 180 degrees is its negative
    (y,) = outputs(conv.solve(X(SHEET), [EDGE], mode="convolve"))
    assert y == [[5]]
    (y,) = outputs(conv.solve(X("1 2; 3 4"), ["1 2; 3 4"], mode="convolve"))
    assert y == [[1 * 4 + 2 * 3 + 3 * 2 + 4 * 1]]


def test_stride_two_keeps_every_second_value():
    (y,) = outputs(conv.solve(X(SHEET), [EDGE], padding=1, stride=2))
    assert y == [[-8, 8], [-22, 22]]


def test_dilation_spreads_the_taps():
    grid = "; ".join(" ".join(str(5 * r + c + 1) for c in range(5)) for r in range(5))
    (y,) = outputs(conv.solve(X(grid), ["1 0 0; 0 0 0; 0 0 1"], dilation=2))
    assert y == [[1 + 25]]  # taps at (0,0) and (4,4)


def test_box3_is_exact_fraction():
    (y,) = outputs(conv.solve(X(SHEET), ["box3"]))
    assert y == [[Fraction(49, 9)]]  # 8+2+9+3+4+6+5+9+3 = 49


def test_gaussian5_weights_sum_to_one():
    ones = "; ".join(["1 1 1 1 1"] * 5)
    (y,) = outputs(conv.solve(X(ones), ["gaussian5"]))
    assert y == [[1]]
    g = KERNELS["gaussian5"]
    assert g.scale == Fraction(1, 273)
    assert g.table[0][2] == (7, 26, 41, 26, 7)


def test_decimals_are_exact():
    (y,) = outputs(conv.solve(X("0.1 0.2; 0.3 0.4"), ["1 1; 1 1"]))
    assert y == [[1]] and type(y[0][0]) is int


def test_channels_are_summed():
    ans = conv.solve(X("1 2; 3 4 | 5 6; 7 8"), ["1 0; 0 1 | 0 1; 1 0"])
    assert ans.results[0].output == [[(1 + 4) + (6 + 7)]]
    # one 2-D kernel is repeated over the channels
    ans = conv.solve(X("1 2; 3 4 | 5 6; 7 8"), ["1 1; 1 1"])
    assert ans.results[0].output == [[10 + 26]] and ans.results[0].broadcast


def test_same_padding_even_kernel_and_stride():
    ans = conv.solve(X("1 2 3 4; 5 6 7 8; 9 10 11 12; 13 14 15 16"), ["1 1; 1 1"], padding="same")
    p = ans.results[0].padding
    assert (p.top, p.bottom, p.left, p.right) == (0, 1, 0, 1)  # extra row/column bottom/right
    assert ans.results[0].output_shape == (4, 4)
    assert ans.results[0].output[3][3] == 16
    grid = "; ".join(["1 1 1 1 1"] * 5)
    ans = conv.solve(X(grid), ["box3"], padding="same", stride=2)
    assert ans.results[0].output_shape == (3, 3)  # ceil(5 / 2)
    assert ans.results[0].output[1][1] == 1


def test_explain_terms_show_padding():
    ans = conv.solve(X(SHEET), [EDGE], padding="same", explain="0,1")
    cell = ans.results[0].cells[(0, 1)]
    assert [p for _, _, p in cell.terms[0]] == [True] * 3 + [False] * 6
    assert [x for _, x, _ in cell.terms[0]] == [0, 0, 0, 8, 2, 9, 3, 4, 6]
    assert cell.value == -5
    md = flat(conv.to_markdown(ans))
    assert r"Y_{0,1} = 1\cdot \underline{0}" in md
    assert r"(-2)\cdot 9" in md and "= -5$$" in md


def test_one_based_cells():
    ans = conv.solve(X(SHEET), [EDGE], padding="same", explain="1,2", one_based=True)
    assert ans.explain == [(0, 1)]
    assert "Y_{1,2} =" in conv.to_markdown(ans)
    assert conv.to_dict(ans)["results"][0]["explain"][0]["cell"] == [1, 2]


def test_markdown_mentions_kernels_and_stride():
    md = conv.to_markdown(conv.solve(X(SHEET), ["sobel_x", "laplace4"], padding="same"))
    assert "vertical edges" in md and "Laplacian" in md
    assert "stride 2 would give" in md
    assert r"\begin{bmatrix} 8 & 2 & 9" in md
    md2 = conv.to_markdown(conv.solve(X(SHEET), ["box3"], padding=1, stride=2))
    assert "instead of 3×3 with stride 1" in md2


def test_sobel_sign_convention():
    ramp = "0 1 2; 0 1 2; 0 1 2"  # brighter to the right
    (gx, gy) = outputs(conv.solve(X(ramp), ["sobel_x", "sobel_y"]))
    assert gx == [[8]] and gy == [[0]]


# ------------------------------------------------------------------ independent routes


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    pad=st.integers(0, 2),
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(conv.MODES),
)
def test_matches_torch_conv2d(h, w, kh, kw, stride, dilation, pad, seed, mode):
    import torch

    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 6, size=(2, h, w))
    k = rng.integers(-3, 4, size=(2, kh, kw))
    kernel = conv.Kernel("k", tuple(tuple(tuple(int(v) for v in r) for r in c) for c in k))
    if (h + 2 * pad < dilation * (kh - 1) + 1) or (w + 2 * pad < dilation * (kw - 1) + 1):
        with pytest.raises(ConfigError, match="padded input"):
            conv.solve(x.tolist(), [kernel], padding=pad, stride=stride, dilation=dilation)
        return
    ans = conv.solve(x.tolist(), [kernel], padding=pad, stride=stride, dilation=dilation, mode=mode)
    kt = torch.tensor(k if mode == "correlate" else k[:, ::-1, ::-1].copy(), dtype=torch.float64)
    ref = torch.nn.functional.conv2d(
        torch.tensor(x, dtype=torch.float64)[None],
        kt[None],
        stride=stride,
        padding=pad,
        dilation=dilation,
    )[0, 0]
    assert np.array_equal(np.array(ans.results[0].output), ref.numpy().astype(np.int64))


def test_checks_are_reported():
    ans = conv.solve(X(SHEET), ["sharpen"], padding="same")
    routes = {c["route"] for c in ans.results[0].checks}
    assert "scipy.signal.correlate2d" in routes
    assert all(c["passed"] and c["max_abs_error"] == 0 for c in ans.results[0].checks)
    ref = correlate2d(
        np.pad(np.array([[8, 2, 9], [3, 4, 6], [5, 9, 3]]), 1),
        np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        mode="valid",
    )
    assert ans.results[0].output == ref.tolist()


# ------------------------------------------------------------------ JSON and CLI entry


def test_json_document(capsys):
    code, out = run_main(
        capsys,
        "--input",
        SHEET,
        "--kernel",
        EDGE,
        "--kernel",
        "box3",
        "--padding",
        "same",
        "--explain",
        "1,1",
        "--json",
    )
    assert code == 0
    d = json.loads(out)
    assert d["input"] == [[8, 2, 9], [3, 4, 6], [5, 9, 3]]
    assert d["padding"] == "same" and d["stride"] == 1 and d["mode"] == "correlate"
    r0, r1 = d["results"]
    assert r0["kernel"] == EDGE and r0["weights"] == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    assert r0["output"] == [[-8, -5, 8], [-19, -5, 19], [-22, 1, 22]]
    assert all(type(v) is int for row in r0["output"] for v in row)
    assert r0["explain"][0]["value"] == -5
    assert r1["kernel"] == "box3" and r1["scale"] == "1/9"
    assert r1["output_exact"][1][1] == "49/9"
    assert r1["output"][1][1] == pytest.approx(49 / 9)


def test_input_file_with_channels(tmp_path, capsys):
    f = tmp_path / "x.csv"
    f.write_text("1,2\n3,4\n\n5,6\n7,8\n")
    code, out = run_main(capsys, "--input", str(f), "--kernel", "1 1; 1 1", "--json")
    assert code == 0
    assert json.loads(out)["results"][0]["output"] == [[36]]


def test_matrix_figure(tmp_path, capsys):
    out = tmp_path / "fig.png"
    code, text = run_main(capsys, "--input", SHEET, "--kernel", "sobel_x", "--out", str(out))
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temporary left behind


def test_image_figure(tmp_path, capsys):
    from PIL import Image

    img = np.zeros((12, 16), dtype=np.uint8)
    img[:, 8:] = 255  # a vertical edge in the middle
    path = tmp_path / "edge.png"
    Image.fromarray(img).save(path)
    fig = tmp_path / "out" / "edges.svg"
    code, out = run_main(
        capsys,
        "--image",
        str(path),
        "--kernel",
        "sobel_x",
        "--kernel",
        "sobel_y",
        "--out",
        str(fig),
        "--json",
    )
    assert code == 0 and fig.exists()
    d = json.loads(out)
    gx, gy = d["results"]
    assert gx["output_shape"] == [10, 14]  # valid: 12 - 2, 16 - 2
    assert gx["max"] == pytest.approx(4.0)  # (1 + 2 + 1) * 1.0 across the edge
    assert gx["min"] == pytest.approx(0.0)
    assert gy["max"] == pytest.approx(0.0) and gy["min"] == pytest.approx(0.0)  # no row edges
    assert gx["check"][0]["passed"]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "argv, error, fragment",
    [
        (["--input", "1 2; 3", "--kernel", "box3"], DataError, "row 2 has 1 values"),
        (["--input", "1 x; 3 4", "--kernel", "box3"], DataError, "'x' is not a number"),
        (["--input", " ; ", "--kernel", "box3"], DataError, "empty"),
        (["--input", "", "--kernel", "box3"], DataError, "--input is empty"),
        (["--input", "  ", "--kernel", "box3"], DataError, "--input is empty"),
        (["--input", "1 2; 3 4", "--kernel", "box3"], ConfigError, "larger|padded input"),
        (["--input", SHEET, "--kernel", "sobelx"], ConfigError, "unknown kernel 'sobelx'"),
        (["--input", SHEET, "--kernel", "1 2; 3"], DataError, "row 2"),
        (["--input", SHEET, "--kernel", "box3", "--padding", "lots"], ConfigError, "padding"),
        (["--input", SHEET, "--kernel", "box3", "--stride", "0"], ConfigError, "stride"),
        (["--input", SHEET, "--kernel", "box3", "--mode", "fold"], ConfigError, "mode"),
        (["--input", SHEET, "--kernel", "box3", "--explain", "5,5"], ConfigError, "outside"),
        (["--input", SHEET, "--kernel", "box3", "--explain", "a"], ConfigError, "not understood"),
        (["--input", SHEET], ConfigError, "at least one --kernel"),
        (["--input", "missing.csv", "--kernel", "box3"], DataError, "not found"),
        (["--input", "1 2; 3 4 | 1 2 3", "--kernel", "box3"], DataError, "channel 1"),
        (["--input", SHEET, "--kernel", "1 0; 0 1 | 1 0; 0 1"], ConfigError, "2 channels"),
        (["--input", SHEET, "--kernel", "box3", "--out", "fig.txt"], ConfigError, ".png"),
        (["--kernel", "box3"], ConfigError, "--input"),
    ],
)
def test_bad_input(argv, error, fragment, capsys):
    with pytest.raises(error, match=fragment) as info:
        run_main(capsys, *argv)
    assert isinstance(info.value, StridelabError)
    assert "\n" not in str(info.value)


def test_parse_kernel_names_are_forgiving():
    assert parse_kernel("Sobel-X") is KERNELS["sobel_x"]


def test_fraction_literals_are_not_file_names():
    (y,) = outputs(conv.solve(conv.read_input(["1/2 1/3"]), ["1 1"]))
    assert y == [[Fraction(5, 6)]]
