"""tinygen: a from-scratch reverse-mode autograd engine on NumPy (CuPy when a GPU is there)."""

from tinygen import autograd, debug
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
    eye,
    full,
    full_like,
    linspace,
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
from tinygen.backend import get_array_module, info, keep_freed_memory, manual_seed
from tinygen.debug import check_causal

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
]
