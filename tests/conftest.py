"""Shared test set-up: a headless matplotlib, and torch limited to the cores CI has."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("STRIDELAB_DATA", os.path.join(os.path.dirname(__file__), ".no-data-dir"))
