"""The op registry: one :class:`OpSpec` per differentiable op, driving the property tests.

A spec says how to draw valid inputs for an op (shapes, element domains that avoid kinks and
singularities, hyperparameters), what NumPy computes for it, and how many times it is
differentiable. ``tests/autograd/test_ops_registry.py`` runs one parametrized test over
:func:`all_specs`: forward against the reference, gradcheck, and gradgradcheck.

Specs live in plugin modules that call :func:`register` at import time. The core ops are in
``tinygen.testing.op_specs``; a family of kernel ops adds its own module (for example
``tinygen.testing.op_specs_nn``) to :data:`SPEC_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.tensor import Tensor

#: Modules whose import registers specs. Add a module here to have its ops tested.
SPEC_MODULES: tuple[str, ...] = (
    "tinygen.testing.op_specs",
    "tinygen.testing.op_specs_comparison",
    "tinygen.testing.op_specs_nn",
    "tinygen.testing.op_specs_conv",
    "tinygen.testing.op_specs_skew",
    "tinygen.testing.op_specs_loss",
    "tinygen.testing.op_specs_structure",
    "tinygen.testing.op_specs_indexing",
    "tinygen.testing.op_specs_math",
    "tinygen.testing.op_specs_layers",
    "tinygen.testing.op_specs_pooling_shapes",
    "tinygen.testing.op_specs_decomposition",
    "tinygen.testing.op_specs_resampling",
)

_REGISTRY: dict[str, OpSpec] = {}


@dataclass(frozen=True)
class Tolerance:
    """A gradcheck setting that differs from the dtype's default, with the reason why.

    Attributes:
        reason: why the defaults cannot hold for this op (required, non-empty).
        eps, atol, rtol: the overrides (None keeps gradcheck's default).
    """

    reason: str
    eps: float | None = None
    atol: float | None = None
    rtol: float | None = None

    def __post_init__(self):
        if not self.reason.strip():
            raise ValueError("Tolerance: a tolerance override needs a written reason")

    def options(self) -> dict:
        """The non-default settings, as keyword arguments for gradcheck."""
        settings = {"eps": self.eps, "atol": self.atol, "rtol": self.rtol}
        return {name: value for name, value in settings.items() if value is not None}


@dataclass(frozen=True)
class OpCase:
    """One drawn example: the input arrays and the hyperparameters."""

    arrays: tuple
    kwargs: dict

    def __repr__(self) -> str:
        # full arrays with dtypes, so that a failing example can be pasted back in
        shown = ", ".join(np.array_repr(array, precision=17) for array in self.arrays)
        return f"OpCase(arrays=({shown},), kwargs={self.kwargs!r})"

    def tensors(self) -> tuple:
        """Fresh leaf Tensors over copies of the arrays; float ones require grad."""
        return tuple(
            Tensor(array.copy(), requires_grad=array.dtype.kind == "f") for array in self.arrays
        )


@dataclass(frozen=True)
class OpSpec:
    """Everything the property tests need to know about one op.

    Attributes:
        name: the test id (unique): the op's name, or ``op_variant`` for a second spec.
        function: the public tinygen function under test.
        reference: the NumPy function computing the same thing; it takes the input arrays
            and the hyperparameters the way ``function`` (or ``call``) takes Tensors.
        inputs: a strategy of tuples of NumPy arrays. Float arrays become Tensors that
            require grad; other arrays (boolean masks, ...) become constant Tensors.
        kwargs: a strategy of hyperparameter dicts, or a callable taking the drawn arrays and
            returning one (an axis must fit the drawn shape).
        order: how many times the op is differentiable on the drawn inputs (1 or 2), or 0
            for an op with no gradient (a comparison, an index): its result must be a
            constant, and only its forward is checked.
        call: how to invoke ``function`` when its signature does not fit
            ``function(*tensors, **kwargs)`` (a list of tensors, varargs); None means that.
        tolerance: a gradcheck override; only with a :class:`Tolerance` reason.
    """

    name: str
    function: Callable
    reference: Callable
    inputs: st.SearchStrategy
    kwargs: st.SearchStrategy | Callable = field(default_factory=lambda: st.just({}))
    order: int = 2
    call: Callable | None = None
    tolerance: Tolerance | None = None

    def __post_init__(self):
        if self.order not in (0, 1, 2):
            raise ValueError(f"OpSpec {self.name}: order must be 0, 1 or 2, got {self.order}")

    def cases(self) -> st.SearchStrategy:
        """A strategy of :class:`OpCase`: inputs first, then hyperparameters that fit them."""

        def with_kwargs(arrays):
            arrays = tuple(arrays)
            kwargs = self.kwargs
            if not isinstance(kwargs, st.SearchStrategy):
                kwargs = kwargs(arrays)
            return kwargs.map(lambda drawn: OpCase(arrays, drawn))

        return self.inputs.flatmap(with_kwargs)

    def apply(self, tensors, kwargs: dict):
        """Run the op under test on Tensors with the given hyperparameters."""
        if self.call is not None:
            return self.call(*tensors, **kwargs)
        return self.function(*tensors, **kwargs)

    def expected(self, case: OpCase):
        """The reference result for a case, as a tuple of arrays."""
        result = self.reference(*case.arrays, **case.kwargs)
        if isinstance(result, (tuple, list)):
            return tuple(np.asarray(r) for r in result)
        return (np.asarray(result),)

    def gradcheck_options(self) -> dict:
        """Keyword arguments for gradcheck/gradgradcheck (empty without an override)."""
        return {} if self.tolerance is None else self.tolerance.options()


def register(spec: OpSpec) -> OpSpec:
    """Add a spec to the registry. Names must be unique.

    Returns:
        The spec, so that a module can keep a reference to it.
    """
    if spec.name in _REGISTRY:
        raise ValueError(f"register: an op spec named {spec.name!r} already exists")
    _REGISTRY[spec.name] = spec
    return spec


def all_specs() -> list:
    """Every registered spec, sorted by name, after importing :data:`SPEC_MODULES`."""
    for module in SPEC_MODULES:
        importlib.import_module(module)  # importing registers; a second import is a no-op
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
