"""``stridelab report``: one page for every run, built on :mod:`stridelab.report.render`.

The title block says whether the runs were quick (``--quick``) or full, how many lessons were
met, and where the full-run records come from. The index lists each experiment with its lessons
in plain words (the lesson, the measured value, its target, met or not) and, for a quick run,
the full-run value from the committed result records. Each experiment then has a section: the
lessons as a table of quick against full values, its notes, its figures, its metrics and its
configuration, all expanded. A damaged run is listed with its reasons (see
:mod:`stridelab.report.runs`); nothing in a run directory is trusted.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stridelab.errors import ConfigError, StridelabError
from stridelab.report.render import (
    Figure,
    Section,
    generated_stamp,
    render_document,
    write_document,
)
from stridelab.report.runs import Record, Run, collect_runs, default_results_dir, load_records

__all__ = ["build_report", "render_report", "format_value"]

_OP_SIGN = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
_STATE_KIND = {"ok": "ok", "skipped": "warn", "failed": "fail", "damaged": "fail"}
_MAX_JSON_SHOWN = 20_000  # characters of nested metrics / config shown
_MAX_TEXT_SHOWN = 200_000  # characters of one text artifact shown


# ---------------------------------------------------------------------------------------------
# numbers and small pieces

def format_value(v: Any) -> str:
    """A measured value as plain text: 4 significant digits, scientific when tiny or huge."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) < 10**15 else f"{v:.3e}"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == 0:
            return "0"
        return f"{v:.3g}" if abs(v) >= 1e5 or abs(v) < 1e-3 else f"{v:.4g}"
    if v is None:
        return "–"
    return str(v)[:200]


def _e(v: Any) -> str:
    return html.escape(format_value(v))


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{html.escape(text)}</span>'


def _met_badge(met: bool | None) -> str:
    if met is None:
        return _badge("not judged", "info")
    return _badge("met", "ok") if met else _badge("not met", "fail")


def _target_text(lesson: dict) -> str:
    target = lesson.get("target")
    if target is None:
        return "no target"
    return f"{_OP_SIGN.get(lesson.get('op', '>='), '≥')} {format_value(target)}"


def _label(lesson: dict) -> str:
    return str(lesson.get("label") or lesson.get("metric"))


def _anchor(name: str) -> str:
    return "run-" + "".join(c if c.isalnum() else "-" for c in name)


def verdict(run: Run) -> tuple[str, str]:
    """The badge of a run: its lessons' outcome when it ran, else its state."""
    state = run.state
    if state != "ok":
        return state, _STATE_KIND.get(state, "warn")
    judged = [lesson["met"] for lesson in run.lessons if lesson.get("met") is not None]
    if not judged:
        return "ok", "ok"
    return ("met", "ok") if all(judged) else ("not met", "fail")


# ---------------------------------------------------------------------------------------------
# full-run values from the result records

def _full_groups(run: Run, records: Sequence[Record], metric: str) -> list[dict]:
    """The records' values of ``metric`` for ``run``'s experiment, one group per data set.

    The group of the run's own data set comes first.
    """
    groups: dict[str | None, dict] = {}
    for record in records:
        if record.name != run.name:
            continue
        value, lesson = record.value(metric)
        if value is None:
            continue
        group = groups.setdefault(record.dataset, {"dataset": record.dataset, "values": [],
                                                   "lessons": [], "files": []})
        group["values"].append(value)
        group["files"].append(record.file)
        if lesson is not None:
            group["lessons"].append(lesson)
    return sorted(groups.values(), key=lambda g: (g["dataset"] != run.dataset,
                                                  str(g["dataset"])))


def _group_text(group: dict) -> str:
    values = group["values"]
    finite = [v for v in values if math.isfinite(v)]
    if len(values) == 1 or not finite:
        text = format_value(values[0])
    else:
        mean = sum(finite) / len(finite)
        text = (f"mean {format_value(mean)} (n = {len(values)}, "
                f"{format_value(min(finite))}–{format_value(max(finite))})")
    if group["dataset"]:
        text += f" on {group['dataset']}"
    judged = [lesson["met"] for lesson in group["lessons"] if lesson.get("met") is not None]
    if group["lessons"]:
        text += f", target {_target_text(group['lessons'][0])}"
    if judged:
        n_met = sum(judged)
        text += (": met" if n_met == len(judged) else ": not met" if n_met == 0
                 else f": met in {n_met} of {len(judged)}")
    return text


