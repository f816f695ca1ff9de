"""Every registered op on CuPy against the same op on NumPy: forward and gradients.

Runs only where CuPy finds a GPU (the `gpu` marker); everywhere else the CuPy conformance
test and the CUDA-kernel harness stand in for it.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import backend
from tinygen.autograd import Tensor, grad
from tinygen.testing import all_specs

# dropout draws its mask from the device's own generator: CuPy's stream differs from NumPy's
SPECS = [spec for spec in all_specs() if spec.name != "dropout"]


def _outputs(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.gpu
@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
@settings(deadline=None, max_examples=3)
@given(data=st.data())
def test_op_on_the_gpu_matches_numpy(spec, data):
    case = data.draw(spec.cases(), label="case")
    on_cpu = case.tensors()
    on_gpu = tuple(Tensor(t.data, requires_grad=t.requires_grad, device="cuda")
                   for t in on_cpu)
    results = []
    for tensors in (on_cpu, on_gpu):
        outputs = _outputs(spec.apply(tensors, case.kwargs))
        wanted = [t for t in tensors if t.requires_grad]
        differentiable = [o for o in outputs if o.requires_grad]
        upstream = [backend.to_device(np.ones(o.shape, dtype=o.dtype), o.device)
                    for o in differentiable]
        grads = grad(differentiable, wanted, upstream, allow_unused=True) if wanted else ()
        results.append(([o.numpy() for o in outputs],
                        [None if g is None else g.numpy() for g in grads]))
    (cpu_out, cpu_grads), (gpu_out, gpu_grads) = results
    for expected, actual in zip(cpu_out + cpu_grads, gpu_out + gpu_grads, strict=True):
        if expected is not None:
            np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)
