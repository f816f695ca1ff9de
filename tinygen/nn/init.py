"""Weight initialisers. Each fills a tensor in place (under no_grad, bumping its version) from
tinygen's generator for the tensor's device, so ``tinygen.manual_seed`` makes them repeatable.

Each also accepts a parameter's raw array, as PyTorch programs pass ``m.weight.data``
(``init.normal_(m.weight.data, 0.0, 0.02)``): the array is filled in place and returned.
"""

from __future__ import annotations

import math

import numpy as np

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor, _writable
from tinygen.nn.checks import choice, ints, number
from tinygen.nn.module import Parameter

_GAINS = {
    **dict.fromkeys(["linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d",
                     "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"], 1.0),
    "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75,
}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table): the factor that keeps the
    activations' variance steady through layers of that nonlinearity.

    Args:
        nonlinearity: "linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu", ...
        param: the negative slope for "leaky_relu" (default 0.01).

    Returns:
        The gain, e.g. sqrt(2) for "relu".
    """
    choice("calculate_gain", "nonlinearity", nonlinearity, (*_GAINS, "leaky_relu"))
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else number("calculate_gain", "param", param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    return _GAINS[nonlinearity]


def fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """Fans of a weight: (in, out) for a matrix; times the kernel size for a conv weight."""
    return _fans("fan_in_and_fan_out", tensor)


def _fans(function: str, tensor) -> tuple[int, int]:
    """:func:`fan_in_and_fan_out`, its errors naming ``function``, the initialiser called."""
    if _target(function, tensor).ndim < 2:
        raise ValueError(f"{function}: needs a tensor with at least 2 axes, got shape "
                         f"{tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _target(function: str, tensor):
    """``tensor`` if it is a floating Tensor or raw array (what an initialiser fills)."""
    if not isinstance(tensor, (Tensor, np.ndarray)) and not hasattr(
            tensor, "__cuda_array_interface__"):
        raise TypeError(f"{function}: tensor must be a Tensor (or its raw array), got "
                        f"{type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{function}: tensor must be floating, got dtype {tensor.dtype}")
    return tensor


def _fill(tensor: Tensor, values) -> Tensor:
    if not isinstance(tensor, Tensor):  # a raw array (``weight.data``): fill it in place
        # sanctioned: a live graph that saved the array then refuses to backward
        with _writable(tensor, "nn.init") as array:
            array[...] = values.astype(tensor.dtype)
        return tensor
    with no_grad():
        tensor.copy_(values.astype(tensor.dtype))
    return tensor


def _generator(tensor: Tensor):
    device = tensor.device if isinstance(tensor, Tensor) else backend.device_of(tensor)
    return backend.get_generator(str(device))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b).

    Every initialiser here takes the tensor first, fills it in place and returns it.
    """
    _target("uniform_", tensor)
    number("uniform_", "a", a)
    if number("uniform_", "b", b) < a:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill(tensor, _generator(tensor).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2)."""
    _target("normal_", tensor)
    number("normal_", "mean", mean)
    number("normal_", "std", std, 0.0)
    return _fill(tensor, mean + std * _generator(tensor).standard_normal(tensor.shape))


def constant_(tensor: Tensor, value: float) -> Tensor:
    """Fill with ``value``."""
    _target("constant_", tensor)
    number("constant_", "value", value, infinite=True)
    if not isinstance(tensor, Tensor):
        with _writable(tensor, "nn.init") as array:
            array.fill(value)
        return tensor
    with no_grad():
        tensor.fill_(value)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(_target("zeros_", tensor), 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(_target("ones_", tensor), 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    number("xavier_uniform_", "gain", gain, 0.0)  # a bound's factor
    fan_in, fan_out = _fans("xavier_uniform_", tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    number("xavier_normal_", "gain", gain, 0.0)  # a standard deviation's factor
    fan_in, fan_out = _fans("xavier_normal_", tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(function: str, tensor, a, mode, nonlinearity) -> float:
    choice(function, "mode", mode, ("fan_in", "fan_out"))
    choice(function, "nonlinearity", nonlinearity, (*_GAINS, "leaky_relu"))
    number(function, "a", a)
    fan_in, fan_out = _fans(function, tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He: U(-b, b) with b = gain * sqrt(3 / fan).

    Args:
        tensor: a weight with at least 2 axes (fans as in :func:`fan_in_and_fan_out`).
        a: the negative slope for "leaky_relu" (PyTorch's layers use sqrt(5), which gives
            b = 1 / sqrt(fan_in)).
        mode: "fan_in" (keep the forward variance) or "fan_out" (the backward one).
        nonlinearity: as in :func:`calculate_gain`.
    """
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He: N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (rows flattened
    over the trailing axes), e.g. for LSTM recurrent weights."""
    number("orthogonal_", "gain", gain)
    if _target("orthogonal_", tensor).ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 axes, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape) // rows
    gaussian = backend.to_numpy(_generator(tensor).standard_normal((max(rows, cols),
                                                                   min(rows, cols))))
    q, r = np.linalg.qr(gaussian)
    q *= np.sign(np.diag(r))  # a uniform (Haar) draw, not one biased by QR's sign convention
    if rows < cols:
        q = q.T
    # (rows, cols) -> the tensor's shape
    values = gain * q[:rows, :cols].reshape(tensor.shape)
    xp = backend.get_array_module(tensor)
    return _fill(tensor, xp.asarray(values))


def uniform_parameter(shape, bound: float) -> Parameter:
    """A new float32 Parameter of ``shape`` drawn from U(-bound, bound) (the layers' default)."""
    ints("uniform_parameter", "shape", shape, len(shape) if isinstance(shape, (tuple, list))
         else 1, 0)
    number("uniform_parameter", "bound", bound, 0.0)
    return uniform_(Parameter(np.empty(shape, dtype=np.float32)), -bound, bound)
