"""Grading a class: each student's answers file against their variant, marks and reasons out.

:class:`Grader` rebuilds a student's variant from the sheet and the id their file names
(:mod:`stridelab.sheets.variant`), checks every graded value with the grading layer of
:mod:`stridelab.worked` (``Answer.check_value``: right or not, the cells wrong, the slip named,
never an exception for what a student wrote) and shares the task's points out by its credit
rule (:mod:`stridelab.sheets.marks`). Written answers, experiments and the tasks a sheet grades
by hand are listed with their points and, where it can be rendered, their model answer.

Answers are computed once per variant and kept in memory; the checks of each task are kept on
disk (``OUT/.cache/``, JSON keyed by the sheet's draws hash, the seed and the values given), so
grading a class again after one file changed computes only that file's variant.

What stops the grading (one line, exit 2, before anything is written): a file that cannot be
read or is not an answers file, one that names a variant other than its student's (its seed is
not the one the sheet and its student id give), two files of one student.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError, StridelabError
from stridelab.sheets import marks as _marks
from stridelab.sheets.answers import AnswersFile, graded_tasks
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.variant import (
    Variant,
    check_student,
    compute_answer,
    draws_hash,
    make_variant,
    original_of,
    seed_for,
)

__all__ = ["TaskGrade", "HandTask", "StudentGrade", "Grader", "check_files", "CACHE_DIR"]

CACHE_DIR = ".cache"
_CACHE_FORMAT = 1


@dataclass
class TaskGrade:
    """One graded task of one student."""

    task_id: str
    label: str
    points: float | None  # the task's points (None: the sheet gives it none)
    earned: float | None
    checks: list  # ValueCheck per graded value, then any value the task does not have
    shares: list  # the points each check earned (None without points)
    descriptions: dict[str, str] = field(default_factory=dict)  # key -> what the value is

    @property
    def n_graded(self) -> int:
        return len(self.descriptions)

    @property
    def right(self) -> int:
        return sum(1 for c in self.checks[:self.n_graded] if c.correct and not c.problem)


@dataclass
class HandTask:
    """A task graded by hand: its points and the model answer beside it."""

    task_id: str
    label: str
    points: float | None
    why: str  # "a written answer", "an experiment", "graded by hand"
    model: str  # Markdown (may be a line saying why there is none)


@dataclass
class StudentGrade:
    """Everything one answers file earned."""

    student: str
    name: str
    seed: str
    file: str
    tasks: list[TaskGrade]
    by_hand: list[HandTask]
    ignored: list[str] = field(default_factory=list)  # task tables the sheet does not grade

    @property
    def total(self) -> float:
        return sum(t.earned for t in self.tasks if t.earned is not None)

    @property
    def right(self) -> int:
        return sum(t.right for t in self.tasks)

    @property
    def values(self) -> int:
        return sum(t.n_graded for t in self.tasks)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class Grader:
    """Grades answers files against one sheet; answers are computed once per variant.

    ``runs`` (a folder of finished experiment runs, as ``sheet solve`` leaves them) lets the
    model answers of experiment tasks be rendered; ``cache`` is where checks are kept on disk.
    """

    def __init__(self, sheet: Sheet, *, cache: Path | None = None, runs: Path | None = None,
                 quick: bool = False):
        self.sheet = original_of(sheet)
        self.draws = draws_hash(self.sheet)
        self.cache = cache
        self.runs_dir, self.quick = runs, quick
        self._variants: dict[str, Variant] = {}
        self._answers: dict[tuple[str, str], Any] = {}  # (task id, args) -> answer object
        self._models: dict[tuple, str] = {}
        self._records: dict | None = None

    # --------------------------------------------------------------------- variants, answers

    def variant(self, student: str) -> Variant:
        seed = seed_for(self.sheet, student)
        if seed not in self._variants:
            self._variants[seed] = make_variant(self.sheet, student)
        return self._variants[seed]

    def answer(self, variant: Variant, task: Task) -> Any:
        """The answer object of a worked task of ``variant`` (varied ones come with it)."""
        if task.id in variant.answers:
            return variant.answers[task.id]
        concrete = variant.sheet.task(task.id)
        key = (task.id, json.dumps([concrete.args, concrete.spec], default=str))
        if key not in self._answers:
            self._answers[key] = compute_answer(variant.sheet, concrete, data=False)[0]
        return self._answers[key]

    def gradables(self, variant: Variant) -> dict[str, list]:
        """Every worked task's Gradable list for ``variant`` (tasks graded by hand left out)."""
        out = {}
        for task in variant.sheet.tasks:
            if task.kind == "worked" and task.grade != "by hand":
                out[task.id] = self.answer(variant, task).gradable()
        return out

    def check_answers_file(self, answers: AnswersFile) -> None:
        """A file that is this sheet's and its student's (ConfigError, one line, otherwise)."""
        where = str(answers.path)
        if answers.sheet != self.sheet.name:
            raise ConfigError(f"{where}: answers to sheet {answers.sheet!r}, not "
                              f"{self.sheet.name!r}")
        try:
            check_student(answers.student)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        expected = seed_for(self.sheet, answers.student)
        if answers.seed != expected:
            raise ConfigError(f"{where}: names variant {answers.seed[:16]!r}, not the one of "
                              f"student {answers.student!r} ({expected}): written for another "
                              "student or another version of the sheet's numbers")

    # --------------------------------------------------------------------- one file

    def grade(self, answers: AnswersFile, name: str = "") -> StudentGrade:
        """Grade one answers file (checked by :meth:`check_answers_file` first)."""
        self.check_answers_file(answers)
        sheet = self.sheet
        cached = self._read_cache(answers.seed)
        fresh: dict[str, Any] = {}
        variant: Variant | None = None
        tasks: list[TaskGrade] = []
        graded_ids = set()
        for task in sheet.tasks:
            if task.kind != "worked" or task.grade == "by hand":
                continue
            given = answers.answered(task.id)
            key = _sha({"given": given, "grade": task.grade})
            hit = cached.get(task.id)
            if hit is not None and hit.get("given") == key:
                descriptions, checks = hit["descriptions"], [_check(c) for c in hit["checks"]]
            else:
                if variant is None:
                    variant = self.variant(answers.student)
                descriptions, checks = self._check_task(variant, task, given)
                fresh[task.id] = {"given": key, "descriptions": descriptions,
                                  "checks": [asdict(c) for c in checks]}
            if not descriptions:
                continue  # nothing of this task is graded automatically
            graded_ids.add(task.id)
            points = sheet.points.get(task.id)
            earned, shares = _marks.score_task(points, sheet.credit_of(task),
                                               list(descriptions), checks)
            tasks.append(TaskGrade(task.id, task.label, points, earned, checks, shares,
                                   descriptions))
        if fresh:
            self._write_cache(answers.seed, {**cached, **fresh})
        by_hand = [self._hand_task(answers, t) for t in sheet.tasks
                   if t.id not in graded_ids]
        ignored = sorted(t for t in answers.values if t not in graded_ids)
        return StudentGrade(answers.student, name, answers.seed, str(answers.path), tasks,
                            by_hand, ignored)

    def _check_task(self, variant: Variant, task: Task, given: dict
                    ) -> tuple[dict[str, str], list]:
        from stridelab.worked import grading

        answer = self.answer(variant, task)
        gradables = answer.gradable()
        if task.grade != "all":
            gradables = [g for g in gradables if g.key in task.grade]
        known = {g.key for g in answer.gradable()}
        checks = []
        for g in gradables:
            if g.key in given:
                checks.append(answer.check_value(g.key, given[g.key]))
            else:
                checks.append(grading.problem_check(g.key, "", g.literal, g.n_cells,
                                                    "missing", "no value was given"))
        checks += [answer.check_value(k, v) for k, v in given.items() if k not in known]
        return {g.key: g.description for g in gradables}, checks

    # --------------------------------------------------------------------- by hand

    def _hand_task(self, answers: AnswersFile, task: Task) -> HandTask:
        why = {"answer": "a written answer", "experiment": "an experiment"}.get(
            task.kind, "graded by hand")
        points = self.sheet.points.get(task.id)
        try:
            model = self._model(answers.student, task)
        except StridelabError as exc:  # a model answer that cannot be shown never stops grading
            model = f"*No model answer here:* {str(exc).splitlines()[0]}"
        return HandTask(task.id, task.label, points, why, model)

    def _model(self, student: str, task: Task) -> str:
        from stridelab.sheets import refs as _refs
        from stridelab.sheets.loader import answer_texts, resolve_target

        needs, runs_needed = [], []
        texts = answer_texts(task)
        for key, text in texts:
            for ref in _refs.references(text):
                target, _ = resolve_target(self.sheet, task, key, ref)
                if target is not None and target.kind == "worked":
                    needs.append(target)
                elif target is not None:
                    runs_needed.append(target)
        if task.kind == "experiment":
            runs_needed.append(task)
        varies = task.vary or any(t.vary for t in needs)
        cache_key = (task.id, student if varies else "")
        if cache_key in self._models:
            return self._models[cache_key]
        variant = self.variant(student) if varies else None
        sheet = variant.sheet if variant is not None else self.sheet
        records = self._run_records()
        missing = sorted({t.name for t in runs_needed
                          if t.id not in records or records[t.id].status != "ok"})
        parts = []
        if task.kind == "worked":
            from stridelab.sheets.page import _demote_headings

            concrete = sheet.task(task.id)
            parts.append(_demote_headings(compute_answer(sheet, concrete, data=False)[0]
                                          .to_markdown().strip()))
        if missing:
            where = self.runs_dir or "runs"
            parts.append(f"*The model answer reads the runs of {', '.join(missing)}, and no "
                         f"finished run is under `{where}`:* solve the sheet "
                         f"(`stridelab sheet solve {self.sheet.argument}"
                         f"{' --quick' if self.quick else ''}`) and grade with `--runs`.")
        elif texts:
            from stridelab.sheets.results import WorkedResult
            from stridelab.sheets.values import Values

            worked = {}
            for t in {t.id: t for t in needs}.values():
                concrete = sheet.task(t.id)
                a, data = compute_answer(sheet, concrete)
                worked[t.id] = WorkedResult(concrete, a, data, "", [], None)
            values = Values(sheet, worked, records)
            concrete = sheet.task(task.id)
            key, text = answer_texts(concrete)[0]
            parts.append(values.render(concrete, key, text))
        model = "\n\n".join(parts) or "*The sheet file gives no model answer for this task.*"
        self._models[cache_key] = model
        return model

    def _run_records(self) -> dict:
        """The finished runs under ``runs`` that a solve of the sheet would use (once)."""
        if self._records is not None:
            return self._records
        self._records = {}
        if self.runs_dir is None or not Path(self.runs_dir).is_dir():
            return self._records
        from stridelab.experiments import registry
        from stridelab.sheets.plan import SolveOptions
        from stridelab.sheets.run import DataCheck, find_reusable, load_record

        options = SolveOptions(quick=self.quick, runs=Path(self.runs_dir))
        data = DataCheck(options)
        for task in self.sheet.tasks:
            if task.kind != "experiment":
                continue
            experiment = registry.get(task.name)
            config = experiment.make_config(quick=self.quick, overrides=task.set)
            found = find_reusable(experiment, config, options, data)
            if found is not None:
                self._records[task.id] = load_record(task, found, reused=True, seconds=0.0)
        return self._records

    # --------------------------------------------------------------------- the disk cache

    def _cache_path(self, seed: str) -> Path | None:
        if self.cache is None:
            return None
        return self.cache / f"{self.draws[:16]}-{seed}.json"

    def _read_cache(self, seed: str) -> dict:
        path = self._cache_path(seed)
        if path is None or not path.is_file():
            return {}
        from stridelab import __version__

        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        ok = isinstance(doc, dict) and doc.get("format") == _CACHE_FORMAT \
            and doc.get("stridelab") == __version__ and doc.get("draws") == self.draws \
            and doc.get("seed") == seed and isinstance(doc.get("tasks"), dict)
        if not ok:
            return {}
        tasks = {}
        for tid, entry in doc["tasks"].items():  # a damaged entry is computed again
            try:
                [_check(c) for c in entry["checks"]]
                if isinstance(entry["descriptions"], dict) and isinstance(entry["given"], str):
                    tasks[tid] = entry
            except (KeyError, TypeError, ValueError):
                continue
        return tasks

    def _write_cache(self, seed: str, tasks: dict) -> None:
        from stridelab import __version__
        from stridelab.atomic import write_text_atomic

        path = self._cache_path(seed)
        if path is None:
            return
        doc = {"format": _CACHE_FORMAT, "stridelab": __version__, "draws": self.draws,
               "seed": seed, "tasks": tasks}
        try:
            write_text_atomic(path, json.dumps(doc))
        except OSError:
            pass  # a cache that cannot be written costs time, never a grade


