"""2-D convolution and its adjoint, the transposed convolution (1-D ones on a unit height);
PixelCNN's masked convs.

Read in this order: :mod:`.functions`, the ops as math (each gradient an adjoint convolution);
:mod:`.reference`, the same sums as plain loops; :mod:`.layouts`, how the arrays are laid
out for BLAS (one rule, :func:`.layouts.choose_layout`), with :mod:`.gemms` for the GEMMs
on cut windows, :mod:`.dense` for a kernel covering its input, :mod:`.winograd` for heavy
3x3 stride-1 convs (F(2x2, 3x3): 2.25 times fewer multiplies), :mod:`.windows` cutting the
input windows and :mod:`.parallel` running blocks of the batch on their own threads;
:mod:`.masked`, PixelCNN's causal masks.
"""

from tinygen.autograd.ops.conv.functions import (
    Conv2d,
    Conv2dGradWeight,
    ConvTranspose2d,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
)
from tinygen.autograd.ops.conv.masked import conv2d_top_rows, conv_mask, masked_conv2d

__all__ = [
    "Conv2d", "Conv2dGradWeight", "ConvTranspose2d", "conv1d", "conv2d", "conv2d_top_rows",
    "conv_mask", "conv_transpose1d", "conv_transpose2d", "masked_conv2d",
]
