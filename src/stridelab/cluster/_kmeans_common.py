"""The passes over the data that k-means makes: chunking, threads, distances, assignment, sums.

Every function here assumes validated input (C-contiguous float32 or float64 ``X``, centres of
the same dtype, int32 labels, float64 weights or ``None`` for unit weights); the public
functions and the estimator in :mod:`stridelab.cluster._kmeans` validate.

Threads: the user sets how many with threadpoolctl (``threadpool_limits(limits=n)``) or the
usual environment variables (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``); k-means reads
NumPy's BLAS thread limit. With more than one thread the rows are cut into chunks that a pool
of Python threads works on, each chunk calling single-threaded BLAS (NumPy releases the GIL in
matrix products, additions and argmin), as scikit-learn's Lloyd runs single-threaded BLAS
inside OpenMP threads. The assignment step multiplies small batches of rows (see
``_SMALL_GEMM``), which OpenBLAS multiplies on one thread each; split by rows, the threads
work side by side. Chunks that are summed, and the batches, are cut independently of the
number of threads, so a fit gives the same result at every thread count.

Letters in shape comments: N samples, F features, K clusters, M samples in a chunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

# Work arrays are cut into row chunks of about this many elements (8 MiB in float64), so that
# memory stays bounded on 70,000 x 784 whatever the number of clusters.
_CHUNK_ELEMENTS = 2**20
# Element-wise passes over X (residuals) use chunks small enough to stay in the CPU cache.
_CACHE_ELEMENTS = 2**18
# The assignment step multiplies chunks of about this many elements of X by the centres
# (when it does not multiply batches, below).
_ASSIGN_ELEMENTS = 2**20
# OpenBLAS multiplies matrices of at most about 10^6 multiply-adds (M N K) with small-matrix
# kernels that do not pack the operands first; with its AVX-512 kernels (SkylakeX) that made
# the narrow products of k-means twice as fast (10,000 x 784 by 784 x 10 in float32: 3.1 ms
# against 6.4 ms, one thread; the Haswell kernels: 5.7 ms against 6.3 ms). So the assignment
# step multiplies batches of _BATCH_ROWS rows, one BLAS call per batch inside NumPy's batched
# matmul (a loop in C), whenever such a batch stays under that size.
_SMALL_GEMM = 1_000_000
_BATCH_ROWS = 64
# With several threads each thread gets at least this many chunks of the assignment step, so
# that one slow chunk does not leave the other threads idle for long.
_CHUNKS_PER_THREAD = 2
# Data smaller than this (elements of X) is worked on by one thread.
_MIN_PARALLEL_ELEMENTS = 2**18
# Distances below this fraction of ||x||^2 + ||c||^2 are recomputed from the differences:
# there the expansion ||x||^2 - 2 x.c + ||c||^2 has lost most of its digits.
_REFINE_BELOW = 1e-8


def _chunks(n_rows: int, row_elements: int, budget: int | None = None) -> Iterator[slice]:
    """Yield slices that cut ``n_rows`` rows of ``row_elements`` elements into chunks of about
    ``budget`` elements (default ``_CHUNK_ELEMENTS``), at least 64 rows each."""
    budget = _CHUNK_ELEMENTS if budget is None else budget
    step = max(64, budget // max(row_elements, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _batch_rows(n_features: int, n_clusters: int) -> int:
    """Rows per BLAS call in the assignment step: ``_BATCH_ROWS`` when a product of that many
    rows by the centres is small enough for OpenBLAS's small-matrix kernels, else 0 (one
    call per chunk)."""
    small = _BATCH_ROWS * n_features * n_clusters <= _SMALL_GEMM
    return _BATCH_ROWS if small else 0


def _assign_chunks(n_samples: int, n_features: int, n_clusters: int,
                   n_threads: int) -> list[slice]:
    """Row chunks for the assignment step: a distance block within the memory budget of
    :func:`_chunks`; without batches (see :func:`_batch_rows`) about ``_ASSIGN_ELEMENTS``
    elements of X per chunk (BLAS runs faster on such slabs than on one 30 MB matrix); with
    several threads at least ``_CHUNKS_PER_THREAD`` chunks per thread. Chunks start at
    multiples of ``_BATCH_ROWS``, so the batches, and with them the distances, are the same
    whatever the number of threads."""
    rows = _CHUNK_ELEMENTS // max(n_clusters, 1)
    if not _batch_rows(n_features, n_clusters):
        rows = min(rows, _ASSIGN_ELEMENTS // max(n_features, 1))
    if n_threads > 1:
        rows = min(rows, -(-n_samples // (n_threads * _CHUNKS_PER_THREAD)))  # ceil
    rows = -(-max(rows, 1) // _BATCH_ROWS) * _BATCH_ROWS  # a multiple of the batch
    return [slice(s, min(s + rows, n_samples)) for s in range(0, n_samples, rows)]


###############################################################################
# Threads

_CONTROLLER = None  # threadpoolctl's controller, built once: scanning the libraries takes ms


def _threadpool_controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _effective_n_threads(n_elements: int | None = None) -> int:
    """The number of threads to use: NumPy's BLAS thread limit, at most the CPUs this process
    may run on; 1 when no BLAS library can be found to ask, and 1 for data of fewer than
    ``_MIN_PARALLEL_ELEMENTS`` elements, where starting threads costs more than it saves."""
    if n_elements is not None and n_elements < _MIN_PARALLEL_ELEMENTS:
        return 1
    blas = [lib for lib in _threadpool_controller().lib_controllers if lib.user_api == "blas"]
    if not blas:
        return 1
    numpy_blas = [lib for lib in blas if "numpy" in lib.filepath] or blas
    return max(1, min(int(numpy_blas[0].num_threads), _available_cpus()))


Map = Callable[[Callable, list], list]


def _serial(fn, items):
    return [fn(item) for item in items]


@contextmanager
def _parallel(n_threads: int) -> Iterator[Map]:
    """A ``map(function, items) -> list`` that runs on ``n_threads`` threads.

    With one thread it is the plain loop and BLAS is left as it is. With more, BLAS is held to
    one thread meanwhile (the threads are the parallelism, not BLAS; both at once would run
    n_threads^2 threads on n_threads CPUs).
    """
    if n_threads <= 1:
        yield _serial
        return
    with _threadpool_controller().limit(limits=1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=n_threads) as pool:
        # a single item runs here: handing it to a thread would only add the hand-over
        yield lambda fn, items: [fn(items[0])] if len(items) == 1 else list(pool.map(fn, items))


###############################################################################
# Distances and the assignment step


def _squared_distances(X, centers, x_squared_norms, pmap: Map | None = None):
    """Squared Euclidean distances in float64, as ||x||^2 - 2 x.c + ||c||^2.

    Where the expansion has cancelled (a sample close to a centre, relative to their norms)
    the distance is recomputed from the difference, so a sample's distance to itself is 0.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centers : ndarray of shape (n_centers, n_features)
    x_squared_norms : ndarray of shape (n_samples,), float64
    pmap : map over chunks (see :func:`_parallel`), default serial

    Returns
    -------
    distances : ndarray of shape (n_samples, n_centers), float64, at least 0
    """
    centers = centers.astype(np.float64, copy=False)
    centers_sq = np.einsum("kf,kf->k", centers, centers)  # (K,)
    out = np.empty((X.shape[0], centers.shape[0]))  # (N, K)

    def one_chunk(rows):
        # float32 input is upcast chunk by chunk: the expansion cancels badly in float32
        X_rows = X[rows].astype(np.float64, copy=False)  # (M, F)
        block = X_rows @ centers.T  # (M, K)
        block *= -2.0
        block += x_squared_norms[rows, None]
        block += centers_sq
        close = block <= _REFINE_BELOW * (x_squared_norms[rows, None] + centers_sq)  # (M, K)
        if close.any():
            i, j = np.nonzero(close)
            diff = X_rows[i] - centers[j]  # (n_close, F)
            block[i, j] = np.einsum("mf,mf->m", diff, diff)
        np.maximum(block, 0.0, out=block)
        out[rows] = block

    chunks = list(_chunks(X.shape[0], X.shape[1]))
    (pmap or _serial)(one_chunk, chunks)
    return out


def _assign(X, centers, labels, pmap: Map | None = None, n_threads: int = 1):
    """E-step: the closest centre of each sample, written into ``labels``.

    Works in the dtype of ``X`` with the scikit-learn expansion
    ``||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2``, leaving out ``||x||^2``: it is the same for
    every centre, so the argmin does not need it. Ties go to the lowest cluster index.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centers : ndarray of shape (n_clusters, n_features), same dtype as X
    labels : ndarray of shape (n_samples,), int32, written
    pmap : map over chunks (see :func:`_parallel`), default serial
    n_threads : int
        The threads behind ``pmap``; it decides how finely the rows are cut.
    """
    n_features, n_clusters = centers.shape[1], centers.shape[0]
    centers_sq = np.einsum("kf,kf->k", centers, centers)  # (K,)
    minus_2_centers_t = np.ascontiguousarray((-2 * centers).T)  # (F, K)
    batch = _batch_rows(n_features, n_clusters)

    def one_chunk(rows):
        X_rows = X[rows]  # (M, F)
        n_full = len(X_rows) // batch * batch if batch else 0
        if n_full:
            dist = np.empty((len(X_rows), n_clusters), dtype=X.dtype)  # (M, K)
            # (M / B, B, F) @ (F, K): one small BLAS call per batch of B rows
            np.matmul(X_rows[:n_full].reshape(-1, batch, n_features), minus_2_centers_t,
                      out=dist[:n_full].reshape(-1, batch, n_clusters))
            if n_full < len(X_rows):
                np.matmul(X_rows[n_full:], minus_2_centers_t, out=dist[n_full:])
        else:
            dist = X_rows @ minus_2_centers_t  # (M, K)  one BLAS call per chunk
        dist += centers_sq
        labels[rows] = dist.argmin(axis=1)  # (M,)  first minimum on ties

    chunks = _assign_chunks(X.shape[0], n_features, n_clusters, n_threads)
    (pmap or _serial)(one_chunk, chunks)


def _residual_sq(X, centers, labels, pmap: Map | None = None):
    """``||x_i - c_{labels_i}||^2`` for every sample, shape (n_samples,), dtype of X."""
    out = np.empty(X.shape[0], dtype=X.dtype)  # (N,)

    def one_chunk(rows):
        residual = np.take(centers, labels[rows], axis=0)  # (M, F), small enough for the cache
        np.subtract(X[rows], residual, out=residual)
        out[rows] = np.einsum("mf,mf->m", residual, residual)

    (pmap or _serial)(one_chunk, list(_chunks(X.shape[0], X.shape[1], _CACHE_ELEMENTS)))
    return out


def _inertia(X, centers, labels, sample_weight=None, pmap: Map | None = None) -> float:
    """``sum_i w_i ||x_i - c_{labels_i}||^2`` as a Python float (``w = 1`` when
    ``sample_weight`` is None), from the differences (not the expansion), summed in float64."""
    residual_sq = _residual_sq(X, centers, labels, pmap)
    if sample_weight is None:
        return float(residual_sq.sum(dtype=np.float64))
    return float(residual_sq.astype(np.float64) @ sample_weight)


###############################################################################
# The update step: per-cluster sums


def _one_hot_sums(X, labels, n_clusters, sample_weight=None, pmap: Map | None = None,
                  minus_labels=None):
    """Per-cluster sums ``S_k = sum_{i: labels_i = k} w_i x_i``, shape (n_clusters,
    n_features), float64 (``w = 1`` when ``sample_weight`` is None); with ``minus_labels``,
    each sample also counts negatively in cluster ``minus_labels_i`` (a move between clusters
    in one product).

    One BLAS product per chunk, (K, M) @ (M, F) in the dtype of X; chunk results are added
    in float64 in chunk order, so a float32 sum never runs over more than one chunk of samples
    and the result does not depend on the number of threads.
    """
    def one_chunk(rows):
        n_rows = rows.stop - rows.start
        w = 1 if sample_weight is None else sample_weight[rows]
        one_hot = np.zeros((n_clusters, n_rows), dtype=X.dtype)  # (K, M)
        one_hot[labels[rows], np.arange(n_rows)] += w
        if minus_labels is not None:
            one_hot[minus_labels[rows], np.arange(n_rows)] -= w
        return one_hot @ X[rows]  # (K, F)

    sums = np.zeros((n_clusters, X.shape[1]))  # (K, F)
    for part in (pmap or _serial)(one_chunk, list(_chunks(len(labels), X.shape[1]))):
        sums += part
    return sums


def _check_sample_weight(sample_weight, n_samples: int):
    """Validated weights: None for unit weights (None or all ones: the fast path); otherwise
    float64 of shape (n_samples,), finite, non-negative, not all zero. A scalar weighs every
    sample alike.
    The caller's array is never written to.

    Raises
    ------
    ValueError
        With a message that names what is wrong.
    """
    if sample_weight is None:
        return None
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"sample_weight must be numbers; cannot convert it ({e}).") from e
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight has shape {weights.shape}; expected ({n_samples},), one weight per "
            "sample."
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight must be finite; it contains NaN or infinity.")
    if np.any(weights < 0):
        raise ValueError(
            f"sample_weight must be non-negative; sample {int(np.argmax(weights < 0))} has "
            f"weight {weights[weights < 0][0]}."
        )
    if not np.any(weights > 0):
        raise ValueError("sample_weight must contain at least one non-zero weight.")
    if np.all(weights == 1):
        return None  # unit weights: the unweighted path, so the result is exactly the same
    return weights
