"""The convolution's two paths (rows, windows), its two dX methods and the engine's threads.

Every path is forced in turn and checked against PyTorch (float64) and against the others, on
shapes with stride, dilation, groups, asymmetric padding, odd sizes and batch 1, with the copy
threads and the batch chunks switched on even for these small arrays.
"""

import threading

import numpy as np
import pytest
import torch.nn.functional as TF
from core_helpers import check_op

from stridelab.core import Tensor, get_num_threads, parallel, set_num_threads
from stridelab.core import functional as F

# (N, C, H, W, F, (KH, KW), stride, padding (top, bottom, left, right), dilation, groups)
SHAPES = [
    (1, 3, 7, 9, 4, (3, 3), 1, (1, 1, 1, 1), 1, 1),        # batch 1, "same"
    (3, 4, 6, 5, 6, (3, 2), 1, (0, 2, 1, 0), 1, 2),        # asymmetric padding, groups
    (2, 6, 9, 8, 6, (3, 3), 1, (2, 2, 2, 2), 2, 3),        # dilated, grouped
    (2, 2, 5, 11, 3, (2, 4), 1, (0, 0, 0, 0), (1, 2), 1),  # "valid", unequal dilation
    (2, 3, 4, 5, 2, (2, 2), 1, (3, 0, 1, 4), 1, 1),        # padding beyond the kernel's reach
    (2, 4, 6, 7, 4, (1, 1), 1, (0, 1, 1, 0), 1, 4),        # 1x1 depthwise
    (3, 2, 1, 13, 4, (1, 5), 1, (0, 0, 2, 2), 1, 1),       # height 1, as conv1d runs
    (2, 3, 8, 7, 4, (3, 3), 2, (1, 1, 1, 1), 1, 1),        # strided: windows path only
]


@pytest.fixture
def threads_everywhere(monkeypatch):
    """Three copy threads even for tiny arrays, and batch chunks of one or two samples."""
    monkeypatch.setattr(parallel, "_MIN_PARALLEL_ELEMENTS", 0)
    monkeypatch.setattr(F, "_CHUNK_ELEMENTS", 300)
    previous = get_num_threads()
    set_num_threads(3)
    yield
    set_num_threads(previous)


def _force(monkeypatch, path: str, spread: bool | None = None):
    """Send every stride-1 convolution down ``path``; count the calls of each piece.

    ``path`` is "rows", "windows" (its GEMMs over whole chunks) or "per-sample" (the windows
    path with one GEMM per sample); ``spread`` picks the rows path's dX method.
    """
    monkeypatch.setattr(F, "_MAX_ROW_WASTE", 1e9 if path == "rows" else 0.0)
    monkeypatch.setattr(F, "_ROWS_MAX_WIDTH", 1 << 30)
    monkeypatch.setattr(F, "_SMALL_GEMM", 1 << 40 if path == "per-sample" else 0)
    if spread is not None:
        monkeypatch.setattr(F._RowsGeometry, "spread_pays", lambda self, groups: spread)
    calls = {}
    for name in ("_conv2d_rows", "_conv2d_windows", "_conv_transpose_rows", "_fold_rows",
                 "_per_sample", "_correlate"):
        original = getattr(F, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(F, name, spy)
    return calls


def _arrays(shape, seed=0):
    N, C, H, W, F_, k, stride, pads, dilation, groups = shape
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, C, H, W)), rng.standard_normal((F_, C // groups, *k)),
            rng.standard_normal(F_))


def _ours(shape):
    *_, stride, pads, dilation, groups = shape
    return lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pads, dilation=dilation,
                                    groups=groups)


def _theirs(shape):
    *_, stride, pads, dilation, groups = shape
    return lambda x, w, b: TF.conv2d(TF.pad(x, (pads[2], pads[3], pads[0], pads[1])), w, b,
                                     stride=stride, dilation=dilation, groups=groups)


@pytest.mark.parametrize("shape", SHAPES[:-1])
@pytest.mark.parametrize("path, spread", [("rows", True), ("rows", False), ("windows", None),
                                          ("per-sample", None)])
def test_each_stride1_path_matches_torch(monkeypatch, threads_everywhere, shape, path, spread):
    calls = _force(monkeypatch, path, spread)
    check_op(_ours(shape), _theirs(shape), *_arrays(shape), grad_check=False)
    if path in ("windows", "per-sample"):
        assert calls.get("_conv2d_windows") and not calls.get("_conv2d_rows")
        assert bool(calls.get("_per_sample")) == (path == "per-sample"), calls
        assert bool(calls.get("_correlate")) == (path == "windows"), calls
    else:
        assert calls.get("_conv2d_rows") and not calls.get("_conv2d_windows")
        used = "_conv_transpose_rows" if spread else "_fold_rows"
        unused = "_fold_rows" if spread else "_conv_transpose_rows"
        assert calls.get(used) and not calls.get(unused), calls


