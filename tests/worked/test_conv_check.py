"""conv --check: a student's answer compared cell by cell, each slip diagnosed.

Hand-made wrong answers on the RPTU sheet's 5x5 image (Exercise 2.1, 'same' padding) and the
LMU sheet's 5x5 image (Exercise 4-2, 'valid' padding), with the sheets' three filters.
"""

import json

import pytest

from stridelab.cli import main as cli_main
from stridelab.worked import conv

RPTU = "8 2 9 8 3; 3 4 6 2 7; 5 9 3 9 7; 6 1 3 6 8; 5 1 6 8 1"
LMU = "5 5 2 5 5; 5 5 2 5 5; 7 7 5 7 7; 5 5 2 5 5; 5 5 2 5 5"
K1 = "1 0 -1; 2 0 -2; 1 0 -1"  # -sobel_x
K2 = "1 2 1; 0 0 0; -1 -2 -1"  # -sobel_y
K3 = "0 1 0; 1 -4 1; 0 1 0"  # laplace4
ASYM = "1 2 0; 0 1 0; 0 0 -1"  # rotating it by 180 degrees is not a change of sign

# K1 on RPTU with 'same' padding; e.g. Y[0,0]: window [0 0 0; 0 8 2; 0 3 4] gives
# 2*0 - 2*2 + 1*0 - 1*4 = -8, and Y[1,1]: 8-9 + 2*(3-6) + 5-3 = -5
RPTU_K1 = [
    [-8, -5, -10, 11, 18],
    [-19, -5, -2, 0, 21],
    [-23, 4, -3, -14, 26],
    [-12, 7, -17, -9, 29],
    [-3, 1, -19, 5, 22],
]
# laplace4 on LMU, 'valid': Y[0,0] = 5 + 5 - 4*5 + 2 + 7 = -1, Y[0,1] = 2 + 5 - 4*2 + 5 + 5 = 9
LMU_K3 = [[-1, 9, -1], [-6, -2, -6], [-1, 9, -1]]


def text(m):
    return "; ".join(" ".join(str(v) for v in row) for row in m)


def replaced(m, cell, value):
    out = [list(r) for r in m]
    out[cell[0]][cell[1]] = value
    return out


def rptu(kernel=K1, **kw):
    return conv.solve(conv.read_input([RPTU]), [kernel], padding="same", **kw)


def lmu(kernel=K3, **kw):
    return conv.solve(conv.read_input([LMU]), [kernel], padding="valid", **kw)


def test_right_answers_are_all_correct():
    assert rptu().results[0].output == RPTU_K1
    r = rptu().check(text(RPTU_K1))
    assert r.correct and r.wrong_cells == [] and r.slip is None
    assert "every one of the 25 values" in r.message
    assert lmu().check(LMU_K3).correct  # nested lists work as well as text


def test_flipped_kernel_on_the_sheet_kernel_is_also_every_sign():
    # the edge kernel rotated by 180 degrees is -K1: the convolution gives -Y
    student = [[-v for v in row] for row in RPTU_K1]
    r = rptu().check(text(student))
    assert not r.correct and r.slip == "flipped"
    assert len(r.wrong_cells) == 24  # Y[1,3] = 0 is its own negative
    assert "the same as changing every sign" in r.message


def test_flipped_kernel_asymmetric():
    # ASYM on RPTU, 'same'; the convolution's (0,0): the rotated kernel [-1 0 0; 0 1 0; 0 2 1]
    # on the window [0 0 0; 0 8 2; 0 3 4] gives 8 + 2*3 + 4 = 18 (correlation: 8 - 4 = 4)
    convolution = [
        [18, 16, 23, 19, 17],
        [22, 17, 19, 18, 13],
        [18, 11, 11, 23, 21],
        [17, 4, 14, 20, 1],
        [5, -5, 5, 5, -5],
    ]
    ans = rptu(ASYM)
    assert ans.results[0].output[0][0] == 4
    r = ans.check(convolution)
    assert r.slip == "flipped" and "this is the convolution" in r.message
    assert "changing every sign" not in r.message
    # and the reverse: a convolution task answered by cross-correlation
    conv_task = rptu(ASYM, mode="convolve")
    r = conv_task.check(ans.results[0].output)
    assert r.slip == "flipped" and "this is the cross-correlation" in r.message


