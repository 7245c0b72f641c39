"""The one renderer of stridelab's documents: HTML (and PDF through Chromium) from artifacts only.

- :mod:`stridelab.report.render`: :class:`Section`, :class:`Figure`, :func:`render_document`,
  :func:`write_document` — a self-contained page (figures inlined, bundled KaTeX, print
  stylesheet) from titled sections of Markdown with LaTeX;
- :mod:`stridelab.report.pdf`: :func:`print_pdf` — that page printed by headless Chromium;
- :mod:`stridelab.report.runs`: run directories and result records read without trusting them;
- :mod:`stridelab.report.page`: :func:`build_report` — the ``stridelab report`` page.

Nothing here imports torch or the experiments: the report reads files.
"""

from __future__ import annotations

from stridelab.report.page import build_report, render_report
from stridelab.report.pdf import print_pdf
from stridelab.report.render import Figure, Section, render_document, write_document
from stridelab.report.runs import Run, collect_runs, load_records, load_run

__all__ = ["build_report", "render_report", "collect_runs", "load_run", "load_records", "Run",
           "Figure", "Section", "render_document", "write_document", "print_pdf"]