@pytest.mark.parametrize("per_sample", [False, True])
def test_strided_convolution_takes_the_windows_path(monkeypatch, threads_everywhere,
                                                    per_sample):
    calls = _force(monkeypatch, "rows")
    monkeypatch.setattr(F, "_SMALL_GEMM", 1 << 40 if per_sample else 0)
    shape = SHAPES[-1]
    check_op(_ours(shape), _theirs(shape), *_arrays(shape), grad_check=False)
    assert calls.get("_conv2d_windows") and not calls.get("_conv2d_rows")
    assert bool(calls.get("_per_sample")) == per_sample


@pytest.mark.parametrize("shape", SHAPES[:-1])
def test_rows_path_agrees_with_windows_path_in_float32(monkeypatch, shape):
    x, w, b = (a.astype(np.float32) for a in _arrays(shape, seed=1))
    results = {}
    for path in ("rows", "windows", "per-sample"):
        with monkeypatch.context() as m:
            _force(m, path)
            X, Wt, B = Tensor(x, True), Tensor(w, True), Tensor(b, True)
            out = _ours(shape)(X, Wt, B)
            out.backward(np.cos(np.arange(out.data.size)).reshape(out.shape).astype(np.float32))
            results[path] = [out.data, X.grad, Wt.grad, B.grad]
    for other in ("rows", "per-sample"):
        for got, want in zip(results[other], results["windows"]):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_rows_path_passes_gradcheck(monkeypatch):
    _force(monkeypatch, "rows", spread=True)
    shape = SHAPES[2]
    check_op(_ours(shape), _theirs(shape), *_arrays(shape, seed=2))


def test_conv1d_case_with_threads_matches_torch(threads_everywhere):
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal((5, 4, 37)), rng.standard_normal((6, 4, 7)),
               rng.standard_normal(6))
    check_op(lambda x, w, b: F.conv1d(x, w, b, padding="same"),
             lambda x, w, b: TF.conv1d(x, w, b, padding=3), x, w, b, grad_check=False)


def test_rows_geometry_shares_the_padding_between_rows():
    # 3x3 "same" on 14x14: pitch 15 (one zero column between rows serves both sides), output
    # 14 wide, so 15 columns are computed per output row; tap (a, b) starts at 15a + b.
    geo = F._RowsGeometry((2, 3, 14, 14), (4, 3, 3, 3), (1, 1, 1, 1), (1, 1))
    assert (geo.P, geo.OH, geo.OW, geo.tail) == (15, 14, 14, 2)
    assert (geo.image, geo.run) == (16 * 15 + 2, 14 * 15)
    assert [off for _, off in geo.offsets()] == [0, 1, 2, 15, 16, 17, 30, 31, 32]
    assert geo.pays()
    # Long rows: the windows path copies runs as long and computes no junk.
    assert not F._RowsGeometry((2, 3, 1, 256), (4, 3, 1, 7), (0, 0, 3, 3), (1, 1)).pays()
    # Padding beyond the kernel's reach: the row must still hold OW columns.
    wide = F._RowsGeometry((1, 1, 4, 5), (1, 1, 2, 2), (0, 0, 3, 4), (1, 1))
    assert (wide.OW, wide.P) == (11, 11)
    # Width 4 with a 3-wide kernel and no padding: 4 columns for 2 outputs does not pay.
    assert not F._RowsGeometry((1, 1, 4, 4), (1, 1, 3, 3), (0, 0, 0, 0), (1, 1)).pays()


def test_rows_layout_round_trips_and_pads_with_zeros():
    x = np.arange(2 * 3 * 2 * 4, dtype=np.float64).reshape(2, 3, 2, 4) + 1
    geo = F._RowsGeometry(x.shape, (1, 3, 3, 3), (1, 1, 1, 1), (1, 1))
    rows = F._to_rows(x, geo)
    assert rows.shape == (3, 2 * geo.image)
    np.testing.assert_array_equal(geo.data(rows).transpose(1, 0, 2, 3), x)
    assert rows.sum() == x.sum()                           # everything else is zero


def test_batch_chunks_grow_with_threads(monkeypatch):
    monkeypatch.setattr(F, "_CHUNK_ELEMENTS", 100)
    previous = get_num_threads()
    try:
        set_num_threads(1)
        assert [(s.start, s.stop) for s in F._batch_chunks(5, 50)] == [(0, 2), (2, 4), (4, 5)]
        set_num_threads(2)
        step = 100 * F._THREADED_CHUNK_FACTOR // 50
        assert F._batch_chunks(5, 50)[0] == slice(0, min(step, 5))
    finally:
        set_num_threads(previous)


