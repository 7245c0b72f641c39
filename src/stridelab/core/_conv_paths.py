"""The two ways the engine computes a convolution's products: the rows path and the windows path.

A *plan* describes one convolution: an input x (N, C, D, H, W) padded by (front, back, top,
bottom, left, right), a kernel w (F, C/G, KD, KH, KW), stride, dilation and G groups. Both
plans unfold the input into columns (one column per output position, one row per (channel,
kernel tap)) and turn the products into GEMMs; they work on chunks of the batch
(``_window.batch_chunks``), and offer the same pieces per chunk:

``cols(L, part)``
    the im2col matrix (G, C/G·KD·KH·KW, n·M) of the samples ``part`` of a prepared input L;
``blocks(L, part)``
    the columns for the forward GEMM: the rows path cuts them into contiguous blocks
    (B, G, C/G·KD·KH·KW, w), the windows path takes ``cols`` as they are;
``dz(z, part)``
    an array of the output's shape (N, F, OD, OH, OW), laid out on the GEMM's grid;
``correlate_into(wm, blocks, dst, bias)``
    the convolution of those samples, written into ``dst`` (n, F, OD, OH, OW);
``weight_grad(cols, gm)``
    the input correlated with dZ: Σ over samples and positions of column × dZ;
``transpose_into(gm, w, buf, part)``
    the transposed convolution of dZ: what each output position sends back to the inputs
    its window read, added onto ``buf`` (the input's layout, see ``input_buffer``/``finish``).

Where the time goes (one core of an AVX-512 EPYC, OpenBLAS's SkylakeX kernels): GEMMs are
fastest as many small products of contiguous blocks, which OpenBLAS multiplies without
packing them (``SMALL_MNK``, ``BLOCK_COLUMNS``); one large GEMM with few filters or a short
depth packs more than it multiplies. Copies are fastest in long runs. The large GEMMs run on
BLAS's threads, the blocks and the copies on the engine's (:mod:`stridelab.core.parallel`).

* Rows (stride 1, :class:`RowsPlan`): the input is held channel-major, each channel's images
  back to back, rows W apart (P = max(W, OW)) with the top, bottom, front and back padding as
  zero rows and planes and no left or right padding stored. Tap (e, a, b) of a whole output
  plane then reads one contiguous run of that buffer; the few reads that wrap into the
  neighbouring row are zeroed, which is what the padding would have given. Unfolding copies
  long runs. The forward pass multiplies blocks of about 64 columns; dW is one GEMM over the
  chunk; dX spreads dZ over the KW horizontal taps, so that one GEMM sums over filters and
  horizontal taps and only the KD·KH other taps are folded (or, where that copies more, folds
  all taps of Wᵀ·dZ). The path is taken when at most ``MAX_ROW_WASTE`` times the output's
  columns are computed (junk columns appear only when OW < W).
* Windows (any stride, :class:`WindowsPlan`): im2col over the strided window view, one GEMM
  per group; dX folds Wᵀ·dZ per phase of the stride (``_transpose_by_phases``). When one sample's product is
  small (``SMALL_GEMM``) every GEMM is done sample by sample, the samples cut over the
  engine's threads.
"""

from __future__ import annotations

import math

import numpy as np

from stridelab.core import _window, parallel

# Rows at least this wide go the windows path. The rows path once paid for short rows only;
# with no padding columns stored it computes no more columns than the windows path, and its
# blocks run faster (measured: conv1d with L = 256), so no width is excluded.
ROWS_MAX_WIDTH = 1 << 30

# The rows path computes P = max(W, OW) columns per output row for OW useful ones; above this
# ratio the windows path's exact GEMMs are cheaper than the rows path's cheaper copies.
MAX_ROW_WASTE = 1.25

# One sample's product (F/G)·(C/G·KD·KH·KW)·(OD·OH·OW) up to this size is done sample by
# sample: BLAS runs products this small on one thread (OpenBLAS below 2^18), so the samples can
# be spread over the engine's threads instead. One multi-threaded GEMM over a whole batch of
# such thin products stops its threads at every block of the long dimension, which on cores
# shared with other work costs a scheduler tick each time.
SMALL_GEMM = 1 << 18

