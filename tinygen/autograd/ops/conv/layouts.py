"""The raw array routines behind the conv ops, one call each: :func:`conv2d`,
:func:`conv_transpose2d` and :func:`conv2d_weight_grad`.

Each asks :func:`choose_layout` how to lay its arrays out for BLAS and runs that strategy.
Every strategy computes the same sums as the loops of :mod:`.reference`; they differ only
in how the input windows are copied and how the GEMMs are shaped. What each one won is
measured in docs/BENCHMARKS.md, "Convolution layouts".
"""

from __future__ import annotations

import math

from tinygen import backend
from tinygen.autograd.ops.conv import gemms, parallel, winograd
from tinygen.autograd.ops.conv.dense import dense_conv2d, dense_conv_transpose2d, dense_weight_grad
from tinygen.autograd.ops.conv.parallel import batch_blocks, in_blocks
from tinygen.autograd.ops.conv.windows import FlatRows, im2col
from tinygen.backend import get_array_module

#: Per-image GEMMs at least this wide (output pixels) run at OpenBLAS's full speed whatever
#: their taps: the per-image layouts then beat one GEMM over the whole batch's cols
WIDE_PIXELS = 256

#: A stride-1 per-image conv cuts its cols as flat rows from this many cols per output
#: pixel (C*kh*kw, all groups): with fewer, its whole cols are small and cheap to cut as
#: they are, and plain per-image GEMMs spare the output-sized copies of flat rows
#: (cropping the products, widening gy)
FLAT_MIN_TAPS = 27


