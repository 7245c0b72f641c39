"""The vocabulary a study's ``narrate(metrics, config)`` writes its notes with.

A study is measured first (``measure(config, ctx) -> metrics``) and narrated second, by a
pure function of the metrics and the config. Nothing in the prose may state an outcome the
run did not measure, so the few pieces here are all a note needs:

- :func:`num` / :func:`fmt`: a number read from ``metrics`` (or ``config``, or a row of them
  already in hand) and formatted; a missing key raises :class:`NarrationError`, never a guess;
- :meth:`Notes.claim`: a sentence chosen by a measured condition, with both branches written;
  the notes record which branch each named claim took (``notes.branches``), so a test asserts
  the branch, not the sentence;
- :meth:`Lesson.holds`: a lesson's own condition, for a claim about what the lesson says;
- :func:`compare`: "A (0.981) is higher than B (0.947)" from two measured values, whichever
  way they fall;
- :class:`Notes`: the paragraphs collected in order, rendered as Markdown.

>>> m = {"relu_3": 0.93, "sigmoid_3": 0.11}
>>> notes = Notes()
>>> notes.claim("relu_wins", m["relu_3"] > m["sigmoid_3"], "ReLU learns at depth 3",
...             "ReLU did not beat sigmoid")
'ReLU learns at depth 3'
>>> notes.branches
{'relu_wins': True}
>>> compare(m, "relu_3", "sigmoid_3", names=("ReLU", "sigmoid"))
'ReLU (0.930) is higher than sigmoid (0.110)'
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any


class NarrationError(KeyError):
    """A note asked for a value the run did not record."""


def value(source: Any, key: str) -> Any:
    """``source[key]`` for a metrics dict, ``getattr`` for a config; dotted keys descend."""
    cur = source
    for part in key.split("."):
        if isinstance(cur, Mapping):
            if part not in cur:
                raise NarrationError(f"no metric {key!r} (have: {', '.join(sorted(map(str, source)))})"
                                     if isinstance(source, Mapping) else f"no value {key!r}")
            cur = cur[part]
        elif isinstance(cur, (list, tuple)) and part.lstrip("-").isdigit():
            cur = cur[int(part)]
        elif dataclasses.is_dataclass(cur) and hasattr(cur, part):
            cur = getattr(cur, part)
        else:
            raise NarrationError(f"no value {key!r}")
    return cur


def fmt(v: Any, spec: str = ".3g") -> str:
    """Format a measured value: numbers with ``spec``, integers with thousands separators."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) and spec in (".3g", "d", ","):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if spec.endswith("%"):
            return format(v, spec)
        out = format(v, spec)
        if spec.endswith("g") and "#" not in spec and math.isfinite(v) \
                and not v.is_integer() and re.fullmatch(r"[-+ ]?\d+", out):
            # 5.0044 with ".3g" prints "5", which reads as an exact count: keep the zeros
            sign = spec[0] if spec[0] in "+- " else ""
            out = format(v, f"{sign}#{spec[len(sign):]}")
            out = out + "0" if out.endswith(".") else out  # "12." → "12.0"
        return out
    return str(v)


def num(source: Any, key: str, spec: str = ".3g") -> str:
    """The value under ``key`` in ``source`` (metrics or config), formatted with ``spec``."""
    return fmt(value(source, key), spec)


def compare(metrics: Mapping, key_a: str, key_b: str, *, names: tuple[str, str] | None = None,
            spec: str = ".3f", higher: str = "higher", lower: str = "lower",
            tol: float = 0.0) -> str:
    """"A (a) is higher than B (b)" from two measured values (or "about equal to" within tol)."""
    a, b = float(value(metrics, key_a)), float(value(metrics, key_b))
    name_a, name_b = names or (key_a, key_b)
    if abs(a - b) <= tol:
        word = "about equal to"
    else:
        word = f"{higher} than" if a > b else f"{lower} than"
    return f"{name_a} ({fmt(a, spec)}) is {word} {name_b} ({fmt(b, spec)})"


@dataclasses.dataclass
class Notes:
    """Paragraphs of a study's notes, in order; ``str(notes)`` is the Markdown of ``notes.md``.

    ``branches`` maps the name of each :meth:`claim` made to the branch it took (True: the
    sentence for a true condition).
    """

    paragraphs: list[str] = dataclasses.field(default_factory=list)
    branches: dict[str, bool] = dataclasses.field(default_factory=dict)

    def add(self, *sentences: str) -> Notes:
        text = " ".join(s.strip() for s in sentences if s and s.strip())
        if text:
            self.paragraphs.append(text)
        return self

    def claim(self, name: str, condition: bool, if_true: str, if_false: str) -> str:
        """The sentence chosen by a measured ``condition``; both branches are always written,
        and which one was taken is recorded under ``name`` (a claim is made once per notes)."""
        if name in self.branches:
            raise ValueError(f"the claim {name!r} is made twice in one set of notes")
        self.branches[name] = bool(condition)
        return if_true if condition else if_false

    def __str__(self) -> str:
        return "\n\n".join(self.paragraphs) + ("\n" if self.paragraphs else "")


# ---------------------------------------------------------------------------------------------
# lessons: what the sheet's question is about, as data


@dataclasses.dataclass(frozen=True)
class Lesson:
    """One lesson of a study: ``metric op target``, with a target for quick and for full runs.

    A target is a number, or the key of another metric (the comparison of two measured values,
    e.g. ReLU at depth 3 against sigmoid at depth 3), to which ``margin`` is added.
    """

    say: str  # the lesson in plain words, e.g. "ReLU at 3 hidden layers beats sigmoid at 3"
    metric: str  # the measured value (a metrics key)
    op: str = ">="  # one of >=, >, <=, <
    quick: float | str | None = None  # target of a --quick run (None: not judged)
    full: float | str | None = None  # target of a full run
    margin: float = 0.0  # added to a metric-valued target: "above PCA by at least margin"
    label: str = ""  # short name of the metric for tables, e.g. "ReLU-3 accuracy"

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"lesson {self.say!r}: op must be one of {', '.join(_OPS)}")

    def keys(self) -> list[str]:
        return [self.metric] + [t for t in (self.quick, self.full) if isinstance(t, str)]

    def holds(self, metrics: Mapping) -> bool:
        """Whether ``metrics`` meet the lesson: the condition a note states when it says what
        the lesson says. Only for a lesson judged alike in quick and full runs."""
        if self.quick != self.full or self.full is None:
            raise ValueError(f"lesson {self.say!r}: its quick and full targets differ, so "
                             "whether it holds depends on the mode")
        return bool(self.judge(metrics, quick=False)["met"])

    def judge(self, metrics: Mapping, *, quick: bool) -> dict:
        """The lesson's record for one run: value, target, met (None if the run is not judged)."""
        target = self.quick if quick else self.full
        measured = float(value(metrics, self.metric))
        record = {"say": self.say, "metric": self.metric, "label": self.label or self.metric,
                  "op": self.op, "value": measured, "target": None, "target_metric": None,
                  "met": None, "mode": "quick" if quick else "full"}
        if target is None:
            return record
        if isinstance(target, str):
            record["target_metric"] = target
            target_value = float(value(metrics, target)) + self.margin
        else:
            target_value = float(target)
        record["target"] = target_value
        record["met"] = bool(_OPS[self.op](measured, target_value))
        return record


_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}
