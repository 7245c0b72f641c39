"""The two ways the engine computes a convolution's products: the rows path and the windows path.

A *plan* describes one convolution: an input x (N, C, D, H, W) padded by (front, back, top,
bottom, left, right), a kernel w (F, C/G, KD, KH, KW), stride, dilation and G groups. Both
plans unfold the input into columns (one column per output position, one row per (channel,
kernel tap)) and make every product one GEMM per group; they work on chunks of the batch
(``_window.batch_chunks``), and offer the same pieces per chunk:

``cols(L, part)``
    the im2col matrix (G, C/G·KD·KH·KW, n·M) of the samples ``part`` of a prepared input L;
``dz(z, part)``
    an array of the output's shape (N, F, OD, OH, OW), laid out on the GEMM's grid;
``correlate_into(wm, cols, dst, bias)``
    the convolution of those samples, written into ``dst`` (n, F, OD, OH, OW);
``weight_grad(cols, gm)``
    the input correlated with dZ: Σ over samples and positions of column × dZ;
``transpose_into(gm, w, buf, part)``
    the transposed convolution of dZ: what each output position sends back to the inputs
    its window read, added onto ``buf`` (the input's layout, see ``input_buffer``/``finish``).

The GEMMs run on BLAS's threads, the copies around them on the engine's
(:mod:`stridelab.core.parallel`).

* Rows (stride 1, :class:`RowsPlan`): the padded input is held channel-major, each channel's
  images back to back, every image row P elements apart, where P >= W + max(left, right): the
  zeros after one row serve as the right padding of that row and the left padding of the next;
  planes (depth) follow each other Hp rows apart. With stride 1, tap (e, a, b) of a whole
  sample then reads one contiguous run of that buffer starting at e·dd·Hp·P + a·dh·P + b·dw.
  Columns are computed at every position of the run: the last P − OW of each row (and, in 3-D,
  the Hp − OH rows after each plane) are junk, dropped (forward) or met with zeros (backward).
  Unfolding copies long runs instead of OW-long pieces, for P/OW more GEMM work (15/14 for a
  3x3 "same" kernel on 14x14); the path is taken when that ratio is at most
  ``MAX_ROW_WASTE``. For dX, wide kernels unfold dZ over the KW horizontal taps, so that one
  GEMM sums over filters and horizontal taps and only the KD·KH other taps are folded; others
  fold all taps of Wᵀ·dZ.
* Windows (any stride, :class:`WindowsPlan`): im2col over the strided window view, fold tap
  by tap with ``_window.fold``. When one sample's product is small (``SMALL_GEMM``) every
  GEMM is done sample by sample, the samples cut over the engine's threads.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from stridelab.core import _window, parallel

# The rows path pays for short rows; from this output width on, the windows path copies runs
# as long as the rows path's and computes no junk columns (measured: conv1d with L = 256).
ROWS_MAX_WIDTH = 64

# The rows path computes P columns per output row for OW useful ones; above this ratio the
# windows path's exact GEMMs are cheaper than the rows path's cheaper copies.
MAX_ROW_WASTE = 1.25

# One sample's product (F/G)·(C/G·KD·KH·KW)·(OD·OH·OW) up to this size is done sample by
# sample: BLAS runs products this small on one thread (OpenBLAS below 2^18), so the samples can
# be spread over the engine's threads instead. One multi-threaded GEMM over a whole batch of
# such thin products stops its threads at every block of the long dimension, which on cores
# shared with other work costs a scheduler tick each time.
SMALL_GEMM = 1 << 18


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

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.N, self.F, *self.out)

    def weight_matrix(self, w: np.ndarray) -> np.ndarray:
        return w.reshape(self.G, self.F // self.G, self.K)       # (G, F/G, C/G·KD·KH·KW)


# ---------------------------------------------------------------------- rows path (stride 1)


class RowsPlan(_Plan):
    """A stride-1 convolution on the rows layout (see the module docstring).

    A sample's image is Dp planes of Hp rows of pitch P, then ``tail`` zeros that the last
    taps reach into; its ``run`` (the columns computed per sample) covers the outputs.
    """

    def __init__(self, x_shape, w_shape, pads, dilation, groups, dtype):
        super().__init__(x_shape, w_shape, pads, (1, 1, 1), dilation, groups, dtype)
        D, H, W = self.size
        front, back, self.top, bottom, self.left, right = pads
        self.front = front
        (_, Hp, _), (OD, OH, OW) = self.padded, self.out
        # Row pitch: the gap after a row's data must hold its right padding and the next
        # row's left padding (both zeros), and a row must hold OW columns.
        self.P = max(W + max(self.left, right), OW)
        self.plane = Hp * self.P
        self.tail = dilation[2] * (self.kernel[2] - 1)           # the last tap's reach past planes
        self.image = self.padded[0] * self.plane + self.tail      # elements per sample
        self.run = (OD - 1) * self.plane + OH * self.P            # columns per sample, junk included
        self.chunks = _window.batch_chunks(self.N, self.C * self.taps * self.run)

    def pays(self) -> bool:
        OW = self.out[2]
        return self.run <= MAX_ROW_WASTE * math.prod(self.out) and OW < ROWS_MAX_WIDTH

    def spread_pays(self) -> bool:
        """Whether dX is cheaper by spreading dZ over the horizontal taps than by folding.

        Per output column, spreading copies F·KW numbers and folds C·KD·KH; the plain fold
        writes and folds C·KD·KH·KW (an add costs about two copies). The spread's GEMM has
        only C/G·KD·KH rows, which BLAS runs slowly below a few dozen.
        """
        KD, KH, KW = self.kernel
        spread = self.F * KW + 2 * self.C * KD * KH
        return self.Cg * KD * KH >= 32 and spread < 2 * self.C * KD * KH * KW

    def tap_offset(self, e: int, a: int, b: int) -> int:
        """Where tap (e, a, b)'s run starts inside an image."""
        dd, dh, dw = self.dilation
        return e * dd * self.plane + a * dh * self.P + b * dw

    def data(self, rows: np.ndarray) -> np.ndarray:
        """The unpadded (C, N, D, H, W) view of a rows buffer (C, N·image)."""
        C, N = rows.shape[0], rows.shape[1] // self.image
        Dp, Hp, _ = self.padded
        body = rows.reshape(C, N, self.image)[:, :, :Dp * self.plane]
        body = body.reshape(C, N, Dp, Hp, self.P)                   # (C, N, Dp, Hp, P)
        return body[(Ellipsis, *_window.interior(self.size, (self.front, 0, self.top, 0,
                                                             self.left, 0)))]

    def grid(self, a: np.ndarray, extent: int) -> np.ndarray:
        """The (A, n, OD, OH, W') view of run-laid-out columns a (A, n, run): W' <= P wide."""
        item = a.itemsize
        A, n = a.shape[:2]
        return as_strided(a, shape=(A, n, self.out[0], self.out[1], extent),
                          strides=(a.strides[0], a.strides[1], self.plane * item,
                                   self.P * item, item))

    # -- the input's layout

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Pad and lay out channel-major: (N, C, D, H, W) -> (C, N·image), zeros around."""
        rows = np.zeros((self.C, self.N * self.image), dtype=x.dtype)  # (C, N·image)
        parallel.assign(self.data(rows), x.transpose(1, 0, 2, 3, 4))
        return rows

    def input_buffer(self) -> np.ndarray:
        return np.zeros((self.C, self.N * self.image), dtype=self.dtype)

    def finish(self, drows: np.ndarray) -> np.ndarray:
        """The (N, C, D, H, W) array held by a rows buffer."""
        dx = np.empty((self.N, self.C, *self.size), dtype=drows.dtype)
        parallel.assign(dx, self.data(drows).transpose(1, 0, 2, 3, 4), axis=1)
        return dx

    # -- per chunk

    def cols(self, rows: np.ndarray, part: slice) -> np.ndarray:
        """Columns of the samples ``part``: (C, N·image) -> (G, C/G·KD·KH·KW, n·run).

        ``cols[c, e, a, b, k, p] = rows[c, (n0 + k)·image + tap_offset(e, a, b) + p]``: every
        tap at once, each one contiguous run per sample. Channels (or, with fewer channels
        than samples, samples) are cut over the engine's threads.
        """
        n0, n = part.start, part.stop - part.start
        C, item = self.C, rows.itemsize
        dd, dh, dw = self.dilation
        cols = _window.scratch("cols", (C, *self.kernel, n, self.run), rows.dtype)
        taps = as_strided(rows[:, n0 * self.image:], shape=cols.shape,
                          strides=(rows.strides[0], dd * self.plane * item, dh * self.P * item,
                                   dw * item, self.image * item, item), writeable=False)
        by_channel = C >= n

        def work(ps: slice) -> None:
            index = (ps,) if by_channel else (slice(None),) * 4 + (ps,)
            cols[index] = taps[index]

        parallel.parallel_for(work, C if by_channel else n, cols.size)
        return cols.reshape(self.G, self.K, n * self.run)

    def dz(self, g: np.ndarray, part: slice) -> np.ndarray:
        """dZ of the samples ``part`` on the run grid, zero in the junk: (G, F/G, n·run)."""
        n = part.stop - part.start
        F, (OD, OH, OW) = self.F, self.out
        gr = _window.scratch("dz", (F, n, self.run), g.dtype)             # (F, n, run)
        gpart = g[part]

        def lay_out(fs: slice) -> None:
            rows = self.grid(gr[fs], self.P)                             # (F', n, OD, OH, P)
            rows[..., :OW] = gpart[:, fs].transpose(1, 0, 2, 3, 4)
            rows[..., OW:] = 0                                           # junk columns
            if OD > 1:                                                   # junk rows of a plane
                gaps = as_strided(gr[fs, :, OH * self.P:], shape=(fs.stop - fs.start, n, OD - 1,
                                                                  self.plane - OH * self.P),
                                  strides=(*gr.strides[:2], self.plane * gr.itemsize,
                                           gr.itemsize))
                gaps[...] = 0

        parallel.parallel_for(lay_out, F, gr.size)
        return gr.reshape(self.G, F // self.G, n * self.run)

    def correlate_into(self, wm: np.ndarray, cols: np.ndarray, dst: np.ndarray,
                       bias: np.ndarray | None) -> None:
        """dst (n, F, OD, OH, OW) = wm · cols (+ bias), the junk columns dropped."""
        n = dst.shape[0]
        zr = np.matmul(wm, cols, out=_window.scratch("z", (self.G, wm.shape[1], n * self.run),
                                                     dst.dtype))
        zr = zr.reshape(self.F, n, self.run)
        b = None if bias is None else bias.reshape(self.F, 1, 1, 1)

        def put(fs: slice) -> None:
            valid = self.grid(zr[fs], self.out[2]).transpose(1, 0, 2, 3, 4)  # (n, F', OD, OH, OW)
            if b is None:
                dst[:, fs] = valid
            else:
                np.add(valid, b[fs], out=dst[:, fs])

        parallel.parallel_for(put, self.F, zr.size)

    def weight_grad(self, cols: np.ndarray, gm: np.ndarray) -> np.ndarray:
        return np.matmul(cols, gm.transpose(0, 2, 1))                    # (G, C/G·KD·KH·KW, F/G)

    def transpose_into(self, gm: np.ndarray, w: np.ndarray, drows: np.ndarray,
                       part: slice) -> None:
        """Add the transposed convolution of dZ (samples ``part``) onto the rows buffer."""
        if self.spread_pays():
            self._spread(gm, w, drows, part)
        else:
            dcols = np.matmul(self.weight_matrix(w).transpose(0, 2, 1), gm,
                              out=_window.scratch("dcols", (self.G, self.K, gm.shape[2]),
                                                  gm.dtype))
            self._fold(dcols.reshape(self.C, *self.kernel, -1, self.run), drows, part.start)

    def _tap_runs(self, rows: np.ndarray, offset: int, n0: int, n: int, length: int):
        """View (C', n, length) of ``rows[c, (n0 + k)·image + offset :][:length]`` for k < n."""
        item = rows.itemsize
        return as_strided(rows[:, n0 * self.image + offset:], shape=(rows.shape[0], n, length),
                          strides=(rows.strides[0], self.image * item, item))

    def _fold(self, dcols: np.ndarray, drows: np.ndarray, n0: int) -> None:
        """Adjoint of :meth:`cols`: add each tap's columns onto the run it was read from.

        dcols: (C, KD, KH, KW, n, run), zero in the junk columns; drows (C, N·image) is
        updated in place. Each run stays inside its sample's image (the zero tail included).
        """
        n = dcols.shape[4]
        # All taps add onto the same images: a few channels at a time, so that their images
        # stay in the core's cache (about 256 kB) across the taps.
        block = max(1, (1 << 18) // (n * self.image * drows.itemsize))

        def work(part: slice) -> None:
            for c0 in range(part.start, part.stop, block):
                cs = slice(c0, min(c0 + block, part.stop))
                dst = drows[cs]
                for tap in np.ndindex(*self.kernel):
                    runs = self._tap_runs(dst, self.tap_offset(*tap), n0, n, self.run)
                    runs += dcols[(cs, *tap)]

        parallel.parallel_for(work, self.C, dcols.size)

    def _spread(self, gm: np.ndarray, w: np.ndarray, drows: np.ndarray, part: slice) -> None:
        """dX by one GEMM over filters and horizontal taps, then a fold over the other taps.

        Spread dZ over the horizontal taps, ``spread[f, b, k, p] = dZ[f, k, p − b·dw]`` (run
        + tail long); then ``V[c, e, a, k, p] = Σ_{f,b} W[f, c, e, a, b]·spread[f, b, k, p]``
        is the gradient of the input run that taps (e, a, ·) read, added at their offset.
        """
        G, F, (KD, KH, KW), dw = self.G, self.F, self.kernel, self.dilation[2]
        n, run = gm.shape[2] // self.run, self.run
        span = run + self.tail
        gr = gm.reshape(F, n, run)
        wh = w.reshape(G, F // G, self.Cg, KD, KH, KW).transpose(0, 2, 3, 4, 1, 5)
        wh = wh.reshape(G, self.Cg * KD * KH, F // G * KW)             # (G, C/G·KD·KH, F/G·KW)
        spread = _window.scratch("dz_taps", (F, KW, n, span), gm.dtype)  # (F, KW, n, run + tail)

        def shift(fs: slice) -> None:
            for b in range(KW):
                spread[fs, b, :, :b * dw] = 0
                spread[fs, b, :, b * dw:b * dw + run] = gr[fs]
                spread[fs, b, :, b * dw + run:] = 0

        parallel.parallel_for(shift, F, spread.size)
        v = np.matmul(wh, spread.reshape(G, F // G * KW, n * span),
                      out=_window.scratch("dcols", (G, wh.shape[1], n * span), gm.dtype))
        v = v.reshape(self.C, KD, KH, n, span)                          # (C, KD, KH, n, span)
        block = max(1, (1 << 18) // (n * self.image * drows.itemsize))

        def fold(ps: slice) -> None:
            for c0 in range(ps.start, ps.stop, block):
                cs = slice(c0, min(c0 + block, ps.stop))
                dst = drows[cs]
                for e, a in np.ndindex(KD, KH):
                    self._tap_runs(dst, self.tap_offset(e, a, 0), part.start, n, span)[...] \
                        += v[cs, e, a]

        parallel.parallel_for(fold, self.C, v.size)


# ---------------------------------------------------------------------- windows path


class WindowsPlan(_Plan):
    """A convolution of any stride through im2col over the strided window view."""

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
        dcols = _window.scratch("dcols", (G, K, n, M), gm.dtype)
        if self.small:
            _per_sample(lambda k: np.matmul(wt, gm[k], out=dcols[:, :, k]), n, gm.size * K)
        else:
            np.matmul(wt, gm, out=dcols.reshape(G, K, n * M))
        # Fold with C ahead of N, the order dcols is stored in, so that every tap streams
        # through memory; the copy into (N, C, ...) order undoes the transpose.
        dwin = dcols.reshape(self.C, *self.kernel, n, *self.out).transpose(0, 4, 5, 6, 7, 1, 2, 3)
        folded = _window.fold(dwin, (self.C, n, *self.padded), self.stride, self.dilation)
        parallel.assign(dxp[part], folded.transpose(1, 0, 2, 3, 4), axis=1)


def _per_sample(product, n_samples: int, n_flops: int) -> None:
    """Call ``product(k)`` for k < n_samples, the samples cut over the engine's threads."""
    def work(ks: slice) -> None:
        for k in range(ks.start, ks.stop):
            product(k)

    parallel.parallel_for(work, n_samples, n_flops)
