#!/usr/bin/env python
"""Build the README's measured-results table from the committed result records.

    python scripts/results_table.py [--results results/] [--readme README.md] [--check]

reads every ``results/*.json`` (written by ``scripts/record_result.py`` from real runs),
groups the records by study, data set and configuration, and prints one Markdown row per
lesson of each group (or per key metric, for a study without lessons): the number of seeds
n, the measured value (one seed: the value; several: the mean and the min–max spread), the
target, how many of the n runs met it, and the median wall time. The table is printed to
stdout and written into README.md between the lines ``<!-- results:start -->`` and
``<!-- results:end -->``; the time-to-accuracy records in ``results/benchmarks/`` (written
by ``benchmarks/time_to_accuracy.py --record``) become the table between
``<!-- time-to-accuracy:start -->`` and ``<!-- time-to-accuracy:end -->``. With ``--check``
nothing is written; the exit status is 1 when the README's tables differ from the records (or
the README has no markers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"
TTA_START, TTA_END = "<!-- time-to-accuracy:start -->", "<!-- time-to-accuracy:end -->"
HEADER = ("| study | data | config | n | measured | target | met | time |\n"
          "|---|---|---|---|---|---|---|---|")


class TableError(Exception):
    """A record or README the user can fix."""


def load_records(results: Path) -> list[dict]:
    """Every record in ``results`` (sorted by file name)."""
    if not results.is_dir():
        raise TableError(f"--results {results}: no such directory")
    records = []
    for path in sorted(results.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TableError(f"{path}: unreadable ({type(exc).__name__})") from None
        if not isinstance(record, dict) or "experiment" not in record \
                or not isinstance(record.get("metrics"), dict):
            raise TableError(f"{path}: not a result record (see scripts/record_result.py)")
        records.append(record)
    return records


def _g(x: float) -> str:
    return f"{x:.4g}"


def summarise(values: list[float]) -> str:
    """One value (or equal ones) as itself; several as "mean (min–max)": [0.5, 0.75, 1.0] gives
    "0.75 (0.5–1)"."""
    if len(set(values)) == 1:  # one seed, or seeds that agree exactly
        return _g(values[0])
    return f"{_g(statistics.fmean(values))} ({_g(min(values))}–{_g(max(values))})"


def _cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: a label such as "max |a − b|" keeps its bars
    as characters instead of splitting the row."""
    return str(text).replace("|", "\\|")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _config_label(record: dict) -> str:
    parts = [] if record.get("mode", "full") == "full" else [record["mode"]]
    parts += [f"`--set {k}={v}`" for k, v in sorted((record.get("overrides") or {}).items())]
    return ", ".join(parts) or "full"


def _group_key(record: dict) -> tuple:
    dataset = (record.get("dataset") or {}).get("name") or "–"
    return (record.get("order") if isinstance(record.get("order"), int) else 1000,
            record["experiment"], dataset, record.get("mode", "full"),
            tuple(sorted((record.get("overrides") or {}).items())))


def _rows_of_group(records: list[dict]) -> list[str]:
    first = records[0]
    n = len(records)
    study, data = f"`{first['experiment']}`", (first.get("dataset") or {}).get("name") or "–"
    config = _config_label(first)
    times = [r["wall_time_s"] for r in records if isinstance(r.get("wall_time_s"), (int, float))]
    time = _duration(statistics.median(times)) if times else "–"
    rows = []
    lessons = [lesson.get("metric") for lesson in first.get("lessons") or []]
    for i, metric in enumerate(lessons):
        judged = [r["lessons"][i] for r in records
                  if i < len(r.get("lessons") or []) and r["lessons"][i].get("metric") == metric]
        if len(judged) != n:
            raise TableError(f"{first['experiment']} on {data}: the records judge different "
                             "lessons; record them with one stridelab version")
        label = _cell(judged[0].get("label") or metric)
        measured = f"{label} {summarise([float(j['value']) for j in judged])}"
        targets = [j["target"] for j in judged if j.get("target") is not None]
        if targets:
            target = f"{judged[0]['op']} {summarise([float(t) for t in targets])}"
            if judged[0].get("target_metric"):
                target += f" ({judged[0]['target_metric']})"
            met = f"{sum(bool(j.get('met')) for j in judged)}/{n}"
        else:
            target, met = "–", "–"
        rows.append(f"| {study} | {data} | {config} | {n} | {measured} | {target} | {met} "
                    f"| {time} |")
    if not rows:  # no lessons: the key metric, with the run's own target when it set one
        key = first.get("key_metric") or "test_accuracy"
        values = [r["metrics"].get(key) for r in records]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise TableError(f"{first['experiment']} on {data}: key metric {key!r} is missing "
                             "or not a number in some records")
        targets = [r["metrics"].get("target") for r in records]
        numeric = all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in targets)
        target = f">= {summarise([float(t) for t in targets])}" if numeric else "–"
        met = f"{sum(bool(r['metrics'].get('target_met')) for r in records)}/{n}" \
            if numeric else "–"
        rows.append(f"| {study} | {data} | {config} | {n} | "
                    f"{key} {summarise([float(v) for v in values])} | {target} | {met} "
                    f"| {time} |")
    return rows


