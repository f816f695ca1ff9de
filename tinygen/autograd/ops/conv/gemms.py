"""The GEMMs of the conv layouts on cols (:func:`.layouts.choose_layout`): a conv and its
weight gradient as products of the weight or of gy with x's cut windows, image by image,
per group over the whole batch, or on flat-row chunks; each writes the conv's output in
place, its bias added. What each one won is measured in docs/BENCHMARKS.md, "Convolution
layouts".
"""

from __future__ import annotations

from tinygen.autograd.ops.conv.windows import FlatRows
from tinygen.backend import get_array_module

#: Bytes of partial weight products (images x O/G x K) that one batched GEMM call of a
#: weight gradient may write before they are summed (:func:`image_summed_weight_product`)
STACK_BYTES = 1 << 18


def biased(y, bias, out=None):
    """y (N, O, oh, ow) plus ``bias`` (O,) if any, written to ``out`` (else to y): copied,
    then the bias added in place. Not one add from y into ``out``: NumPy adds a broadcast
    bias to a strided view 3x slower than it copies the view and adds to the contiguous
    copy (MNIST's 64x32x26x26 output cropped from 28-wide rows: 0.86 ms against
    0.31 + 0.23)."""
    if out is None:
        out = y
    if out is not y:
        out[...] = y
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return out


# --------------------------------------------------------------------------- GEMMs on cols
def cols_conv2d(w_groups, cols, layout, n, out_hw, bias, out):
    """conv2d as GEMMs of the weight (G, O/G, K) on x's cols, plus ``bias`` if any, into
    ``out`` (N, O, oh, ow). Per image, a batch of N GEMMs lands directly in ``out``;
    channel-major, one GEMM per group is wide, at the price of transposing its output back
    to (N, O, oh, ow), then the bias. Measured: docs/BENCHMARKS.md,
    "Convolution layouts", `per_image`, `channel_major`, `batch_last`."""
    xp = get_array_module(cols)
    groups, per_group = w_groups.shape[:2]
    oh, ow = out_hw
    if layout == "per_image":
        # (G, O/G, K) @ (N, G, K, P) -> (N, G, O/G, P), a view of (N, O, oh, ow)
        xp.matmul(w_groups, cols, out=out.reshape(n, groups, per_group, oh * ow))
        return biased(out, bias)
    y = xp.matmul(w_groups, cols)  # (G, O/G, K) @ (G, K, N*P) -> (G, O/G, N*P)
    if layout == "batch_last":
        y = y.reshape(groups * per_group, oh, ow, n).transpose(3, 0, 1, 2)  # -> (N, O, oh, ow)
    else:
        y = y.reshape(groups * per_group, n, oh, ow).transpose(1, 0, 2, 3)  # -> (N, O, oh, ow)
    return biased(y, bias, out)


def weight_product(rows, cols, wide_taps: bool):
    """rows (..., O/G, P) times cols (..., K, P), summed over the P pixels: (..., O/G, K).

    OpenBLAS runs these thin products faster with the longer of O/G and K as the rows of
    the result (docs/BENCHMARKS.md, "Convolution layouts"), so with ``wide_taps`` (K > O/G)
    the product is taken as cols @ rows^T and its transpose, a view, returned.
    """
    xp = get_array_module(rows)
    if wide_taps:
        # (..., K, P) @ (..., P, O/G) -> (..., K, O/G) -> a view (..., O/G, K)
        return xp.matmul(cols, rows.swapaxes(-1, -2)).swapaxes(-1, -2)
    # (..., O/G, P) @ (..., P, K) -> (..., O/G, K)
    return xp.matmul(rows, cols.swapaxes(-1, -2))


