"""PixelCNN's masked convolutions: the causal mask, and conv2d on the kernel rows it keeps."""

from __future__ import annotations

import numpy as np

from tinygen.autograd.ops.arguments import pair, tensor_args
from tinygen.autograd.ops.conv.functions import as_pads, conv2d
from tinygen.autograd.ops.shape import pad
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


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


@tensor_args
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
    (above, below), columns = as_pads(padding)
    below -= pair("dilation", dilation, 1)[0] * (kh - rows)
    if below < 0:
        # less padding than the dropped rows span: their windows would start inside the
        # image, so convolve the full kernel with those rows zeroed instead
        return conv2d(x, pad(top, ((0, 0), (0, 0), (0, kh - rows), (0, 0))), bias, stride,
                      padding, dilation, groups)
    return conv2d(x, top, bias, stride, ((above, below), columns), dilation, groups)


@tensor_args
def masked_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  mask_type: str = "B", stride=1, padding=0, dilation=1, groups: int = 1,
                  channel_groups: int | None = None) -> Tensor:
    """conv2d with a PixelCNN mask multiplied into the weight inside the graph, so the
    weight's gradient is zero wherever the mask is (see :func:`conv_mask`). The mask's rows
    below the centre are all zero, so it runs as :func:`conv2d_top_rows`.

    Args:
        x: (N, C_in, H, W).
        weight: (C_out, C_in/groups, kh, kw), kh and kw odd; the mask is built for it.
        bias: optional (C_out,).
        mask_type: "A" (centre pixel hidden, for the first layer) or "B" (centre visible).
        stride, padding, dilation, groups: as in :func:`conv2d`.
        channel_groups: split channels into R, G, B-style groups (see :func:`conv_mask`).

    Returns:
        (N, C_out, oh, ow), each output pixel a function of raster-earlier input pixels only.
    """
    if weight.ndim != 4:
        raise ValueError(f"masked_conv2d: weight must be (C_out, C_in/groups, kh, kw), got "
                         f"shape {weight.shape}")
    if weight.shape[2] % 2 == 0 or weight.shape[3] % 2 == 0:
        raise ValueError(f"masked_conv2d: the kernel must have odd sides (an even one has no "
                         f"centre pixel, so the mask is not causal), got {weight.shape[2:]}")
    xp = get_array_module(weight.data)
    mask = Tensor._from_array(xp.asarray(conv_mask(weight.shape, mask_type, channel_groups),
                                         dtype=weight.dtype))
    return conv2d_top_rows(x, weight * mask, bias, stride, padding, dilation, groups)