def test_off_by_one_window():
    # every window one column to the right (the last column runs into zeros):
    # (0,0): window [5 2 5; 5 2 5; 7 5 7] gives 2 + 5 - 8 + 5 + 5 = 9
    shifted = [[9, -1, -3], [-2, -6, -11], [9, -1, -3]]
    r = lmu().check(shifted)
    assert r.slip == "shifted" and "one column to the right" in r.message
    # one window shifted one row lower at cell (0,1): its value is Y[1,1] = -2
    r = lmu().check(replaced(LMU_K3, (0, 1), -2))
    assert [wc.cell for wc in r.wrong_cells] == [(0, 1)]
    assert r.wrong_cells[0].slip == "shifted" and "one row lower" in r.wrong_cells[0].detail


def test_padding_forgotten_gives_the_valid_output():
    # RPTU asks for 'same' (5x5); the valid 3x3 is the inner part: -5 -2 0; 4 -3 -14; 7 -17 -9
    valid = [row[1:4] for row in RPTU_K1[1:4]]
    r = rptu().check(text(valid))
    assert not r.correct and r.slip == "padding"
    assert r.expected_shape == (5, 5) and r.student_shape == (3, 3)
    assert "the 'valid' output (no padding), so the padding was left out" in r.message
    assert "Every value matches" in r.message
    # the valid output with one more slip inside: diagnosed against the valid output
    r = rptu().check(text(replaced(valid, (2, 2), 9)))
    assert r.slip == "padding" and "1 of 9 values differs" in r.message
    assert r.wrong_cells[0].slip == "sign" and r.wrong_cells[0].cell == (2, 2)


def test_padding_added_to_a_valid_task():
    # LMU asks for 'valid' (3x3); a 5x5 answer is the 'same' output. -sobel_y's same output:
    # (0,0): window [0 0 0; 0 5 5; 0 5 5] gives 0 - (5 + 2*5) = -15
    same = conv.solve(conv.read_input([LMU]), [K2], padding="same").results[0].output
    assert same[0][0] == -15 and same[2] == [0, 0, 0, 0, 0]
    r = lmu(K2).check(same)
    assert r.slip == "padding" and "the 'same' output" in r.message
    assert "padding was added, but the task's padding is `valid`" in r.message


def test_border_left_empty():
    # RPTU 'same' with the inner 3x3 right and the 16 border cells left as 0
    student = [[v if 1 <= i <= 3 and 1 <= j <= 3 else 0 for j, v in enumerate(row)]
               for i, row in enumerate(RPTU_K1)]
    r = rptu().check(student)
    assert r.slip == "padding" and len(r.wrong_cells) == 16  # no border value of Y is 0
    assert all(wc.slip == "padding" for wc in r.wrong_cells)
    assert "reaches into the padding and was left as 0" in r.wrong_cells[0].detail


def test_sign_error_of_one_cell():
    r = rptu().check(replaced(RPTU_K1, (1, 1), 5))
    assert r.slip == "sign" and [wc.cell for wc in r.wrong_cells] == [(1, 1)]
    assert "1 of 25 values differs" in r.message
    wc = r.wrong_cells[0]
    assert wc.correct == -5 and wc.terms.z == -5
    # the correct products are listed: 1*8 + 0*2 + (-1)*9 + 2*3 + ... = -5
    assert [(w, x) for w, x, _ in wc.terms.terms[0]] == [
        (1, 8), (0, 2), (-1, 9), (2, 3), (0, 4), (-2, 6), (1, 5), (0, 9), (-1, 3)]
    md = r.to_markdown()
    assert r"Y_{1,1} = 1\cdot 8 + 0\cdot 2 + (-1)\cdot 9" in md and "= -5$$" in md


