"""Tensor's arithmetic operators and elementwise math methods: each one calls the op wrapper
of the same name, as in ``tensor_methods.py`` (whose ``TensorMethods`` inherits this mixin, so
``Tensor`` has both). The split only keeps each file readable; the rules are the same.

``_OpsOnFirstUse`` is the one place that closes the Tensor/ops import circle
(docs/ARCHITECTURE.md says why): both method modules hold one, each replaced by the ops module
in its own namespace at the first call.
"""

from __future__ import annotations


class _OpsOnFirstUse:
    """Stands in for ``tinygen.autograd.ops`` in the module whose ``namespace`` holds it until
    the first call, then puts the module in its place, so neither module sees the other
    half-initialised and later calls cost nothing."""

    def __init__(self, namespace: dict):
        self._namespace = namespace

    def __getattr__(self, name):
        from tinygen.autograd import ops

        self._namespace["_ops"] = ops
        return getattr(ops, name)


_ops = _OpsOnFirstUse(globals())


class TensorMathMethods:
    """The arithmetic operators and elementwise math methods of
    :class:`~tinygen.autograd.tensor.Tensor`."""

    __slots__ = ()

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __pow__(self, exponent):
        return _ops.pow(self, exponent)

    def __rpow__(self, base):
        return _ops.pow(base, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def add(self, other, *, alpha=1):
        return _ops.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return _ops.sub(self, other, alpha=alpha)

    def mul(self, other):
        return _ops.mul(self, other)

    def div(self, other, *, rounding_mode=None):
        return _ops.div(self, other, rounding_mode=rounding_mode)

    def floor_divide(self, other):
        return _ops.floor_divide(self, other)

    def remainder(self, other):
        return _ops.remainder(self, other)

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def mm(self, mat2):
        return _ops.mm(self, mat2)

    def bmm(self, mat2):
        return _ops.bmm(self, mat2)

    def dot(self, other):
        return _ops.dot(self, other)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return _ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _ops.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def neg(self):
        return _ops.neg(self)

    # ------------------------------------------------------------------ elementwise math
    def exp(self):
        return _ops.exp(self)

    def expm1(self):
        return _ops.expm1(self)

    def log(self):
        return _ops.log(self)

    def log1p(self):
        return _ops.log1p(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def rsqrt(self):
        return _ops.rsqrt(self)

    def square(self):
        return _ops.square(self)

    def reciprocal(self):
        return _ops.reciprocal(self)

    def abs(self):
        return _ops.abs(self)

    def sign(self):
        return _ops.sign(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def erf(self):
        return _ops.erf(self)

    def floor(self):
        return _ops.floor(self)

    def ceil(self):
        return _ops.ceil(self)

    def round(self, decimals=0):
        return _ops.round(self, decimals=decimals)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        return _ops.clamp(self, min, max)

    clip = clamp

    def lerp(self, end, weight):
        return _ops.lerp(self, end, weight)

    def logaddexp(self, other):
        return _ops.logaddexp(self, other)

    def xlogy(self, other):
        return _ops.xlogy(self, other)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _ops.nan_to_num(self, nan, posinf, neginf)

    def maximum(self, other):
        return _ops.maximum(self, other)

    def minimum(self, other):
        return _ops.minimum(self, other)

    def relu(self):
        return _ops.relu(self)

    def prelu(self, weight):
        return _ops.prelu(self, weight)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def tanh(self):
        return _ops.tanh(self)

    def isnan(self):
        return _ops.isnan(self)

    def isfinite(self):
        return _ops.isfinite(self)
