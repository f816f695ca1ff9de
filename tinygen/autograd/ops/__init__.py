"""Differentiable ops, one file per family. Each op is a Function subclass with a snake_case
wrapper; the wrappers are the public entry points and are re-exported here."""

# The factories behind Tensor.new_zeros/new_ones/new_empty/new_full/new_tensor and the random
# draws behind Tensor.bernoulli/multinomial/normal_/uniform_: reachable as ops.<name> for
# tensor_methods.py, but no gradient and no registry spec, so not in __all__ (tinygen exports
# them from tinygen.autograd.creation and tinygen.autograd.sampling).
from tinygen.autograd.creation import new_empty as new_empty
from tinygen.autograd.creation import new_full as new_full
from tinygen.autograd.creation import new_ones as new_ones
from tinygen.autograd.creation import new_tensor as new_tensor
from tinygen.autograd.creation import new_zeros as new_zeros
from tinygen.autograd.ops.activation import (
    celu,
    elu,
    gelu,
    hardsigmoid,
    hardtanh,
    leaky_relu,
    log_sigmoid,
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
from tinygen.autograd.ops.axes import movedim, t, transpose
from tinygen.autograd.ops.comparison import (
    all,
    any,
    argmax,
    argmin,
    eq,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    logical_and,
    logical_not,
    logical_or,
    lt,
    ne,
)
from tinygen.autograd.ops.conversion import cast, clone, to_device
from tinygen.autograd.ops.elementwise import (
    abs,
    add,
    clamp,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    where,
)
from tinygen.autograd.ops.indexing import (
    argsort,
    gather,
    index_add,
    index_select,
    masked_fill,
    scatter,
    scatter_add,
    sort,
    take_along_dim,
    topk,
    tril,
    triu,
)
from tinygen.autograd.ops.linalg import (
    addmm,
    baddbmm,
    bmm,
    dot,
    einsum,
    matmul,
    mm,
    mv,
    outer,
    tensordot,
)
from tinygen.autograd.ops.norms import norm
from tinygen.autograd.ops.reduction import (
    amax,
    amin,
    cumsum,
    log_softmax,
    logcumsumexp,
    logsumexp,
    max,
    mean,
    min,
    prod,
    softmax,
    std,
    sum,
    var,
    var_mean,
)
from tinygen.autograd.ops.shape import (
    broadcast_to,
    cat,
    chunk,
    concatenate,
    expand,
    flatten,
    flip,
    getitem,
    narrow,
    pad,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    unbind,
    unflatten,
    unsqueeze,
)
from tinygen.autograd.ops.special import (
    ceil,
    cos,
    erf,
    expm1,
    floor,
    floor_divide,
    lerp,
    log1p,
    logaddexp,
    nan_to_num,
    reciprocal,
    remainder,
    round,
    rsqrt,
    sign,
    sin,
    square,
    xlogy,
)
from tinygen.autograd.ops.tiling import (
    column_stack,
    hstack,
    repeat,
    roll,
    tile,
    vstack,
)
from tinygen.autograd.sampling import bernoulli as bernoulli
from tinygen.autograd.sampling import multinomial as multinomial
from tinygen.autograd.sampling import normal_ as normal_
from tinygen.autograd.sampling import uniform_ as uniform_

__all__ = [
    "abs", "add", "all", "amax", "amin", "any", "argmax", "argmin", "broadcast_to",
    "cast", "cat", "clip", "concatenate", "div", "elu", "eq", "exp", "expand", "flatten",
    "flip", "ge", "getitem", "gt", "index_add", "isfinite", "isinf", "isnan", "le", "leaky_relu",
    "log", "log_sigmoid", "log_softmax", "logical_and", "logical_not", "logical_or", "logsumexp",
    "lt", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "ne", "neg", "pad",
    "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "softplus", "split", "sqrt",
    "squeeze", "stack", "std", "sub", "sum", "tanh", "to_device", "transpose", "unsqueeze",
    "var", "var_mean", "where",
]
__all__ += [
    "celu", "ceil", "clamp", "cos", "erf", "expm1", "floor", "gelu", "glu", "hardsigmoid",
    "hardtanh", "lerp", "log1p", "logaddexp", "mish", "nan_to_num", "prelu", "reciprocal",
    "relu6", "round", "rsqrt", "selu", "sign", "silu", "sin", "softsign", "square", "xlogy",
]
__all__ += ["floor_divide", "remainder"]
__all__ += [
    "addmm", "argsort", "baddbmm", "bmm", "chunk", "clone", "column_stack", "cumsum", "dot",
    "einsum", "gather", "hstack", "index_select", "logcumsumexp", "masked_fill", "mm",
    "movedim", "mv", "narrow", "norm", "outer", "prod", "repeat", "roll", "scatter",
    "scatter_add", "sort", "t", "take_along_dim", "tensordot", "tile", "topk", "tril", "triu",
    "unbind", "unflatten", "vstack",
]