def _full_text(run: Run, records: Sequence[Record], metric: str, *, short: bool = False) -> str:
    groups = _full_groups(run, records, metric)
    if not groups:
        return "no full-run record"
    if short:
        return "full run: " + _group_text(groups[0])
    return "; ".join(_group_text(g) for g in groups)


# ---------------------------------------------------------------------------------------------
# the index

def _index_cell(run: Run, records: Sequence[Record]) -> str:
    state = run.state
    if state == "damaged":
        return "damaged: " + html.escape("; ".join(run.damage))[:400]
    if state != "ok":
        return html.escape(str(run.status.get("reason", "")))[:300]
    if run.lessons:
        lines = []
        for lesson in run.lessons:
            line = (f"{html.escape(str(lesson['say']))}: {html.escape(_label(lesson))} "
                    f"<b>{_e(lesson['value'])}</b>, target {html.escape(_target_text(lesson))} "
                    f"{_met_badge(lesson.get('met'))}")
            if lesson.get("mode") == "quick":
                line += (' <span class="muted">· '
                         f"{html.escape(_full_text(run, records, lesson['metric'], short=True))}"
                         "</span>")
            lines.append(f"<div>{line}</div>")
        return "".join(lines)
    key = str(run.status.get("key_metric", "test_accuracy"))
    value = run.metrics.get(key)
    if value is None:
        return "–"
    out = f"{html.escape(key)} = <b>{_e(value)}</b>"
    if "target" in run.metrics:  # runs written before lessons.json existed
        out += f" (target {_e(run.metrics['target'])}: {_met_badge(run.metrics.get('target_met'))})"
    return out


