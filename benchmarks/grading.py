"""Grading a class: 300 students' answers files graded for each built-in sheet, timed.

For each sheet, a roster of N students (``s0000`` …) gets its variants and answers files, made
outside the timing: one file in five right everywhere, one in ten with malformed values (text
that is no number, a wrong shape, a key the task does not have, a TOML value that is no
string), one in ten half blank, and the rest with planted slips: about half of their values
replaced by what a known slip gives, cycling through every slip the grading layer computes for
that value (the kernel flipped, the padding forgotten, a shifted window, the sign, the learning
rate, σ′, the ½, the batch mean, a gradient's sign, floor for ceil, the bias, a formula's
sign or factor …).

Then ``stridelab sheet grade SHEET FILES… --jobs J --no-pdf`` runs in a fresh process per
sheet, as an instructor runs it, with an empty output folder (no cache: every variant's answers
computed), ``--repeats`` times; and once more on the folder it left (the checks cached on disk,
as when grading again after one file changed). The record holds per sheet the median wall time
of the cold runs and the warm one, and their sum over the sheets against the target (60 s on 2
cores), what the grades say (full marks for every right file; the slip named for each planted
value, by kind; the malformed values scored 0 with a reason), the CPU time the grading processes
used (which a busy machine inflates much less than the wall time), the CPU and the load average.

    python benchmarks/grading.py [--students 300] [--jobs 2] [--repeats 3]
    python benchmarks/grading.py --record        # also writes results/benchmarks/grading--300.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np

TARGET_SECONDS = 60.0
ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "benchmarks"
MALFORMED = ["abc", "1 2; 3", "nan", "1e400", "[[1, 2], [3, 4]]", "9" * 600, "\u00e9", "1/0"]


# ---------------------------------------------------------------------------------------------
# values as an answers file writes them


def _num(x) -> str:
    """A number as a student writes the right one (six significant digits, as the blank
    answers file's model does): 2.06115e-09 stays itself, so a slip whose value rounds to the
    right one in six places is not planted as a wrong value."""
    from stridelab.worked.numbers import answer_literal

    if isinstance(x, (bool, np.bool_)):
        return str(int(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, Fraction):
        return str(x) if x.denominator != 1 else str(x.numerator)
    f = float(x)
    return str(int(f)) if f.is_integer() else answer_literal(f)


def _text(values, kind: str) -> str:
    a = np.asarray(values, dtype=object)
    if kind == "vector" or a.ndim == 1:
        return " ".join(_num(x) for x in a.reshape(-1))
    if a.ndim == 0:
        return _num(a.item())
    if a.ndim == 3:
        return " | ".join("; ".join(" ".join(_num(x) for x in r) for r in ch) for ch in a)
    return "; ".join(" ".join(_num(x) for x in row) for row in a)


def _cells(literal: str) -> list[list[str]]:
    return [r.split() for r in literal.split(";")]


def _map_cells(literal: str, fn) -> str:
    return "; ".join(" ".join(fn(c) for c in row) for row in _cells(literal))


def _negated(cell: str) -> str:
    return cell[1:] if cell.startswith("-") else ("-" + cell if cell not in ("0", "0.0") else cell)


# ---------------------------------------------------------------------------------------------
# what a slip gives, computed by the worked package itself


def plantings(task, answer, gradable) -> list[tuple[str, str]]:
    """(slip, value text) for every slip the grading layer computes for this value."""
    kind, lit = gradable.kind, gradable.literal
    out: list[tuple[str, str]] = []
    if kind == "formula":
        out = [("sign", f"-({lit})"), ("factor", f"2*({lit})")]
        return [(s, t) for s, t in out if not answer.check_value(gradable.key, t).correct]
    try:
        if task.command == "conv":
            out = _conv(answer, gradable)
        elif task.command == "shape":
            out = _shape(answer, gradable)
        elif task.command == "backprop":
            out = _backprop(answer, gradable)
        elif kind in ("number", "vector", "matrix") and "x" not in lit:
            out = [("sign", _map_cells(lit, _negated))]
            if "." not in lit:  # an exact value: twice it is exact too
                out.append(("factor", _map_cells(lit, lambda c: str(2 * Fraction(c)))))
    except (ArithmeticError, ValueError, TypeError, IndexError, KeyError):
        pass
    # a slip that gives the right value here (a zero gradient is zero either way) plants nothing
    return [(s, t) for s, t in out
            if t.strip() and not answer.check_value(gradable.key, t).correct]


def _conv(a, g) -> list[tuple[str, str]]:
    from stridelab.worked.conv.check import _alternative, _float_alternative

    i = int(g.key.split(".")[1]) - 1
    res = a.results[i]
    out = [("flipped", _text(_alternative(a, i, mode="convolve").output, g.kind)),
           ("sign", _map_cells(g.literal, _negated)),
           ("padding", _text(_alternative(a, i, padding="valid").output, g.kind))]
    exact = all("." not in c for row in _cells(g.literal) for c in row)
    shifted = _float_alternative(res, a, dj=1)
    out.append(("shifted", _text(np.rint(shifted).astype(int) if exact else shifted, g.kind)))
    if g.kind == "matrix" and len(_cells(g.literal)) == len(_cells(g.literal)[0]):
        out.append(("transposed", _text(np.asarray(res.output, dtype=object).T, g.kind)))
    if res.bias:
        out.append(("bias", _text(_alternative(a, i, bias=0).output, g.kind)))
    if a.activation not in (None, "linear"):
        out.append(("activation", _text(_alternative(a, i, activation="linear").output, g.kind)))
    if a.stride != 1:
        out.append(("stride", _text(_alternative(a, i, stride=1).output, g.kind)))
    if exact:
        rows = _cells(g.literal)
        rows[0][0] = str(Fraction(rows[0][0]) + 1)
        out.append(("arithmetic", "; ".join(" ".join(r) for r in rows)))
    return out


def _shape(a, g) -> list[tuple[str, str]]:
    from stridelab.worked.shape.check import PARAM_SLIPS, SHAPE_SLIPS, _variants

    out = []
    for slip, rows in _variants(a, {**SHAPE_SLIPS, **PARAM_SLIPS}):
        if g.key == "output_shape":
            value = "x".join(str(d) for d in rows[-1].output_shape)
        elif g.key == "total_params":
            total = rows[0].params
            for r in rows[1:]:
                total = total + r.params
            value = str(total)
        else:
            _, n, what = g.key.split(".")
            row = rows[int(n) - 1]
            value = "x".join(str(d) for d in row.output_shape) if what == "shape" \
                else str(row.params)
        out.append((slip, value.replace("Sym(", "").replace(")", "")))
    return out


def _backprop(a, g) -> list[tuple[str, str]]:
    from stridelab.worked.backprop.check import SLIPS, slip_steps

    out = []
    parts = g.key.split(".")
    step = int(parts[1]) if parts[0] == "step" else None
    name = parts[2] if step else parts[0]
    point = int(parts[1]) if not step and len(parts) == 2 else 1
    for slip in SLIPS:
        try:
            run = slip_steps(a.spec, slip)
        except Exception:  # noqa: BLE001 - a slip that does not apply to this network
            continue
        s = run[(step or 1) - 1] if (step or name[0] == "d") else run[-1]
        layer = int(name[-1]) - 1
        if name.startswith("delta"):
            value = s.deltas[point - 1][layer]
        elif name.startswith("d"):
            value = s.grads[layer][0 if name[1] == "W" else 1]
        else:
            value = s.params[layer][0 if name[0] == "W" else 1]
        if value is not None:
            out.append((slip, _text(value, g.kind)))
    if name.startswith("d"):  # a gradient or a δ: ∂L/∂ŷ taken as y − ŷ flips every one of them
        out.append(("grad_sign", _map_cells(g.literal, _negated)))
    return out


# ---------------------------------------------------------------------------------------------
# a class


def make_class(sheet_name: str, n: int, where: Path) -> dict:
    """The answers files of ``n`` students of ``sheet_name`` under ``where``; what was planted."""
    from stridelab.sheets.answers import answers_text
    from stridelab.sheets.grade import Grader, answers_gradables
    from stridelab.sheets.loader import load_sheet

    sheet = load_sheet(sheet_name)
    grader = Grader(sheet)
    planted, profiles, files = [], Counter(), []
    rng = np.random.default_rng(0)
    for i in range(n):
        sid = f"s{i:04d}"
        variant = grader.variant(sid)
        tasks = answers_gradables(grader, variant)
        profile = ("right" if i % 5 == 0 else "malformed" if i % 10 == 1 else
                   "blank" if i % 10 == 3 else "slips")
        profiles[profile] += 1
        filled: dict[str, dict] = {}
        extra: dict[str, dict] = {}
        for t_index, (tid, gs) in enumerate(tasks.items()):
            task = variant.sheet.task(tid)
            answer = grader.answer(variant, task)
            filled[tid] = {}
            for k_index, g in enumerate(gs):
                value = g.literal
                if profile == "blank" and rng.random() < 0.5:
                    value = ""
                elif profile == "malformed" and rng.random() < 0.3:
                    value = MALFORMED[(i + k_index) % len(MALFORMED)]
                    if g.kind == "matrix" and k_index % 2:
                        value = g.literal.rsplit(";", 1)[0]  # a row short: the wrong shape
                elif profile == "slips" and rng.random() < 0.5:
                    options = plantings(task, answer, g)
                    if options:
                        slip, value = options[(i + t_index + k_index) % len(options)]
                        planted.append({"student": sid, "task": tid, "key": g.key,
                                        "slip": slip})
                filled[tid][g.key] = value
            if profile == "malformed" and t_index == 0:
                extra[tid] = {"no_such_value": "3", "flag": True}
        text = answers_text(variant.sheet, sid, variant.seed, tasks, filled)
        for tid, more in extra.items():  # keys a task does not have, a value that is no string
            bare = re.fullmatch(r"[A-Za-z0-9_-]+", tid)
            head = f"[task.{tid if bare else json.dumps(tid)}]\n"
            text = text.replace(head, head + "".join(
                f"{k} = {json.dumps(v)}\n" for k, v in more.items()), 1)
        path = where / sid / "answers.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return {"files": files, "planted": planted, "profiles": dict(profiles)}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grade_once(sheet_name: str, files: list[Path], out: Path, jobs: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``sheet grade`` process and its workers: on a shared
    machine the wall time grows with the load, the CPU time much less."""
    cmd = [sys.executable, "-m", "stridelab", "sheet", "grade", sheet_name,
           *map(str, files), "--out", str(out), "--jobs", str(jobs), "--no-pdf"]
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"grading {sheet_name} failed: {done.stderr.strip()[-500:]}")
    return seconds, _children_cpu() - cpu


