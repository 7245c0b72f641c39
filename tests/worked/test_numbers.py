"""The number policy shared by the worked commands, and the small helpers beside it."""

import json
import os
from fractions import Fraction

import pytest

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import positive_int
from stridelab.worked._figures import check_figure_path
from stridelab.worked.limits import MAX_EXACT_DIGITS, MAX_LITERAL_CHARS, check_limit
from stridelab.worked.numbers import exact_digits, ordinal, parse_number, plural
from stridelab.worked.values import (
    count_values,
    exact_from_array,
    json_number_hooks,
    parse_channels,
    read_text_file,
)


@pytest.mark.parametrize(
    "token, value",
    [
        ("3", 3),
        ("-0.25", Fraction(-1, 4)),
        ("1/9", Fraction(1, 9)),
        ("2e-3", Fraction(1, 500)),
        (".5", Fraction(1, 2)),
        ("1e+3", 1000),
        ("\u22122", -2),  # a typographic minus
        ("0e99999", 0),  # zero times any power of ten, computed without 10**99999
        ("1e59", 10**59),  # 60 digits: still exact
    ],
)
def test_exact_values(token, value):
    got = parse_number(token)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "token, fragment",
    [
        ("nan", "not a finite number"),
        ("-inf", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("1e400", "beyond float64's range"),
        ("-2e308", "beyond float64's range"),
        ("1e99999999999", "beyond float64's range"),  # refused before 10**e is computed
        ("1e-400", "closer to 0 than float64"),
        ("9" * 401, "longer than the limit of 400"),
        ("1/0", "divides by zero"),
        ("1_000", "is not a number"),
        ("\uff11", "is not a number"),  # a full-width digit
        ("e5", "is not a number"),
    ],
)
def test_refused_values(token, fragment):
    with pytest.raises(DataError, match=fragment) as info:
        parse_number(token, what="--input")
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_long_values_fall_back_to_float():
    assert MAX_EXACT_DIGITS == 60 and MAX_LITERAL_CHARS == 400
    assert parse_number("1" * 60) == int("1" * 60)  # 60 digits: exact
    v = parse_number("1" * 61)
    assert isinstance(v, float) and v == pytest.approx(1.111111e60, rel=1e-6)
    v = parse_number("1e308")  # inside float64's range, but 309 digits: a float
    assert v == 1e308 and isinstance(v, float)
    v = parse_number("0." + "3" * 70)
    assert isinstance(v, float) and v == pytest.approx(1 / 3)
    assert isinstance(parse_number("0." + "3" * 70, max_exact_digits=100), Fraction)


def test_exact_digits():
    assert exact_digits(Fraction(1, 10**60)) == 61 and exact_digits(12345) == 5
    assert exact_digits(10**100) == 101 and exact_digits(10**100 - 1) == 100
    assert exact_digits(0.5) == 0


def test_exact_from_array():
    import numpy as np

    assert exact_from_array(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert exact_from_array(["1/2", 0.25, Fraction(1, 3)]) == [Fraction(1, 2), 0.25, Fraction(1, 3)]
    with pytest.raises(DataError, match="not a finite number"):
        exact_from_array([1.0, float("nan")])
    with pytest.raises(DataError, match="range"):
        exact_from_array([10**400])


def test_json_hooks():
    hooks = json_number_hooks(what="spec")
    assert json.loads('{"lr": 0.1, "n": 3}', **hooks) == {"lr": Fraction(1, 10), "n": 3}
    for bad, fragment in (('[NaN]', "not a finite"), ('[1e400]', "range"),
                          ("[" + "9" * 5000 + "]", "longer than the limit")):
        with pytest.raises(DataError, match=fragment):
            json.loads(bad, **hooks)


def test_parse_channels_refuses_big_text_before_parsing():
    assert count_values("1 2; 3 4 | 5,6;7 8 # note") == 8
    with pytest.raises(DataError, match="10,001 values, above the limit of 10,000"):
        parse_channels(" ".join(["x"] * 10_001), max_cells=10_000)  # 'x' is never parsed


def test_ordinals_and_plurals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st",
        "111th", "112th"]
    assert plural(1, "kernel") == "1 kernel" and plural(2, "kernel") == "2 kernels"


def test_read_text_file(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("1,2\n3,4\n")
    assert read_text_file(f, what="--input") == "1,2\n3,4\n"
    with pytest.raises(DataError, match="larger than the limit of 3 bytes"):
        read_text_file(f, what="--input", max_bytes=3)
    with pytest.raises(DataError, match="not a regular file"):
        read_text_file("/dev/zero", what="--input", max_bytes=1000)  # endless, or a FIFO: never
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DataError, match="not a regular file"):
        read_text_file(tmp_path / "fifo", what="--input")  # would block until a writer came
    with pytest.raises(DataError, match="not found"):
        read_text_file("x" * 300, what="--input")  # too long for a file name
    with pytest.raises(DataError, match="not found"):
        read_text_file("a\x00b", what="--input")
    with pytest.raises(DataError, match="is a directory"):
        read_text_file(tmp_path, what="--input")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="UTF-8"):
        read_text_file(tmp_path / "bad.txt", what="--input")


def test_positive_int():
    assert positive_int("3", name="--stride") == 3 and positive_int(4, name="x") == 4
    for bad in ("x", "2.0", "\u00b2", "", True):
        with pytest.raises(ConfigError, match="must be an integer"):
            positive_int(bad, name="--stride")
    with pytest.raises(ConfigError, match="101-digit number"):
        positive_int("9" * 101, name="--stride")
    with pytest.raises(ConfigError, match="--stride is 10,001, above the limit of 10,000"):
        positive_int("10001", name="--stride", maximum=10_000)
    with pytest.raises(ConfigError, match="a 31-digit number, above the limit"):
        check_limit(10**30, 5, what="n")


def test_check_figure_path(tmp_path):
    assert check_figure_path(tmp_path / "new" / "deeper" / "fig.png").name == "fig.png"
    assert not (tmp_path / "new").exists()  # nothing is made by the check
    assert list(tmp_path.iterdir()) == []  # and its probe file is gone
    regular = tmp_path / "FILE"
    regular.write_text("x")
    with pytest.raises(ConfigError, match="FILE' is a file, not a folder"):
        check_figure_path(regular / "fig.png")
    with pytest.raises(ConfigError, match="no file can be created in '/proc'"):
        check_figure_path("/proc/x/fig.png")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ConfigError, match="it is a folder"):
        check_figure_path(tmp_path / "d.png")
    with pytest.raises(ConfigError, match=r"\.png"):
        check_figure_path(tmp_path / "fig.txt")
    with pytest.raises(ConfigError, match="cannot write a figure"):
        check_figure_path(tmp_path / ("x" * 300 + ".png"))