def test_scratch_reuses_memory_per_name_and_thread():
    a = F._scratch("test-buffer", (4, 5), np.float32)
    b = F._scratch("test-buffer", (2, 3), np.float64)
    assert np.shares_memory(a, b) and b.shape == (2, 3) and b.dtype == np.float64
    assert not np.shares_memory(a, F._scratch("test-other", (4, 5), np.float32))
    seen = []
    thread = threading.Thread(target=lambda: seen.append(F._scratch("test-buffer", (4, 5),
                                                                    np.float32)))
    thread.start()
    thread.join()
    assert not np.shares_memory(a, seen[0])


# ---------------------------------------------------------------------- parallel


def test_set_num_threads_validates_and_restores_the_default():
    previous = get_num_threads()
    try:
        set_num_threads(2)
        assert get_num_threads() == 2
        set_num_threads(None)
        assert get_num_threads() == parallel._default_threads() >= 1
        for bad in (0, -1, 1.5, "2", True):
            with pytest.raises(ValueError, match="n must be an int >= 1 or None"):
                set_num_threads(bad)
    finally:
        set_num_threads(previous)


@pytest.mark.parametrize("n_items, parts, expected", [
    (10, 3, [(0, 3), (3, 6), (6, 10)]),
    (2, 5, [(0, 1), (1, 2)]),
    (7, 1, [(0, 7)]),
])
def test_split_cuts_into_nearly_equal_contiguous_slices(n_items, parts, expected):
    assert [(s.start, s.stop) for s in parallel.split(n_items, parts)] == expected


def test_parallel_for_covers_every_item_once_on_several_threads(monkeypatch):
    monkeypatch.setattr(parallel, "_MIN_PARALLEL_ELEMENTS", 0)
    previous = get_num_threads()
    set_num_threads(3)
    try:
        hits = np.zeros(10, dtype=int)
        names = set()
        barrier = threading.Barrier(3, timeout=10)

        def work(part):
            names.add(threading.current_thread().name)
            barrier.wait()                                  # all three slices at once
            hits[part] += 1

        parallel.parallel_for(work, 10, 10)
        np.testing.assert_array_equal(hits, np.ones(10))
        assert len(names) == 3

        def fail(part):
            if part.start > 0:
                raise RuntimeError(f"slice {part.start}")

        with pytest.raises(RuntimeError, match="slice"):
            parallel.parallel_for(fail, 10, 10)
    finally:
        set_num_threads(previous)


def test_parallel_for_stays_on_the_calling_thread_when_small_or_limited(monkeypatch):
    previous = get_num_threads()
    try:
        caller = threading.current_thread().name
        names = []
        set_num_threads(4)
        parallel.parallel_for(lambda part: names.append(threading.current_thread().name),
                              8, parallel._MIN_PARALLEL_ELEMENTS - 1)
        set_num_threads(1)
        monkeypatch.setattr(parallel, "_MIN_PARALLEL_ELEMENTS", 0)
        parallel.parallel_for(lambda part: names.append(threading.current_thread().name),
                              8, 10**9)
        assert names == [caller, caller]
    finally:
        set_num_threads(previous)


def test_assign_copies_along_any_axis(monkeypatch):
    monkeypatch.setattr(parallel, "_MIN_PARALLEL_ELEMENTS", 0)
    previous = get_num_threads()
    set_num_threads(3)
    try:
        src = np.arange(2 * 5 * 7.0).reshape(2, 5, 7)
        for axis in range(3):
            dst = np.zeros((7, 2, 5)).transpose(1, 2, 0)    # a non-contiguous destination
            parallel.assign(dst, src, axis=axis)
            np.testing.assert_array_equal(dst, src)
        row = np.zeros((4, 3))
        parallel.assign(row, np.arange(3.0))               # broadcast
        np.testing.assert_array_equal(row, np.tile(np.arange(3.0), (4, 1)))
    finally:
        set_num_threads(previous)


def test_engine_output_is_the_same_on_one_thread_and_three(monkeypatch):
    monkeypatch.setattr(parallel, "_MIN_PARALLEL_ELEMENTS", 0)
    previous = get_num_threads()
    shape = SHAPES[1]
    outputs = []
    try:
        for n in (1, 3):
            set_num_threads(n)
            X, Wt, B = (Tensor(a, True) for a in _arrays(shape, seed=4))
            out = _ours(shape)(X, Wt, B)
            out.sum().backward()
            outputs.append([out.data, X.grad, Wt.grad, B.grad])
    finally:
        set_num_threads(previous)
    for one, three in zip(*outputs):
        np.testing.assert_array_equal(one, three)

