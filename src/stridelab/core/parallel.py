"""The engine's thread setting, and the helper that spreads array copies over those threads.

NumPy releases the GIL while it copies and adds arrays of numbers, and BLAS runs its own
threads inside a GEMM. The engine's GEMMs therefore run on the calling thread (BLAS spreads
them), while the copies around them (unfolding windows into columns, folding gradients back,
changing layouts) are cut into slices that run side by side on a small pool of threads.

The pool has ``get_num_threads() − 1`` workers; the calling thread does a share itself, so a
copy never uses more than ``get_num_threads()`` threads. Give it the number BLAS is limited to
(``threadpoolctl.threadpool_limits``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``) so that
copies and GEMMs compete for the same cores:

>>> from stridelab.core import get_num_threads, set_num_threads
>>> set_num_threads(1)        # every copy on the calling thread
>>> get_num_threads()
1
>>> set_num_threads(None)     # back to the default: the cores this process may run on
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["get_num_threads", "set_num_threads"]

# Below this many elements a copy is done on the calling thread: handing slices to the pool
# costs tens of microseconds, as much as copying a few hundred kB.
_MIN_PARALLEL_ELEMENTS = 1 << 16


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_state = threading.local()          # marks the pool's own threads (they never fan out again)
_lock = threading.Lock()
_num_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None     # (process id, workers) the pool was made for


def get_num_threads() -> int:
    """How many threads the engine's copies may use (the calling thread included)."""
    return _num_threads


def set_num_threads(n: int | None) -> None:
    """Let the engine's copies use ``n`` threads (the calling thread included).

    ``None`` restores the default, the number of cores this process may run on
    (``os.sched_getaffinity``, else ``os.cpu_count()``). ``1`` keeps every copy on the
    calling thread. The GEMMs are BLAS's: limit its threads separately, to the same number.
    """
    global _num_threads
    if n is None:
        n = _default_threads()
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1 or None, got n={n!r}")
    _num_threads = int(n)


def _get_pool(workers: int) -> ThreadPoolExecutor:
    """The shared pool, made afresh after a fork (a child inherits no threads) or a resize."""
    global _pool, _pool_key
    key = (os.getpid(), workers)
    with _lock:
        if _pool_key != key:
            if _pool is not None and _pool_key[0] == key[0]:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stridelab",
                                       initializer=_mark_worker)
            _pool_key = key
        return _pool


def _mark_worker() -> None:
    _state.worker = True


def split(n_items: int, parts: int) -> list[slice]:
    """``range(n_items)`` cut into at most ``parts`` contiguous, nearly equal, non-empty slices."""
    parts = max(1, min(parts, n_items))
    bounds = [n_items * k // parts for k in range(parts + 1)]
    return [slice(bounds[k], bounds[k + 1]) for k in range(parts)]


def parallel_for(fn: Callable[[slice], None], n_items: int, n_elements: int) -> None:
    """Call ``fn(part)`` for slices ``part`` that together cover ``range(n_items)`` once.

    The slices run at the same time on up to :func:`get_num_threads` threads, so ``fn`` must
    write only to what its own slice owns. ``n_elements`` (the size of the whole job) keeps
    small jobs on the calling thread. An exception in any slice is raised here.
    """
    threads = min(_num_threads, n_items)
    if threads <= 1 or n_elements < _MIN_PARALLEL_ELEMENTS or getattr(_state, "worker", False):
        if n_items > 0:
            fn(slice(0, n_items))
        return
    parts = split(n_items, threads)
    pool = _get_pool(_num_threads - 1)
    futures = [pool.submit(fn, part) for part in parts[1:]]
    try:
        fn(parts[0])
    finally:
        for future in futures:
            future.result()


def assign(dst: np.ndarray, src: np.ndarray, axis: int = 0) -> None:
    """``dst[...] = src`` (``src`` broadcast to ``dst``), cut along ``axis`` over the threads."""
    src = np.broadcast_to(src, dst.shape)
    index = (slice(None),) * axis

    def work(part: slice) -> None:
        dst[index + (part,)] = src[index + (part,)]

    parallel_for(work, dst.shape[axis], dst.size)