def build_table(records: list[dict]) -> str:
    """The Markdown table of ``records`` (header only when there are none)."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault(_group_key(record), []).append(record)
    lines = [HEADER]
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3] != "full", k[3], k[4])):
        group = sorted(groups[key], key=lambda r: r.get("seed", 0))
        lines += _rows_of_group(group)
    return "\n".join(lines) + "\n"


def load_benchmark_records(results: Path) -> list[dict]:
    """The records ``benchmarks/time_to_accuracy.py --record`` wrote into ``results/benchmarks``
    (none when that directory does not exist)."""
    folder = results / "benchmarks"
    records = []
    for path in sorted(folder.glob("time-to-accuracy--*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TableError(f"{path}: unreadable ({type(exc).__name__})") from None
        if not isinstance(record, dict) or record.get("benchmark") != "time-to-accuracy" \
                or not all(isinstance(record.get(k), dict)
                           for k in ("stridelab", "reference", "dataset")):
            raise TableError(f"{path}: not a time-to-accuracy record "
                             "(see benchmarks/time_to_accuracy.py)")
        records.append(record)
    return records


def _seconds(value) -> str:
    return "not reached" if value is None else _duration(float(value))


def build_tta_table(records: list[dict]) -> str:
    """The time-to-accuracy tables: per data set and recipe, the best test accuracy, the
    training time to 0.99, to stridelab's target and to the best, and the FLOP utilisation;
    then each target's ratio and verdict."""
    lines = ["| data | recipe | epochs | best test accuracy | to 0.99 | to target | to best "
             "| FLOP/s ÷ sgemm | threads | CPU |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = ["| data | target | measured ratio | met |", "|---|---|---|---|"]
    for record in records:
        data = record["dataset"].get("name", "–")
        if record.get("quick"):
            data += " (quick)"
        target = record.get("target_accuracy")
        cpu = (record.get("machine") or {}).get("cpu") or "–"
        for name in ("stridelab", "reference"):
            r = record[name]
            reached = r.get(f"time_to_{target}_s") if name == "stridelab" else None
            lines.append(
                f"| {data} | {name} | {r['epochs']} | {r['best_accuracy']:.4f} "
                f"| {_seconds(r.get('time_to_0.99_s'))} "
                f"| {_seconds(reached) + f' ({target})' if name == 'stridelab' else '–'} "
                f"| {_seconds(r.get('time_to_best_s'))} | {r['flop_utilisation']:.2f} "
                f"| {record.get('threads', '–')} | {cpu} |")
        for v in record.get("verdicts") or []:
            ratio = "not reached" if v.get("ratio") is None else f"{v['ratio']:.2f}"
            verdicts.append(f"| {data} | {v['target']} | {ratio} | "
                            f"{'met' if v.get('met') else 'not met'} |")
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"


def splice(readme: str, table: str, start: str = START, end: str = END) -> str:
    """``readme`` with ``table`` between the markers ``start`` and ``end``."""
    if readme.count(start) != 1 or readme.count(end) != 1 \
            or readme.index(start) > readme.index(end):
        raise TableError(f"the README needs one {start} line and one {end} line after it")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="results", help="records (default: results)")
    parser.add_argument("--readme", default="README.md", help="README to rewrite")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when the README's table is out of date")
    args = parser.parse_args(argv)
    try:
        table = build_table(load_records(Path(args.results)))
        tta = load_benchmark_records(Path(args.results))
        tta_table = build_tta_table(tta) if tta else None
    except TableError as exc:
        print(f"results_table: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(table + (f"\n{tta_table}" if tta_table else ""))
    readme = Path(args.readme)
    try:
        text = readme.read_text(encoding="utf-8")
        updated = splice(text, table)
        if tta_table is not None:
            updated = splice(updated, tta_table, TTA_START, TTA_END)
    except (OSError, UnicodeDecodeError, TableError) as exc:
        reason = exc if isinstance(exc, TableError) else f"cannot read it ({type(exc).__name__})"
        print(f"results_table: {readme}: {reason}; nothing rewritten", file=sys.stderr)
        return 1 if args.check else 2
    if args.check:
        if updated != text:
            print(f"results_table: {readme}'s results table differs from the records in "
                  f"{args.results}; run scripts/results_table.py", file=sys.stderr)
            return 1
        return 0
    if updated != text:
        from stridelab.atomic import write_text_atomic

        write_text_atomic(readme, updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