def image_summed_weight_product(rows, cols, wide_taps: bool):
    """rows (N, ..., O/G, P) times cols (N, ..., K, P) summed over the pixels and the N
    images: (..., O/G, K), as :func:`weight_product` orients it.

    A few images per batched GEMM call into one accumulator, as many as keep their stack of
    partial products within STACK_BYTES, so a large stack (N, ..., O/G, K) is never written
    and read back: image by image, 10-15% faster on a DCGAN's 128 -> 64 and a 128 -> 128
    3x3 conv's weight gradient (K = 1024-2048 taps, batch 64, one thread). Small products
    (few taps or channels) go many images to a call: MNIST's 1 -> 32 3x3 (32 x 9 per image)
    0.42 -> 0.30 ms at batch 64, one thread, and no Python loop holds the GIL between tiny
    GEMMs while another block of the batch runs (:mod:`.parallel`).
    """
    xp = get_array_module(rows)
    if wide_taps:  # (..., K, P) @ (..., P, O/G) -> (..., K, O/G), see weight_product
        left, right = cols, rows.swapaxes(-1, -2)
    else:  # (..., O/G, P) @ (..., P, K) -> (..., O/G, K)
        left, right = rows, cols.swapaxes(-1, -2)
    total = xp.zeros(left.shape[1:-1] + right.shape[-1:], dtype=rows.dtype)
    images = max(1, STACK_BYTES // (total.size * total.itemsize or 1))
    stack = xp.empty((min(images, left.shape[0]),) + total.shape, dtype=rows.dtype)
    for start in range(0, left.shape[0], images):
        part = stack[:min(images, left.shape[0] - start)]
        # (b, ..., O/G, P) @ (b, ..., P, K) -> (b, ..., O/G, K), or (b, ..., K, O/G)
        xp.matmul(left[start:start + images], right[start:start + images], out=part)
        total += part[0] if len(part) == 1 else part.sum(axis=0)
    # (..., K, O/G) -> a view (..., O/G, K)
    return total.swapaxes(-1, -2) if wide_taps else total


def cols_weight_grad(gy, cols, layout, weight_shape, groups, wide_taps):
    """dL/dW as GEMMs of gy on x's cols: per image then summed (gy and cols read in place),
    or one GEMM per group on gy moved into the cols' pixel order."""
    xp = get_array_module(gy)
    n, out_channels = gy.shape[:2]
    per_group = out_channels // groups
    if layout == "per_image":
        gy = gy.reshape(n, groups, per_group, -1)  # (N, O, oh, ow) -> (N, G, O/G, P)
        # (N, G, O/G, P) x (N, G, K, P) -> (N, G, O/G, K) -> (G, O/G, K)
        g_weight = image_summed_weight_product(gy, cols, wide_taps)
    else:
        # (N, O, oh, ow) -> (O, oh, ow, N) or (O, N, oh, ow), the pixel order of the cols
        gy_rows = gy.transpose(1, 2, 3, 0) if layout == "batch_last" else gy.transpose(
            1, 0, 2, 3)
        # -> (G, O/G, N*P)
        gy_rows = xp.ascontiguousarray(gy_rows).reshape(groups, per_group, -1)
        # (G, O/G, N*P) x (G, K, N*P) -> (G, O/G, K)
        g_weight = weight_product(gy_rows, cols, wide_taps)
    # (G, O/G, K) -> (O, C/G, kh, kw)
    return g_weight.reshape(weight_shape)


# --------------------------------------------------------------------------- flat rows
def flat_rows_conv2d(x, w_groups, kernel, pads, dilation, out_hw, bias, out):
    """A stride-1 per-image conv on :class:`FlatRows` chunks, plus ``bias`` if any, into
    ``out``: each chunk's cols are copied at memcpy speed into a small buffer that stays in
    cache, and no image-sized cols are allocated or kept for the backward (its weight
    gradient cuts its chunks again). The bias is added to each chunk's products while they
    are in cache, before the copy that drops the junk columns.
    Measured: docs/BENCHMARKS.md, "Convolution layouts", `flat_rows`."""
    xp = get_array_module(x)
    groups, out_channels = w_groups.shape[0], w_groups.shape[0] * w_groups.shape[1]
    oh, ow = out_hw
    chunks = FlatRows(x, kernel, pads, dilation, oh)
    wide = xp.empty((chunks.images, out_channels, oh, chunks.row_width), dtype=x.dtype)
    for start, stop, cols in chunks:
        # (G, O/G, K) @ (b, G, K, oh*Wp) -> (b, G, O/G, oh*Wp), a view of (b, O, oh, Wp)
        xp.matmul(w_groups, cols.reshape(stop - start, groups, w_groups.shape[2], -1),
                  out=wide[:stop - start].reshape(stop - start, groups, -1, cols.shape[2]))
        out[start:stop] = biased(wide[:stop - start], bias)[:, :, :, :ow]
    return out


def flat_rows_weight_grad(x, gy, weight_shape, pads, dilation, groups, wide_taps):
    """The weight gradient of a stride-1 conv on :class:`FlatRows` chunks of x: gy is laid
    on the same (oh, Wp) grid with zero columns, so the junk columns of the cols add
    nothing."""
    xp = get_array_module(gy)
    n, out_channels, oh, ow = gy.shape
    per_group = out_channels // groups
    chunks = FlatRows(x, weight_shape[2:], pads, dilation, oh)
    gy_wide = xp.zeros((chunks.images, out_channels, oh, chunks.row_width), dtype=gy.dtype)
    g_weight = None
    for start, stop, cols in chunks:
        b = stop - start
        gy_wide[:b, :, :, :ow] = gy[start:stop]
        # (b, O, oh, Wp) -> (b, G, O/G, oh*Wp); (b, K*G, oh*Wp) -> (b, G, K, oh*Wp)
        rows = gy_wide[:b].reshape(b, groups, per_group, -1)
        cols = cols.reshape(b, groups, -1, cols.shape[2])
        # (b, G, O/G, oh*Wp) x (b, G, K, oh*Wp) -> (b, G, O/G, K) -> (G, O/G, K)
        part = image_summed_weight_product(rows, cols, wide_taps)
        g_weight = part if g_weight is None else g_weight + part
    # (G, O/G, K) -> (O, C/G, kh, kw)
    return g_weight.reshape(weight_shape)
