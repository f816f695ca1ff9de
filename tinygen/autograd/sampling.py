"""Random sampling: bernoulli, multinomial, normal, randperm, and the in-place normal_ and
uniform_ (the random factories randn, rand, randint are in ``creation.py``).

Draws come from tinygen's own generators (``tinygen.manual_seed`` seeds them) or a NumPy/CuPy
``Generator`` passed as ``generator``; they are constants: no gradient flows through a draw.
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.creation import _generator, _make, _shape, _xp_dtype
from tinygen.autograd.tensor import Tensor


def _float_tensor(op: str, name: str, value) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    if value.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must have a floating dtype, got {value.dtype}")
    return value


def bernoulli(input: Tensor, p: float | None = None, *, generator=None) -> Tensor:
    """0/1 draws, 1 with probability ``input`` elementwise (or ``p`` for every element).

    Args:
        input: probabilities in [0, 1] (with ``p``: only its shape, dtype and device count).
        p: one probability for every element, instead of ``input``'s values.
        generator: a NumPy/CuPy Generator to draw from instead of tinygen's (seeded by
            ``tinygen.manual_seed``).

    Returns:
        A constant tensor of input's shape, dtype and device holding 0s and 1s.
    """
    op = "bernoulli"
    _float_tensor(op, "input", input)
    if p is None:
        probability = input.data
        outside = ~((probability >= 0) & (probability <= 1))  # nan counts as outside
        if bool(outside.any()):
            raise ValueError(f"{op}: input must hold probabilities in [0, 1], got "
                             f"{float(probability[outside].reshape(-1)[0])}")
    elif not 0 <= p <= 1:
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    else:
        probability = p
    device = backend.check_device(input.device)
    uniform = _generator(op, device, generator).random(input.shape)
    uniform = backend.to_device(uniform, device)
    return Tensor((uniform < probability).astype(input.dtype))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator=None) -> Tensor:
    """Category indices drawn from the distributions whose (unnormalized) weights are the
    rows of ``input``.

    With replacement each draw is independent (inverse CDF); without, a row's draws are
    distinct and in the order sequential draws would give them (the exponential race, the
    Gumbel-top-k trick: the k smallest of E_c / p_c with E_c ~ Exp(1)).

    Args:
        input: (C,) or (N, C) non-negative, finite weights, each row with a positive sum;
            without replacement, at least ``num_samples`` positive weights per row.
        num_samples: draws per row, >= 1 (at most C without replacement).
        replacement: whether a category may be drawn more than once.
        generator: a NumPy/CuPy Generator to draw from instead of tinygen's.

    Returns:
        int64 indices of shape (num_samples,) or (N, num_samples).
    """
    op = "multinomial"
    _float_tensor(op, "input", input)
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must have shape (C,) or (N, C), got {input.shape}")
    if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) \
            or num_samples < 1:
        raise ValueError(f"{op}: num_samples must be a positive int, got {num_samples!r}")
    xp = backend.get_array_module(input.data)
    weights = input.data.reshape(-1, input.shape[-1]).astype(np.float64)  # (C,) -> (1, C)
    rows, classes = weights.shape
    if not replacement and num_samples > classes:
        raise ValueError(f"{op}: without replacement num_samples must be at most the number "
                         f"of categories {classes}, got {num_samples}")
    if bool((~xp.isfinite(weights) | (weights < 0)).any()):
        raise ValueError(f"{op}: input must hold finite, non-negative weights, got "
                         f"values in [{float(weights.min())}, {float(weights.max())}]")
    positive = (weights > 0).sum(axis=1)
    if rows and bool((positive == 0).any()):
        raise ValueError(f"{op}: every row of input must have a positive sum, got a row of "
                         f"zeros")
    if not replacement and rows and int(positive.min()) < num_samples:
        raise ValueError(f"{op}: without replacement every row needs at least num_samples="
                         f"{num_samples} positive weights, got a row with {int(positive.min())}")
    device = backend.check_device(input.device)
    draw = _generator(op, device, generator)
    if rows == 0:
        samples = xp.zeros((0, num_samples), dtype=np.int64)
    elif replacement:
        samples = _inverse_cdf(xp, weights, draw.random((rows, num_samples)), device)
    else:
        exponential = backend.to_device(draw.standard_exponential((rows, classes)), device)
        with np.errstate(divide="ignore"):  # a weight of 0 gives an infinite, last key
            keys = exponential / weights
        samples = xp.argsort(keys, axis=1)[:, :num_samples]
    samples = samples.astype(np.int64)
    return Tensor(samples.reshape(num_samples) if input.ndim == 1 else samples)


def _inverse_cdf(xp, weights, uniform, device: str):
    """For each row r of ``weights`` (N, C) and each u in ``uniform[r]`` (N, k), the first
    category whose cumulative weight share exceeds u (a zero weight is never picked)."""
    rows, classes = weights.shape
    cdf = xp.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]  # the last entry is exactly 1, and every u < 1
    # one sorted search over all rows: row r's values are shifted into [2r, 2r + 1]
    offsets = 2.0 * xp.arange(rows)[:, None]
    uniform = backend.to_device(uniform, device)
    flat = xp.searchsorted((cdf + offsets).reshape(-1), (uniform + offsets).reshape(-1),
                           side="right")
    samples = flat.reshape(rows, -1) - classes * xp.arange(rows)[:, None]
    # u + 2r can round up to the row's end: that draw is the row's last positive category
    last_positive = classes - 1 - xp.argmax(weights[:, ::-1] > 0, axis=1)
    return xp.minimum(samples, last_positive[:, None])


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None) -> Tensor:
    """Normal draws, as PyTorch's overloads: ``normal(mean_tensor, std_tensor)`` (their
    broadcast shape), ``normal(mean_tensor, std=1.0)``, ``normal(mean, std_tensor)``, and
    ``normal(mean, std, size)`` for two numbers.

    The draws are constants: no gradient flows to mean or std (use ``mean + std * randn``
    for a reparameterized sample).

    Args:
        mean: a float Tensor or a number.
        std: a float Tensor or a number, >= 0.
        size: the shape, only (and required) when mean and std are both numbers.
        generator: a NumPy/CuPy Generator to draw from instead of tinygen's.
        dtype, device: for two numbers (float32 and "cpu" by default); otherwise the
            tensors' own.

    Returns:
        A constant tensor.
    """
    op = "normal"
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    for name, value in (("mean", mean), ("std", std)):
        if isinstance(value, Tensor):
            _float_tensor(op, name, value)
        elif not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(
                value, bool):
            raise TypeError(f"{op}: {name} must be a Tensor or a number, got "
                            f"{type(value).__name__}")
    std_min = float(std.data.min()) if isinstance(std, Tensor) and std.numel() else std
    if isinstance(std_min, (int, float)) and not std_min >= 0:
        raise ValueError(f"{op}: std must be >= 0, got {std_min}")
    if tensors:
        if size is not None:
            raise TypeError(f"{op}: size is only for a number mean and std, got size={size} "
                            f"with a Tensor")
        device = backend.check_device(tensors[0].device)
        try:
            shape = np.broadcast_shapes(*(t.shape for t in tensors))
        except ValueError:
            raise ValueError(f"{op}: mean and std must broadcast together, got shapes "
                             f"{mean.shape} and {std.shape}") from None
        dtype = np.result_type(*(t.dtype for t in tensors))
    else:
        if size is None:
            raise TypeError(f"{op}: with a number mean and std, size is required (as "
                            f"normal(0.0, 1.0, (2, 3))), got none")
        shape = _shape((size,))
        dtype = _xp_dtype(device, dtype)[1]
        device = backend.check_device(device)
    noise = backend.to_device(_generator(op, device, generator).standard_normal(shape), device)
    loc, scale = (t.data if isinstance(t, Tensor) else t for t in (mean, std))
    return Tensor((loc + scale * noise).astype(dtype))


def randperm(n: int, *, generator=None, dtype=np.int64, device=None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of 0, ..., n-1.

    Args:
        n: the length, >= 0.
        generator: a NumPy/CuPy Generator to draw from instead of tinygen's.
        dtype: the integer dtype (int64 by default).
        device: "cpu" or "cuda".
        requires_grad: accepted for PyTorch's signature; must stay False (indices).

    Returns:
        An (n,) tensor.
    """
    op = "randperm"
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{op}: n must be a non-negative int, got {n!r}")
    device = backend.check_device(device)
    xp = backend.array_module_for(device)
    keys = backend.to_device(_generator(op, device, generator).random(int(n)), device)
    # sorting n uniform keys: a tie (probability about n^2 / 2^54) only swaps two equals
    return _make(xp.argsort(keys).astype(dtype), requires_grad)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill ``tensor`` in place with N(mean, std^2) draws (PyTorch's ``Tensor.normal_``).

    Returns:
        ``tensor``.
    """
    op = "normal_"
    _float_tensor(op, "tensor", tensor)
    if not std >= 0:
        raise ValueError(f"{op}: std must be >= 0, got {std}")
    device = backend.check_device(tensor.device)
    noise = backend.to_device(_generator(op, device, generator).standard_normal(tensor.shape),
                              device)
    return _fill(op, tensor, mean + std * noise)


def uniform_(tensor: Tensor, from_: float = 0.0, to: float = 1.0, *, generator=None) -> Tensor:
    """Fill ``tensor`` in place with U[from_, to) draws (PyTorch's ``Tensor.uniform_``, whose
    first argument is named ``from``).

    Returns:
        ``tensor``.
    """
    op = "uniform_"
    _float_tensor(op, "tensor", tensor)
    if not from_ <= to:
        raise ValueError(f"{op}: from_ must be <= to, got from_={from_}, to={to}")
    device = backend.check_device(tensor.device)
    uniform = backend.to_device(_generator(op, device, generator).random(tensor.shape), device)
    return _fill(op, tensor, from_ + (to - from_) * uniform)


def _fill(op: str, tensor: Tensor, values) -> Tensor:
    """Overwrite ``tensor``'s values in place (a new version; refused, naming ``op``, on a
    tensor that requires grad while grad mode is on, as PyTorch refuses it)."""
    return tensor._inplace(op, lambda array: array.__setitem__(Ellipsis, values))
