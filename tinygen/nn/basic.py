"""Basic layers: Linear, Embedding, Dropout (Dropout1d, Dropout2d: whole channels), and the
reshaping layers Flatten, Unflatten and Identity."""

from __future__ import annotations

import math

import numpy as np

import tinygen.nn.functional as F
from tinygen.autograd.ops import flatten, reshape
from tinygen.autograd.tensor import Tensor, _axis
from tinygen.nn import init
from tinygen.nn.checks import check_features, check_input, count, flag, integer, number
from tinygen.nn.module import Module, Parameter


class Linear(Module):
    """An affine map, y = x W^T + b.

    Args:
        in_features: the size of the input's last axis.
        out_features: the size of the output's last axis.
        bias: whether to add a learned bias.

    Shapes:
        x (..., in_features) -> y (..., out_features); weight (out_features, in_features),
        bias (out_features,), initialised as in PyTorch (kaiming_uniform with a = sqrt(5),
        bias U(-1/sqrt(in_features), 1/sqrt(in_features))).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        self.in_features = count("Linear", "in_features", in_features)
        self.out_features = count("Linear", "out_features", out_features)
        bias = flag("Linear", "bias", bias)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=np.float32))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = init.uniform_parameter((out_features,), 1 / math.sqrt(in_features)) \
            if bias else None

    def forward(self, x: Tensor) -> Tensor:
        check_input("Linear", x, like=self.weight)
        check_features("Linear", x, -1, self.in_features, "features")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _Dropout(Module):
    function = None

    def __init__(self, p: float = 0.5, inplace: bool = False):
        name = type(self).__name__
        self.p = number(name, "dropout probability p", p, 0.0, 1.0)
        self.inplace = flag(name, "inplace", inplace)

    def forward(self, x: Tensor) -> Tensor:
        check_input(type(self).__name__, x, floating=True)
        return type(self).function(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_Dropout):
    """Inverted dropout, active only in training mode: zero each element with probability
    ``p`` and scale the rest by 1 / (1 - p), so that eval mode is the identity.

    Args:
        p: the probability of zeroing an element, in [0, 1].
        inplace: accepted for PyTorch code; the output is always a new tensor.

    Shapes:
        the output has the input's shape.
    """

    function = staticmethod(F.dropout)


class Dropout1d(_Dropout):
    """Channel dropout for 1-D maps, as torch.nn.Dropout1d: in training, zero each whole
    channel with probability ``p`` and scale the rest by 1 / (1 - p).

    Shapes:
        (N, C, L) or (C, L), unchanged.
    """

    function = staticmethod(F.dropout1d)


class Dropout2d(_Dropout):
    """Channel dropout for 2-D maps, as torch.nn.Dropout2d: in training, zero each whole
    channel with probability ``p`` and scale the rest by 1 / (1 - p).

    Shapes:
        (N, C, H, W), unchanged (a 3-D input is read as (N, C, L), as PyTorch reads it).
    """

    function = staticmethod(F.dropout2d)


class Embedding(Module):
    """A lookup table of learned vectors, as torch.nn.Embedding.

    Shapes:
        integer indices (...) in [0, num_embeddings) -> (..., embedding_dim);
        weight (num_embeddings, embedding_dim), initialised N(0, 1).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.num_embeddings = count("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = count("Embedding", "embedding_dim", embedding_dim)
        self.weight = init.normal_(Parameter(np.empty((num_embeddings, embedding_dim),
                                                      dtype=np.float32)))

    def forward(self, indices) -> Tensor:
        raw = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        if raw.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {raw.dtype}")
        if raw.size and (raw.min() < 0 or raw.max() >= self.num_embeddings):
            raise ValueError(f"Embedding: indices must be in [0, {self.num_embeddings}), got "
                             f"range [{raw.min()}, {raw.max()}]")
        return F.embedding(Tensor._from_array(raw), self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Flatten(Module):
    """Merge axes start_dim..end_dim (default: all but the batch axis), e.g.
    (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim = integer("Flatten", "start_dim", start_dim)
        self.end_dim = integer("Flatten", "end_dim", end_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input("Flatten", x)
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``sizes``: e.g. (N, 784) -> (N, 1, 28, 28); one size may be
    -1, inferred from the axis's length, as in PyTorch."""

    def __init__(self, dim: int, sizes: tuple):
        self.dim = integer("Unflatten", "dim", dim)
        if not isinstance(sizes, (tuple, list)) or not sizes or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in sizes):
            raise TypeError(f"Unflatten: sizes must be a non-empty tuple of ints, got "
                            f"{sizes!r}")
        if any(n < 1 and n != -1 for n in sizes) or list(sizes).count(-1) > 1:
            raise ValueError(f"Unflatten: sizes must be positive ints (one of them may be -1), "
                             f"got {sizes!r}")
        self.sizes = tuple(int(n) for n in sizes)

    def forward(self, x: Tensor) -> Tensor:
        check_input("Unflatten", x)
        dim = _axis(self.dim, x.ndim, "Unflatten")
        inferred = -1 in self.sizes
        known, length = abs(math.prod(self.sizes)), x.shape[dim]
        if (length % known if inferred else length != known):
            raise ValueError(f"Unflatten: sizes {self.sizes} do not multiply to axis {dim}'s "
                             f"length {length}")
        sizes = tuple(length // known if n == -1 else n for n in self.sizes)
        # (..., d, ...) -> (..., *sizes, ...)
        return reshape(x, x.shape[:dim] + sizes + x.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.sizes}"


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for an optional layer)."""

    def __init__(self, *args, **kwargs):
        pass  # PyTorch's Identity takes and ignores any arguments

    def forward(self, x: Tensor) -> Tensor:
        return x
