"""The functional API (``import tinygen.nn.functional as F``): stateless ops on Tensors.

Layers in ``tinygen.nn`` hold parameters and call these; training loops may call them too.
"""

from tinygen.autograd.ops.activation import (
    celu,
    elu,
    gelu,
    hardsigmoid,
    hardtanh,
    leaky_relu,
    log_sigmoid,
    logsigmoid,
    mish,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softplus,
    softsign,
    tanh,
)
from tinygen.autograd.ops.activation_axes import glu, prelu
from tinygen.autograd.ops.conv import (
    conv1d,
    conv2d,
    conv2d_top_rows,
    conv_mask,
    conv_transpose1d,
    conv_transpose2d,
    masked_conv2d,
)
from tinygen.autograd.ops.dropout import dropout, dropout1d, dropout2d
from tinygen.autograd.ops.indexing import embedding, one_hot
from tinygen.autograd.ops.linalg import linear
from tinygen.autograd.ops.loss import (
    bernoulli_nll,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    gaussian_kl,
    gaussian_nll,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    nll_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
)
from tinygen.autograd.ops.normalization import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    normalize,
)
from tinygen.autograd.ops.pooling import (
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
    upsample_nearest2d,
)
from tinygen.autograd.ops.pooling_adaptive import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
)
from tinygen.autograd.ops.recurrent import lstm_cell
from tinygen.autograd.ops.reduction import log_softmax, logsumexp, softmax
from tinygen.autograd.ops.tiling import pad
from tinygen.autograd.ops.unpooling import max_unpool1d, max_unpool2d
from tinygen.autograd.ops.upsampling import interpolate, pixel_shuffle, pixel_unshuffle

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "avg_pool1d", "avg_pool2d", "batch_norm", "bernoulli_nll", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "celu", "conv1d", "conv2d", "conv2d_top_rows", "conv_mask",
    "conv_transpose1d", "conv_transpose2d", "cross_entropy", "dropout", "dropout1d", "dropout2d",
    "elu", "embedding", "gaussian_kl", "gaussian_nll", "gaussian_nll_loss", "gelu", "glu",
    "group_norm", "hardsigmoid", "hardtanh", "hinge_embedding_loss", "huber_loss", "instance_norm",
    "interpolate", "kl_div", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_sigmoid",
    "log_softmax", "logsigmoid", "logsumexp", "lstm_cell", "margin_ranking_loss", "masked_conv2d",
    "max_pool1d", "max_pool2d", "max_unpool1d", "max_unpool2d", "mish", "mse_loss", "nll_loss",
    "normalize", "one_hot", "pad",
    "pixel_shuffle", "pixel_unshuffle", "poisson_nll_loss", "prelu", "relu", "relu6", "selu",
    "sigmoid", "silu", "smooth_l1_loss", "soft_margin_loss", "softmax", "softplus", "softsign",
    "tanh", "upsample_nearest2d",
]
