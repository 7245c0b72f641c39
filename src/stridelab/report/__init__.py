"""The HTML report: one static page built from run artifacts only.

It reads ``status.json``, ``config.json``, ``metrics.json``, ``notes.md``, ``figures/`` and text
artifacts from each run directory; it never imports torch or the experiments. Figures are
embedded as data URIs so the page is a single file that can be mailed or handed in.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.atomic import write_text_atomic

__all__ = ["build_report", "collect_runs", "render_report"]

_TEXT_ARTIFACTS = (".md", ".txt")
_SKIP_FILES = {"notes.md", "log.txt"}


@dataclass
class Run:
    path: Path
    name: str
    status: dict[str, Any]
    config: dict[str, Any]
    metrics: dict[str, Any]
    notes: str
    figures: list[dict[str, str]]
    texts: list[tuple[str, str]]  # (file name, content)
    earlier: list[Path] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _load_run(path: Path) -> Run | None:
    status = _read_json(path / "status.json")
    config = _read_json(path / "config.json")
    if status is None and config is None:
        return None
    status = status or {"experiment": path.name, "status": "running or killed", "reason": ""}
    config = config or {}
    figures_dir = path / "figures"
    index = _read_json(figures_dir / "index.json") or []
    listed = {f["file"] for f in index}
    extra = sorted(p.name for p in figures_dir.glob("*.png") if p.name not in listed) \
        if figures_dir.is_dir() else []
    figures = [f for f in index if (figures_dir / f["file"]).is_file()]
    figures += [{"file": name, "caption": ""} for name in extra]
    texts = []
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.suffix in _TEXT_ARTIFACTS and p.name not in _SKIP_FILES \
                and not p.name.startswith("."):
            texts.append((str(p.relative_to(path)), p.read_text(encoding="utf-8", errors="replace")))
    notes_path = path / "notes.md"
    return Run(path=path, name=status.get("experiment") or config.get("experiment") or path.name,
               status=status, config=config, metrics=_read_json(path / "metrics.json") or {},
               notes=notes_path.read_text(encoding="utf-8") if notes_path.is_file() else "",
               figures=figures, texts=texts)


def collect_runs(runs_dir: str | os.PathLike) -> list[Run]:
    """The newest run of each experiment (older ones listed under it), in `run all` order."""
    runs_dir = Path(runs_dir)
    by_name: dict[str, list[Run]] = {}
    for child in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if child.is_dir() and not child.name.startswith("."):
            run = _load_run(child)
            if run is not None:
                by_name.setdefault(run.name, []).append(run)
    latest = []
    for runs in by_name.values():
        runs.sort(key=lambda r: (r.status.get("finished", ""), r.path.stat().st_mtime))
        newest = runs[-1]
        newest.earlier = [r.path for r in runs[:-1]]
        latest.append(newest)
    latest.sort(key=lambda r: (r.status.get("order", 1000), r.name))
    return latest


# ---------------------------------------------------------------------------------------------
# rendering


_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$", re.S)
_FENCE = re.compile(r"(^```.*?^```[ \t]*$)", re.S | re.M)


def _md(text: str) -> str:
    """Markdown to HTML, with ``$...$`` and ``$$...$$`` kept intact for KaTeX.

    Math is lifted out before Markdown sees it (Markdown would eat ``\\`` and ``_``) and put
    back as ``<span class="math">`` elements that the page renders with the bundled KaTeX.
    """
    from markdown_it import MarkdownIt

    math: list[str] = []
    text = re.sub(r"<!--.*?-->\n?", "", text, flags=re.S)  # authors' comments are not content

    def lift(match: re.Match) -> str:
        display = match.group(1) is not None
        tex = match.group(1) if display else match.group(2)
        math.append(f'<span class="math" data-display="{int(display)}">'
                    f"{html.escape(tex.strip())}</span>")
        return f"MATHTOKEN{len(math) - 1}END"

    pieces = _FENCE.split(text)
    text = "".join(p if p.startswith("```") else _MATH.sub(lift, p) for p in pieces)
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return re.sub(r"MATHTOKEN(\d+)END", lambda m: math[int(m.group(1))], rendered)


def _katex_assets() -> str:
    """KaTeX's stylesheet (fonts inlined as data URIs) and script, for a page with math."""
    root = Path(__file__).with_name("katex")
    css = (root / "katex.min.css").read_text(encoding="utf-8")

    def inline_font(match: re.Match) -> str:
        data = base64.b64encode((root / "fonts" / f"{match.group(1)}.woff2").read_bytes())
        return f'src:url(data:font/woff2;base64,{data.decode("ascii")}) format("woff2")'

    css = re.sub(r'src:url\(fonts/([\w-]+)\.woff2\) format\("woff2"\)(?:,url\([^)]*\) '
                 r'format\("[a-z]+"\))*', inline_font, css)
    js = (root / "katex.min.js").read_text(encoding="utf-8")
    render = """
document.querySelectorAll('span.math').forEach(function (el) {
  katex.render(el.textContent, el, {displayMode: el.dataset.display === '1',
                                    throwOnError: false, strict: 'ignore'});
});"""
    return f"<style>{css}</style>\n<script>{js}</script>\n<script>{render}</script>"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "–"
    return html.escape(str(value))


