"""The convolution's two paths (rows, windows), its two dX methods and the engine's threads.

Every path is forced in turn and checked against PyTorch (float64) and against the others, for
convolutions and transposed convolutions in 2-D and 3-D, on shapes with stride, dilation,
groups, asymmetric padding, odd sizes and batch 1, with the copy threads and the batch chunks
switched on even for these small arrays.
"""

import threading

import numpy as np
import pytest
import torch.nn.functional as TF
from core_helpers import check_op

from stridelab.core import (
    Tensor,
    _conv_paths,
    _window,
    get_num_threads,
    parallel,
    set_num_threads,
)
from stridelab.core import functional as F

# (N, C, spatial size, F, kernel, stride, padding (before, after per axis), dilation, groups)
SHAPES = [
    (1, 3, (7, 9), 4, (3, 3), 1, (1, 1, 1, 1), 1, 1),             # batch 1, "same"
    (3, 4, (6, 5), 6, (3, 2), 1, (0, 2, 1, 0), 1, 2),             # asymmetric padding, groups
    (2, 6, (9, 8), 6, (3, 3), 1, (2, 2, 2, 2), 2, 3),             # dilated, grouped
    (2, 2, (5, 11), 3, (2, 4), 1, (0, 0, 0, 0), (1, 2), 1),       # "valid", unequal dilation
    (2, 3, (4, 5), 2, (2, 2), 1, (3, 0, 1, 4), 1, 1),             # padding beyond the kernel
    (2, 4, (6, 7), 4, (1, 1), 1, (0, 1, 1, 0), 1, 4),             # 1x1 depthwise
    (3, 2, (1, 13), 4, (1, 5), 1, (0, 0, 2, 2), 1, 1),            # height 1, as conv1d runs
    (2, 3, (4, 5, 6), 4, (3, 3, 3), 1, (1, 1, 1, 1, 1, 1), 1, 1),  # 3-D "same"
    (2, 4, (5, 4, 6), 4, (2, 3, 2), 1, (1, 0, 0, 2, 1, 0), (2, 1, 1), 2),  # 3-D, every option
    (2, 3, (8, 7), 4, (3, 3), 2, (1, 1, 1, 1), 1, 1),             # strided: windows path only
    (2, 2, (5, 6, 7), 3, (3, 2, 3), (2, 1, 2), (1, 1, 0, 1, 1, 0), 1, 1),  # strided 3-D
]
STRIDE_1 = [s for s in SHAPES if s[5] == 1]
STRIDED = [s for s in SHAPES if s[5] != 1]
_CONV = {2: (F.conv2d, TF.conv2d), 3: (F.conv3d, TF.conv3d)}
_CONV_T = {2: (F.conv_transpose2d, TF.conv_transpose2d),
           3: (F.conv_transpose3d, TF.conv_transpose3d)}


def _id(shape):
    return f"{len(shape[2])}d-{shape[2]}-k{shape[4]}-s{shape[5]}-g{shape[8]}"


@pytest.fixture
def threads_everywhere(monkeypatch):
    """Three copy threads even for tiny arrays, and batch chunks of one or two samples."""
    monkeypatch.setattr(parallel, "_MIN_PARALLEL_ELEMENTS", 0)
    monkeypatch.setattr(_window, "CHUNK_ELEMENTS", 300)
    previous = get_num_threads()
    set_num_threads(3)
    yield
    set_num_threads(previous)


def _force(monkeypatch, path: str, spread: bool | None = None):
    """Send every stride-1 convolution down ``path``; count the calls of each piece.

    ``path`` is "rows", "windows" (its GEMMs over whole chunks) or "per-sample" (the windows
    path with one GEMM per sample); ``spread`` picks the rows path's dX method.
    """
    monkeypatch.setattr(_conv_paths, "MAX_ROW_WASTE", 1e9 if path == "rows" else 0.0)
    monkeypatch.setattr(_conv_paths, "ROWS_MAX_WIDTH", 1 << 30)
    monkeypatch.setattr(_conv_paths, "SMALL_GEMM", 1 << 40 if path == "per-sample" else 0)
    if spread is not None:
        monkeypatch.setattr(_conv_paths.RowsPlan, "spread_pays", lambda self: spread)
    calls = {}

    def count(owner, name, key):
        original = getattr(owner, name)

        def spy(*args, **kwargs):
            calls[key] = calls.get(key, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)

    for plan in ("RowsPlan", "WindowsPlan"):
        for method in ("correlate_into", "transpose_into", "weight_grad"):
            count(getattr(_conv_paths, plan), method, f"{plan}.{method}")
    count(_conv_paths.RowsPlan, "_spread", "spread")
    count(_conv_paths.RowsPlan, "_fold", "fold")
    count(_conv_paths, "_per_sample", "per_sample")
    return calls