# OpenBLAS's kernels for small matrices (SkylakeX and newer) take a product of up to 10^6
# multiply-adds without packing its operands, at about the speed of its large GEMMs; a large
# GEMM with a short side (few filters) packs more than it multiplies (measured on an AVX-512
# EPYC, one thread: 95-105 GFLOP/s in blocks against 45-75 as one GEMM). The rows path cuts
# its products into blocks this small.
SMALL_MNK = 10 ** 6
# Measured on the same CPU: blocks of 64 columns beat blocks of 256 by 10-60%.
BLOCK_COLUMNS = 64


def as_strided(view: np.ndarray, shape, strides, writeable: bool = True) -> np.ndarray:
    """``np.lib.stride_tricks.as_strided`` without its Python overhead (several µs a call).

    ``view`` must lie in a C-contiguous base array, which the window of (shape, strides) from
    ``view``'s first element must not leave; the result is writeable when ``writeable`` is.
    """
    base = view if view.base is None else view.base
    while base.base is not None:
        base = base.base
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    out = np.ndarray(shape, dtype=view.dtype, buffer=base, offset=offset, strides=strides)
    if not writeable:
        out.flags.writeable = False
    return out


def plan(x_shape, w_shape, pads, stride, dilation, groups: int, dtype):
    """The plan for a convolution of valid arguments, all in three spatial dimensions.

    Stride 1 takes the rows path when its junk columns are few (``RowsPlan.pays``), everything
    else the windows path; both give the same sums.
    """
    if tuple(stride) == (1, 1, 1):
        rows = RowsPlan(x_shape, w_shape, pads, dilation, groups, dtype)
        if rows.pays():
            return rows
    return WindowsPlan(x_shape, w_shape, pads, stride, dilation, groups, dtype)