def test_one_product_with_the_wrong_sign():
    # LMU laplace4 (1,1): 7 + 2 + 2 + 7 - 4*5 = -2 -> with -4*5 added as +20: 38
    r = lmu().check(replaced(LMU_K3, (1, 1), 38))
    wc = r.wrong_cells[0]
    assert r.slip == "product_sign" and wc.cell == (1, 1)
    assert "(-4)·5 = -20 entered with the wrong sign" in wc.detail


def test_one_product_left_out():
    # RPTU K1 (2,2): 4 - 2 + 2*(9 - 9) + 1 - 6 = -3; without the -2*9 product: 15
    r = rptu().check(replaced(RPTU_K1, (2, 2), 15))
    assert r.slip == "omitted" and "(-2)·9 = -18 was left out" in r.wrong_cells[0].detail


def test_arithmetic_slip():
    # LMU laplace4 (1,0): -6; written as -7 (no single slip gives -7)
    r = lmu().check(replaced(LMU_K3, (1, 0), -7))
    wc = r.wrong_cells[0]
    assert r.slip == "arithmetic" and "off by -1" in wc.detail and wc.correct == -6


def test_wrong_shape_without_explanation():
    r = rptu().check("1 2; 3 4")
    assert r.slip == "shape" and not r.correct
    assert "H_out = floor((5 + 2 - 3)/1) + 1 = 5" in r.message


def test_stride_forgotten():
    ans = conv.solve(conv.read_input([RPTU]), [K1], padding="same", stride=2)
    assert ans.results[0].output == [row[::2] for row in RPTU_K1[::2]]
    r = ans.check(RPTU_K1)
    assert r.slip == "stride" and "the stride of 2 was not applied" in r.message


def test_rounded_decimals_count_as_right():
    ans = conv.solve(conv.read_input(["8 2 9; 3 4 6; 5 9 3"]), ["box3"])  # 49/9 = 5.444...
    assert ans.check("5.44").correct and ans.check("5.4").correct and ans.check("49/9").correct
    assert not ans.check("5.5").correct and not ans.check("5").correct


def test_layer_slips_bias_and_activation():
    ans = conv.solve([2, 1, 3, 0, 4], ["1 0 -1"], bias=0.5, activation="relu")
    # z = (-0.5, 1.5, -0.5), a = (0, 1.5, 0)
    assert ans.check("0 1.5 0").correct
    r = ans.check("-0.5 1.5 -0.5")
    assert r.slip == "activation"
    r = ans.check("0 1 0")
    assert r.slip == "bias" and "b = 0.5 was left out" in r.message


def test_1d_vector_check_and_positions():
    ans = conv.solve([1, 2, 3, 4, 5], ["1 0 -1"])  # (-2, -2, -2)
    r = ans.check("-2 2 -2")
    assert [wc.cell for wc in r.wrong_cells] == [(0, 1)] and r.slip == "sign"
    assert "Position 1: you wrote 2" in r.to_markdown()
    assert r.to_dict()["wrong_cells"][0]["cell"] == [1]
    r = ans.check("-2 -2")
    assert r.slip == "shape" and "2 values but the output is 3 values" in r.message


def test_check_through_the_cli(capsys):
    code = cli_main(["conv", "--input", RPTU, "--kernel", K1, "--padding", "same",
                     "--check", text(replaced(RPTU_K1, (1, 1), 5)), "--format", "markdown"])
    out = capsys.readouterr().out
    assert code == 0
    assert "### Your answer for kernel 1: `\u2212sobel_x`" in out
    assert "Cell 1,1: you wrote 5, the right value is -5: the sign is wrong." in out
    code = cli_main(["conv", "--input", RPTU, "--kernel", K1, "--kernel", K3, "--padding", "same",
                     "--check", text(RPTU_K1), "--check", "1 2; 3 4", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [c["correct"] for c in d["student_check"]] == [True, False]
    assert d["student_check"][1]["slip"] == "shape"


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--check", "1 2", "--check", "3 4"], "2 --check values for 1 kernel"),
        (["--check", "1 x"], "'x' is not a number"),
        (["--check", "1 2 | 3 4"], "one matrix per kernel"),
    ],
)
def test_bad_check_values(capsys, argv, fragment):
    code = cli_main(["conv", "--input", RPTU, "--kernel", K1, *argv])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1
