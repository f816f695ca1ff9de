"""The autograd layer: Tensor, Function, the backward engine, grad modes and gradient checks."""

from tinygen.autograd.engine import backward, grad, topological_order
from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tinygen.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygen.autograd.tensor import Tensor, tensor

__all__ = [
    "Function", "GradcheckError", "Tensor", "backward", "enable_grad", "grad", "gradcheck",
    "gradgradcheck", "is_grad_enabled", "no_grad", "set_grad_enabled", "tensor",
    "topological_order",
]