class _Plan:
    """Sizes shared by both plans."""

    def __init__(self, x_shape, w_shape, pads, stride, dilation, groups, dtype):
        self.N, self.C, *self.size = x_shape
        self.F, self.Cg, *self.kernel = w_shape
        self.G, self.pads, self.stride, self.dilation = groups, tuple(pads), stride, dilation
        self.dtype = np.dtype(dtype)
        self.padded = tuple(s + pads[2 * i] + pads[2 * i + 1] for i, s in enumerate(self.size))
        self.out = _window.out_size(self.padded, self.kernel, stride, dilation)  # (OD, OH, OW)
        self.K = self.Cg * math.prod(self.kernel)                 # GEMM depth per group
        self.taps = math.prod(self.kernel)

    blocks_are_cols = False     # whether blocks() returns what cols() does

    def forget(self, buffer: np.ndarray) -> None:
        """Drop anything the plan keeps of ``buffer`` (the rows path keeps views)."""

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.N, self.F, *self.out)

    def weight_matrix(self, w: np.ndarray) -> np.ndarray:
        return w.reshape(self.G, self.F // self.G, self.K)       # (G, F/G, C/G·KD·KH·KW)


# ---------------------------------------------------------------------- rows path (stride 1)


class RowsPlan(_Plan):
    """A stride-1 convolution on the rows layout (see the module docstring).

    A sample's image is Dp planes of Hp rows of pitch P = max(W, OW): the top, bottom, front
    and back padding are stored as zero rows and planes, the left and right padding not at
    all. Tap (e, a, b) of output (i, h, j) reads image position i·plane + h·P + j +
    ``tap_offset(e, a, b)``, whose column j + b·dw − left lies in the same row only for the
    output columns :meth:`_inside` gives; the others read the neighbouring row (or the
    margins before and after the image) and are zeroed, which is what the padding would have
    given. Each output plane is computed as ``run_p = OH·P`` columns (the last P − OW of a
    row junk, none for "same" padding), in blocks of w columns (:func:`block_width`).
    """

    def __init__(self, x_shape, w_shape, pads, dilation, groups, dtype):
        super().__init__(x_shape, w_shape, pads, (1, 1, 1), dilation, groups, dtype)
        D, H, W = self.size
        self.front, _, self.top, _, self.left, right = pads
        (Dp, Hp, _), (OD, OH, OW) = self.padded, self.out
        self.P = max(W, OW)
        self.plane = Hp * self.P
        # Reads reach `left` before an image's first row, and past its last row by the right
        # padding that the row's free columns (P − W) do not hold.
        self.margin = self.left
        self.run_p = OH * self.P                                  # columns per output plane
        self.image = self.margin + Dp * self.plane + max(0, W + right - self.P)
        # the spread's runs (see _spread) reach the kernel's width further
        self.image = max(self.image, self.tap_offset_max() + self.run_p
                         + self.dilation[2] * (self.kernel[2] - 1))
        self.run = OD * self.run_p                                # columns per sample
        # blocks of whole rows, or (with no junk columns) of any part of the plane's run
        self.w = block_width(OH, self.P, self.F // self.G * self.K, sub_rows=self.P == OW)
        self.nblk = self.run_p // self.w                          # blocks per plane
        self.chunks = _window.batch_chunks(self.N, self.C * self.taps * self.run)
        self._views: dict = {}                  # whole-batch views, see _taps and _runs
        # (b, output columns) whose horizontal tap b reads another row
        self._outside = [(b, cut) for b in range(self.kernel[2])
                         for cut in (slice(0, self._inside(b).start),
                                     slice(self._inside(b).stop, self.P))
                         if cut.start < cut.stop]

    def pays(self) -> bool:
        OW = self.out[2]
        return self.P <= MAX_ROW_WASTE * OW and OW < ROWS_MAX_WIDTH

    def spread_pays(self) -> bool:
        """Whether dX is cheaper by spreading dZ over the horizontal taps than by folding.

        Per output column, spreading copies F·KW numbers and folds C·KD·KH; the plain fold
        writes and folds C·KD·KH·KW (an add costs about two copies).
        """
        KD, KH, KW = self.kernel
        span = self.run_p + self.dilation[2] * (KW - 1)       # a spread run, see _spread
        fits = self.out[0] == 1 or span <= self.plane         # one plane's run per plane
        return fits and self.F * KW + 2 * self.C * KD * KH < 2 * self.C * KD * KH * KW

    def tap_offset(self, e: int, a: int, b: int) -> int:
        """Where tap (e, a, b)'s run starts inside an image (may be before its first row)."""
        dd, dh, dw = self.dilation
        return self.margin + e * dd * self.plane + a * dh * self.P + b * dw - self.left

    def tap_offset_max(self) -> int:
        """Where the last output plane's run of vertical tap (KD − 1, KH − 1) starts."""
        KD, KH, _ = self.kernel
        return (self.out[0] - 1) * self.plane + self.tap_offset(KD - 1, KH - 1, 0)

    def _inside(self, b: int) -> slice:
        """The output columns j whose horizontal tap b reads inside its own row."""
        shift = b * self.dilation[2] - self.left
        return slice(max(0, -shift), min(self.out[2], self.P - shift))

    def _mask(self, cols: np.ndarray, b_axis: int, j_axis: int) -> None:
        """Zero the entries of an array over (…, b, …, j) whose tap b reads another row."""
        for b, cut in self._outside:
            index = [slice(None)] * cols.ndim
            index[b_axis], index[j_axis] = b, cut
            cols[tuple(index)] = 0

    def _mask_blocks(self, blocks: np.ndarray) -> None:
        """:meth:`_mask` for blocked columns (n, OD, blocks, C, KD, KH, KW, w)."""
        n, OD = blocks.shape[:2]
        if self.w >= self.P:                                 # whole rows per block
            self._mask(blocks.reshape(*blocks.shape[:-1], self.w // self.P, self.P), 6, 8)
            return
        parts = self.P // self.w                             # blocks per row
        grid = blocks.reshape(n, OD, self.out[1], parts, *blocks.shape[3:])
        for b, cut in self._outside:
            for k in range(parts):
                lo, hi = max(cut.start, k * self.w), min(cut.stop, (k + 1) * self.w)
                if lo < hi:
                    grid[:, :, :, k, ..., b, lo - k * self.w:hi - k * self.w] = 0

    def data(self, rows: np.ndarray) -> np.ndarray:
        """The unpadded (C, N, D, H, W) view of a rows buffer (C, N·image)."""
        C, N = rows.shape[0], rows.shape[1] // self.image
        Dp, Hp, _ = self.padded
        body = rows.reshape(C, N, self.image)[:, :, self.margin:self.margin + Dp * self.plane]
        body = body.reshape(C, N, Dp, Hp, self.P)                   # (C, N, Dp, Hp, P)
        return body[(Ellipsis, *_window.interior(self.size, (self.front, 0, self.top, 0,
                                                             0, 0)))]

    def _taps(self, rows: np.ndarray, part: slice, order: str) -> np.ndarray:
        """A view of every tap's runs of the samples ``part``: ``order`` "cols" gives (C, KD,
        KH, KW, n, OD, run_p), "blocks" gives (n, OD, blocks, C, KD, KH, KW, w).

        The whole batch's view is made once per buffer (views cost microseconds, a chunk's
        slice of one nothing)."""
        key = (id(rows), order)
        if key not in self._views:
            item, N = rows.itemsize, rows.shape[1] // self.image
            dd, dh, dw = self.dilation
            taps = (rows.strides[0], dd * self.plane * item, dh * self.P * item, dw * item)
            OD = self.out[0]
            if order == "cols":
                shape = (self.C, *self.kernel, N, OD, self.run_p)
                strides = (*taps, self.image * item, self.plane * item, item)
            else:
                shape = (N, OD, self.nblk, self.C, *self.kernel, self.w)
                strides = (self.image * item, self.plane * item, self.w * item, *taps, item)
            view = as_strided(rows[:, self.tap_offset(0, 0, 0):], shape=shape, strides=strides,
                              writeable=False)
            self._views[key] = (rows, view)          # holding rows keeps its id unique
        view = self._views[key][1]
        return view[(slice(None),) * 4 + (part,)] if order == "cols" else view[part]

    def _runs(self, drows: np.ndarray, tap, length: int) -> np.ndarray:
        """The (C, N, OD, length) view of the runs that tap (e, a[, b]) of every output plane
        read, in a rows buffer; made once per buffer and tap."""
        key = (id(drows), tap, length)
        if key not in self._views:
            item, N = drows.itemsize, drows.shape[1] // self.image
            start = self.tap_offset(*tap, *(0,) * (3 - len(tap)))
            view = as_strided(drows[:, start:], shape=(self.C, N, self.out[0], length),
                              strides=(drows.strides[0], self.image * item, self.plane * item,
                                       item))
            self._views[key] = (drows, view)
        return self._views[key][1]

    # -- the input's layout

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Pad and lay out channel-major: (N, C, D, H, W) -> (C, N·image), zeros around."""
        rows = np.zeros((self.C, self.N * self.image), dtype=x.dtype)  # (C, N·image)
        parallel.assign(self.data(rows), x.transpose(1, 0, 2, 3, 4))
        return rows

    def input_buffer(self) -> np.ndarray:
        return np.zeros((self.C, self.N * self.image), dtype=self.dtype)

    def finish(self, drows: np.ndarray) -> np.ndarray:
        """The (N, C, D, H, W) array held by a rows buffer (whose views are then dropped)."""
        dx = np.empty((self.N, self.C, *self.size), dtype=drows.dtype)
        parallel.assign(dx, self.data(drows).transpose(1, 0, 2, 3, 4), axis=1)
        self.forget(drows)
        return dx

    def forget(self, buffer: np.ndarray) -> None:
        """Drop the views made of ``buffer`` (and with them the plan's hold on it)."""
        self._views = {k: v for k, v in self._views.items() if k[0] != id(buffer)}

    # -- per chunk

    def cols(self, rows: np.ndarray, part: slice) -> np.ndarray:
        """Columns of the samples ``part``: (C, N·image) -> (G, C/G·KD·KH·KW, n·run).

        ``cols[c, e, a, b, k, i, p] = rows[c, (n0 + k)·image + i·plane + tap_offset(e, a, b)
        + p]``: every tap at once, one contiguous run per sample and output plane, the reads
        of other rows zeroed. Channels (or, with fewer channels than samples, samples) are
        cut over the engine's threads.
        """
        n = part.stop - part.start
        C, (OD, OH, _) = self.C, self.out
        cols = _window.scratch("cols", (C, *self.kernel, n, OD, self.run_p), rows.dtype)
        taps = self._taps(rows, part, "cols")
        by_channel = C >= n
        grid = cols.reshape(C, *self.kernel, n, OD, OH, self.P)

        def work(ps: slice) -> None:
            index = (ps,) if by_channel else (slice(None),) * 4 + (ps,)
            cols[index] = taps[index]
            self._mask(grid[index], 3, 7)

        parallel.parallel_for(work, C if by_channel else n, cols.size)
        return cols.reshape(self.G, self.K, n * self.run)

    def blocks(self, rows: np.ndarray, part: slice) -> np.ndarray:
        """The columns of :meth:`cols` in blocks of w: (n·OD·blocks, G, C/G·KD·KH·KW, w).

        Each block is contiguous, so that BLAS's kernels for small matrices take the products
        (OpenBLAS's run at full speed up to about 10^6 multiply-adds, unpacked).
        """
        n = part.stop - part.start
        shape = (n, self.out[0], self.nblk, self.C, *self.kernel, self.w)
        blocks = _window.scratch("blocks", shape, rows.dtype)
        taps = self._taps(rows, part, "blocks")

        def work(ks: slice) -> None:
            blocks[ks] = taps[ks]
            self._mask_blocks(blocks[ks])

        parallel.parallel_for(work, n, blocks.size)
        return blocks.reshape(-1, self.G, self.K, self.w)

    def dz(self, g: np.ndarray, part: slice) -> np.ndarray:
        """dZ of the samples ``part`` on the run grid, zero in the junk: (G, F/G, n·run)."""
        n = part.stop - part.start
        F, (OD, OH, OW) = self.F, self.out
        gr = _window.scratch("dz", (F, n, OD, OH, self.P), g.dtype)      # (F, n, OD, OH, P)
        gpart = g[part]

        def lay_out(fs: slice) -> None:
            gr[fs, ..., :OW] = gpart[:, fs].transpose(1, 0, 2, 3, 4)
            gr[fs, ..., OW:] = 0                                         # junk columns

        parallel.parallel_for(lay_out, F, gr.size)
        return gr.reshape(self.G, F // self.G, n * self.run)

    def correlate_into(self, wm: np.ndarray, blocks: np.ndarray, dst: np.ndarray,
                       bias: np.ndarray | None) -> None:
        """dst (n, F, OD, OH, OW) = wm · blocks (+ bias), the junk columns dropped."""
        n, F, (OD, _, OW) = dst.shape[0], self.F, self.out
        z = _blocked_matmul(wm, blocks, "z", dst.dtype)                  # (B, G, F/G, w)
        rows = max(1, self.w // self.P)                                  # rows per block
        width = self.w if self.w < self.P else OW                        # valid columns per row
        z = z.reshape(n, OD, self.nblk, F, rows, -1)[..., :width]
        out = dst.reshape(n, F, OD, self.nblk, rows, width)
        b = None if bias is None else bias.reshape(F, 1, 1, 1, 1)

        def put(ks: slice) -> None:
            valid = z[ks].transpose(0, 3, 1, 2, 4, 5)                  # (n', F, OD, blocks, …)
            if b is None:
                out[ks] = valid
            else:
                np.add(valid, b, out=out[ks])

        parallel.parallel_for(put, n, z.size)

    def weight_grad(self, cols: np.ndarray, gm: np.ndarray) -> np.ndarray:
        return np.matmul(cols, gm.transpose(0, 2, 1))                    # (G, C/G·KD·KH·KW, F/G)

    def transpose_into(self, gm: np.ndarray, w: np.ndarray, drows: np.ndarray,
                       part: slice) -> None:
        """Add the transposed convolution of dZ (samples ``part``, laid out by :meth:`dz`)
        onto the rows buffer."""
        if self.spread_pays():
            self._spread(gm, w, drows, part.start)
            return
        # dcols = Wᵀ·dZ, then every tap folded back
        dcols = np.matmul(self.weight_matrix(w).transpose(0, 2, 1), gm,
                          out=_window.scratch("dcols", (self.G, self.K, gm.shape[2]), gm.dtype))
        n, (OD, OH, _) = gm.shape[2] // self.run, self.out
        dcols = dcols.reshape(self.C, *self.kernel, n, OD, OH, self.P)
        self._mask(dcols, 3, 7)                      # what would have gone to another row
        self._fold(dcols.reshape(self.C, *self.kernel, n, OD, self.run_p),
                   list(np.ndindex(*self.kernel)), drows, part.start)

    def _fold(self, dcols: np.ndarray, taps, drows: np.ndarray, n0: int) -> None:
        """Add each tap's columns onto the run it was read from.

        dcols: (C, T…, n, OD, length) for the taps listed (as (e, a, b) or (e, a) with b = 0);
        drows (C, N·image) is updated in place. A few channels at a time, so that their images
        stay in the core's cache (about 256 kB) across the taps. The runs of one tap's planes
        must not overlap (``length`` at most a plane).
        """
        n, OD, length = dcols.shape[-3:]
        block = max(1, (1 << 18) // (n * self.image * drows.itemsize))
        samples = slice(n0, n0 + n)
        runs = [self._runs(drows, tap, length)[:, samples] for tap in taps]

        def work(part: slice) -> None:
            for c0 in range(part.start, part.stop, block):
                cs = slice(c0, min(c0 + block, part.stop))
                for tap, run in zip(taps, runs):
                    run[cs] += dcols[(cs, *tap)]

        parallel.parallel_for(work, self.C, dcols.size)

    def _spread(self, gm: np.ndarray, w: np.ndarray, drows: np.ndarray, n0: int) -> None:
        """dX by one GEMM over filters and horizontal taps, then a fold over the other taps.

        Spread dZ over the horizontal taps, ``S[f, b, p] = dZ[f, p − b·dw]`` over a plane's run
        and ``tail`` more columns (zero where output column p − b·dw reads another row through
        tap b); then ``V[c, e, a, p] = Σ_{f,b} W[f, c, e, a, b]·S[f, b, p]`` is the gradient of
        the positions that taps (e, a, ·) read, added at their offset.
        """
        G, F, (KD, KH, KW), dw = self.G, self.F, self.kernel, self.dilation[2]
        n, (OD, OH, _), run_p, P = gm.shape[2] // self.run, self.out, self.run_p, self.P
        span = run_p + dw * (KW - 1)
        wh = w.reshape(G, F // G, self.Cg, KD, KH, KW).transpose(0, 2, 3, 4, 1, 5)
        wh = wh.reshape(G, self.Cg * KD * KH, F // G * KW)             # (G, C/G·KD·KH, F/G·KW)
        spread = _window.scratch("dz_taps", (F, KW, n, OD, span), gm.dtype)
        gr = gm.reshape(F, n, OD, run_p)

        def shift(fs: slice) -> None:
            for b in range(KW):
                s = b * dw
                dst = spread[fs, b]
                dst[..., :s] = 0
                dst[..., s:s + run_p] = gr[fs]
                dst[..., s + run_p:] = 0
            # zero the outputs whose tap b reads another row: column j lands at j + s
            for b, cut in self._outside:
                dst = spread[fs, b]
                spots = as_strided(dst[..., cut.start + b * dw:],
                                   shape=(fs.stop - fs.start, n * OD, OH, cut.stop - cut.start),
                                   strides=(dst.strides[0], span * dst.itemsize,
                                            P * dst.itemsize, dst.itemsize))
                spots[...] = 0

        parallel.parallel_for(shift, F, spread.size)
        v = np.matmul(wh, spread.reshape(G, F // G * KW, -1),
                      out=_window.scratch("dcols", (G, wh.shape[1], n * OD * span), gm.dtype))
        self._fold(v.reshape(self.C, KD, KH, n, OD, span), list(np.ndindex(KD, KH)), drows, n0)


def block_width(OH: int, P: int, FK: int, sub_rows: bool) -> int:
    """Columns per block of a run of OH rows of P: r whole rows, or (with ``sub_rows``) P/m.

    Blocks of about ``BLOCK_COLUMNS`` columns run fastest through BLAS's small-matrix kernels;
    a block's product FK·w (FK = F/G·C/G·KD·KH·KW) must stay within ``SMALL_MNK``. When no
    width fits, the narrowest is taken.
    """
    widths = {r * P for r in range(1, OH + 1) if OH % r == 0}
    if sub_rows:
        widths |= {P // m for m in range(1, P + 1) if P % m == 0 and P // m >= 8}
    fitting = [w for w in widths if FK * w <= SMALL_MNK] or [min(widths)]
    return min(fitting, key=lambda w: abs(math.log(w / BLOCK_COLUMNS)))


def _blocked_matmul(a: np.ndarray, blocks: np.ndarray, name: str, dtype) -> np.ndarray:
    """``a @ blocks[i]`` for every block i: a (G, M, K), blocks (B, G, K, w) -> (B, G, M, w).

    One batched call per share of the blocks, the shares cut over the engine's threads (BLAS
    runs products this small on the calling thread).
    """
    B, G, _, w = blocks.shape
    out = _window.scratch(name, (B, G, a.shape[1], w), dtype)

    def work(bs: slice) -> None:
        np.matmul(a, blocks[bs], out=out[bs])

    parallel.parallel_for(work, B, out.size * a.shape[2])
    return out


# ---------------------------------------------------------------------- windows path


class WindowsPlan(_Plan):
    """A convolution of any stride through im2col over the strided window view."""

    blocks_are_cols = True

    def __init__(self, x_shape, w_shape, pads, stride, dilation, groups, dtype):
        super().__init__(x_shape, w_shape, pads, stride, dilation, groups, dtype)
        self.M = math.prod(self.out)                                  # outputs per sample
        self.small = self.F // self.G * self.K * self.M <= SMALL_GEMM
        self.chunks = _window.batch_chunks(self.N, self.C * self.taps * self.M)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        return _window.pad(x, self.pads)                              # (N, C, Dp, Hp, Wp)

    def input_buffer(self) -> np.ndarray:
        return np.empty((self.N, self.C, *self.padded), dtype=self.dtype)

    def finish(self, dxp: np.ndarray) -> np.ndarray:
        return _window.unpad(dxp, self.pads)                          # (N, C, D, H, W) view

    def cols(self, xp: np.ndarray, part: slice) -> np.ndarray:
        """Unfold every window into a column: (G, C/G·KD·KH·KW, n·OD·OH·OW).

        The copy is cut over the engine's threads along channels, or samples if there are more.
        """
        win = _window.windows(xp[part], self.kernel, self.stride, self.dilation)
        n = win.shape[0]                                              # (n, C, O..., K...)
        cols = _window.scratch("cols", (self.C, *self.kernel, n, *self.out), xp.dtype)
        parallel.assign(cols, win.transpose(1, 5, 6, 7, 0, 2, 3, 4),
                        axis=0 if self.C >= n else 4)
        return cols.reshape(self.G, self.K, n * self.M)

    def blocks(self, xp: np.ndarray, part: slice) -> np.ndarray:
        """The columns for :meth:`correlate_into`: this path's GEMMs take them whole."""
        return self.cols(xp, part)

    def dz(self, g: np.ndarray, part: slice) -> np.ndarray:
        """dZ of the samples ``part``: (G, F/G, n·M), or per sample (n, G, F/G, M)."""
        G, F = self.G, self.F
        if self.small:
            return np.ascontiguousarray(g[part]).reshape(-1, G, F // G, self.M)
        gpart = g[part]
        gm = _window.scratch("dz", (F, gpart.shape[0], *self.out), g.dtype)
        parallel.assign(gm, gpart.transpose(1, 0, 2, 3, 4))
        return gm.reshape(G, F // G, -1)

    def correlate_into(self, wm: np.ndarray, cols: np.ndarray, dst: np.ndarray,
                       bias: np.ndarray | None) -> None:
        n = dst.shape[0]
        if self.small:
            cs = cols.reshape(self.G, self.K, n, self.M)
            zs = dst.reshape(n, self.G, self.F // self.G, self.M)      # (n, G, F/G, M)
            _per_sample(lambda k: np.matmul(wm, cs[:, :, k], out=zs[k]), n, zs.size * self.K)
        else:
            z = np.matmul(wm, cols, out=_window.scratch("z", (self.G, wm.shape[1], n * self.M),
                                                        dst.dtype))
            parallel.assign(dst, z.reshape(self.F, n, *self.out).transpose(1, 0, 2, 3, 4),
                            axis=1)
        if bias is not None:
            dst += bias.reshape(1, self.F, 1, 1, 1)

    def weight_grad(self, cols: np.ndarray, gm: np.ndarray) -> np.ndarray:
        if not self.small:
            return np.matmul(cols, gm.transpose(0, 2, 1))             # (G, C/G·KD·KH·KW, F/G)
        n = gm.shape[0]
        cs = cols.reshape(self.G, self.K, n, self.M)
        sums = {}                                                     # one partial per slice

        def dw_slice(ks: slice) -> None:
            acc = np.zeros((self.G, self.K, self.F // self.G), dtype=gm.dtype)
            for k in range(ks.start, ks.stop):
                acc += np.matmul(cs[:, :, k], gm[k].transpose(0, 2, 1))
            sums[ks.start] = acc

        parallel.parallel_for(dw_slice, n, gm.size * self.K)
        return sum(sums[start] for start in sorted(sums))

    def transpose_into(self, gm: np.ndarray, w: np.ndarray, dxp: np.ndarray,
                       part: slice) -> None:
        """Write the transposed convolution of dZ (samples ``part``) into ``dxp[part]``.

        One GEMM applies every tap's W[:, :, e, a, b]ᵀ at once, then the KD·KH·KW shifted
        results are folded: the stride's zeros between dZ's entries are never multiplied.
        """
        G, K, M = self.G, self.K, self.M
        wt = self.weight_matrix(w).transpose(0, 2, 1)                 # (G, C/G·KD·KH·KW, F/G)
        n = part.stop - part.start
        if not self.small:
            self._transpose_by_phases(gm, wt, dxp[part])
            return
        dcols = _window.scratch("dcols", (G, K, n, M), gm.dtype)
        _per_sample(lambda k: np.matmul(wt, gm[k], out=dcols[:, :, k]), n, gm.size * K)
        # Fold with C ahead of N, the order dcols is stored in, so that every tap streams
        # through memory; the copy into (N, C, ...) order undoes the transpose.
        dwin = dcols.reshape(self.C, *self.kernel, n, *self.out).transpose(0, 4, 5, 6, 7, 1, 2, 3)
        folded = _window.fold(dwin, (self.C, n, *self.padded), self.stride, self.dilation)
        parallel.assign(dxp[part], folded.transpose(1, 0, 2, 3, 4), axis=1)

    def _transpose_by_phases(self, gm: np.ndarray, wt: np.ndarray, dst: np.ndarray) -> None:
        """The transposed convolution of dZ, gathered per phase of the stride.

        Tap t (per axis) sends output i to input position t·d + s·i: phase φ = t·d mod s, at
        index q + i of that phase's grid, q = t·d div s. dZ is laid out with rows of the
        phase grid's pitch (zeros past OW), so that Wᵀ·dZ holds each tap's contribution as
        whole rows of that pitch, and a tap's shift (q_h, q_w) within its phase grid is one
        contiguous run per plane: every tap is one long add, and each phase is then written
        into every s-th input position once.

        gm: (G, F/G, n·OD·OH·OW); dst: (n, C, Dp, Hp, Wp), every position written.
        """
        G, K, F, C = self.G, self.K, self.F, self.C
        (OD, OH, OW), stride, dilation = self.out, self.stride, self.dilation
        n = gm.shape[2] // self.M
        grid = [-(-p // s) for p, s in zip(self.padded, stride)]      # largest phase grid
        pitch = grid[2]
        gp = _window.scratch("dz_pitch", (F, n, OD, OH, pitch), gm.dtype)
        gr = gm.reshape(F, n, OD, OH, OW)

        def lay_out(fs: slice) -> None:
            gp[fs, ..., :OW] = gr[fs]
            gp[fs, ..., OW:] = 0

        parallel.parallel_for(lay_out, F, gp.size)
        dcols = np.matmul(wt, gp.reshape(G, F // G, -1),
                          out=_window.scratch("dcols", (G, K, n * OD * OH * pitch), gm.dtype))
        dcols = dcols.reshape(C, *self.kernel, n, OD, OH * pitch)
        phases: dict[tuple, list] = {}
        for tap in np.ndindex(*self.kernel):
            phases.setdefault(tuple(t * dl % s for t, dl, s in zip(tap, dilation, stride)),
                              []).append(tap)
        # a phase grid with one spare row, for the last row's shift past its end
        plane = (grid[1] + 1) * pitch

        def work(cs: slice) -> None:
            acc = np.empty((cs.stop - cs.start, n, grid[0], plane), dtype=dst.dtype)
            item = acc.itemsize
            for phase in np.ndindex(*stride):
                acc[...] = 0
                for tap in phases.get(phase, ()):
                    qd, qh, qw = (t * dl // s for t, dl, s in zip(tap, dilation, stride))
                    run = as_strided(acc[:, :, qd, qh * pitch + qw:],
                                     shape=(cs.stop - cs.start, n, OD, OH * pitch),
                                     strides=(*acc.strides[:2], plane * item, item))
                    run += dcols[(cs, *tap)]
                sizes = [-(-(p - f) // s) for p, f, s in zip(self.padded, phase, stride)]
                spots = tuple(slice(f, None, s) for f, s in zip(phase, stride))
                view = acc.reshape(*acc.shape[:3], grid[1] + 1, pitch)
                dst[(slice(None), cs, *spots)] = view[:, :, :sizes[0], :sizes[1],
                                                      :sizes[2]].transpose(1, 0, 2, 3, 4)

        parallel.parallel_for(work, C, dcols.size)


def _per_sample(product, n_samples: int, n_flops: int) -> None:
    """Call ``product(k)`` for k < n_samples, the samples cut over the engine's threads."""
    def work(ks: slice) -> None:
        for k in range(ks.start, ks.stop):
            product(k)

    parallel.parallel_for(work, n_samples, n_flops)
