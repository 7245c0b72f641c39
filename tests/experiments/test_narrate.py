"""The narrate vocabulary: numbers by key, claims with both branches, comparisons, lessons."""

from dataclasses import dataclass

import pytest

from stridelab.experiments.narrate import (
    Lesson,
    NarrationError,
    Notes,
    compare,
    fmt,
    num,
    value,
)

METRICS = {"relu_3": 0.934, "sigmoid_3": 0.1135, "n_train": 4000, "beats_svc": True,
           "history": {"test_accuracy": [0.5, 0.75, 0.875]}, "loss": float("nan")}


@dataclass
class Config:
    epochs: int = 12  # passes
    lr: float = 0.01  # step size


# ---------------------------------------------------------------------------------------------
# num / value / fmt


def test_num_reads_metrics_and_config_by_key():
    assert num(METRICS, "relu_3") == "0.934"
    assert num(METRICS, "sigmoid_3", ".2f") == "0.11"
    assert num(METRICS, "n_train") == "4,000"
    assert num(METRICS, "beats_svc") == "yes"
    assert num(METRICS, "history.test_accuracy.-1") == "0.875"
    assert num(METRICS, "loss") == "NaN"
    assert num(Config(), "epochs") == "12"
    assert num(Config(), "lr", ".0e") == "1e-02"
    assert num(METRICS, "relu_3", ".1%") == "93.4%"


@pytest.mark.parametrize("source, key", [
    (METRICS, "relu_4"),
    (METRICS, "history.train_accuracy"),
    (METRICS, "relu_3.deeper"),
    (Config(), "momentum"),
])
def test_a_missing_key_raises_never_guesses(source, key):
    with pytest.raises(NarrationError, match=r"no (metric|value) '"):
        num(source, key)


def test_the_missing_metric_message_lists_what_there_is():
    with pytest.raises(NarrationError) as info:
        value({"a": 1, "b": 2}, "c")
    assert "no metric 'c' (have: a, b)" in str(info.value)


def test_fmt():
    assert fmt(1234567) == "1,234,567"
    assert fmt(0.000123456) == "0.000123"
    assert fmt(2.0, ".1f") == "2.0"
    assert fmt(False) == "no"
    # a measured 5.0044 must not print as the count "5"; an exact 5.0 may
    assert fmt(5.0044) == "5.00" and fmt(-3.0004) == "-3.00" and fmt(5.0) == "5"
    assert fmt(12.0001, ".2g") == "12.0" and fmt(0.219) == "0.219"
    assert fmt("relu") == "relu"


# ---------------------------------------------------------------------------------------------
# claim / compare


@pytest.mark.parametrize("a, b, expected, branch", [
    (0.93, 0.11, "ReLU learns", True), (0.11, 0.93, "ReLU did not", False)])
def test_a_claim_takes_one_branch_and_records_it(a, b, expected, branch):
    notes = Notes()
    assert notes.claim("relu_wins", a > b, "ReLU learns", "ReLU did not") == expected
    assert notes.branches == {"relu_wins": branch}
    assert notes.paragraphs == []  # a claim is a sentence; add() places it


def test_a_claim_is_named_once():
    notes = Notes()
    notes.claim("relu_wins", True, "a", "b")
    with pytest.raises(ValueError, match="twice"):
        notes.claim("relu_wins", False, "a", "b")


def test_compare_both_ways_and_within_tolerance():
    m = {"cnn": 0.981, "svc": 0.947, "same": 0.9475}
    assert compare(m, "cnn", "svc", names=("the CNN", "the SVC")) == \
        "the CNN (0.981) is higher than the SVC (0.947)"
    assert compare(m, "svc", "cnn") == "svc (0.947) is lower than cnn (0.981)"
    assert compare(m, "svc", "same", tol=0.001) == "svc (0.947) is about equal to same (0.948)"
    assert compare(m, "svc", "same", tol=0.0) == "svc (0.947) is lower than same (0.948)"
    assert compare(m, "cnn", "svc", higher="better", spec=".2f") == \
        "cnn (0.98) is better than svc (0.95)"
    with pytest.raises(NarrationError):
        compare(m, "cnn", "knn")