def _scalar_items(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in metrics.items()
            if isinstance(v, (int, float, str, bool)) or v is None]


def _key_metric(run: Run) -> str:
    key = run.status.get("key_metric", "test_accuracy")
    if run.status.get("status") != "ok":
        return html.escape(run.status.get("reason", ""))[:160]
    value = run.metrics.get(key)
    if value is None:
        return "–"
    out = f"{html.escape(key)} = <b>{_fmt(value)}</b>"
    if "target" in run.metrics:
        met = run.metrics.get("target_met")
        mark = '<span class="ok">✓ met</span>' if met else '<span class="bad">✗ not met</span>'
        out += f" (target {_fmt(run.metrics['target'])}: {mark})"
    return out


def _anchor(name: str) -> str:
    return "run-" + "".join(c if c.isalnum() else "-" for c in name)


def _figure_html(run: Run, fig: dict[str, str]) -> str:
    data = (run.path / "figures" / fig["file"]).read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    caption = html.escape(fig.get("caption") or fig["file"])
    return (f'<figure><img src="{uri}" alt="{caption}" loading="lazy">'
            f"<figcaption>{caption}</figcaption></figure>")


def _section(run: Run) -> str:
    status = run.status.get("status", "?")
    parts = [f'<section id="{_anchor(run.name)}"><h2>{html.escape(run.name)} '
             f'<span class="badge {html.escape(status)}">{html.escape(status)}</span></h2>']
    if run.status.get("description"):
        parts.append(f'<p class="desc">{html.escape(run.status["description"])}</p>')
    if run.status.get("reason"):
        parts.append(f'<p class="reason">{html.escape(run.status["reason"])}</p>')
    if run.notes:
        parts.append(f'<div class="notes">{_md(run.notes)}</div>')
    for fig in run.figures:
        parts.append(_figure_html(run, fig))
    scalars = _scalar_items(run.metrics)
    if scalars:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in scalars)
        parts.append(f'<h3>Metrics</h3><table class="kv">{rows}</table>')
    nested = {k: v for k, v in run.metrics.items() if (k, v) not in scalars}
    if nested:
        parts.append("<details><summary>all metrics (JSON)</summary><pre>"
                     f"{html.escape(json.dumps(nested, indent=1)[:20000])}</pre></details>")
    for name, text in run.texts:
        body = _md(text) if name.endswith(".md") else f"<pre>{html.escape(text[:20000])}</pre>"
        parts.append(f'<details class="artifact"><summary>{html.escape(name)}</summary>'
                     f"{body}</details>")
    env = run.config.get("environment", {})
    data = run.config.get("dataset") or {}
    env_rows = [("seed", run.config.get("seed")), ("quick", run.config.get("quick")),
                ("device", env.get("device")), ("data set", data.get("name")),
                ("data sha256", data.get("sha256")), ("python", env.get("python")),
                ("numpy", env.get("numpy")), ("torch", env.get("torch")),
                ("scikit-learn", env.get("sklearn")), ("stridelab", env.get("stridelab")),
                ("time", f"{run.status.get('seconds', 0):.1f} s"),
                ("run directory", str(run.path))]
    rows = "".join(f"<tr><th>{k}</th><td>{_fmt(v)}</td></tr>" for k, v in env_rows if v is not None)
    parts.append(f'<details><summary>configuration and environment</summary>'
                 f'<table class="kv">{rows}</table><pre>'
                 f"{html.escape(json.dumps(run.config.get('config', {}), indent=1))}</pre>"
                 f"<p>command: <code>{html.escape(run.config.get('command', ''))}</code></p>"
                 "</details>")
    if run.earlier:
        parts.append("<p class='earlier'>earlier runs: "
                     + ", ".join(html.escape(str(p)) for p in run.earlier) + "</p>")
    parts.append("</section>")
    return "\n".join(parts)


