"""2-D convolution and transposed convolution, each the other's adjoint; PixelCNN masks.

Layouts follow PyTorch: conv2d's weight is (C_out, C_in/groups, kh, kw), conv_transpose2d's
is (C_in, C_out/groups, kh, kw), and output sizes follow PyTorch's rules. Internally a padding
is ((top, bottom), (left, right)); conv2d also takes that form, which PixelCNN's masked convs
use to drop their all-zero bottom kernel rows (:func:`conv2d_top_rows`).

How the work is laid out. Every product is a GEMM over ``cols``, the input windows
(K = C/groups*kh*kw taps per output pixel, P = oh*ow pixels per image) copied once out of a
strided view, in one of two layouts (:func:`_per_image` picks by K and P):

- per image, (N, G, K, P): ``W (G, O/G, K) @ cols`` is a batch of N GEMMs that lands directly
  in (N, O, oh, ow), and a 1x1 stride-1 conv needs no cols at all (they are x itself). Used
  for large maps: at one BLAS thread it beats the channel-major layout's (N, C) <-> (C, N)
  transposes of inputs, outputs and output gradients, which cost more than the GEMMs of
  PixelCNN's 1x1 convs (measured 2-6x per 1x1 product on 28x28 maps, batch 32).
  A stride-1 per-image conv with a kernel builds its cols a few images at a time in the
  "flat rows" layout of :class:`_FlatRows` (each tap's windows of an image one contiguous
  run, outputs on a grid Wp wide, cropped), in a small buffer that stays in cache: PixelCNN's
  masked 3x3 (32 channels, 28x28, batch 32, one thread) takes 0.6x its former time forward
  + backward (2.1x -> 1.3x PyTorch, medians on a shared machine), as no 19 MB cols are
  copied, page-faulted or kept for the backward (its weight gradient copies its chunks
  again, from x).
- channel-major, (G, K, N*P): one GEMM per group; only outputs and output gradients are
  transposed. Used for small maps with many taps (a DCGAN's 7x7), where per-image GEMMs are
  thin and the weight gradient's per-image partial sums would outgrow gy and cols. Where the
  batch is wider than the output rows the pixels are ordered (oh, ow, N) instead
  (:func:`_batch_last`), so that the copies run along the batch.

Per-image GEMMs are many small BLAS calls, and with two BLAS threads on cores that other
processes keep busy each call can wait for a thread hand-off: measured on a 2-core machine
at load 7, a PixelCNN step took 10x its PyTorch twin at two threads (3x with channel-major
only), against 1.7x at one thread. So the per-image layout is used only while NumPy's BLAS
runs one thread (``backend.blas_threads``; e.g. under ``threadpool_limits(1)``).

- conv_transpose2d (and so conv2d's input gradient): with stride 1, when its cols would be
  no larger than col2im's taps (C * output pixels <= O * input pixels, or a 1x1 kernel), it
  is a plain correlation of the padded input with the flipped kernel (one more im2col, no
  scatter). With a stride that divides the kernel (a DCGAN's 4x4 stride 2), and cols no
  larger than col2im's taps, each of the stride**2 output phases is such a correlation with
  a (k/stride)**2 sub-kernel, all on one im2col (:func:`_conv_transpose2d_phases`: 0.74x
  the time of col2im forward for a DCGAN's 128 -> 64 channel layer; at one BLAS thread
  only, as the per-image layout). Otherwise it is a GEMM
  into taps followed by "col2im", kh*kw strided slice-adds (one vectorized add per kernel
  tap, never a scatter per entry), laid out so that each add runs along a long contiguous
  axis.
- A conv whose kernel covers its whole unpadded input (a DCGAN critic's last 7x7 conv) is a
  dense layer, x (N, C*H*W) times the weight as it lies, with no cols; so are its adjoint, a
  transposed conv from a 1x1 input (a generator's first layer), and both weight gradients
  (:func:`_is_dense`: 1.3 -> 0.6 ms for that generator layer's forward).
- The weight gradient is its own op (the forward's cols reused, or in a transposed conv's
  backward the cols its input gradient just cut); its backward, for second derivatives, is
  again a pair of convolutions.
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.reduction import sum as reduce_sum
from tinygen.autograd.ops.shape import getitem, pad
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


# --------------------------------------------------------------------------- raw kernels
def _crop_negative(x, rows: tuple, columns: tuple):
    """Crop the sides of (N, C, H, W) whose padding is negative: (a view, the paddings left)."""
    if min(rows + columns) < 0:
        h, w = x.shape[2:]
        x = x[:, :, max(-rows[0], 0):h - max(-rows[1], 0),
              max(-columns[0], 0):w - max(-columns[1], 0)]
        rows = tuple(max(r, 0) for r in rows)
        columns = tuple(max(c, 0) for c in columns)
    return x, (rows, columns)


def _batch_last(x, kernel, out_hw) -> bool:
    """Whether a conv of x (N, C, H, W) with channel-major cols orders their pixels, its
    output's and its output gradient's (oh, ow, N) rather than (N, oh, ow).

    When the batch is at least twice as wide as the output rows the cols copy then runs
    along the batch (a DCGAN's 4x4 stride-2 im2col, batch 64 on 14x14 maps: 1.0 ms against
    2.9 ms, whose inner runs were 7 values 2 apart), at the price of first moving x to
    batch-last and of full transposes of outputs and output gradients: so only where the
    cols hold each input pixel at least twice (not a 7x7 conv of a 7x7 map), and not for
    PixelCNN's 28x28 maps at batch 32 (1.1x slower forward + backward at two threads).
    """
    n, _, h, w = x.shape
    return 2 * out_hw[1] <= n and out_hw[0] * out_hw[1] * kernel[0] * kernel[1] >= 2 * h * w


def _padded_batch_last(x, pads):
    """x zero-padded (or cropped) per ``pads`` in a (C, Hp, Wp, N) buffer, returned as its
    (N, C, Hp, Wp) view, so that windows taken from it run along the batch."""
    x, ((top, bottom), (left, right)) = _crop_negative(x, *pads)
    n, c, h, w = x.shape
    padded = get_array_module(x).zeros((c, h + top + bottom, w + left + right, n), x.dtype)
    padded[:, top:top + h, left:left + w] = x.transpose(1, 2, 3, 0)
    return padded.transpose(3, 0, 1, 2)  # (C, Hp, Wp, N) -> a view (N, C, Hp, Wp)


def _pad_or_crop(x, rows: tuple, columns: tuple):
    """Zero-pad (positive) or crop (negative) the two spatial axes of (N, C, H, W) per side."""
    x, (rows, columns) = _crop_negative(x, rows, columns)
    if max(rows + columns) == 0:
        return x
    return get_array_module(x).pad(x, ((0, 0), (0, 0), rows, columns))


def _is_dense(x, kernel, pads, dilation, groups) -> bool:
    """Whether a conv of x is a dense layer: one window, the whole unpadded input (a DCGAN
    discriminator's last 7x7 conv of a 7x7 map, and so the input gradient of a generator's
    first transposed conv from 1x1). Its product is then x (N, C*H*W) against the weight
    as it lies, with no cols and no transposes."""
    return (groups == 1 and dilation == (1, 1) and not any(pads[0] + pads[1])
            and tuple(kernel) == x.shape[2:])


def _per_image(x, taps: int, pixels: int) -> bool:
    """Whether a conv's GEMMs run image by image on (N, G, K, P) cols, or as one GEMM per
    group on channel-major (G, K, N*P) cols (K = C/G*kh*kw taps, P = oh*ow pixels).

    Per image, outputs land in (N, O, oh, ow) with no copy and a 1x1 conv needs no cols at
    all, but the weight gradient writes (N, O/G, K) partial sums and each GEMM is only P
    wide. Channel-major instead copies each output and output gradient, (N, O/G, P) each.
    So per image unless K > 2P: PixelCNN's 28x28 maps run per image, a DCGAN's 7x7 maps with
    512 or 1024 taps channel-major (its step, 3.3x its PyTorch twin with those per image too,
    is 1.9x this way). And only at one BLAS thread (see the module notes): with more, N
    small multi-threaded GEMMs wait on thread hand-offs, and one big GEMM wins.
    """
    return taps <= 2 * pixels and backend.blas_threads(x) == 1


# bytes of cols per chunk of images in the flat-rows layout: half of a core's L2 (2 MiB on
# the Sapphire Rapids measured), so that each chunk's copy and GEMM stay in cache
_CHUNK_BYTES = 1 << 20


def _uses_flat_rows(x, kernel, stride, pads, groups, out_hw) -> bool:
    """Whether a conv runs on :class:`_FlatRows` chunks: stride 1, per image, cols needed
    (a 1x1 unpadded conv's windows are x itself), and at most a quarter of the output grid
    junk (a 7x7 conv's input gradient, 7x7 outputs on rows of 13, ran 1.27x slower)."""
    if stride != (1, 1) or (kernel == (1, 1) and not any(pads[0] + pads[1])):
        return False
    junk_columns = x.shape[3] + sum(pads[1]) - out_hw[1]
    return 4 * junk_columns <= out_hw[1] and _per_image(
        x, x.shape[1] // groups * kernel[0] * kernel[1], out_hw[0] * out_hw[1])


class _FlatRows:
    """The cols of a stride-1 conv, a chunk of images at a time, in the flat-rows layout.

    Each image is zero-padded into a buffer whose rows lie end to end (Hp*Wp values, plus a
    tail of zeros for the last taps to read), so that the window of tap (i, j) at output
    pixel (r, s) sits at (r + i dh) Wp + s + j dw: each tap's cols for the whole image are
    one contiguous run of oh*Wp values, copied at memcpy speed (numpy's copy of the 6-D
    window view runs 28 values at a time, 2.3x slower on PixelCNN's 28x28 maps). The
    products then come out on an (oh, Wp) grid whose last Wp - ow columns are junk: a
    forward crops them, a weight gradient meets them with zero columns of gy.

    Chunks hold about ``_CHUNK_BYTES`` of cols, so the copy and its GEMM stay in cache, and
    nothing image-sized is allocated (fresh 19 MB cols page-faulted on every call: a
    PixelCNN 3x3's im2col took 3.4 ms in a training step against 1.5 ms in isolation).
    Iterating yields (start, stop, cols), cols (stop - start, C*kh*kw, oh*Wp) in a buffer
    that the next chunk overwrites.
    """

    def __init__(self, x, kernel, pads, dilation, out_rows):
        xp = get_array_module(x)
        self.x, ((top, bottom), (left, right)) = _crop_negative(x, *pads)
        n, c, h, w = self.x.shape
        (kh, kw), (_, dw) = kernel, dilation
        height, self.row_width = h + top + bottom, w + left + right
        length = out_rows * self.row_width
        self.images = max(1, min(n, _CHUNK_BYTES // (c * kh * kw * length * x.itemsize)))
        flat = xp.zeros((self.images, c, height * self.row_width + dw * (kw - 1)), x.dtype)
        # (b, C, Hp*Wp) -> (b, C, Hp, Wp), then the image's place inside its zero border
        self.interior = flat[:, :, :height * self.row_width].reshape(
            self.images, c, height, self.row_width)[:, :, top:top + h, left:left + w]
        self.windows = backend.shifted_rows(flat, kernel, dilation, self.row_width, length)
        self.cols = xp.empty((self.images, c, kh, kw, length), x.dtype)

    def __iter__(self):
        n = self.x.shape[0]
        for start in range(0, n, self.images):
            stop = min(start + self.images, n)
            self.interior[:stop - start] = self.x[start:stop]
            self.cols[:stop - start] = self.windows[:stop - start]
            # (b, C, kh, kw, oh*Wp) -> (b, C*kh*kw, oh*Wp)
            yield start, stop, self.cols[:stop - start].reshape(stop - start, -1,
                                                                 self.cols.shape[-1])


def _im2col(x, kernel, stride, pads, dilation, groups, out_hw=None):
    """The windows of x (N, C, H, W) as cols: (N, G, K, oh*ow) when :func:`_per_image`
    says so, else channel-major (G, K, N*oh*ow), with K = C/G*kh*kw and the pixels in
    (oh, ow, N) order where :func:`_batch_last`.

    ``pads`` is ((top, bottom), (left, right)); ``out_hw`` keeps only the first windows
    (a transposed conv's output_padding rows have no partner in its input).
    """
    xp = get_array_module(x)
    n, c = x.shape[:2]
    taps = c // groups * kernel[0] * kernel[1]
    if kernel == (1, 1) and stride == (1, 1) and not any(pads[0] + pads[1]) and (
            out_hw is None or tuple(out_hw) == x.shape[2:]):
        # a 1x1 conv's windows are the pixels themselves
        if _per_image(x, taps, x.shape[2] * x.shape[3]):
            return x.reshape(n, groups, taps, -1)  # (N, C, H, W) -> (N, G, C/G, H*W)
        # (N, C, H, W) -> (C, N, H, W) -> (G, C/G, N*H*W)
        return xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(groups, taps, -1)
    if out_hw is None:
        out_hw = tuple((x.shape[2 + a] + sum(pads[a]) - dilation[a] * (kernel[a] - 1) - 1)
                       // stride[a] + 1 for a in range(2))
    oh, ow = out_hw
    per_image = _per_image(x, taps, oh * ow)
    batch_last = not per_image and _batch_last(x, kernel, out_hw)
    padded = _padded_batch_last(x, pads) if batch_last else _pad_or_crop(x, *pads)
    windows = backend.sliding_windows(padded, kernel, stride, dilation)[:, :, :oh, :ow]
    if per_image:
        # (N, C, oh, ow, kh, kw) -> (N, C, kh, kw, oh, ow) -> (N, G, K, oh*ow): the one copy
        cols = xp.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3))
        return cols.reshape(n, groups, taps, oh * ow)
    if batch_last:
        # (N, C, oh, ow, kh, kw) -> (C, kh, kw, oh, ow, N) -> (G, K, oh*ow*N): the one copy
        cols = xp.ascontiguousarray(windows.transpose(1, 4, 5, 2, 3, 0))
    else:
        # (N, C, oh, ow, kh, kw) -> (C, kh, kw, N, oh, ow) -> (G, K, N*oh*ow): the one copy
        cols = xp.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3))
    return cols.reshape(groups, taps, n * oh * ow)


def _conv2d_raw(x, weight, stride, dilation, groups, pads):
    """Raw conv2d, (N, C, H, W) -> (N, O, oh, ow), plus the cols it built.

    ``pads`` is ((top, bottom), (left, right)).
    """
    xp = get_array_module(x)
    n, _, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    oh = (h + sum(pads[0]) - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + sum(pads[1]) - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if _is_dense(x, (kh, kw), pads, dilation, groups):
        # (N, C, H, W) -> (N, C*H*W) @ (C*H*W, O) -> (N, O) -> (N, O, 1, 1)
        return backend.matmul(x.reshape(n, -1), weight.reshape(out_channels, -1).T).reshape(
            n, out_channels, 1, 1), None
    # (O, C/G, kh, kw) -> (G, O/G, K)
    w_groups = weight.reshape(groups, out_channels // groups, -1)
    if _uses_flat_rows(x, (kh, kw), stride, pads, groups, (oh, ow)):
        chunks = _FlatRows(x, (kh, kw), pads, dilation, oh)
        y = xp.empty((n, out_channels, oh, ow), dtype=x.dtype)
        wide = xp.empty((chunks.images, out_channels, oh, chunks.row_width), dtype=x.dtype)
        for start, stop, cols in chunks:
            # (G, O/G, K) @ (b, G, K, oh*Wp) -> (b, G, O/G, oh*Wp), a view of (b, O, oh, Wp)
            xp.matmul(w_groups, cols.reshape(stop - start, groups, w_groups.shape[2], -1),
                      out=wide[:stop - start].reshape(stop - start, groups, -1, cols.shape[2]))
            y[start:stop] = wide[:stop - start, :, :, :ow]
        return y, None
    cols = _im2col(x, (kh, kw), stride, pads, dilation, groups)
    if cols.ndim == 4:
        # (G, O/G, K) @ (N, G, K, P) -> (N, G, O/G, P) -> (N, O, oh, ow), a view
        return xp.matmul(w_groups, cols).reshape(n, out_channels, oh, ow), cols
    y = xp.matmul(w_groups, cols)  # (G, O/G, K) @ (G, K, N*P) -> (G, O/G, N*P)
    if _batch_last(x, (kh, kw), (oh, ow)):
        y = y.reshape(out_channels, oh, ow, n).transpose(3, 0, 1, 2)  # -> (N, O, oh, ow)
    else:
        y = y.reshape(out_channels, n, oh, ow).transpose(1, 0, 2, 3)  # -> (N, O, oh, ow)
    return xp.ascontiguousarray(y), cols


def _weight_product(rows, cols, wide_taps: bool):
    """rows (..., O/G, P) times cols (..., K, P), summed over the P pixels: (..., O/G, K).

    OpenBLAS runs these thin products 20-30% faster with the longer of O/G and K as the rows
    of the result (measured at one thread), so with ``wide_taps`` (K > O/G) the product is
    taken as cols @ rows^T and its transpose, a view, returned.
    """
    xp = get_array_module(rows)
    if wide_taps:
        # (..., K, P) @ (..., P, O/G) -> (..., K, O/G) -> a view (..., O/G, K)
        return xp.matmul(cols, rows.swapaxes(-1, -2)).swapaxes(-1, -2)
    # (..., O/G, P) @ (..., P, K) -> (..., O/G, K)
    return xp.matmul(rows, cols.swapaxes(-1, -2))


def _conv2d_weight_grad_raw(x, gy, weight_shape, stride, pads, dilation, groups, cols=None):
    """Raw dL/dW of conv2d: the sum over images and pixels of gy times the windows of x.

    ``cols`` are x's, from the forward, in either layout of :func:`_im2col`.
    """
    xp = get_array_module(gy)
    n, out_channels = gy.shape[:2]
    per_group = out_channels // groups
    if _is_dense(x, weight_shape[2:], pads, dilation, groups):
        # (N, O)^T @ (N, C*H*W) -> (O, C*H*W) -> (O, C, kh, kw)
        return backend.matmul(gy.reshape(n, -1).T, x.reshape(n, -1)).reshape(weight_shape)
    wide_taps = x.shape[1] // groups * weight_shape[2] * weight_shape[3] > per_group
    if cols is None and _uses_flat_rows(x, weight_shape[2:], stride, pads, groups,
                                        gy.shape[2:]):
        return _conv2d_weight_grad_flat(x, gy, weight_shape, pads, dilation, groups,
                                        wide_taps)
    if cols is None:
        cols = _im2col(x, weight_shape[2:], stride, pads, dilation, groups,
                       out_hw=gy.shape[2:])
    if cols.ndim == 4:
        # per image, then summed: gy and cols are read in place
        gy = gy.reshape(n, groups, per_group, -1)  # (N, O, oh, ow) -> (N, G, O/G, P)
        # (N, G, O/G, P) x (N, G, K, P) -> (N, G, O/G, K) -> (G, O/G, K)
        g_weight = _weight_product(gy, cols, wide_taps).sum(axis=0)
    else:
        # (N, O, oh, ow) -> (O, oh, ow, N) or (O, N, oh, ow), the pixel order of the cols
        gy_rows = gy.transpose(1, 2, 3, 0) if _batch_last(
            x, weight_shape[2:], gy.shape[2:]) else gy.transpose(1, 0, 2, 3)
        # -> (G, O/G, N*P)
        gy_rows = xp.ascontiguousarray(gy_rows).reshape(groups, per_group, -1)
        # (G, O/G, N*P) x (G, K, N*P) -> (G, O/G, K)
        g_weight = _weight_product(gy_rows, cols, wide_taps)
    # (G, O/G, K) -> (O, C/G, kh, kw)
    return g_weight.reshape(weight_shape)


def _conv2d_weight_grad_flat(x, gy, weight_shape, pads, dilation, groups, wide_taps):
    """:func:`_conv2d_weight_grad_raw` of a stride-1 conv on :class:`_FlatRows` chunks of x:
    gy is laid on the same (oh, Wp) grid with zero columns, so the junk columns of the
    cols add nothing."""
    xp = get_array_module(gy)
    n, out_channels, oh, ow = gy.shape
    per_group = out_channels // groups
    chunks = _FlatRows(x, weight_shape[2:], pads, dilation, oh)
    gy_wide = xp.zeros((chunks.images, out_channels, oh, chunks.row_width), dtype=gy.dtype)
    g_weight = None
    for start, stop, cols in chunks:
        b = stop - start
        gy_wide[:b, :, :, :ow] = gy[start:stop]
        # (b, O, oh, Wp) -> (b, G, O/G, oh*Wp); (b, K*G, oh*Wp) -> (b, G, K, oh*Wp)
        rows = gy_wide[:b].reshape(b, groups, per_group, -1)
        cols = cols.reshape(b, groups, -1, cols.shape[2])
        # (b, G, O/G, oh*Wp) x (b, G, K, oh*Wp) -> (b, G, O/G, K) -> (G, O/G, K)
        part = _weight_product(rows, cols, wide_taps).sum(axis=0)
        g_weight = part if g_weight is None else g_weight + part
    # (G, O/G, K) -> (O, C/G, kh, kw)
    return g_weight.reshape(weight_shape)


def _conv_transpose2d_raw(x, weight, out_hw, stride, pads, dilation, groups):
    """Raw conv_transpose2d, (N, C, h, w) -> (N, O, *out_hw); weight (C, O/G, kh, kw).

    ``pads`` is ((top, bottom), (left, right)), the padding of the conv it is the adjoint of.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    out_channels = per_group * groups
    (top, bottom), (left, right) = pads
    if (h, w) == (1, 1) and groups == 1 and dilation == (1, 1) and (
            out_hw[0] + top + bottom, out_hw[1] + left + right) == (kh, kw):
        # a 1x1 input (a generator's first layer), the adjoint of a dense conv: its taps tile
        # the image. (N, C) @ (C, O*kh*kw) -> (N, O, kh, kw), dropping the padding
        image = backend.matmul(x.reshape(n, c), weight.reshape(c, -1)).reshape(
            n, out_channels, kh, kw)
        return xp.ascontiguousarray(image[:, :, top:top + out_hw[0], left:left + out_hw[1]])
    if stride == (1, 1) and ((kh, kw) == (1, 1)
                             or c * out_hw[0] * out_hw[1] <= out_channels * h * w):
        # stride 1: correlate the padded input with the flipped kernel, channels swapped.
        # Its cols hold C*kh*kw rows per output pixel against col2im's O*kh*kw per input
        # pixel, so it is used when that is no more (a 1x1 kernel's correlation needs no cols
        # at all); col2im wins where the output outgrows the input (7x7 from a 1x1 latent).
        # (C, O/G, kh, kw) -> (G, C/G, O/G, kh, kw) -> (G, O/G, C/G, kh, kw) -> (O, C/G, kh, kw)
        flipped = weight.reshape(groups, c // groups, per_group, kh, kw)[..., ::-1, ::-1]
        flipped = xp.ascontiguousarray(flipped.transpose(0, 2, 1, 3, 4)).reshape(
            out_channels, c // groups, kh, kw)
        correlation_pads = []
        for a, k in ((0, kh), (1, kw)):
            before = dilation[a] * (k - 1) - pads[a][0]
            correlation_pads.append(
                (before, out_hw[a] - x.shape[2 + a] - before + dilation[a] * (k - 1)))
        return _conv2d_raw(x, flipped, stride, dilation, groups, tuple(correlation_pads))[0]
    if _uses_phases(x, weight, stride, dilation, groups):
        return _conv_transpose2d_phases(x, weight, out_hw, stride, pads, groups)
    # otherwise: a GEMM into cols, then col2im with one strided slice-add per kernel tap.
    # Each add runs fastest along a long contiguous axis: the batch when the feature maps are
    # narrower than it (batch-last, measured 3x faster on 7x7 maps), else the image rows
    # (per image; moving a large x to batch-last would cost more than it saves).
    batch_last = w < n
    # (C, O/G, kh, kw) -> (G, C/G, O/G*kh*kw) -> (G, O/G*kh*kw, C/G)
    w_groups = weight.reshape(groups, c // groups, -1).transpose(0, 2, 1)
    (sh, sw), (dh, dw) = stride, dilation
    padded_hw = (out_hw[0] + top + bottom, out_hw[1] + left + right)
    if batch_last:
        # (N, C, h, w) -> (C, h, w, N) -> (G, C/G, h*w*N)
        x_cols = xp.ascontiguousarray(x.transpose(1, 2, 3, 0)).reshape(groups, c // groups, -1)
        # (G, K, C/G) @ (G, C/G, h*w*N) -> (G, K, h*w*N) -> (O, kh, kw, h, w, N)
        taps = xp.matmul(w_groups, x_cols).reshape(out_channels, kh, kw, h, w, n)
        image = xp.zeros((out_channels,) + padded_hw + (n,), dtype=x.dtype)
    else:
        # (G, K, C/G) @ (N, G, C/G, h*w) -> (N, G, K, h*w) -> (N, O, kh, kw, h, w)
        taps = xp.matmul(w_groups, x.reshape(n, groups, c // groups, h * w)).reshape(
            n, out_channels, kh, kw, h, w)
        # (N, O, kh, kw, h, w) -> a view (O, kh, kw, h, w, N)
        taps = taps.transpose(1, 2, 3, 4, 5, 0)
        # (N, O, Hp, Wp) -> a view (O, Hp, Wp, N)
        image = xp.zeros((n, out_channels) + padded_hw, dtype=x.dtype).transpose(1, 2, 3, 0)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (h - 1) + 1, sh)
        for j in range(kw):
            target = image[:, rows, j * dw:j * dw + sw * (w - 1) + 1:sw]
            xp.add(target, taps[:, i, j], out=target)
    # (O, Hp, Wp, N) -> (N, O, H, W), dropping the padding
    image = image[:, top:top + out_hw[0], left:left + out_hw[1]].transpose(3, 0, 1, 2)
    return xp.ascontiguousarray(image)


def _uses_phases(x, weight, stride, dilation, groups) -> bool:
    """Whether a strided conv_transpose2d runs by :func:`_conv_transpose2d_phases`: its
    stride must divide the kernel, and its cols (C*m*m rows per window, m = k/s, on the
    input grid grown by m - 1) be no larger than col2im's taps (O*kh*kw per input pixel).
    Col2im wins for few output channels: a DCGAN's 64 -> 1 last layer took 4.3 ms by phases,
    copying 15 MB of cols, against 1.3 ms. And only at one BLAS thread, as the per-image
    layout: at two, on a loaded 2-core machine, the 128 -> 64 layer ran 1.6x slower by
    phases (two GEMMs per row phase against col2im's one)."""
    _, c, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    if dilation != (1, 1) or stride == (1, 1) or kh % stride[0] or kw % stride[1]:
        return False
    mh, mw = kh // stride[0], kw // stride[1]
    return (c * mh * mw * (h + mh - 1) * (w + mw - 1) <= per_group * groups * kh * kw * h * w
            and backend.blas_threads(x) == 1)


def _conv_transpose2d_phases(x, weight, out_hw, stride, pads, groups):
    """Raw conv_transpose2d with a stride s that divides the kernel, one phase at a time.

    Output pixel t (along one axis) takes taps i = t + top - s h of input pixels h; those of
    one phase r = (t + top) mod s are the taps r, r + s, ..., so each phase is a stride-1
    correlation of x, zero-padded by m - 1 = k/s - 1, with an m-tap sub-kernel. All phases
    share one im2col of m x m windows (k^2/s^2 taps per pixel, s^2 times fewer than col2im's
    GEMM writes), nothing is added up tap by tap, and each phase's outputs are copied once
    into their pixels: measured 10.3 ms against col2im's 14.1 ms for a DCGAN's 128 -> 64
    channel, 7x7 -> 14x14 layer at batch 64, one thread (3.5 against 4.7 for its 64 -> 32
    input gradient). The windows run batch-last, the cols (G, C/G*m*m, rows, columns*N), so
    that the phases of one row phase share one GEMM over a contiguous range of rows.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    (sh, sw), (top, left) = stride, (pads[0][0], pads[1][0])
    mh, mw = kh // sh, kw // sw
    # (C, O/G, kh, kw) -> (G, C/G, O/G, mh, sh, mw, sw), taps flipped within each phase
    # -> (sh, G, sw, O/G, C/G, mh, mw) -> (sh, G, sw*O/G, C/G*mh*mw)
    sub_kernels = weight.reshape(groups, c // groups, per_group, mh, sh, mw, sw)[
        :, :, :, ::-1, :, ::-1]
    sub_kernels = xp.ascontiguousarray(sub_kernels.transpose(4, 0, 6, 2, 1, 3, 5)).reshape(
        sh, groups, sw * per_group, -1)
    # per axis and phase r: the first output pixel t0, its window q0 and the pixel count
    phases = [[((r - before) % s, ((r - before) % s + before - r) // s,
                len(range((r - before) % s, size, s))) for r in range(s)]
              for s, before, size in ((sh, top, out_hw[0]), (sw, left, out_hw[1]))]
    rows = max(h + mh - 1, max(q0 + count for _, q0, count in phases[0]))
    columns = max(w + mw - 1, max(q0 + count for _, q0, count in phases[1]))
    padded = _padded_batch_last(x, ((mh - 1, rows - h), (mw - 1, columns - w)))
    # (N, C, rows, columns, mh, mw) -> (C, mh, mw, rows, columns, N) -> (G, K, rows, columns*N)
    cols = xp.ascontiguousarray(backend.sliding_windows(padded, (mh, mw), (1, 1)).transpose(
        1, 4, 5, 2, 3, 0)).reshape(groups, -1, rows, columns * n)
    y = xp.empty((n, per_group * groups) + tuple(out_hw), dtype=x.dtype)
    y_groups = y.reshape(n, groups, per_group, *out_hw)  # (N, O, H, W) -> (N, G, O/G, H, W)
    for rh, (th, qh, count_h) in enumerate(phases[0]):
        if not count_h:
            continue
        # the phases of one row phase share their windows' rows: one GEMM for all of them,
        # over whole rows (columns - count_w junk outputs per row; 0.85x the time of one
        # GEMM per phase and output row on a DCGAN's 64 -> 32 channel input gradient)
        # (G, K, rows, columns*N) -> (G, K, count_h*columns*N), a view
        block = cols[:, :, qh:qh + count_h].reshape(groups, cols.shape[1], -1)
        # (G, sw*O/G, K) @ (G, K, count_h*columns*N) -> (G, sw, O/G, count_h, columns, N)
        part = xp.matmul(sub_kernels[rh], block).reshape(groups, sw, per_group, count_h,
                                                         columns, n)
        for rw, (tw, qw, count_w) in enumerate(phases[1]):
            if count_w:
                # (G, O/G, count_h, count_w, N) -> (N, G, O/G, count_h, count_w)
                y_groups[:, :, :, th::sh, tw::sw] = part[:, rw, :, :, qw:qw + count_w].transpose(
                    4, 0, 1, 2, 3)
    return y


# --------------------------------------------------------------------------- ops
class Conv2d(Function):
    """y = conv2d(x, W) (+ b). Its input gradient is ConvTranspose2d, its weight gradient
    Conv2dGradWeight, so both orders of derivatives stay convolutions."""

    def __init__(self, stride, pads, dilation, groups):
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.cols = None

    def forward(self, x, weight, bias=None):
        y, cols = _conv2d_raw(x, weight, self.stride, self.dilation, self.groups, self.pads)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        # reused by the weight gradient (this op's, or a transposed conv's backward that
        # ran this op for its input gradient); an unrecorded op is dropped, and its cols too
        self.cols = cols
        self.save_for_backward(x, weight)
        return y

    def backward(self, gy):
        # dL/dx = conv_transpose2d(gy, W); dL/dW = sum_n,p gy (x) windows(x); dL/db = sum gy
        x, weight = self.saved_tensors
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = ConvTranspose2d(self.stride, self.pads, _output_padding(
                x.shape, gy.shape, weight.shape, self.stride, self.pads, self.dilation),
                self.dilation, self.groups).apply(gy, weight)
        if self.needs_input_grad[1]:
            gw = Conv2dGradWeight(weight.shape, self.stride, self.pads, self.dilation,
                                  self.groups, self.cols).apply(x, gy)
        self.cols = None
        if len(self.needs_input_grad) == 2:
            return gx, gw
        if self.needs_input_grad[2]:
            gb = reduce_sum(gy, axis=(0, 2, 3))
        return gx, gw, gb


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, W) (+ b), the adjoint of Conv2d in x."""

    def __init__(self, stride, pads, output_padding, dilation, groups):
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.output_padding = output_padding

    def forward(self, x, weight, bias=None):
        out_hw = tuple(
            _transposed_size(x.shape[2 + a], weight.shape[2 + a], self.stride[a],
                             self.pads[a], self.output_padding[a], self.dilation[a])
            for a in range(2))
        y = _conv_transpose2d_raw(x, weight, out_hw, self.stride, self.pads, self.dilation,
                                  self.groups)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.save_for_backward(x, weight)
        return y

    def backward(self, gy):
        # dL/dx = conv2d(gy, W); dL/dW = sum_n,p x (x) windows(gy); dL/db = sum gy
        x, weight = self.saved_tensors
        gx = gw = gb = None
        gy_cols = None
        if self.needs_input_grad[0]:
            conv = Conv2d(self.stride, self.pads, self.dilation, self.groups)
            gx = conv.apply(gy, weight)
            if gx.shape == x.shape:  # else its windows run past x's: not the weight's
                gy_cols = conv.cols
            gx = _crop_to(gx, x.shape)
        if self.needs_input_grad[1]:
            # a conv's weight gradient with gy as the image and x as the output gradient,
            # which yields the (C_in, C_out/g, kh, kw) layout directly; gy's windows are
            # the ones the input gradient just cut
            gw = Conv2dGradWeight(weight.shape, self.stride, self.pads, self.dilation,
                                  self.groups, gy_cols).apply(gy, x)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        if self.needs_input_grad[2]:
            gb = reduce_sum(gy, axis=(0, 2, 3))
        return gx, gw, gb


class Conv2dGradWeight(Function):
    """(x, gy) -> dL/dW of conv2d. Bilinear, so its own gradients are two convolutions."""

    def __init__(self, weight_shape, stride, pads, dilation, groups, cols=None):
        self.weight_shape = tuple(weight_shape)
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.cols = cols

    def forward(self, x, gy):
        self.save_for_backward(x, gy)
        g_weight = _conv2d_weight_grad_raw(x, gy, self.weight_shape, self.stride, self.pads,
                                           self.dilation, self.groups, self.cols)
        self.cols = None
        return g_weight

    def backward(self, g_gw):
        # gW(x, gy) is bilinear: d<g_gw, gW>/dx = conv_transpose2d(gy, g_gw),
        # d<g_gw, gW>/dgy = conv2d(x, g_gw)
        x, gy = self.saved_tensors
        gx = ggy = None
        if self.needs_input_grad[0]:
            gx = ConvTranspose2d(self.stride, self.pads, _output_padding(
                x.shape, gy.shape, self.weight_shape, self.stride, self.pads,
                self.dilation), self.dilation, self.groups).apply(gy, g_gw)
        if self.needs_input_grad[1]:
            ggy = _crop_to(Conv2d(self.stride, self.pads, self.dilation,
                                  self.groups).apply(x, g_gw), gy.shape)
        return gx, ggy


def _crop_to(t: Tensor, shape: tuple) -> Tensor:
    """Drop trailing rows/columns that an output_padding >= stride adds (they get no input)."""
    if t.shape == tuple(shape):
        return t
    return getitem(t, (slice(None), slice(None), slice(0, shape[2]), slice(0, shape[3])))


def _transposed_size(size, kernel, stride, pad_pair, output_padding, dilation) -> int:
    """A transposed conv's output size along one axis; ``pad_pair`` is (before, after)."""
    return (size - 1) * stride - sum(pad_pair) + dilation * (kernel - 1) + output_padding + 1


def _output_padding(x_shape, y_shape, weight_shape, stride, pads, dilation) -> tuple:
    """The output_padding that makes conv_transpose2d of a conv output recover x's size."""
    return tuple(
        x_shape[2 + a] - _transposed_size(y_shape[2 + a], weight_shape[2 + a], stride[a],
                                          pads[a], 0, dilation[a])
        for a in range(2)
    )


# --------------------------------------------------------------------------- public API
def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair) or min(pair) < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum} or a pair of them, got "
                         f"{value!r}")
    return pair


def _pads(value) -> tuple:
    """conv2d's padding as ((top, bottom), (left, right)): from an int, an (h, w) pair, or
    that form itself."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(pair, (tuple, list)) for pair in value):
        return tuple(_pair("padding", pair, 0) for pair in value)
    return tuple((p, p) for p in _pair("padding", value, 0))


def _check(op, x, weight, bias, groups, in_axis, out_axis):
    if x.ndim != 4:
        raise ValueError(f"{op}: x must be (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must have 4 axes, got shape {weight.shape}")
    if not isinstance(groups, int) or groups < 1 or x.shape[1] % groups:
        raise ValueError(f"{op}: groups must be a positive int dividing the {x.shape[1]} input "
                         f"channels, got {groups!r}")
    expected_in = x.shape[1] // groups if in_axis == 1 else x.shape[1]
    if weight.shape[in_axis] != expected_in:
        raise ValueError(f"{op}: weight axis {in_axis} must be {expected_in} (input channels"
                         f"{' / groups' if in_axis == 1 else ''}), got weight shape "
                         f"{weight.shape} for x of shape {x.shape}")
    out_channels = weight.shape[out_axis] * (groups if out_axis == 1 else 1)
    if out_axis == 0 and out_channels % groups:
        raise ValueError(f"{op}: groups={groups} must divide the {out_channels} output "
                         "channels")
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"{op}: x, weight and bias must share a dtype, got {x.dtype}, "
                        f"{weight.dtype} and {None if bias is None else bias.dtype}")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    Args:
        x: (N, C_in, H, W).
        weight: (C_out, C_in/groups, kh, kw).
        bias: optional (C_out,).
        stride, dilation: ints or (h, w) pairs.
        padding: an int, an (h, w) pair, or ((top, bottom), (left, right)) for uneven
            padding (which PyTorch spells as F.pad before the conv).
        groups: split channels into independent groups.

    Returns:
        (N, C_out, oh, ow), oh = (H + top + bottom - d (kh - 1) - 1) // s + 1.
    """
    _check("conv2d", x, weight, bias, groups, in_axis=1, out_axis=0)
    stride = _pair("stride", stride, 1)
    pads = _pads(padding)
    dilation = _pair("dilation", dilation, 1)
    for a, name in ((0, "height"), (1, "width")):
        span = dilation[a] * (weight.shape[2 + a] - 1) + 1
        if x.shape[2 + a] + sum(pads[a]) < span:
            raise ValueError(f"conv2d: the kernel spans {span} pixels but the padded input "
                             f"{name} is {x.shape[2 + a] + sum(pads[a])}")
    function = Conv2d(stride, pads, dilation, groups)
    return function.apply(x, weight) if bias is None else function.apply(x, weight, bias)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, dilation=1, groups: int = 1) -> Tensor:
    """Transposed convolution (the gradient of conv2d with respect to its input), as
    torch.nn.functional.conv_transpose2d.

    Args:
        x: (N, C_in, H, W).
        weight: (C_in, C_out/groups, kh, kw).
        bias: optional (C_out,).
        output_padding: extra rows/columns on one side, < max(stride, dilation).

    Returns:
        (N, C_out, oh, ow), oh = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1.
    """
    _check("conv_transpose2d", x, weight, bias, groups, in_axis=0, out_axis=1)
    stride = _pair("stride", stride, 1)
    padding = _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    output_padding = _pair("output_padding", output_padding, 0)
    for a in range(2):
        if output_padding[a] >= max(stride[a], dilation[a]):
            raise ValueError(f"conv_transpose2d: output_padding must be < max(stride, "
                             f"dilation) = {max(stride[a], dilation[a])}, got {output_padding}")
    for a, name in ((0, "height"), (1, "width")):
        size = _transposed_size(x.shape[2 + a], weight.shape[2 + a], stride[a],
                                (padding[a], padding[a]), output_padding[a], dilation[a])
        if size < 1:
            raise ValueError(f"conv_transpose2d: the output {name} must be >= 1, got {size} "
                             f"(padding {padding} is too large for the input {name} "
                             f"{x.shape[2 + a]})")
    function = ConvTranspose2d(stride, tuple((p, p) for p in padding), output_padding,
                               dilation, groups)
    return function.apply(x, weight) if bias is None else function.apply(x, weight, bias)


def conv_mask(weight_shape, mask_type: str, channel_groups: int | None = None):
    """The PixelCNN mask for a conv weight of ``weight_shape`` (C_out, C_in, kh, kw).

    Rows above the centre and pixels left of the centre are visible; the centre pixel is
    visible for mask "B" and hidden for mask "A"; everything after it is hidden. With
    ``channel_groups`` (3 for R, G, B), channels are split into that many groups and, at the
    centre, output group j sees input groups < j (A) or <= j (B).

    Returns:
        A float32 NumPy array of ``weight_shape`` with entries 0 or 1.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"conv_mask: mask_type must be 'A' or 'B', got {mask_type!r}")
    out_channels, in_channels, kh, kw = weight_shape
    mask = np.zeros(weight_shape, dtype=np.float32)
    ci, cj = kh // 2, kw // 2
    mask[:, :, :ci, :] = 1
    mask[:, :, ci, :cj] = 1
    if channel_groups is None:
        mask[:, :, ci, cj] = 1.0 if mask_type == "B" else 0.0
        return mask
    if out_channels % channel_groups or in_channels % channel_groups:
        raise ValueError(f"conv_mask: channel_groups={channel_groups} must divide C_out="
                         f"{out_channels} and C_in={in_channels}")
    out_group = np.arange(out_channels) // (out_channels // channel_groups)
    in_group = np.arange(in_channels) // (in_channels // channel_groups)
    visible = (in_group[None, :] < out_group[:, None]) if mask_type == "A" else (
        in_group[None, :] <= out_group[:, None])
    mask[:, :, ci, cj] = visible
    return mask


def conv2d_top_rows(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                    padding=0, dilation=1, groups: int = 1) -> Tensor:
    """conv2d with the kernel rows below the centre taken as zero, as in PixelCNN masks.

    The result is conv2d's with those rows of ``weight`` zeroed, and dL/dW is exactly zero on
    them; but only the top kh // 2 + 1 rows are convolved, with the bottom padding reduced
    by the span of the rows left out so that the output keeps conv2d's size. That shrinks
    the im2col copy and the GEMMs of the forward and both gradients by a third for a 3x3
    kernel and by 3/7 for a 7x7 one.

    Args:
        as in :func:`conv2d`.

    Returns:
        (N, C_out, oh, ow), the size conv2d gives.
    """
    kh = weight.shape[2]
    rows = kh // 2 + 1
    if rows == kh:  # 1x1 and 2-row kernels have no row below the centre
        return conv2d(x, weight, bias, stride, padding, dilation, groups)
    top = weight[:, :, :rows]
    (above, below), columns = _pads(padding)
    below -= _pair("dilation", dilation, 1)[0] * (kh - rows)
    if below < 0:
        # less padding than the dropped rows span: their windows would start inside the
        # image, so convolve the full kernel with those rows zeroed instead
        return conv2d(x, pad(top, ((0, 0), (0, 0), (0, kh - rows), (0, 0))), bias, stride,
                      padding, dilation, groups)
    return conv2d(x, top, bias, stride, ((above, below), columns), dilation, groups)


def masked_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  mask_type: str = "B", stride=1, padding=0, dilation=1, groups: int = 1,
                  channel_groups: int | None = None) -> Tensor:
    """conv2d with a PixelCNN mask multiplied into the weight inside the graph, so the
    weight's gradient is zero wherever the mask is (see :func:`conv_mask`). The mask's rows
    below the centre are all zero, so it runs as :func:`conv2d_top_rows`.

    Args:
        x: (N, C_in, H, W).
        weight: (C_out, C_in/groups, kh, kw); the mask is built for this shape.
        bias: optional (C_out,).
        mask_type: "A" (centre pixel hidden, for the first layer) or "B" (centre visible).
        stride, padding, dilation, groups: as in :func:`conv2d`.
        channel_groups: split channels into R, G, B-style groups (see :func:`conv_mask`).

    Returns:
        (N, C_out, oh, ow), each output pixel a function of raster-earlier input pixels only.
    """
    xp = get_array_module(weight.data)
    mask = Tensor._from_array(xp.asarray(conv_mask(weight.shape, mask_type, channel_groups),
                                         dtype=weight.dtype))
    return conv2d_top_rows(x, weight * mask, bias, stride, padding, dilation, groups)
