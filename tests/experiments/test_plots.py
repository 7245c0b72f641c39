"""Shared study pieces in plots.py: what a confusion matrix says, by hand."""

import pytest

from stridelab.experiments.narrate import Notes
from stridelab.experiments.plots import confusion_summary, confusion_text


def test_confusion_summary_by_hand():
    cm = [[8, 2, 0],  # true a: 2 read as b
          [5, 4, 1],  # true b: 5 read as a, 1 as c
          [0, 0, 10]]
    s = confusion_summary(cm, ["a", "b", "c"])
    assert s["recall_by_class"] == pytest.approx([0.8, 0.4, 1.0])
    assert s["precision_by_class"] == pytest.approx([8 / 13, 4 / 6, 10 / 11])
    assert s["best_recognised"] == {"class": "c", "label": 2, "recall": 1.0}
    assert s["worst_recognised"] == {"class": "b", "label": 1, "recall": pytest.approx(0.4)}
    # a and b: 2 + 5 confusions over their 20 test samples; b and c: 1; a and c: none (left out)
    assert s["confused_pairs"] == [
        {"classes": ["a", "b"], "labels": [0, 1], "count": 7, "a_as_b": 2, "b_as_a": 5,
         "fraction": pytest.approx(0.35)},
        {"classes": ["b", "c"], "labels": [1, 2], "count": 1, "a_as_b": 1, "b_as_a": 0,
         "fraction": pytest.approx(0.05)}]
    assert s["most_predicted_wrongly"] == {"class": "a", "label": 0, "count": 5}


def test_confusion_summary_of_a_perfect_matrix_with_an_absent_class():
    s = confusion_summary([[3, 0], [0, 0]], ["x", "y"])
    assert s["recall_by_class"] == [1.0, None] and s["precision_by_class"] == [1.0, None]
    assert s["best_recognised"]["class"] == s["worst_recognised"]["class"] == "x"
    assert s["confused_pairs"] == [] and s["most_predicted_wrongly"] is None


@pytest.mark.parametrize("cm, one_way", [
    ([[8, 6, 0], [1, 9, 0], [0, 0, 10]], True),   # 6 a → b against 1 b → a
    ([[8, 3, 0], [2, 9, 0], [0, 0, 10]], False),  # 3 against 2: about as often each way
])
def test_confusion_text_says_whether_the_top_pair_goes_one_way(cm, one_way):
    notes = Notes()
    text = confusion_text(notes, confusion_summary(cm, ["a", "b", "c"]))
    assert notes.branches == {"one_way": one_way}
    assert "the pair confused most is a and b" in text
    assert ("a is commonly mislabelled as b" in text) is one_way
