"""The "winograd" layout of :func:`.layouts.choose_layout`: a 3x3 stride-1 conv by Winograd's
minimal filtering F(2x2, 3x3), 16 multiplies per 2x2 output tile where the direct sum takes 36.

One axis at a time, two outputs y of a 3-tap correlation over four inputs d are
y = A^T [(G g) * (B^T d)], with

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

and in 2-D Y = A^T [(G g G^T) * (B^T d B)] A for each 4x4 input tile d (tiles 2 apart) and
3x3 kernel g. Summed over the C input channels, the elementwise product of each of the 16
transformed positions becomes one GEMM, (tiles, C) @ (C, O): 16 GEMMs with 16/36 of the
direct conv's multiply-adds. The transforms are only adds and subtracts (G's halves are exact
in binary), done as whole-array passes on strided views of a chunk of images laid out
channels-last, so that every pass runs along C contiguous values and stays in cache.

The weight gradient is the adjoint of the same factorization, dL/dg = G^T [sum over tiles of
(A gy A^T) * (B^T d B)] G: 16 GEMMs (O, tiles) @ (tiles, C) on the same input tiles. The input
gradient needs nothing here: it is a stride-1 correlation with the flipped kernel, a conv2d
that takes this layout in turn (:func:`.layouts.conv_transpose2d`, "correlation").

The float32 error is about that of the im2col GEMMs on random normal data; on positive data,
where nothing cancels, up to 3.5 times theirs per output at 256-512 channels, within a third
of sqrt(9C) eps32 (|x| * |w|) (docs/BENCHMARKS.md, "Convolution layouts", `winograd`): the
transforms add at most four terms each, with coefficients 1/2 and 1.
"""

from __future__ import annotations

import math

from tinygen.autograd.ops.conv.windows import crop_negative
from tinygen.backend import get_array_module

#: The layout rule's thresholds (:func:`.layouts.choose_layout`): at least this many input
#: and output channels, and output maps at least this many pixels high and wide. Batch 64,
#: one thread, against the layouts it displaced (min of 9-21 interleaved runs, load 4-5):
#: forward 128 -> 128 on 16x16 maps 0.64-0.68x, on 8x8 0.70-0.75x, 64 -> 64 on 32x32
#: 0.83-0.89x; weight gradient 0.65x, 0.75x, 1.0x; not 32 -> 64 on 26x26 (1.02-1.06x) nor
#: 4x4 maps (128 and 256 channels: 1.1-1.3x, too few tiles for the GEMMs).
MIN_CHANNELS = 64
MIN_SIDE = 8
#: ...and only when tinygen may use at most this many threads (``backend.work_threads``):
#: the transforms are memory-bound passes that the two cores' blocks share, where the
#: GEMM layouts' blocks scale. Forward + backward at batch 64 on the quiet 2-core machine,
#: winograd against the GEMM layouts, min of 5 interleaved: at one thread 164.6 / 184.6 ms
#: (64 -> 64, 32x32), 120.4 / 182.7 (128 -> 128, 16x16), 35.1 / 50.8 (8x8); at two threads
#: 118.4 / 95.8, 100.7 / 99.0 and 44.4 / 31.1 (larger chunks of 4 and 16 MiB no better)
MAX_THREADS = 1
#: bytes of the transformed input (or products) per chunk of images: 1 MiB, half of a
#: core's 2 MiB L2. On 128 -> 128 at 16x16 and 8x8 maps (batch 64, one thread) 2 MiB took
#: the same time, 512 KiB 1.04-1.13x longer; 64 -> 64 on 32x32 maps took 1.07x at 2 MiB
CHUNK_BYTES = 1 << 20