_CHECK_FIELDS = ("key", "given", "expected", "correct", "n_cells", "wrong_cells", "slip",
                 "message", "problem")


def _check(d: Any):
    """A ValueCheck from its cached dict (ValueError when it is not one)."""
    from stridelab.worked.grading import ValueCheck

    if not isinstance(d, dict) or set(d) != set(_CHECK_FIELDS):
        raise ValueError("not a ValueCheck")
    ok = isinstance(d["key"], str) and isinstance(d["given"], str) \
        and isinstance(d["expected"], str) and isinstance(d["correct"], bool) \
        and isinstance(d["n_cells"], int) and isinstance(d["wrong_cells"], int) \
        and isinstance(d["message"], str) and (d["slip"] is None or isinstance(d["slip"], str)) \
        and (d["problem"] is None or isinstance(d["problem"], str))
    if not ok:
        raise ValueError("not a ValueCheck")
    return ValueCheck(**d)


def check_files(grader: Grader, files: list[AnswersFile]) -> None:
    """Every file is this sheet's and its student's, and no student has two (ConfigError)."""
    seen: dict[str, str] = {}
    for f in files:
        grader.check_answers_file(f)
        if f.student in seen:
            raise ConfigError(f"{f.path}: a second answers file of student {f.student!r} "
                              f"(the first is {seen[f.student]})")
        seen[f.student] = str(f.path)


def answers_gradables(grader: Grader, variant: Variant) -> dict[str, list]:
    """What an answers file of ``variant`` lists: the graded tasks' Gradables."""
    return {t.id: gs for t, gs in graded_tasks(variant.sheet, grader.gradables(variant))}