# an inline icon: a page that asks its server for /favicon.ico logs a 404 in the console
_FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
            "%3Crect width='16' height='16' rx='3' fill='%233b7dd8'/%3E%3Cpath d='M4 4h8v8H4z' "
            "fill='none' stroke='white' stroke-width='1.5'/%3E%3C/svg%3E")

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#1d2329;line-height:1.5}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #e3e7ec;padding-bottom:.2em;margin-top:2.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #d8dde3;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f4f6f8}
table.index td:nth-child(4){text-align:right}
figure{margin:1em 0;text-align:center}figure img{max-width:100%;border:1px solid #e3e7ec}
figcaption{font-size:.9em;color:#555}.badge{font-size:.6em;padding:.2em .6em;border-radius:.6em;
vertical-align:middle;color:#fff;background:#888}.badge.ok{background:#2a8a4a}
.badge.failed{background:#c0392b}.badge.skipped{background:#c58b00}.ok{color:#2a8a4a}.bad{color:#c0392b}
.desc{color:#444;font-style:italic}.reason{background:#fff7e0;padding:.5em;border-left:3px solid #c58b00}
.notes{background:#f6f9fc;border-left:3px solid #3b7dd8;padding:.2em 1em}
pre{background:#f4f6f8;padding:.6em;overflow-x:auto;font-size:.85em}
details{margin:.5em 0}summary{cursor:pointer;color:#3b7dd8}code{background:#f4f6f8;padding:0 .2em}
.earlier{font-size:.85em;color:#777}
span.math[data-display="1"]{display:block;overflow-x:auto;margin:.6em 0}
"""


def render_report(runs: list[Run], title: str = "stridelab report") -> str:
    """The whole page as a string."""
    counts = {s: sum(r.status.get("status") == s for r in runs) for s in ("ok", "skipped", "failed")}
    rows = []
    for run in runs:
        status = html.escape(run.status.get("status", "?"))
        rows.append(f'<tr><td><a href="#{_anchor(run.name)}">{html.escape(run.name)}</a></td>'
                    f'<td><span class="badge {status}">{status}</span></td>'
                    f"<td>{_key_metric(run)}</td>"
                    f"<td>{run.status.get('seconds', 0):.1f} s</td></tr>")
    envs = [r.config.get("environment", {}) for r in runs if r.config.get("environment")]
    env = envs[0] if envs else {}
    env_line = ", ".join(f"{k} {env[k]}" for k in ("python", "numpy", "torch", "sklearn", "device")
                         if env.get(k))
    generated = time.strftime("%Y-%m-%d %H:%M")
    body = "\n".join(_section(run) for run in runs)
    math = _katex_assets() if 'class="math"' in body else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{_FAVICON}">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{len(runs)} experiments: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed.
Generated {generated}. Environment: {html.escape(env_line)}.</p>
<table class="index"><thead><tr><th>experiment</th><th>status</th><th>key metric (target)</th>
<th>time</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
{body}
{math}
</body></html>
"""


def build_report(runs_dir: str | os.PathLike, out_file: str | os.PathLike) -> Path:
    """Write the report for every run under ``runs_dir`` to ``out_file`` (atomically)."""
    runs = collect_runs(runs_dir)
    return write_text_atomic(out_file, render_report(runs))
