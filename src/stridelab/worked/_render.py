"""Render a worked answer's Markdown for where it is read: terminal, Markdown, JSON or HTML.

``emit(answer, args)`` is what every worked command's ``main`` calls: ``--format`` (or
``--json``) chooses the form; without either, a terminal gets the rendered text form and a
pipe or file keeps the Markdown (so ``stridelab conv ... > answer.md`` stays Markdown).
"""

from __future__ import annotations

import argparse
import shutil
import sys

FORMATS = ("text", "markdown", "json", "html")


def add_format_arguments(parser: argparse.ArgumentParser) -> None:
    """--format and --json, shared by every worked command."""
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="text (a terminal's default), markdown (a pipe's default), "
                             "json or html")
    parser.add_argument("--json", action="store_true", help="the same as --format json")


def chosen_format(args: argparse.Namespace, stream=None) -> str:
    if getattr(args, "json", False):
        return "json"
    fmt = getattr(args, "format", None)
    if fmt:
        return fmt
    stream = stream or sys.stdout
    return "text" if getattr(stream, "isatty", lambda: False)() else "markdown"


def render(answer, fmt: str, *, width: int | None = None) -> str:
    if fmt == "json":
        return answer.to_json()
    if fmt == "html":
        return answer.to_html()
    if fmt == "text":
        return answer.to_text(width or shutil.get_terminal_size((100, 24)).columns)
    return answer.to_markdown()


def emit(answer, args: argparse.Namespace, *, extra_lines: list[str] | None = None) -> None:
    """Print ``answer`` in the chosen format (``extra_lines`` follow it, Markdown forms only)."""
    fmt = chosen_format(args)
    text = render(answer, fmt)
    if extra_lines and fmt in ("markdown", "text"):
        text = text.rstrip("\n") + "\n" + "\n".join(extra_lines)
    print(text)


# --- converters (filled in by the rendering module's own functions below) -------------------

def markdown_to_text(markdown: str, width: int = 100) -> str:
    """Markdown with LaTeX as plain text: aligned matrices, Unicode sub/superscripts, wrapped."""
    return markdown  # replaced by the terminal renderer


def markdown_to_html(markdown: str) -> str:
    """A self-contained HTML fragment of ``markdown`` (formulas left for KaTeX)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)


def markdown_to_latex(markdown: str) -> str | None:
    """The answer's display formulas as one LaTeX string (Jupyter's ``_repr_latex_``)."""
    import re

    blocks = re.findall(r"\$\$(.+?)\$\$", markdown, flags=re.S)
    return "\n".join(f"$${b.strip()}$$" for b in blocks) or None