# G, the kernel transform of F(2, 3): (4 tile positions, 3 taps)
_KERNEL_TRANSFORM = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def fits(weight_shape, stride, dilation, groups) -> bool:
    """Whether a conv can run as F(2x2, 3x3): a 3x3 kernel, stride 1, no dilation, no groups."""
    return (tuple(weight_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and groups == 1)


def winograd_conv2d(x, weight, pads, bias=None, out=None):
    """conv2d of x (N, C, H, W) with a 3x3 kernel (O, C, 3, 3), stride 1: (N, O, oh, ow),
    plus ``bias`` (O,) when given, written into ``out`` (or a new array).

    ``pads`` is ((top, bottom), (left, right)); a negative side crops.
    """
    xp = get_array_module(x)
    out_channels = weight.shape[0]
    tiles = _InputTiles(x, pads, _output_size(x, pads), out_channels)
    (oh, ow), th, tw = tiles.out_hw, tiles.th, tiles.tw
    u = _transformed_kernel(weight)
    products = xp.empty(16 * tiles.images * th * tw * out_channels, dtype=x.dtype)
    half = xp.empty(8 * tiles.images * th * tw * out_channels, dtype=x.dtype)
    corners = xp.empty(4 * tiles.images * th * tw * out_channels, dtype=x.dtype)
    y = out if out is not None else xp.empty((x.shape[0], out_channels, oh, ow), x.dtype)
    for start, b, v in tiles:
        # (16, b*th*tw, C) @ (16, C, O) -> (16, b*th*tw, O), one GEMM per tile position
        m = products[:16 * b * th * tw * out_channels].reshape(16, b * th * tw, out_channels)
        xp.matmul(v, u, out=m)
        if bias is not None:
            # A^T e A = ones(2, 2) for e the unit at tile position (1, 1): a bias added there
            # reaches all four outputs, in one contiguous pass over 1/16 of the products
            xp.add(m[5], bias, out=m[5])
        tiles_out = _transformed_output(m.reshape(4, 4, b, th, tw, out_channels), half,
                                        corners)
        # (b, th, 2, tw, 2, O) -> (b, 2th, 2tw, O) -> crop -> (b, O, oh, ow)
        tiles_out = tiles_out.reshape(b, 2 * th, 2 * tw, out_channels)[:, :oh, :ow].transpose(
            0, 3, 1, 2)
        y[start:start + b] = tiles_out
    return y


def winograd_weight_grad(x, gy, pads):
    """dL/dW (O, C, 3, 3) of that conv, gy (N, O, oh, ow), by the adjoint of its F(2x2, 3x3):
    dL/dg = G^T [sum over tiles of (A gy A^T) * (B^T d B)] G, 16 GEMMs (O, tiles) @
    (tiles, C) over the same transformed input tiles as the forward."""
    xp = get_array_module(x)
    n, out_channels, oh, ow = gy.shape
    tiles = _InputTiles(x, pads, (oh, ow), out_channels)
    th, tw = tiles.th, tiles.tw
    # gy zero-padded to whole tiles, channels-last: (b, 2th, 2tw, O)
    padded = xp.zeros((tiles.images, 2 * th, 2 * tw, out_channels), dtype=gy.dtype)
    rows = xp.empty(4 * tiles.images * th * 2 * tw * out_channels, dtype=gy.dtype)
    spread = xp.empty(16 * tiles.images * th * tw * out_channels, dtype=gy.dtype)
    total = xp.zeros((16, out_channels, x.shape[1]), dtype=x.dtype)
    part = xp.empty_like(total)
    for start, b, v in tiles:
        # (b, O, oh, ow) -> (b, oh, ow, O)
        padded[:b, :oh, :ow] = gy[start:start + b].transpose(0, 2, 3, 1)
        r = rows[:4 * b * th * 2 * tw * out_channels].reshape(4, b, th, 2 * tw, out_channels)
        _a_adjoint(xp, [padded[:b, j::2] for j in range(2)], r)
        dm = spread[:16 * b * th * tw * out_channels].reshape(4, 4, b, th, tw, out_channels)
        for k in range(4):
            _a_adjoint(xp, [r[k, :, :, j::2] for j in range(2)], dm[k])
        # (16, b*th*tw, O)^T @ (16, b*th*tw, C) -> (16, O, C), summed over the tiles
        xp.matmul(dm.reshape(16, b * th * tw, out_channels).transpose(0, 2, 1), v, out=part)
        total += part
    transform = xp.asarray(_KERNEL_TRANSFORM, dtype=x.dtype)  # G (4, 3)
    # (16, O, C) -> (4, 4, O, C) -> (O, C, 4, 4); G^T (3, 4) @ . @ G (4, 3) -> (O, C, 3, 3)
    total = total.reshape(4, 4, out_channels, x.shape[1]).transpose(2, 3, 0, 1)
    return xp.matmul(xp.matmul(transform.T, total), transform)


def _output_size(x, pads):
    """(oh, ow) of a 3x3 stride-1 conv of x (N, C, H, W) padded by ``pads``."""
    return tuple(x.shape[2 + a] + sum(pads[a]) - 2 for a in range(2))


class _InputTiles:
    """B^T d B of the 4x4 input tiles d (2 apart) under the 2x2 output tiles of ``out_hw``,
    a chunk of images at a time: iterating yields (start, b, v), v (16, b*th*tw, C) for
    images start .. start + b, in a buffer that the next chunk overwrites.

    Each chunk is zero-padded channels-last, (b, 2th+2, 2tw+2, C), so that every transform
    pass runs along C contiguous values; chunks hold about ``CHUNK_BYTES`` of transformed
    tiles (or of the ``out_channels`` products beside them), so the passes stay in cache.
    """

    def __init__(self, x, pads, out_hw, out_channels):
        xp = get_array_module(x)
        x, ((top, _), (left, _)) = crop_negative(x, *pads)
        self.out_hw = tuple(out_hw)
        self.th, self.tw = -(-out_hw[0] // 2), -(-out_hw[1] // 2)
        # the rows and columns of x under the tiles (fewer when out_hw drops trailing ones)
        self.x = x[:, :, :2 * self.th + 2 - top, :2 * self.tw + 2 - left]
        self.top, self.left = top, left
        n, c, h, w = self.x.shape
        tile_bytes = 16 * max(c, out_channels) * self.th * self.tw * x.itemsize
        self.images = max(1, min(n, CHUNK_BYTES // tile_bytes))
        # its border and tail rows stay zero: only the interior is written
        self.padded = xp.zeros((self.images, 2 * self.th + 2, 2 * self.tw + 2, c),
                               dtype=x.dtype)
        # A plane of a whole number of KiB puts x's C values of one pixel in one cache set,
        # and the transposing copy thrashes: such a chunk is zero-padded as (b, C, Hp, Wp)
        # first and then transposed whole (64 channels on 32x32 maps, batch 64: 12 -> 2.6
        # ms), other planes go straight (26x26 and 8x8 maps: 1.9 and 3 times faster so)
        self.staged = (xp.zeros((self.images, c) + self.padded.shape[1:3], dtype=x.dtype)
                       if h * w * x.itemsize % 1024 == 0 else None)
        # flat scratch buffers, viewed at each chunk's size so that a short last chunk stays
        # contiguous too; each is written whole before it is read
        self.rows = xp.empty(4 * self.images * self.th * (2 * self.tw + 2) * c, dtype=x.dtype)
        self.tiles = xp.empty(16 * self.images * self.th * self.tw * c, dtype=x.dtype)

    def __iter__(self):
        n, _, h, w = self.x.shape
        top, left = self.top, self.left
        for start in range(0, n, self.images):
            b = min(n, start + self.images) - start
            if self.staged is None:
                # (b, C, H, W) -> (b, H, W, C), into the padded chunk's interior
                self.padded[:b, top:top + h, left:left + w] = self.x[start:start + b].transpose(
                    0, 2, 3, 1)
            else:
                self.staged[:b, :, top:top + h, left:left + w] = self.x[start:start + b]
                # (b, C, Hp, Wp) -> (b, Hp, Wp, C)
                self.padded[:b] = self.staged[:b].transpose(0, 2, 3, 1)
            yield start, b, _transformed_input(self.padded[:b], self.th, self.tw, self.rows,
                                               self.tiles)


def _transformed_kernel(weight):
    """G g G^T for every (O, C) kernel, laid out as the GEMMs' right operand (16, C, O)."""
    xp = get_array_module(weight)
    out_channels, c = weight.shape[:2]
    transform = xp.asarray(_KERNEL_TRANSFORM, dtype=weight.dtype)  # (4, 3)
    # (4, 3) @ (O, C, 3, 3) @ (3, 4) -> (O, C, 4, 4)
    u = xp.matmul(xp.matmul(transform, weight), transform.T)
    # (O, C, 4, 4) -> (4, 4, C, O) -> (16, C, O)
    return xp.ascontiguousarray(u.transpose(2, 3, 1, 0)).reshape(16, c, out_channels)


def _transformed_input(padded, th, tw, rows, tiles):
    """B^T d B of every 4x4 tile of ``padded`` (b, 2th+2, 2tw+2, C), tiles 2 apart: rows
    first (along H, views 2 rows apart), then columns; (16, b*th*tw, C) in ``tiles``."""
    xp = get_array_module(padded)
    b, _, width, c = padded.shape
    # r[k] = (B^T d)[k] over rows: tile row t reads padded rows 2t .. 2t + 3
    r = rows[:4 * b * th * width * c].reshape(4, b, th, width, c)
    _b_transform(xp, [padded[:, j:j + 2 * th - 1:2] for j in range(4)], r)
    # v[k, l] = (B^T d B)[k, l]: the same along the columns of each r[k]
    v = tiles[:16 * b * th * tw * c].reshape(4, 4, b, th, tw, c)
    for k in range(4):
        _b_transform(xp, [r[k, :, :, j:j + 2 * tw - 1:2] for j in range(4)], v[k])
    return v.reshape(16, b * th * tw, c)  # (4, 4, b, th, tw, C) -> (16, b*th*tw, C)


def _b_transform(xp, d, out):
    """out[k] = (B^T d)[k] for the four views d[0..3]: d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    xp.subtract(d[0], d[2], out=out[0])
    xp.add(d[1], d[2], out=out[1])
    xp.subtract(d[2], d[1], out=out[2])
    xp.subtract(d[1], d[3], out=out[3])


def _transformed_output(m, half, out):
    """A^T m A of every tile's products m (4, 4, b, th, tw, O): the 2x2 outputs, as
    (b, th, 2, tw, 2, O) in ``out``."""
    xp = get_array_module(m)
    shape = m.shape[2:]
    count = math.prod(shape)
    # z[k] = (A^T m)[k] over rows: m0 + m1 + m2 and m1 - m2 - m3, each (4, b, th, tw, O)
    z = half[:8 * count].reshape((2, 4) + shape)
    _a_transform(xp, m, z)
    b, th, tw, out_channels = shape
    tiles_out = out[:4 * count].reshape(b, th, 2, tw, 2, out_channels)
    for k in range(2):
        # the same along the columns of z[k], into output rows 2t + k:
        # (b, th, tw, 2, O) -> a view (2, b, th, tw, O), one output column phase each
        _a_transform(xp, z[k], tiles_out[:, :, k].transpose(3, 0, 1, 2, 4))
    return tiles_out


def _a_adjoint(xp, g, out):
    """out[k] = (A g)[k] for the two views g[0..1]: g0, g0 + g1, g0 - g1, -g1."""
    out[0][...] = g[0]
    xp.add(g[0], g[1], out=out[1])
    xp.subtract(g[0], g[1], out=out[2])
    xp.negative(g[1], out=out[3])


def _a_transform(xp, m, out):
    """out[0] = m0 + m1 + m2, out[1] = m1 - m2 - m3 (A^T m along m's first axis)."""
    xp.add(m[1], m[2], out=out[0])
    xp.subtract(m[1], m[2], out=out[1])
    xp.add(out[0], m[0], out=out[0])
    xp.subtract(out[1], m[3], out=out[1])