# ---------------------------------------------------------------------------------------------
# Notes


def test_notes_join_sentences_and_skip_empty_ones():
    notes = Notes().add("One.", "", "  Two. ").add().add("Three.")
    assert notes.paragraphs == ["One. Two.", "Three."]
    assert str(notes) == "One. Two.\n\nThree.\n"
    assert str(Notes()) == ""


# ---------------------------------------------------------------------------------------------
# Lesson.judge


@pytest.mark.parametrize("op, measured, target, met", [
    (">=", 0.98, 0.98, True), (">=", 0.97, 0.98, False),
    (">", 0.98, 0.98, False), (">", 0.99, 0.98, True),
    ("<=", 0.04, 0.04, True), ("<=", 0.05, 0.04, False),
    ("<", 0.04, 0.04, False), ("<", 0.03, 0.04, True),
])
def test_judge_with_a_number_target_for_each_op(op, measured, target, met):
    lesson = Lesson("say", "m", op=op, quick=target, full=target)
    record = lesson.judge({"m": measured}, quick=True)
    assert record["met"] is met
    assert (record["value"], record["target"], record["op"]) == (measured, target, op)
    assert record["target_metric"] is None and record["mode"] == "quick"


def test_judge_with_a_metric_target_and_margin():
    lesson = Lesson("ReLU-3 beats sigmoid-3 by 0.5", "relu_3", quick="sigmoid_3", margin=0.5,
                    label="ReLU-3 accuracy")
    record = lesson.judge(METRICS, quick=True)
    assert record["target"] == pytest.approx(0.1135 + 0.5)
    assert record["target_metric"] == "sigmoid_3" and record["met"] is True
    assert record["label"] == "ReLU-3 accuracy"
    close = lesson.judge({"relu_3": 0.6, "sigmoid_3": 0.1135}, quick=True)
    assert close["met"] is False  # 0.6 < 0.6135
    assert lesson.keys() == ["relu_3", "sigmoid_3"]


def test_judge_uses_the_target_of_the_mode_and_none_is_not_judged():
    lesson = Lesson("CNN accuracy", "acc", quick=0.98, full=0.994)
    assert lesson.judge({"acc": 0.99}, quick=True)["met"] is True
    full = lesson.judge({"acc": 0.99}, quick=False)
    assert (full["met"], full["target"], full["mode"]) == (False, 0.994, "full")
    untargeted = Lesson("only a full target", "acc", full=0.9).judge({"acc": 0.5}, quick=True)
    assert untargeted["met"] is None and untargeted["target"] is None
    assert untargeted["label"] == "acc"


def test_judge_of_a_missing_metric_raises():
    with pytest.raises(NarrationError):
        Lesson("say", "absent", quick=1.0).judge({"m": 1.0}, quick=True)
    with pytest.raises(NarrationError):
        Lesson("say", "m", quick="absent").judge({"m": 1.0}, quick=True)


@pytest.mark.parametrize("op, measured, holds", [
    (">", 0.98, False), (">", 0.99, True), (">=", 0.98, True), ("<", 0.98, False)])
def test_holds_is_the_lessons_own_condition(op, measured, holds):
    lesson = Lesson("say", "cnn", op=op, quick="svc", full="svc")
    metrics = {"cnn": measured, "svc": 0.98}
    assert lesson.holds(metrics) is holds is lesson.judge(metrics, quick=True)["met"]


def test_holds_refuses_a_lesson_judged_differently_by_mode():
    with pytest.raises(ValueError, match="depends on the mode"):
        Lesson("say", "acc", quick=0.98, full=0.99).holds({"acc": 0.985})
    with pytest.raises(ValueError, match="depends on the mode"):
        Lesson("say", "acc", full=0.99).holds({"acc": 0.985})


def test_an_unknown_op_is_refused():
    with pytest.raises(ValueError, match="op must be one of"):
        Lesson("say", "m", op="==")
