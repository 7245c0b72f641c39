"""The one reader of values that every worked command uses, and its limits."""

import re
from fractions import Fraction

import numpy as np
import pytest

from stridelab.errors import DataError
from stridelab.worked import limits
from stridelab.worked.commands import COMMANDS, command_parser
from stridelab.worked.numbers import decimal_places, exact_number, terminating_decimal
from stridelab.worked.values import (
    channels_from_array,
    depth,
    read_matrix,
    read_scalar,
    read_values,
    read_vector,
)


def test_one_file_size_limit_and_one_message_for_every_command(tmp_path, run_cli):
    # 4,100,000 bytes lay between the two limits there were (4,000,000 and 4 MiB): every
    # command now refuses it, and a file of 5 MB, with the same line naming the one limit
    assert limits.MAX_TEXT_BYTES == 4_000_000
    for size in (4_100_000, 5_000_000):
        big = tmp_path / f"big{size}.csv"
        big.write_text("1 " * (size // 2))
        errors = [
            run_cli("conv", "--input", big, "--kernel", "1")[2],
            run_cli("derive", "ridge", "--X", big, "--y", "1", "--lam", "1")[2],
            run_cli("derive", "softmax-jacobian", "--z", big)[2],
            run_cli("backprop", big)[2],
        ]
        for err in errors:
            assert err.count("\n") == 1
            assert "is larger than the limit of 4,000,000 bytes; give a smaller file" in err, err


def test_the_limits_promise_only_options_that_exist():
    # the docstring once promised `--max-cells N`; every option it names must be a real one
    named = set(re.findall(r"--[a-z][a-z-]+", limits.__doc__))
    real = {opt for name in COMMANDS for action in command_parser(name)._actions
            for opt in action.option_strings}
    assert named <= real, named - real
    assert "raise it" not in limits.__doc__


def test_a_value_reads_the_same_from_text_a_file_and_python(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("a,b\n1,0.5\n-1/3,2\n")
    typed = read_values("1 0.5; -1/3 2", what="--x")
    filed = read_values(str(f), what="--x")
    array = read_values(np.array([[1, 0.5], [-1 / 3, 2]], dtype=object), what="--x")
    exact = [[[1, Fraction(1, 2)], [Fraction(-1, 3), 2]]]
    assert typed.channels == filed.channels == exact
    assert array.channels[0][0] == [1, Fraction(1, 2)]  # the float 0.5 is its decimal
    assert typed.note is None and "skipped as a header" in filed.note
    assert read_vector("1; 2; 3", what="--y") == [1, 2, 3]  # a column is a vector too
    assert read_scalar([[0.1]], what="--a") == Fraction(1, 10)
    assert read_matrix([1, 2], what="--X") == [[1, 2]]


@pytest.mark.parametrize("value, fragment", [
    ([[1, 2], [3]], "row 2 has 1 values but row 1 has 2"),  # as "1 2; 3" typed says
    ([[[1, 2]], [[3, 4], [5, 6]]], "channel 1 is 2×2 but channel 0 is 1×2"),
    ([], "is empty"),
    (np.zeros((1, 1, 1, 1)), "4 dimensions"),
    ([1.0, float("nan")], "not a finite number"),
    ([10**400], "beyond float64's range"),
    ([True], "not a number"),
    (np.ones(10_001), "10,001 values, above the limit of 10,000"),
])
def test_python_values_are_refused_with_the_texts_messages(value, fragment):
    with pytest.raises(DataError, match=re.escape(fragment)):
        channels_from_array(value, what="--x")


def test_depth_and_exact_numbers():
    assert [depth(v) for v in (3, [], [1], [[1]], [[[]]])] == [0, 1, 1, 2, 3]
    assert exact_number(0.1) == Fraction(1, 10) and exact_number(np.int64(7)) == 7
    assert isinstance(exact_number(Fraction(1, 3**200)), float)  # 96 digits: float64
    with pytest.raises(DataError, match="beyond float64's range"):
        exact_number(10**5000)  # never written out (Python refuses str() of 4300 digits)


@pytest.mark.parametrize("v, places", [
    (3, 0), (Fraction(544, 100), 2), (Fraction(1, 3), None), (1e-05, 5), (0.15, 2),
    (Fraction(1, 2**20), 20),
])
def test_one_decimal_places_rule(v, places):
    # conv's rounding tolerance, backprop's and the exact decimals shown all count places so
    assert decimal_places(v) == places
    shown = terminating_decimal(Fraction(v)) if not isinstance(v, float) else None
    if places is not None and places <= 12 and shown is not None:
        assert Fraction(shown) == v
