"""The CPU harness for CuPy ElementwiseKernel bodies (tinygen.testing.cuda_harness)."""

import numpy as np
import pytest

from tinygen.testing import cuda_harness


def compile_or_skip(*spec):
    try:
        return cuda_harness.compile_elementwise(*spec)
    except cuda_harness.CompilerMissing as missing:
        pytest.skip(str(missing))


def test_harness_runs_a_body_elementwise_with_broadcasting_and_math_helpers():
    kernel = compile_or_skip("T x, T y", "T z, T w",
                             "z = max(x, y) + tanh(x); w = exp(min(x, y)) * log1p(fabs(y));")
    x = np.linspace(-2.0, 2.0, 6).reshape(2, 3)
    y = np.array([0.5, -1.0, 3.0])

    z, w = kernel(x, y)

    np.testing.assert_allclose(z, np.maximum(x, y) + np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(w, np.exp(np.minimum(x, y)) * np.log1p(np.abs(y)), rtol=1e-15)


def test_harness_reports_a_body_that_does_not_compile():
    with pytest.raises(cuda_harness.KernelCompileError, match="z = undefined_name"):
        compile_or_skip("T x", "T z", "z = undefined_name(x);")


def test_harness_rejects_parameter_types_it_cannot_bind():
    with pytest.raises(ValueError, match="type T only"):
        cuda_harness.compile_elementwise("float32 x", "T y", "y = x;")


def test_harness_checks_the_number_of_inputs():
    kernel = compile_or_skip("T x, T y", "T z", "z = x * y;")
    with pytest.raises(ValueError, match="expected 2 inputs"):
        kernel(np.ones(3))