def choose_layout(x, weight_shape, out_hw, stride, pads, dilation, groups, *,
                  transposed=False, cols=None) -> str:
    """The layout of a conv of x (N, C, H, W) onto ``out_hw`` outputs: the one rule. What
    each choice was measured against: docs/BENCHMARKS.md, "Convolution layouts".

    A conv and its weight gradient (weight_shape (O, C/G, kh, kw); K = C/G*kh*kw taps and
    P = oh*ow pixels per image) take:

    - "dense" when the kernel covers the whole unpadded input (no groups, no dilation): one
      window, so x (N, C*H*W) is the GEMM operand as it lies, with no cols or transposes.
    - "winograd" (F(2x2, 3x3), 16/36 of the multiplies) for a 3x3 stride-1 conv with no
      dilation or groups, at least 64 channels in and out, maps at least 8x8, and its weight
      gradient, when tinygen may use one thread (``backend.work_threads``): its transforms
      are memory-bound passes, and on two cores the GEMM layouts' blocks scale, its do not
      (measured at :data:`.winograd.MAX_THREADS`).
    - "per_image", GEMMs image by image on (N, G, K, P) cols, when K <= 2P or P >= 256
      (WIDE_PIXELS) and NumPy's BLAS runs one thread. Outputs then land in place and a 1x1
      conv needs no cols; but the weight gradient writes (N, O/G, K) partial sums and each
      GEMM is only P wide, so small maps with many taps (a DCGAN's 7x7, 8x8 maps of 128
      channels) go channel-major instead; from 16x16 maps on, a P-wide GEMM runs at full
      speed and its cols stay small. With more BLAS threads N small GEMMs each wait on a
      thread hand-off, and one big GEMM wins; but a large conv runs on blocks of the batch,
      one BLAS thread each (:mod:`.parallel`), so this applies only to a small one.
    - "flat_rows", the per-image GEMMs on cols cut a chunk of images at a time, when the
      conv also has stride 1, needs cols (not a 1x1 unpadded kernel), has at least 27
      cols per output pixel (C*kh*kw over all groups, FLAT_MIN_TAPS) and wastes at most a
      quarter of its output grid on junk columns. With fewer (an image's 1 or 2 channels
      in) plain per-image GEMMs write straight into the output and reuse the forward's
      cols: MNIST's 1 -> 32 3x3 on 28x28 ran forward + backward in 0.66-0.74x the time, a
      5x5 LeNet conv 0.68x; at 27 the two are even (3 -> 64 3x3 on 32x32: 1.05x padded,
      0.95x unpadded; batch 64, one thread). Counted over all groups: a depthwise 3x3 of
      64 channels (9 taps per group) took 3x as long per image, its whole cols 151 MB.
    - otherwise one GEMM per group on (G, K, N*P) cols: "batch_last", pixels ordered
      (oh, ow, N), when the batch is at least twice the output width and the cols hold each
      input pixel at least twice (then the copy runs along the batch), else
      "channel_major", pixels ordered (N, oh, ow).

    ``cols`` already cut by the forward keep their layout, whatever the BLAS threads now.

    A transposed conv (``transposed``; weight_shape (C, O/G, kh, kw), ``pads`` those of the
    conv it is the adjoint of) takes:

    - "dense" from a 1x1 input whose taps tile the output, no groups, no dilation (a
      generator's first layer): the adjoint of a dense conv.
    - "correlation", a stride-1 conv of x with the flipped kernel, when the stride is 1 and
      its cols (C*kh*kw per output pixel) are at most 4 times col2im's taps (O*kh*kw per
      input pixel), or the kernel is 1x1 (no cols at all). Its cols are copied at memcpy
      speed in cache-sized chunks (flat rows), where col2im's adds run over image-sized
      taps: the input gradient of a 32 -> 64 3x3 conv on 26x26 maps, cols 2.3 times the
      taps, took 41 ms by col2im and 24 by correlation (batch 64, one thread).
    - "phases", one stride-1 correlation per output phase on one shared im2col, when the
      stride divides the kernel, there is no dilation, those cols are no larger than
      col2im's taps, the maps are at least 16 (m - 1) wide and high (m = k / s; each image
      row of its flat-row windows carries 2 (m - 1) junk columns: from 16x16 maps on a
      DCGAN's transposed convs ran 8% faster by phases, on 8x8 ones 2% slower than by
      col2im, on 4x4 ones 10% slower), and BLAS runs one thread (at two, its extra GEMMs
      wait on hand-offs; a large conv runs on blocks of one BLAS thread each,
      :mod:`.parallel`).
    - otherwise a GEMM into taps and "col2im", one strided add per tap: "col2im_batch_last"
      when the maps are at most a quarter of the batch wide (each add runs along the
      batch), else "col2im_per_image" (each add runs along image rows; a 64 -> 3 layer on
      32x32 maps at batch 64 ran 1.2 times faster so).
    """
    n, c, h, w = x.shape
    kh, kw = weight_shape[2:]
    (top, bottom), (left, right) = pads
    unpadded = not any(pads[0] + pads[1])
    if transposed:
        out_channels = weight_shape[1] * groups
        if (h, w) == (1, 1) and groups == 1 and dilation == (1, 1) and (
                out_hw[0] + top + bottom, out_hw[1] + left + right) == (kh, kw):
            return "dense"
        if stride == (1, 1) and ((kh, kw) == (1, 1)
                                 or c * out_hw[0] * out_hw[1] <= 4 * out_channels * h * w):
            return "correlation"
        if dilation == (1, 1) and stride != (1, 1) and not kh % stride[0] and not kw % stride[1]:
            mh, mw = kh // stride[0], kw // stride[1]
            if (c * mh * mw * (h + mh - 1) * (w + mw - 1) <= out_channels * kh * kw * h * w
                    and 16 * (mh - 1) <= h and 16 * (mw - 1) <= w
                    and backend.blas_threads(x) == 1):
                return "phases"
        return "col2im_batch_last" if 4 * w <= n else "col2im_per_image"
    if groups == 1 and dilation == (1, 1) and unpadded and (kh, kw) == (h, w):
        return "dense"
    if winograd.fits(weight_shape, stride, dilation, groups) and min(
            c, weight_shape[0]) >= winograd.MIN_CHANNELS and min(out_hw) >= winograd.MIN_SIDE \
            and backend.work_threads(x) <= winograd.MAX_THREADS:
        return "winograd"
    pixels = out_hw[0] * out_hw[1]
    if cols is None:
        per_image = (c // groups * kh * kw <= 2 * pixels or pixels >= WIDE_PIXELS) and (
            backend.blas_threads(x) == 1)
    else:
        per_image = cols.ndim == 4
    if not per_image:
        if 2 * out_hw[1] <= n and pixels * kh * kw >= 2 * h * w:
            return "batch_last"
        return "channel_major"
    junk_columns = w + left + right - out_hw[1]
    if (cols is None and stride == (1, 1) and not ((kh, kw) == (1, 1) and unpadded)
            and c * kh * kw >= FLAT_MIN_TAPS and 4 * junk_columns <= out_hw[1]):
        return "flat_rows"
    return "per_image"


