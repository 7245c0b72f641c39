"""The study contract, over every registered experiment (tinygrad's ``helper_test_op`` spirit).

One helper, :func:`check_study`, reads each study's smoke run (the session's ``smoke_runs``):
it finished (or was skipped for absent data, saying how to get it), its ``config.json``
records the study, seed, mode, device and data set, its ``metrics.json`` is an object holding
the key metric, it drew its figures as PNG files and left no temporary file, ``lessons.json``
judges every registered lesson, and every number written in ``notes.md`` is a value of
``metrics.json`` or ``config.json`` at the precision printed — a note states nothing the run
did not measure or was not configured with. Every study is one line of that helper.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from stridelab.experiments.registry import all_experiments, get

EXPERIMENTS = [e.name for e in all_experiments()]

# ---------------------------------------------------------------------------------------------
# numbers in notes


NUMBER = re.compile(
    r"(?<![\w.])"  # not the tail of a word (conv2d, mnist-5k's 5 is followed by k) or number
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?P<percent>\s?%)?"
    r"(?![\w]|\.\d)")  # not the head of a word or of a longer dotted number (2.13.0)


def numbers_in(markdown: str) -> list[str]:
    """The number tokens of ``markdown``, leaving out link targets and list markers."""
    text = re.sub(r"\]\([^)]*\)", "]", markdown)  # [caption](figures/x_2.png): not prose
    text = re.sub(r"(?m)^\s*\d+\.\s", " ", text)  # "1. " numbering a list
    return [m.group(0) for m in NUMBER.finditer(text)]


def _value_and_unit(token: str) -> tuple[float, float]:
    """The token's value and the unit of its last printed digit (both ×1/100 for a percent)."""
    percent = token.rstrip().endswith("%")
    digits = token.rstrip("% ").replace(",", "")
    mantissa, _, exponent = digits.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    unit = 10.0 ** (int(exponent or 0) - decimals)
    value = float(digits)
    return (value / 100, unit / 100) if percent else (value, unit)


def numeric_leaves(*records) -> np.ndarray:
    """Every finite number (not bool) in nested dicts and lists, as absolute values."""
    out: list[float] = []
    stack = list(records)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, (int, float)) and not isinstance(node, bool) \
                and math.isfinite(node):
            out.append(abs(float(node)))
    return np.asarray(out, dtype=np.float64)


def unmeasured_numbers(notes: str, leaves: np.ndarray) -> list[str]:
    """Tokens of ``notes`` that equal no leaf at the precision printed.

    A bare integer ("12", "4,000") must equal a leaf exactly (a count or a config value); a
    number with decimals, an exponent or a percent sign may be any leaf rounded to it.
    """
    bad = []
    for token in numbers_in(notes):
        value, unit = _value_and_unit(token)
        integer = re.fullmatch(r"[\d,]+", token) is not None
        tolerance = 1e-9 * max(1.0, value) if integer else unit / 2 * (1 + 1e-9) + 1e-12
        if leaves.size == 0 or not np.any(np.abs(leaves - value) <= tolerance):
            bad.append(token)
    return bad


def test_number_extraction_and_matching():
    notes = ("The CNN reaches **0.988** (98.8 %) on 4,000 images of mnist-5k after 12 epochs "
             "with lr 1e-3, conv2d layers and torch 2.13.0; see [the curves](figures/c_2.png).\n"
             "1. first point: 3×3 kernels")
    assert numbers_in(notes) == ["0.988", "98.8 %", "4,000", "12", "1e-3", "3", "3"]
    leaves = numeric_leaves({"acc": 0.98815, "n_train": 4000, "h": [5, 6]},
                            {"config": {"epochs": 12, "lr": 0.001, "kernel": 3}})
    assert unmeasured_numbers(notes, leaves) == []
    # 0.99 is 0.98815 printed with two decimals; 1 in "1/B" is no leaf (0.988 is not 1)
    assert unmeasured_numbers("falls as 1/B, about 0.99 here", leaves) == ["1"]
    assert unmeasured_numbers("0.97, or 7 of them", leaves) == ["0.97", "7"]
    assert unmeasured_numbers("98.9%, 99%, 98.82%", leaves) == ["98.9%"]


# ---------------------------------------------------------------------------------------------
# the contract, one line per experiment


def check_study(smoke_runs, name: str) -> None:
    """Every check of the contract on the smoke run of ``name``."""
    experiment = get(name)
    result = smoke_runs[name]
    if result.status == "skipped":
        # only a missing data set may skip an experiment, and it says how to get it
        assert "cifar10" in experiment.families(), result.reason
        assert "cifar" in result.reason.lower()
        pytest.skip(f"{name}: {result.reason}")
    assert result.status == "ok", result.reason
    run = result.out
    config = json.loads((run / "config.json").read_text())
    assert config["experiment"] == name and config["seed"] == 0 and config["mode"] == "smoke"
    assert config["environment"]["device"] == "cpu"
    if experiment.families():
        assert len(config["dataset"]["sha256"]) == 64
    metrics = json.loads((run / "metrics.json").read_text())
    assert isinstance(metrics, dict) and experiment.key_metric in metrics
    figures = sorted((run / "figures").glob("*.png"))
    assert figures and all(p.read_bytes()[:4] == b"\x89PNG" for p in figures), name
    assert not list(run.rglob(".*.tmp")), "a temporary file was left behind"
    lessons_file = run / "lessons.json"
    if experiment.lessons:
        judged = json.loads(lessons_file.read_text())
        assert [j["metric"] for j in judged] == [lesson.metric for lesson in experiment.lessons]
        for record in judged:
            assert math.isfinite(record["value"]) and record["mode"] == "quick"
            assert record["met"] in (True, False, None)
            assert (record["met"] is None) == (record["target"] is None)
    else:
        assert not lessons_file.exists()
    notes_file = run / "notes.md"
    notes = notes_file.read_text(encoding="utf-8") if notes_file.exists() else ""
    bad = unmeasured_numbers(notes, numeric_leaves(metrics, config))
    assert not bad, f"{name}: numbers in notes.md that are no metric or config value: {bad}"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_smoke_run_keeps_the_contract(smoke_runs, name):
    check_study(smoke_runs, name)
