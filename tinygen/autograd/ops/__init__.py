"""Differentiable ops, one file per family. Each op is a Function subclass with a snake_case
wrapper; the wrappers are the public entry points and are re-exported here."""

from tinygen.autograd.ops.activation import (
    elu,
    leaky_relu,
    log_sigmoid,
    relu,
    sigmoid,
    softplus,
    tanh,
)
from tinygen.autograd.ops.elementwise import (
    abs,
    add,
    cast,
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
    to_device,
    where,
)
from tinygen.autograd.ops.linalg import matmul
from tinygen.autograd.ops.reduction import (
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    softmax,
    sum,
    var,
)
from tinygen.autograd.ops.shape import (
    broadcast_to,
    cat,
    concatenate,
    expand,
    flatten,
    flip,
    getitem,
    index_add,
    pad,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)

__all__ = [
    "abs", "add", "broadcast_to", "cast", "cat", "clip", "concatenate", "div", "elu", "exp",
    "expand", "flatten", "flip", "getitem", "index_add", "leaky_relu", "log", "log_sigmoid",
    "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mul",
    "neg", "pad", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "softplus",
    "split", "sqrt", "squeeze", "stack", "sub", "sum", "tanh", "to_device", "transpose",
    "unsqueeze", "var", "where",
]
