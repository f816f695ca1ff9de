"""conv2d and conv_transpose2d by their definitions, as plain loops over the kernel taps.

Slow and obviously correct, on NumPy only, sharing no code with :mod:`.layouts`: the tests
and the op registry (``tinygen.testing.op_specs_conv``) check every layout against these.
"""

from __future__ import annotations

import numpy as np


def reference_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d by its definition: a sum over channels and kernel taps per output pixel.

    ``padding`` is an int or ((top, bottom), (left, right)).
    """
    n, c, h, w = x.shape
    out_channels, c_group, kh, kw = weight.shape
    pads = ((padding, padding),) * 2 if isinstance(padding, int) else padding
    padded = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    oh = (padded.shape[2] - dilation * (kh - 1) - 1) // stride + 1
    ow = (padded.shape[3] - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, out_channels, oh, ow))
    per_group = out_channels // groups
    for o in range(out_channels):
        channels = slice((o // per_group) * c_group, (o // per_group + 1) * c_group)
        for i in range(kh):
            for j in range(kw):
                patch = padded[:, channels, i * dilation:i * dilation + stride * (oh - 1) + 1:
                               stride, j * dilation:j * dilation + stride * (ow - 1) + 1:stride]
                y[:, o] += np.einsum("nchw,c->nhw", patch, weight[o, :, i, j])
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def reference_conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                               dilation=1, groups=1):
    """conv_transpose2d by its definition: every input pixel scatters a weighted kernel."""
    n, c, h, w = x.shape
    _, out_group, kh, kw = weight.shape
    out_h = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1
    out_w = (w - 1) * stride - 2 * padding + dilation * (kw - 1) + output_padding + 1
    full = np.zeros((n, out_group * groups, out_h + 2 * padding, out_w + 2 * padding))
    in_group = c // groups
    for ci in range(c):
        outs = slice((ci // in_group) * out_group, (ci // in_group + 1) * out_group)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dilation, i * dilation + stride * (h - 1) + 1, stride)
                cols = slice(j * dilation, j * dilation + stride * (w - 1) + 1, stride)
                full[:, outs, rows, cols] += (x[:, ci, None] * weight[ci, :, i, j, None, None])
    y = full[:, :, padding:padding + out_h, padding:padding + out_w]
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def reference_conv2d_top_rows(x, weight, bias=None, **kwargs):
    """conv2d_top_rows by its definition: conv2d with the rows below the centre zeroed."""
    weight = weight.copy()
    weight[:, :, weight.shape[2] // 2 + 1:] = 0
    return reference_conv2d(x, weight, bias, **kwargs)
