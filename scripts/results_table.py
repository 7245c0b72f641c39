#!/usr/bin/env python
"""Write the generated tables of the README and the documentation from the committed records.

    python scripts/results_table.py [--results results/] [--root .] [--check]

Every measured number that the README and ``docs/`` show in a table comes from here, not from
typing. It reads every ``results/*.json`` (written by ``scripts/record_result.py`` from real
runs), groups the records by study, data set and configuration, and writes each table between
its pair of marker lines ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``:

- ``README.md``, ``results-summary``: one row per study and data set in the full default
  configuration: its headline lesson, how many lessons the n seeds met, the median wall time;
- ``docs/experiments.md``, ``results``: one row per lesson of every group (or per key metric,
  for a study without lessons): the number of seeds n, the measured value (one seed: the value;
  several: the mean and the min–max spread), the target, how many of the n runs met it, and the
  median wall time;
- ``docs/benchmarks.md``, ``time-to-accuracy``: the records that
  ``benchmarks/time_to_accuracy.py --record`` wrote into ``results/benchmarks/``;
- ``docs/engine.md``, ``engine-vs-torch``, and ``docs/kmeans.md``, ``kmeans-vs-sklearn``: what
  ``python benchmarks/engine_vs_torch.py --table`` and ``python benchmarks/kmeans_vs_sklearn.py
  --table`` print from their committed records. A script without a ``--table`` option is
  skipped with a note on stderr, and its block is left as it is.

Files are rewritten only after every table was built, each atomically, and only where a table
changed. With ``--check`` nothing is written, and the exit status is 1 when some file's tables
differ from the records (or a file lacks its markers). A record or a benchmark script that
cannot be read is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
# seconds a benchmark script may take to print its table from the records it reads
TABLE_TIMEOUT_S = 300
HEADER = ("| study | data | config | n | measured | target | met | time |\n"
          "|---|---|---|---|---|---|---|---|")


class TableError(Exception):
    """A record, a benchmark script or a marked file the user can fix."""


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
    commands = [f"- {record['dataset'].get('name', '–')}: `python benchmarks/{record['command']}`"
                for record in records if record.get("command")]
    made = "\n\nMade with:\n\n" + "\n".join(commands) if commands else ""
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts) + made + "\n"


def build_summary_table(records: list[dict]) -> str:
    """The README's compact table: one row per study and data set, full default configuration.

    The headline is the lesson about the study's key metric (else its first lesson, else the
    key metric itself); "lessons met" counts lessons × seeds.
    """
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        key = _group_key(record)
        if key[3] == "full" and not key[4]:  # the default configuration, no --set
            groups.setdefault(key, []).append(record)
    lines = ["| study | data | n | headline | lessons met | time |", "|---|---|---|---|---|---|"]
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2])):
        group = sorted(groups[key], key=lambda r: r.get("seed", 0))
        first, n = group[0], len(group)
        data = (first.get("dataset") or {}).get("name") or "–"
        key_metric = first.get("key_metric") or "test_accuracy"
        lessons = first.get("lessons") or []
        times = [r["wall_time_s"] for r in group
                 if isinstance(r.get("wall_time_s"), (int, float))]
        time = _duration(statistics.median(times)) if times else "–"
        if lessons:
            i = next((k for k, lesson in enumerate(lessons) if lesson.get("metric") == key_metric),
                     0)
            judged = [r["lessons"][i] for r in group if i < len(r.get("lessons") or [])]
            if len(judged) != n:
                raise TableError(f"{first['experiment']} on {data}: the records judge different "
                                 "lessons; record them with one stridelab version")
            headline = f"{_cell(judged[0].get('label') or judged[0]['metric'])} " \
                       f"{summarise([float(j['value']) for j in judged])}"
            targets = [float(j["target"]) for j in judged if j.get("target") is not None]
            if targets:
                headline += f" ({judged[0]['op']} {summarise(targets)})"
            verdicts = [bool(lesson.get("met")) for r in group for lesson in r["lessons"]
                        if lesson.get("target") is not None]
            met = f"{sum(verdicts)}/{len(verdicts)}" if verdicts else "–"
        else:
            values = [r["metrics"].get(key_metric) for r in group]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise TableError(f"{first['experiment']} on {data}: key metric {key_metric!r} is "
                                 "missing or not a number in some records")
            headline, met = f"{key_metric} {summarise([float(v) for v in values])}", "–"
        lines.append(f"| `{first['experiment']}` | {data} | {n} | {headline} | {met} | {time} |")
    return "\n".join(lines) + "\n"


def benchmark_table(root: Path, script: str) -> str | None:
    """What ``python benchmarks/SCRIPT --table`` prints (run in ``root`` against its own
    sources), or None when the script has no ``--table`` option."""
    path = root / "benchmarks" / script
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if '"--table"' not in source:
        return None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"),
                                                      env.get("PYTHONPATH")]))
    try:
        done = subprocess.run([sys.executable, str(path), "--table"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=TABLE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise TableError(f"benchmarks/{script} --table took over {TABLE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise TableError(f"benchmarks/{script} --table failed (exit {done.returncode}): {last}")
    text = done.stdout.strip()
    return text + "\n" if text else ""


class Block(NamedTuple):
    """A generated table and the marked place it goes."""

    path: str  # relative to the root
    name: str  # between <!-- NAME:start --> and <!-- NAME:end -->
    text: str | None  # None: not built (the note says why); the block is left as it is
    note: str = ""


def build_blocks(root: Path, results: Path) -> list[Block]:
    """Every generated table, built from the records (nothing written)."""
    records = load_records(results)
    tta = load_benchmark_records(results)
    blocks = [Block("README.md", "results-summary", build_summary_table(records)),
              Block("docs/experiments.md", "results", build_table(records)),
              Block("docs/benchmarks.md", "time-to-accuracy",
                    build_tta_table(tta) if tta else None,
                    f"no time-to-accuracy records in {results / 'benchmarks'}")]
    for page, script in (("docs/engine.md", "engine_vs_torch.py"),
                         ("docs/kmeans.md", "kmeans_vs_sklearn.py")):
        table = benchmark_table(root, script)  # the README shows it too, one row per CPU kind
        for where in (page, "README.md"):
            blocks.append(Block(where, script.removesuffix(".py").replace("_", "-"), table,
                                f"benchmarks/{script} has no --table option; its table is "
                                "not generated yet"))
    return blocks


def splice(text: str, table: str, name: str, where: str = "the file") -> str:
    """``text`` with ``table`` between the lines ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise TableError(f"{where} needs one {start} line and one {end} line after it")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose README.md and docs/ are written (default: this one)")
    parser.add_argument("--results", type=Path, default=None,
                        help="the records (default: ROOT/results)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a generated table is out of date")
    args = parser.parse_args(argv)
    root = args.root
    results = args.results if args.results is not None else root / "results"
    try:
        blocks = build_blocks(root, results)
    except TableError as exc:
        print(f"results_table: error: {exc}", file=sys.stderr)
        return 2
    originals: dict[str, str] = {}
    updated: dict[str, str] = {}
    stale: list[str] = []
    for block in blocks:
        if block.text is None:
            print(f"results_table: note: {block.note}; {block.path} keeps its "
                  f"{block.name} block as it is", file=sys.stderr)
            continue
        path = root / block.path
        try:
            if block.path not in originals:
                originals[block.path] = path.read_text(encoding="utf-8")
                updated[block.path] = originals[block.path]
            new = splice(updated[block.path], block.text, block.name, block.path)
        except (OSError, UnicodeDecodeError, TableError) as exc:
            reason = exc if isinstance(exc, TableError) else \
                f"{block.path}: cannot read it ({type(exc).__name__})"
            print(f"results_table: {reason}; nothing rewritten", file=sys.stderr)
            return 1 if args.check else 2
        if new != updated[block.path]:
            stale.append(f"{block.path} ({block.name})")
        updated[block.path] = new
    if args.check:
        if stale:
            print(f"results_table: generated tables differ from the records in {results}: "
                  f"{', '.join(stale)}; run scripts/results_table.py", file=sys.stderr)
            return 1
        return 0
    from stridelab.atomic import write_text_atomic

    for rel, text in updated.items():
        if text != originals[rel]:
            write_text_atomic(root / rel, text)
    print(f"results_table: {len(stale)} table(s) rewritten"
          + (f": {', '.join(stale)}" if stale else "; everything was up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