def _index_table(runs: Sequence[Run], records: Sequence[Record]) -> str:
    rows = []
    for run in runs:
        text, kind = verdict(run)
        seconds = run.status.get("seconds")
        time_cell = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) \
            and math.isfinite(seconds) else "–"
        rows.append(f'<tr><td><a href="#{_anchor(run.name)}">{html.escape(run.name)}</a></td>'
                    f"<td>{_badge(text, kind)}{' ' + _badge('quick', 'info') if run.quick else ''}"
                    f"</td><td>{_index_cell(run, records)}</td>"
                    f'<td class="num">{time_cell}</td></tr>')
    return ('<table class="index"><thead><tr><th>experiment</th><th>outcome</th>'
            "<th>lesson: measured value and target</th><th>time</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


# ---------------------------------------------------------------------------------------------
# one experiment

def _lessons_table(run: Run, records: Sequence[Record]) -> str:
    if not run.lessons:
        return ""
    mode = "quick run" if run.quick else "this run"
    data = f", {html.escape(run.dataset)}" if run.dataset else ""
    rows = []
    for lesson in run.lessons:
        target = html.escape(_target_text(lesson))
        if lesson.get("target_metric"):
            target += (' <span class="muted">(from the measured '
                       f"<code>{html.escape(str(lesson['target_metric']))}</code>)</span>")
        rows.append(f"<tr><td>{html.escape(str(lesson['say']))}<br><span class=\"muted\">"
                    f"{html.escape(_label(lesson))}</span></td>"
                    f'<td class="num">{_e(lesson["value"])}</td><td>{target}</td>'
                    f"<td>{_met_badge(lesson.get('met'))}</td>"
                    f"<td>{html.escape(_full_text(run, records, str(lesson['metric'])))}</td></tr>")
    return ('<table class="lessons"><thead><tr><th>lesson</th>'
            f"<th>{mode}{data}</th><th>target</th><th></th>"
            "<th>full runs (result records)</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _json_block(obj: Any) -> str:
    try:
        text = json.dumps(obj, indent=1, ensure_ascii=False)
    except (RecursionError, ValueError):
        return '<p class="muted">(too deeply nested to show)</p>'
    if len(text) > _MAX_JSON_SHOWN:
        text = text[:_MAX_JSON_SHOWN] + f"\n… ({len(text) - _MAX_JSON_SHOWN:,} more characters)"
    return f"<pre>{html.escape(text)}</pre>"


def _metrics_html(run: Run) -> str:
    scalars = [(k, v) for k, v in run.metrics.items()
               if isinstance(v, (int, float, str, bool)) or v is None]
    parts = []
    if scalars:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td class=\"num\">{_e(v)}</td></tr>"
                       for k, v in scalars)
        parts.append(f'<h3>Metrics</h3><table class="kv">{rows}</table>')
    nested = {k: v for k, v in run.metrics.items() if not any(k == s for s, _ in scalars)}
    if nested:
        parts.append("<h4>Other measured values (JSON)</h4>" + _json_block(nested))
    if run.earlier:
        parts.append('<p class="muted">earlier runs: '
                     + ", ".join(html.escape(p.name) for p in run.earlier) + "</p>")
    return "\n".join(parts)


def _config_html(run: Run) -> str:
    env = run.config.get("environment") or {}
    data = run.config.get("dataset") or {}
    seconds = run.status.get("seconds")
    rows = [("seed", run.config.get("seed")), ("quick", run.config.get("quick")),
            ("configuration", run.config.get("mode")),
            ("device", env.get("device")), ("data set", data.get("name")),
            ("data sha256", data.get("sha256")), ("python", env.get("python")),
            ("numpy", env.get("numpy")), ("torch", env.get("torch")),
            ("scikit-learn", env.get("sklearn")), ("stridelab", env.get("stridelab")),
            ("time", f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else None),
            ("run directory", run.path.name)]
    table = "".join(f"<tr><th>{k}</th><td>{_e(v)}</td></tr>" for k, v in rows if v is not None)
    parts = [f'<table class="kv">{table}</table>']
    if run.config.get("config"):
        parts.append(_json_block(run.config["config"]))
    if run.config.get("command"):
        parts.append(f"<p>command: <code>{html.escape(run.config['command'][:2000])}</code></p>")
    return "\n".join(parts)


def _head_html(run: Run, records: Sequence[Record]) -> str:
    parts = []
    if run.status.get("description"):
        parts.append(f'<p class="desc">{html.escape(run.status["description"])}</p>')
    if run.status.get("reason"):
        parts.append(f'<p class="reason">{html.escape(run.status["reason"])}</p>')
    if run.damage:
        items = "".join(f"<li>{html.escape(reason)}</li>" for reason in run.damage)
        parts.append('<div class="damaged"><b>This run directory is damaged</b>; what could not '
                     f"be trusted is left out:<ul>{items}</ul></div>")
    if run.omitted:
        parts.append('<p class="muted">Not shown: ' + html.escape("; ".join(run.omitted))
                     + ".</p>")
    parts.append(_lessons_table(run, records))
    return "\n".join(p for p in parts if p)


def _sections(run: Run, records: Sequence[Record]) -> list[Section]:
    text, kind = verdict(run)
    figures = [Figure(path=Path(name), caption=caption or name, data=data)
               for name, caption, data in run.figures]
    out = [Section(title=run.name, markdown=run.notes, figures=figures, level=2,
                   anchor=_anchor(run.name), badge=text, badge_kind=kind,
                   html_before=_head_html(run, records), html=_metrics_html(run),
                   css_class="experiment")]
    for name, content in run.texts:
        if len(content) > _MAX_TEXT_SHOWN:
            content = content[:_MAX_TEXT_SHOWN]
            note = f'<p class="muted">(the first {_MAX_TEXT_SHOWN:,} characters)</p>'
        else:
            note = ""
        if name.endswith(".md"):
            out.append(Section(title=f"{run.name}: {name}", markdown=content, level=3,
                               html=note, css_class="artifact"))
        else:
            out.append(Section(title=f"{run.name}: {name}", level=3, css_class="artifact",
                               html=f"<pre>{html.escape(content)}</pre>{note}"))
    if run.config or run.status:
        out.append(Section(title=f"{run.name}: configuration and environment", level=3,
                           html=_config_html(run), css_class="configuration"))
    return out


# ---------------------------------------------------------------------------------------------
# the page

def _environment_line(runs: Sequence[Run]) -> str:
    for run in runs:
        env = run.config.get("environment")
        if isinstance(env, dict) and env:
            return ", ".join(f"{k} {env[k]}" for k in ("python", "numpy", "torch", "sklearn",
                                                       "device")
                             if isinstance(env.get(k), (str, int, float)))
    return ""


def render_report(runs: Sequence[Run], records: Sequence[Record] = (), *,
                  title: str = "stridelab report", record_problems: Sequence[str] = (),
                  results_dir: Path | None = None, runs_dir: Path | None = None) -> str:
    """The report page for ``runs`` (from :func:`collect_runs`) as a string.

    ``records`` are the full-run result records shown beside quick runs' lessons;
    ``record_problems`` the reasons some record files were not used.
    """
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.state] = counts.get(run.state, 0) + 1
    order = ("ok", "skipped", "failed", "damaged", "running or killed")
    count_text = ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))
    n_quick = sum(run.quick for run in runs)
    judged = [lesson["met"] for run in runs if run.state == "ok" for lesson in run.lessons
              if lesson.get("met") is not None]
    if n_quick:
        subtitle = (f"quick run: {n_quick} of {len(runs)} runs used the --quick configuration; "
                    "their lessons are judged against the quick targets, with the full runs' "
                    "values from the result records beside them")
    else:
        subtitle = "full runs"
    meta: list[tuple[str, str]] = [
        ("experiments", f"{len(runs)}: {count_text}" if count_text else "0")]
    if judged:
        meta.append(("lessons", f"{sum(judged)} of {len(judged)} judged lessons met"))
    if records:
        where = f" in {results_dir}" if results_dir else ""
        meta.append(("full-run records", f"{len(records)} result record"
                     f"{'s' if len(records) != 1 else ''}{where}"))
    else:
        meta.append(("full-run records", "no full-run record"
                     + (f" in {results_dir}" if results_dir else " (no results/ directory)")))
    if record_problems:
        shown = "; ".join(record_problems[:5])
        more = f" (and {len(record_problems) - 5} more)" if len(record_problems) > 5 else ""
        meta.append(("damaged records", shown + more))
    env = _environment_line(runs)
    if env:
        meta.append(("environment", env))
    meta.append(("generated", generated_stamp()))
    if runs_dir is not None:
        meta.append(("run directory", str(runs_dir)))
    sections = [Section(title="Experiments", html=_index_table(runs, records), anchor="index",
                        css_class="index")]
    for run in runs:
        sections.extend(_sections(run, records))
    return render_document(title, sections, subtitle=subtitle,
                           meta=meta, toc=False)


def build_report(runs_dir: str | os.PathLike, out_file: str | os.PathLike, *,
                 results: str | os.PathLike | None = None) -> Path:
    """Write the report for every run under ``runs_dir`` to ``out_file`` (atomically).

    ``results`` is the directory of full-run result records (``*.json``); by default the
    ``results/`` directory of the source checkout, when there is one. Raises
    :class:`~stridelab.errors.StridelabError` when ``runs_dir`` holds no run at all.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise StridelabError(f"{runs_dir}: no such directory; run an experiment first "
                             "(`stridelab run all --quick`)")
    if results is not None:
        results_dir: Path | None = Path(results)
        if not results_dir.is_dir():
            raise ConfigError(f"--results {results}: no such directory of result records")
    else:
        results_dir = default_results_dir()
    runs = collect_runs(runs_dir)
    if not runs:
        raise StridelabError(f"{runs_dir}: nothing to report (no run directory with a "
                             "status.json or config.json); run an experiment first "
                             "(`stridelab run all --quick`)")
    records, problems = load_records(results_dir)
    page = render_report(runs, records, record_problems=problems, results_dir=results_dir,
                         runs_dir=runs_dir)
    return write_document(Path(out_file), page)

