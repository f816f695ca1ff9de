"""Property-test kit: hypothesis strategies, the op registry, and gradient-check drivers.

Public, so that code outside tinygen (new ops, new layers) can be tested the same way. It
needs the ``test`` extra (``pip install tinygen[test]``) for hypothesis.
"""

try:
    import hypothesis  # noqa: F401 - imported only to fail early with a clear message
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "tinygen.testing needs hypothesis: install the test extra (pip install tinygen[test])"
    ) from error

from tinygen.testing.registry import (
    SPEC_MODULES,
    OpCase,
    OpSpec,
    Tolerance,
    all_specs,
    register,
)
from tinygen.testing.strategies import (
    arrays,
    away_from_kinks,
    broadcastable_shapes,
    distinct_arrays,
    floats,
    reduction_axes,
    separated_floats,
    shapes,
)

__all__ = [
    "SPEC_MODULES", "OpCase", "OpSpec", "Tolerance", "all_specs", "arrays", "away_from_kinks",
    "broadcastable_shapes", "distinct_arrays", "floats", "reduction_axes", "register",
    "separated_floats", "shapes",
]
