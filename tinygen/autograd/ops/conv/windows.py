"""Cutting a conv's input windows into "cols", the GEMM operand of every layout.

``pads`` is ((top, bottom), (left, right)) throughout; a negative side crops instead.
"""

from __future__ import annotations

from tinygen import backend
from tinygen.backend import get_array_module

# bytes of cols per chunk of images in the flat-rows layout: half of a core's L2 (2 MiB on
# the Sapphire Rapids measured), so that each chunk's copy and GEMM stay in cache
CHUNK_BYTES = 1 << 20


def crop_negative(x, rows: tuple, columns: tuple):
    """Crop the sides of (N, C, H, W) whose padding is negative: (a view, the paddings left)."""
    if min(rows + columns) < 0:
        h, w = x.shape[2:]
        x = x[:, :, max(-rows[0], 0):h - max(-rows[1], 0),
              max(-columns[0], 0):w - max(-columns[1], 0)]
        rows = tuple(max(r, 0) for r in rows)
        columns = tuple(max(c, 0) for c in columns)
    return x, (rows, columns)


def pad_or_crop(x, rows: tuple, columns: tuple):
    """Zero-pad (positive) or crop (negative) the two spatial axes of (N, C, H, W) per side."""
    x, (rows, columns) = crop_negative(x, rows, columns)
    if max(rows + columns) == 0:
        return x
    return get_array_module(x).pad(x, ((0, 0), (0, 0), rows, columns))


def padded_batch_last(x, pads):
    """x zero-padded (or cropped) per ``pads`` in a (C, Hp, Wp, N) buffer, returned as its
    (N, C, Hp, Wp) view, so that windows taken from it run along the batch."""
    x, ((top, bottom), (left, right)) = crop_negative(x, *pads)
    n, c, h, w = x.shape
    padded = get_array_module(x).zeros((c, h + top + bottom, w + left + right, n), x.dtype)
    padded[:, top:top + h, left:left + w] = x.transpose(1, 2, 3, 0)
    return padded.transpose(3, 0, 1, 2)  # (C, Hp, Wp, N) -> a view (N, C, Hp, Wp)


def im2col(x, layout: str, kernel, stride, pads, dilation, groups, out_hw):
    """The windows of x (N, C, H, W) as cols, K = C/G*kh*kw taps by P = oh*ow pixels:
    (N, G, K, P) for the "per_image" layout, else (G, K, N*P), the pixels in (N, oh, ow)
    order ("channel_major") or (oh, ow, N) order ("batch_last").

    Only the first ``out_hw`` windows are kept (a transposed conv's output_padding rows have
    no partner in its input).
    """
    xp = get_array_module(x)
    n, c = x.shape[:2]
    taps = c // groups * kernel[0] * kernel[1]
    oh, ow = out_hw
    if kernel == (1, 1) and stride == (1, 1) and not any(pads[0] + pads[1]) and (
            tuple(out_hw) == x.shape[2:]):
        # a 1x1 conv's windows are the pixels themselves
        if layout == "per_image":
            return x.reshape(n, groups, taps, -1)  # (N, C, H, W) -> (N, G, C/G, H*W)
        # (N, C, H, W) -> (C, N, H, W) -> (G, C/G, N*H*W)
        return xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(groups, taps, -1)
    if layout == "batch_last":
        padded = padded_batch_last(x, pads)
    else:
        padded = pad_or_crop(x, *pads)
    windows = backend.sliding_windows(padded, kernel, stride, dilation)[:, :, :oh, :ow]
    if layout == "per_image":
        # (N, C, oh, ow, kh, kw) -> (N, C, kh, kw, oh, ow) -> (N, G, K, oh*ow): the one copy
        cols = xp.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3))
        return cols.reshape(n, groups, taps, oh * ow)
    if layout == "batch_last":
        # (N, C, oh, ow, kh, kw) -> (C, kh, kw, oh, ow, N) -> (G, K, oh*ow*N): the one copy
        cols = xp.ascontiguousarray(windows.transpose(1, 4, 5, 2, 3, 0))
    else:
        # (N, C, oh, ow, kh, kw) -> (C, kh, kw, N, oh, ow) -> (G, K, N*oh*ow): the one copy
        cols = xp.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3))
    return cols.reshape(groups, taps, n * oh * ow)


class FlatRows:
    """The cols of a stride-1 conv, a chunk of images at a time, in the flat-rows layout.

    Each image is zero-padded into a buffer whose rows lie end to end (Hp*Wp values, plus a
    tail of zeros for the last taps to read), so that the window of tap (i, j) at output
    pixel (r, s) sits at (r + i dh) Wp + s + j dw: each tap's cols for the whole image are
    one contiguous run of oh*Wp values, copied at memcpy speed, where NumPy's copy of the
    6-D window view runs only ow values at a time. The products then come out on an
    (oh, Wp) grid whose last Wp - ow columns are junk: a forward crops them, a weight
    gradient meets them with zero columns of gy.

    Chunks hold about ``CHUNK_BYTES`` of cols, so the copy and its GEMM stay in cache and
    nothing image-sized is allocated (fresh image-sized cols page-fault on every call).
    Iterating yields (start, stop, cols), cols (stop - start, C*kh*kw, oh*Wp) in a buffer
    that the next chunk overwrites. A helper of one raw call, never kept on an op.
    """

    def __init__(self, x, kernel, pads, dilation, out_rows):
        xp = get_array_module(x)
        self.x, ((top, bottom), (left, right)) = crop_negative(x, *pads)
        n, c, h, w = self.x.shape
        (kh, kw), (_, dw) = kernel, dilation
        height, self.row_width = h + top + bottom, w + left + right
        length = out_rows * self.row_width
        self.images = max(1, min(n, CHUNK_BYTES // (c * kh * kw * length * x.itemsize)))
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