def _output_size(x_shape, weight_shape, stride, pads, dilation) -> tuple:
    """conv2d's (oh, ow): oh = (H + top + bottom - d (kh - 1) - 1) // s + 1."""
    return tuple((x_shape[2 + a] + sum(pads[a]) - dilation[a] * (weight_shape[2 + a] - 1) - 1)
                 // stride[a] + 1 for a in range(2))


# --------------------------------------------------------------------------- the three calls
# Each runs on blocks of the batch, one thread each, when NumPy's BLAS may use several
# threads and the conv is large enough (:mod:`.parallel`): the window copies and col2im adds
# then run on every core, and no small GEMM waits on a BLAS thread hand-off. Inside a block
# (a small conv is one) BLAS runs one thread, so the block picks its layout as at one
# thread; only a large dense conv, one GEMM, runs whole on BLAS's threads.
def conv2d(x, weight, stride, pads, dilation, groups, bias=None, out=None):
    """Raw conv2d, (N, C, H, W) -> (N, O, oh, ow), plus ``bias`` (O,) when given, and the
    cols it cut, which the weight gradient can reuse: a dict of each block's cols (None
    where it cut none or did not keep them) keyed by the block's (low, high) image range, or
    None for a dense conv. Each block writes its images' outputs straight into ``out`` (or
    a new array), the bias added in the same pass where its layout copies them anyway."""
    out_hw = _output_size(x.shape, weight.shape, stride, pads, dilation)
    if x.shape[0] == 0:  # an empty batch: no windows to cut, as PyTorch an empty output
        return get_array_module(x).empty((0, weight.shape[0]) + out_hw, dtype=x.dtype), None
    # multiply-adds: each of the N*oh*ow output pixels times the O*C/G*kh*kw weights
    macs = math.prod(weight.shape) * x.shape[0] * math.prod(out_hw)
    blocks = _blocks(x, macs, weight.shape, out_hw, stride, pads, dilation, groups)
    if blocks is None:
        y, cols = _conv2d(x, weight, out_hw, stride, pads, dilation, groups)
        return gemms.biased(y, bias, out), cols
    y = out if out is not None else get_array_module(x).empty(
        (x.shape[0], weight.shape[0]) + out_hw, dtype=x.dtype)

    def block(low, high):
        target = y[low:high]
        part, cols = _conv2d(x[low:high], weight, out_hw, stride, pads, dilation, groups,
                             bias=bias, out=target)
        if part is not target:  # a layout with its own output array, without the bias
            gemms.biased(part, bias, target)
        return (low, high), cols

    return y, dict(in_blocks(block, blocks))


def conv2d_weight_grad(x, gy, weight_shape, stride, pads, dilation, groups, cols=None):
    """Raw dL/dW of conv2d, (O, C/G, kh, kw): the sum over images and pixels of gy times
    the windows of x. ``cols`` are the dict of x's windows per block of the batch that the
    forward kept (or None); each block sums its own images."""
    if gy.shape[0] == 0:  # an empty batch: a sum of nothing
        return get_array_module(x).zeros(weight_shape, dtype=x.dtype)
    macs = math.prod(weight_shape) * gy.shape[0] * math.prod(gy.shape[2:])
    blocks = _blocks(x, macs, weight_shape, gy.shape[2:], stride, pads, dilation, groups)
    if blocks is None:
        return _conv2d_weight_grad(x, gy, weight_shape, stride, pads, dilation, groups, None)
    block_cols = cols or {}
    parts = in_blocks(lambda low, high: _conv2d_weight_grad(
        x[low:high], gy[low:high], weight_shape, stride, pads, dilation, groups,
        block_cols.get((low, high))), blocks)
    return sum(parts[1:], parts[0])


def conv_transpose2d(x, weight, out_hw, stride, pads, dilation, groups):
    """Raw conv_transpose2d, (N, C, h, w) -> (N, O, *out_hw); weight (C, O/G, kh, kw).

    ``pads`` is the padding of the conv it is the adjoint of.
    """
    if x.shape[0] == 0:  # an empty batch: an empty output
        return get_array_module(x).empty((0, weight.shape[1] * groups) + tuple(out_hw),
                                         dtype=x.dtype)
    # multiply-adds: each of the N*h*w input pixels times the C*O/G*kh*kw weights
    macs = math.prod(weight.shape) * x.shape[0] * x.shape[2] * x.shape[3]
    blocks = _blocks(x, macs, weight.shape, out_hw, stride, pads, dilation, groups,
                     transposed=True)
    if blocks is None:
        return _conv_transpose2d(x, weight, out_hw, stride, pads, dilation, groups, None)
    out_channels = weight.shape[1] * groups
    y = get_array_module(x).empty((x.shape[0], out_channels) + tuple(out_hw), dtype=x.dtype)

    def block(low, high):
        target = y[low:high]
        part = _conv_transpose2d(x[low:high], weight, out_hw, stride, pads, dilation, groups,
                                 target)
        if part is not target:  # a layout with its own output array
            target[...] = part

    in_blocks(block, blocks)
    return y


def _blocks(x, macs, weight_shape, out_hw, stride, pads, dilation, groups,
            transposed=False):
    """The blocks of the batch a conv runs on (:func:`.parallel.batch_blocks`): a dense one
    (one GEMM, no copies) as one block, which blocks would only split; or None, to run it
    whole on BLAS's own threads, when it is at least WHOLE_MIN_MACS multiply-adds."""
    if choose_layout(x, weight_shape, out_hw, stride, pads, dilation, groups,
                     transposed=transposed) != "dense":
        return batch_blocks(x, macs)
    return None if macs >= parallel.WHOLE_MIN_MACS else [(0, x.shape[0])]


def _conv2d(x, weight, out_hw, stride, pads, dilation, groups, bias=None, out=None):
    """:func:`conv2d` on one block: the layout :func:`choose_layout` picks, then its cols.
    The layouts on cols, flat rows and winograd write into ``out`` with the bias added and
    return it; the others return their own array, without the bias."""
    layout = choose_layout(x, weight.shape, out_hw, stride, pads, dilation, groups)
    if layout == "dense":
        return dense_conv2d(x, weight), None
    if layout == "winograd":
        return winograd.winograd_conv2d(x, weight, pads, bias, out), None
    # (O, C/G, kh, kw) -> (G, O/G, K)
    w_groups = weight.reshape(groups, weight.shape[0] // groups, -1)
    if layout == "flat_rows":
        return gemms.flat_rows_conv2d(x, w_groups, weight.shape[2:], pads, dilation, out_hw,
                                      bias, out), None
    cols = im2col(x, layout, weight.shape[2:], stride, pads, dilation, groups, out_hw)
    return gemms.cols_conv2d(w_groups, cols, layout, x.shape[0], out_hw, bias, out), cols


def _conv2d_weight_grad(x, gy, weight_shape, stride, pads, dilation, groups, cols):
    """:func:`conv2d_weight_grad` on one block, ``cols`` its windows or None."""
    layout = choose_layout(x, weight_shape, gy.shape[2:], stride, pads, dilation, groups,
                           cols=cols)
    if layout == "dense":
        return dense_weight_grad(x, gy, weight_shape)
    if layout == "winograd":
        return winograd.winograd_weight_grad(x, gy, pads)
    # K > O/G: see gemms.weight_product
    wide_taps = x.shape[1] // groups * weight_shape[2] * weight_shape[3] > gy.shape[1] // groups
    if layout == "flat_rows":
        return gemms.flat_rows_weight_grad(x, gy, weight_shape, pads, dilation, groups, wide_taps)
    if cols is None:
        cols = im2col(x, layout, weight_shape[2:], stride, pads, dilation, groups,
                      gy.shape[2:])
    return gemms.cols_weight_grad(gy, cols, layout, weight_shape, groups, wide_taps)


def _conv_transpose2d(x, weight, out_hw, stride, pads, dilation, groups, out):
    """:func:`conv_transpose2d` on one block, in the layout :func:`choose_layout` picks:
    into ``out``, except a dense one, which returns its own array."""
    layout = choose_layout(x, weight.shape, out_hw, stride, pads, dilation, groups,
                           transposed=True)
    if layout == "dense":
        return dense_conv_transpose2d(x, weight, out_hw, pads)
    if layout == "correlation":
        return _correlation_conv_transpose2d(x, weight, out_hw, pads, dilation, groups, out)
    if layout == "phases":
        return _phases_conv_transpose2d(x, weight, out_hw, stride, pads, groups, out)
    return _col2im_conv_transpose2d(x, weight, out_hw, stride, pads, dilation, groups,
                                    layout == "col2im_batch_last", out)


# --------------------------------------------------------------------------- transposed
def _correlation_conv_transpose2d(x, weight, out_hw, pads, dilation, groups, out):
    """A stride-1 transposed conv is a correlation of the padded input with the flipped
    kernel, channels swapped: one more conv2d (in whatever layout it picks) into ``out``,
    no scatter."""
    xp = get_array_module(x)
    c = x.shape[1]
    _, per_group, kh, kw = weight.shape
    # (C, O/G, kh, kw) -> (G, C/G, O/G, kh, kw) -> (G, O/G, C/G, kh, kw) -> (O, C/G, kh, kw)
    flipped = weight.reshape(groups, c // groups, per_group, kh, kw)[..., ::-1, ::-1]
    flipped = xp.ascontiguousarray(flipped.transpose(0, 2, 1, 3, 4)).reshape(
        per_group * groups, c // groups, kh, kw)
    correlation_pads = []
    for a, k in ((0, kh), (1, kw)):
        before = dilation[a] * (k - 1) - pads[a][0]
        correlation_pads.append(
            (before, out_hw[a] - x.shape[2 + a] - before + dilation[a] * (k - 1)))
    return conv2d(x, flipped, (1, 1), tuple(correlation_pads), dilation, groups, out=out)[0]


def _phases_conv_transpose2d(x, weight, out_hw, stride, pads, groups, out):
    """A transposed conv whose stride s divides the kernel, one output phase at a time, into
    ``out``.

    Output pixel t (along one axis) takes taps i = t + top - s h of input pixels h; those of
    one phase r = (t + top) mod s are the taps r, r + s, ..., so each phase is a stride-1
    correlation of x, zero-padded by m - 1 = k/s - 1, with an m-tap sub-kernel. All phases
    share one im2col of m x m windows (k^2/s^2 taps per pixel, s^2 times fewer than col2im's
    GEMM writes), nothing is added up tap by tap, and each phase's outputs are copied once
    into their pixels. The windows are :class:`FlatRows` chunks of images, (b, C*m*m,
    rows*Wp), so that the phases of one row phase share one GEMM per image over a
    contiguous range of rows, and the outputs land image by image with no transpose of the
    batch (0.8x the time of batch-last cols on a DCGAN's 128 -> 64, 16x16 -> 32x32).
    Measured: docs/BENCHMARKS.md, "Convolution layouts", `phases`.
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
    # rows x columns windows of m x m on x padded by m - 1 before, each row Wp wide
    chunks = FlatRows(x, (mh, mw), ((mh - 1, rows - h), (mw - 1, columns - w)), (1, 1), rows)
    width = chunks.row_width
    y = out
    y_groups = y.reshape(n, groups, per_group, *out_hw)  # (N, O, H, W) -> (N, G, O/G, H, W)
    for start, stop, cols in chunks:
        b = stop - start
        cols = cols.reshape(b, groups, -1, rows * width)  # -> (b, G, K, rows*Wp)
        for rh, (th, qh, count_h) in enumerate(phases[0]):
            if not count_h:
                continue
            # the phases of one row phase share their windows' rows: one GEMM for all of
            # them, over whole rows (Wp - count_w junk outputs per row, cheaper than one
            # GEMM per phase and output row); (b, G, K, count_h*Wp), a view
            block = cols[..., qh * width:(qh + count_h) * width]
            # (G, sw*O/G, K) @ (b, G, K, count_h*Wp) -> (b, G, sw, O/G, count_h, Wp)
            part = xp.matmul(sub_kernels[rh], block).reshape(b, groups, sw, per_group,
                                                             count_h, width)
            for rw, (tw, qw, count_w) in enumerate(phases[1]):
                if count_w:
                    y_groups[start:stop, :, :, th::sh, tw::sw] = part[:, :, rw, :, :,
                                                                      qw:qw + count_w]
    return y


def _col2im_conv_transpose2d(x, weight, out_hw, stride, pads, dilation, groups, batch_last,
                             out):
    """The general transposed conv into ``out``: a GEMM into taps, then "col2im", one
    strided slice-add per kernel tap (one vectorized add each, never a scatter per entry),
    and one copy into ``out`` that drops the padding. Each add runs along
    a long contiguous axis: the batch when the maps are narrower than it (``batch_last``),
    else the image rows (moving a large x to batch-last would cost more than it saves).
    Measured: docs/BENCHMARKS.md, "Convolution layouts", `col2im_batch_last`."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    out_channels = per_group * groups
    (top, bottom), (left, right) = pads
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
    out[...] = image[:, top:top + out_hw[0], left:left + out_hw[1]].transpose(3, 0, 1, 2)
    return out