def _arrays(shape, transposed=False, seed=0):
    N, C, size, F_, k, stride, pads, dilation, groups = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, *size))
    w = rng.standard_normal((F_, C // groups, *k))
    if not transposed:
        return x, w, rng.standard_normal(F_)
    # The transposed convolution of this convolution: from its output back to x's shape.
    z = _ours(shape)(x, w, None)
    return rng.standard_normal(z.shape), w, rng.standard_normal(C)


def _ours(shape, transposed=False):
    N, C, size, F_, k, stride, pads, dilation, groups = shape
    if not transposed:
        fn = _CONV[len(size)][0]
        return lambda x, w, b: fn(x, w, b, stride=stride, padding=pads, dilation=dilation,
                                  groups=groups)
    fn = _CONV_T[len(size)][0]
    return lambda x, w, b: fn(x, w, b, stride=stride, padding=pads,
                              output_padding=_output_padding(shape), groups=groups,
                              dilation=dilation)


def _output_padding(shape):
    """The output padding that takes the transposed convolution back to x's size."""
    N, C, size, F_, k, stride, pads, dilation, groups = shape
    d = len(size)
    s = (stride,) * d if isinstance(stride, int) else stride
    dl = (dilation,) * d if isinstance(dilation, int) else dilation
    padded = [n + pads[2 * i] + pads[2 * i + 1] for i, n in enumerate(size)]
    return tuple((p - dl[i] * (k[i] - 1) - 1) % s[i] for i, p in enumerate(padded))


def _theirs(shape, transposed=False):
    """PyTorch's op, with padding it cannot express (asymmetric) applied or cropped by hand."""
    N, C, size, F_, k, stride, pads, dilation, groups = shape
    torch_pads = [p for i in reversed(range(len(size))) for p in pads[2 * i:2 * i + 2]]
    if not transposed:
        fn = _CONV[len(size)][1]
        return lambda x, w, b: fn(TF.pad(x, torch_pads), w, b, stride=stride,
                                  dilation=dilation, groups=groups)
    fn = _CONV_T[len(size)][1]

    def theirs(x, w, b):
        y = fn(x, w, b, stride=stride, output_padding=_output_padding(shape), groups=groups,
               dilation=dilation)
        crop = tuple(slice(pads[2 * i], y.shape[2 + i] - pads[2 * i + 1])
                     for i in range(len(size)))
        return y[(slice(None), slice(None), *crop)]

    return theirs


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("shape", STRIDE_1, ids=_id)
@pytest.mark.parametrize("path, spread", [("rows", True), ("rows", False), ("windows", None),
                                          ("per-sample", None)])
def test_each_stride1_path_matches_torch(monkeypatch, threads_everywhere, shape, path, spread,
                                         transposed):
    calls = _force(monkeypatch, path, spread)
    check_op(_ours(shape, transposed), _theirs(shape, transposed),
             *_arrays(shape, transposed), grad_check=False)
    plan = "RowsPlan" if path == "rows" else "WindowsPlan"
    other = "WindowsPlan" if path == "rows" else "RowsPlan"
    # forward, dX and dW: a convolution and a transposed one use the same three pieces
    for method in ("correlate_into", "transpose_into", "weight_grad"):
        assert calls.get(f"{plan}.{method}") and not calls.get(f"{other}.{method}"), calls
    assert bool(calls.get("per_sample")) == (path == "per-sample"), calls
    if path == "rows":      # both dX methods end in a fold; only one spreads dZ first
        assert calls.get("fold") and bool(calls.get("spread")) == spread, calls


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("shape", STRIDED, ids=_id)
@pytest.mark.parametrize("per_sample", [False, True])
def test_strided_convolution_takes_the_windows_path(monkeypatch, threads_everywhere, shape,
                                                    per_sample, transposed):
    calls = _force(monkeypatch, "rows")
    monkeypatch.setattr(_conv_paths, "SMALL_GEMM", 1 << 40 if per_sample else 0)
    check_op(_ours(shape, transposed), _theirs(shape, transposed),
             *_arrays(shape, transposed), grad_check=False)
    assert calls.get("WindowsPlan.correlate_into") and not calls.get("RowsPlan.correlate_into")
    assert bool(calls.get("per_sample")) == per_sample


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("shape", STRIDE_1, ids=_id)
def test_rows_path_agrees_with_windows_path_in_float32(monkeypatch, shape, transposed):
    x, w, b = (a.astype(np.float32) for a in _arrays(shape, transposed, seed=1))
    results = {}
    for path in ("rows", "windows", "per-sample"):
        with monkeypatch.context() as m:
            _force(m, path)
            X, Wt, B = Tensor(x, True), Tensor(w, True), Tensor(b, True)
            out = _ours(shape, transposed)(X, Wt, B)
            out.backward(np.cos(np.arange(out.data.size)).reshape(out.shape).astype(np.float32))
            results[path] = [out.data, X.grad, Wt.grad, B.grad]
    for other in ("rows", "per-sample"):
        for got, want in zip(results[other], results["windows"]):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("shape", [SHAPES[2], SHAPES[8]], ids=_id)
def test_rows_path_passes_gradcheck(monkeypatch, shape, transposed):
    _force(monkeypatch, "rows", spread=True)
    check_op(_ours(shape, transposed), _theirs(shape, transposed),
             *_arrays(shape, transposed, seed=2))


def test_conv1d_case_with_threads_matches_torch(threads_everywhere):
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal((5, 4, 37)), rng.standard_normal((6, 4, 7)),
               rng.standard_normal(6))
    check_op(lambda x, w, b: F.conv1d(x, w, b, padding="same"),
             lambda x, w, b: TF.conv1d(x, w, b, padding=3), x, w, b, grad_check=False)


def _rows_plan(x_shape, w_shape, pads, dilation=(1, 1, 1), groups=1):
    return _conv_paths.RowsPlan(x_shape, w_shape, pads, dilation, groups, np.float64)


def test_rows_geometry_stores_no_padding_columns():
    # 3x3 "same" on 14x14: rows of 14 (no padding columns), one margin element before the
    # image for the first tap's read of column -1; tap (a, b) starts at 1 + 14a + b - 1.
    geo = _rows_plan((2, 3, 1, 14, 14), (4, 3, 1, 3, 3), (0, 0, 1, 1, 1, 1))
    assert (geo.P, geo.out, geo.margin, geo.run_p) == (14, (1, 14, 14), 1, 14 * 14)
    assert geo.image == 1 + 16 * 14 + 1
    assert [geo.tap_offset(*t) for t in np.ndindex(1, 3, 3)] == [0, 1, 2, 14, 15, 16, 28, 29, 30]
    # the left tap misses column 0's left neighbour, the right tap column 13's right one
    assert [geo._inside(b) for b in range(3)] == [slice(1, 14), slice(0, 14), slice(0, 13)]
    assert geo.pays()
    # Long rows compute no junk column either.
    assert _rows_plan((2, 3, 1, 1, 256), (4, 3, 1, 1, 7), (0, 0, 0, 0, 3, 3)).pays()
    # Padding beyond the kernel's reach: the row must hold OW columns.
    wide = _rows_plan((1, 1, 1, 4, 5), (1, 1, 1, 2, 2), (0, 0, 0, 0, 3, 4))
    assert (wide.out[2], wide.P) == (11, 11)
    # Width 4 with a 3-wide kernel and no padding: 4 columns for 2 outputs does not pay.
    assert not _rows_plan((1, 1, 1, 4, 4), (1, 1, 1, 3, 3), (0,) * 6).pays()


def test_rows_geometry_in_3d_runs_plane_by_plane():
    # 3x3x3 "same" on 4x6x6: planes of 8 rows of 6; each output plane is a run of 6 rows,
    # starting a plane apart; tap (e, a, b) starts at 1 + 48e + 6a + b - 1.
    geo = _rows_plan((2, 3, 4, 6, 6), (5, 3, 3, 3, 3), (1, 1, 1, 1, 1, 1))
    assert (geo.P, geo.plane, geo.out) == (6, 48, (4, 6, 6))
    assert (geo.run_p, geo.run) == (6 * 6, 4 * 6 * 6)
    assert geo.tap_offset(2, 1, 2) == 1 + 2 * 48 + 6 + 2 - 1
    # the last output plane's last tap ends exactly at the end of the image
    assert 3 * geo.plane + geo.tap_offset(2, 2, 2) + geo.run_p == geo.image
    assert geo.pays()


@pytest.mark.parametrize("OH, P, FK, sub_rows, expected", [
    (14, 14, 64 * 288, True, 28),       # (a): 2 rows; 4 would make 64·288·56 > 10^6
    (16, 16, 32 * 432, True, 64),       # 4 rows of 16
    (1, 256, 32 * 112, True, 64),       # a quarter of a 1-D row
    (1, 256, 32 * 112, False, 256),     # junk columns: whole rows only
    (7, 100, 10 ** 5, False, 100),      # nothing small enough: the narrowest
])
def test_block_width_aims_at_64_columns_within_the_small_kernels(OH, P, FK, sub_rows,
                                                                 expected):
    w = _conv_paths.block_width(OH, P, FK, sub_rows)
    assert w == expected and (OH * P) % w == 0
    assert w % P == 0 or (sub_rows and P % w == 0)


@pytest.mark.parametrize("x_shape, pads", [((2, 3, 1, 2, 4), (0, 0, 1, 1, 1, 1)),
                                           ((2, 2, 3, 2, 4), (1, 2, 0, 1, 2, 0))])
def test_rows_layout_round_trips_and_pads_with_zeros(x_shape, pads):
    x = np.arange(np.prod(x_shape), dtype=np.float64).reshape(x_shape) + 1
    geo = _rows_plan(x_shape, (1, x_shape[1], 1, 1, 1), pads)
    rows = geo.prepare(x)
    assert rows.shape == (x_shape[1], x_shape[0] * geo.image)
    np.testing.assert_array_equal(geo.data(rows).transpose(1, 0, 2, 3, 4), x)
    np.testing.assert_array_equal(geo.finish(rows), x)
    assert rows.sum() == x.sum()                           # everything else is zero


def test_rows_blocks_are_the_columns_cut_into_blocks():
    geo = _rows_plan((3, 2, 3, 4, 5), (4, 2, 2, 3, 2), (1, 0, 1, 1, 0, 1))
    x = np.random.default_rng(0).standard_normal((3, 2, 3, 4, 5))
    rows = geo.prepare(x)
    part = slice(1, 3)
    cols = geo.cols(rows, part).copy()                      # (G, K, n·run)
    blocks = geo.blocks(rows, part)                         # (n·OD·blocks, G, K, w)
    OD = geo.out[0]
    regrouped = blocks.reshape(2, OD, geo.nblk, geo.K, geo.w).transpose(3, 0, 1, 2, 4)
    np.testing.assert_array_equal(regrouped.reshape(1, geo.K, -1), cols)


def test_rows_dz_layout_puts_zeros_in_every_junk_column():
    geo = _rows_plan((2, 1, 3, 4, 5), (2, 1, 2, 2, 2), (0, 0, 0, 0, 0, 0))
    g = np.arange(1, 1 + np.prod(geo.out_shape), dtype=np.float64).reshape(geo.out_shape)
    _window.scratch("dz", (geo.F, 2, *geo.out[:2], geo.P), np.float64)[...] = np.nan  # garbage
    gr = geo.dz(g, slice(0, 2)).reshape(geo.F, 2, *geo.out[:2], geo.P)
    assert np.isfinite(gr).all() and gr.sum() == g.sum()
    np.testing.assert_array_equal(gr[..., :geo.out[2]].transpose(1, 0, 2, 3, 4), g)


def test_batch_chunks_grow_with_threads(monkeypatch):
    monkeypatch.setattr(_window, "CHUNK_ELEMENTS", 100)
    previous = get_num_threads()
    try:
        set_num_threads(1)
        assert [(s.start, s.stop) for s in _window.batch_chunks(5, 50)] == [(0, 2), (2, 4),
                                                                           (4, 5)]
        set_num_threads(2)
        step = 100 * _window.THREADED_CHUNK_FACTOR // 50
        assert _window.batch_chunks(5, 50)[0] == slice(0, min(step, 5))
    finally:
        set_num_threads(previous)


def test_scratch_reuses_memory_per_name_and_thread():
    a = _window.scratch("test-buffer", (4, 5), np.float32)
    b = _window.scratch("test-buffer", (2, 3), np.float64)
    assert np.shares_memory(a, b) and b.shape == (2, 3) and b.dtype == np.float64
    assert not np.shares_memory(a, _window.scratch("test-other", (4, 5), np.float32))
    seen = []
    thread = threading.Thread(target=lambda: seen.append(_window.scratch("test-buffer", (4, 5),
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