def read_outcome(sheet_name: str, out: Path, made: dict) -> dict:
    """What the grades say about the planted slips, the right files and the malformed ones."""
    import csv

    checks: dict[tuple, dict] = {}
    for path in (out / ".cache").glob("*.json"):
        doc = json.loads(path.read_text())
        for tid, entry in doc["tasks"].items():
            for c in entry["checks"]:
                checks[(doc["seed"], tid, c["key"])] = c
    rows = list(csv.DictReader((out / "grades.csv").open()))
    seeds = {r["student"]: r["seed"] for r in rows}
    named, intended, confused = Counter(), Counter(), Counter()
    for p in made["planted"]:
        c = checks.get((seeds[p["student"]], p["task"], p["key"]), {})
        intended[p["slip"]] += 1
        if c.get("slip"):
            named[c["slip"]] += 1
            if c["slip"] != p["slip"]:
                confused[f"{p['slip']} -> {c['slip']}"] += 1
        else:
            confused[f"{p['slip']} -> " + ("right" if c.get("correct") else "none")] += 1
    right_rows = [r for r in rows if int(r["student"][1:]) % 5 == 0]
    full = all(r["values right"] == r["values"] for r in right_rows)
    problems = Counter(c["problem"] for c in checks.values() if c["problem"])
    return {"students": len(rows), "values_checked": len(checks),
            "right_files_full_marks": full, "right_files": len(right_rows),
            "planted_slips": sum(intended.values()),
            "planted_by_kind": dict(sorted(intended.items())),
            "named_by_kind": dict(sorted(named.items())),
            "named_another_or_none": dict(sorted(confused.items())),
            "problems_scored_0": dict(sorted(problems.items())),
            "first_rows": [",".join(r.values()) for r in rows[:4]],
            "header": ",".join(rows[0].keys()) if rows else ""}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _pdf_seconds(out: Path) -> float | None:
    """One feedback page printed as the grader prints it (Chromium), or None without one."""
    from stridelab.report.pdf import print_pdf

    pages = sorted((out / "feedback").glob("*.html"))
    if not pages:
        return None
    start = time.perf_counter()
    reason = print_pdf(pages[0], out / "one.pdf")
    return None if reason else time.perf_counter() - start


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sheets", default="lmu-4,rptu-2,tue-4,tuwien-4,yale-663-2")
    ap.add_argument("--record", metavar="DIR", nargs="?", const=str(RECORDS),
                    help=f"write grading--N.json into DIR (default {RECORDS.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    from stridelab import __version__

    sheets = [s for s in args.sheets.split(",") if s]
    root = Path(tempfile.mkdtemp(prefix="stridelab-grading-"))
    try:
        made = {}
        start = time.perf_counter()
        for name in sheets:
            made[name] = make_class(name, args.students, root / "class" / name)
        make_seconds = time.perf_counter() - start
        load_before = os.getloadavg()
        per_sheet, totals, cpu_sheet, cpu_totals = {}, [], {}, []
        for _ in range(args.repeats):
            total = cpu_total = 0.0
            for name in sheets:
                out = root / "grades" / name
                shutil.rmtree(out, ignore_errors=True)
                seconds, cpu = grade_once(name, made[name]["files"], out, args.jobs)
                per_sheet.setdefault(name, []).append(seconds)
                cpu_sheet.setdefault(name, []).append(cpu)
                total += seconds
                cpu_total += cpu
            totals.append(total)
            cpu_totals.append(cpu_total)
        warm = {name: grade_once(name, made[name]["files"], root / "grades" / name,
                                 args.jobs)[0] for name in sheets}
        load_after = os.getloadavg()
        outcome = {name: read_outcome(name, root / "grades" / name, made[name])
                   for name in sheets}
        pdf = _pdf_seconds(root / "grades" / sheets[0])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    median_total = statistics.median(totals)
    record = {
        "benchmark": "grading",
        "record_version": 1,
        "date": time.strftime("%Y-%m-%d"),
        "version": __version__,
        "command": "grading.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "students_per_sheet": args.students,
        "jobs": args.jobs,
        "repeats": args.repeats,
        "target_seconds": TARGET_SECONDS,
        "median_seconds_all_sheets": round(median_total, 2),
        "meets_target": median_total < TARGET_SECONDS,
        "seconds_all_sheets_per_repeat": [round(t, 2) for t in totals],
        "median_seconds_per_sheet": {n: round(statistics.median(v), 2)
                                     for n, v in per_sheet.items()},
        "median_cpu_seconds_all_sheets": round(statistics.median(cpu_totals), 2),
        "median_cpu_seconds_per_sheet": {n: round(statistics.median(v), 2)
                                         for n, v in cpu_sheet.items()},
        "warm_seconds_per_sheet": {n: round(v, 2) for n, v in warm.items()},
        "warm_seconds_all_sheets": round(sum(warm.values()), 2),
        "feedback_pdf_seconds_one_page": None if pdf is None else round(pdf, 2),
        "making_the_class_seconds": round(make_seconds, 1),
        "profiles": {n: m["profiles"] for n, m in made.items()},
        "outcome": outcome,
        "machine": {"cpu": _cpu_model(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "numpy": np.__version__},
        "load_average": {"before": load_before[0], "after": load_after[0]},
    }
    text = json.dumps(record, indent=2, ensure_ascii=False)
    print(text)
    if args.record:  # atomically: a temporary file renamed into place
        path = Path(args.record) / f"grading--{args.students}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return record


if __name__ == "__main__":
    main()
