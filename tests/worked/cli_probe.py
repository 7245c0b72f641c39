"""Run a stridelab command in-process and measure what it printed and its memory peak."""

import contextlib
import io
import tracemalloc

from stridelab.cli import main


def run(args: list[str]) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, tracemalloc peak in bytes) of ``stridelab ARGS``."""
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return code, out.getvalue(), err.getvalue(), peak
