"""tinygen: a from-scratch reverse-mode autograd engine on NumPy (CuPy when a GPU is there)."""

import numpy as np

from tinygen import accelerator, autograd, cuda, data, debug, linalg, nn, optim
from tinygen.autograd import (
    Function,
    Tensor,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
    tensor,
)
from tinygen.autograd.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    numel,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from tinygen.autograd.ops import *  # noqa: F403 - the op wrappers are the functional API
from tinygen.autograd.ops import __all__ as _ops_all
from tinygen.autograd.ops.comparison import allclose, equal
from tinygen.autograd.sampling import bernoulli, multinomial, normal, randperm
from tinygen.backend import device, get_array_module, info, keep_freed_memory, manual_seed
from tinygen.debug import check_causal
from tinygen.serialization import load, save

# dtypes are NumPy's, under PyTorch's names: ``x.dtype == tinygen.float32`` holds. The names
# that shadow builtins (float, int, bool) are attributes only, left out of __all__.
float16 = half = np.float16
float32 = float = np.float32
float64 = double = np.float64
int8, int16, uint8, bool = np.int8, np.int16, np.uint8, np.bool_
int32 = int = np.int32
int64 = long = np.int64
dtype = np.dtype

__version__ = "0.1.0"

# every op allocates a fresh array: have glibc reuse freed ones rather than page-fault new
# ones in (see tinygen.backend; TINYGEN_KEEP_FREED_MEMORY=0 opts out)
keep_freed_memory()

__all__ = [
    "Function", "Tensor", "autograd", "check_causal",
    "debug", "enable_grad", "get_array_module", "info",
    "is_grad_enabled", "manual_seed", "no_grad", "set_grad_enabled", "tensor", *_ops_all,
    "arange", "eye", "full", "full_like", "linspace", "ones", "ones_like", "rand", "rand_like",
    "randint", "randn", "randn_like", "zeros", "zeros_like",
    "accelerator", "allclose", "cuda", "data", "device", "equal", "linalg", "nn", "optim",
    "float16", "half", "float32", "float64", "double", "int8", "int16", "uint8", "int32",
    "int64", "long", "dtype", "load", "save",
]
__all__ += ["bernoulli", "multinomial", "normal", "randperm"]  # random sampling
__all__ += ["as_tensor", "empty", "empty_like", "from_numpy", "is_tensor", "numel"]
