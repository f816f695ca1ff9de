"""benchmarks/numpy_floors.py: each floor computes what PyTorch's kernel computes, so that
timing it bounds what NumPy can do for that row (the timing itself is a benchmark)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
numpy_floors = pytest.importorskip("benchmarks.numpy_floors")

pytestmark = pytest.mark.parity


def test_the_layer_norm_floor_gives_pytorchs_output_and_input_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 16)).astype(np.float64)
    g = rng.standard_normal(x.shape)
    buffers = (np.empty_like(x), np.empty_like(x), np.empty(6), np.ones(16))

    x_hat, gx = numpy_floors.layer_norm_floor(x, g, buffers)

    tx = torch.tensor(x, requires_grad=True)
    y = torch.nn.functional.layer_norm(tx, (16,), eps=numpy_floors.EPS)
    y.backward(torch.tensor(g))
    np.testing.assert_allclose(x_hat, y.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_the_sgd_floor_is_torch_optims_momentum_step():
    rng = np.random.default_rng(1)
    p, grad = rng.standard_normal(50), rng.standard_normal(50)
    tp = torch.nn.Parameter(torch.tensor(p.copy()))
    tp.grad = torch.tensor(grad)
    optimizer = torch.optim.SGD([tp], lr=0.01, momentum=0.9)
    velocity, work = grad.copy(), np.empty_like(p)  # torch's first step: v = g

    optimizer.step()
    p_after_one = p - 0.01 * grad
    optimizer.step()
    numpy_floors.sgd_floor(p_after_one, grad, velocity, work)

    np.testing.assert_allclose(p_after_one, tp.detach().numpy(), rtol=1e-12)


def test_a_short_run_renders_one_row_per_case():
    results = numpy_floors.measure(repeats=1, settings=[1], only="SGD")
    text = numpy_floors.render(results, [1], 1)

    assert text.startswith("## NumPy floors (issue 18)")
    assert text.count("| SGD momentum") == 1 and "×" in text
