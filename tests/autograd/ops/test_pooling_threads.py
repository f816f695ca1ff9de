"""Pooling on several threads (blocks of the batch) gives exactly what one thread gives."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad
from tinygen.autograd.ops import pooling_passes


@pytest.mark.parametrize(("pool", "kwargs"), [
    (F.max_pool2d, {"kernel_size": 2}),
    (F.max_pool2d, {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True}),
    (F.avg_pool2d, {"kernel_size": 3, "stride": 1, "padding": 1}),
    (F.adaptive_avg_pool2d, {"output_size": 4}),
])
def test_pooling_in_batch_blocks_on_threads_matches_one_thread(pool, kwargs, monkeypatch):
    monkeypatch.setattr(pooling_passes, "blas_threads", lambda array: 3)  # 3 blocks of 5
    x_values = np.random.default_rng(0).standard_normal((5, 3, 16, 16))
    monkeypatch.setattr(pooling_passes, "PARALLEL_MIN_SIZE", x_values.size // 2)

    def pooled_and_gradient():
        x = tg.tensor(x_values, requires_grad=True)
        out = pool(x, **kwargs)
        y = out[0] if isinstance(out, tuple) else out
        upstream = np.random.default_rng(1).standard_normal(y.shape)
        (gx,) = grad(y, [x], [upstream])
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))] + [gx.numpy()]

    threaded = pooled_and_gradient()
    with threadpool_limits(1):
        monkeypatch.setattr(pooling_passes, "blas_threads", lambda array: 1)
        alone = pooled_and_gradient()

    for on_threads, on_one in zip(threaded, alone):
        np.testing.assert_array_equal(on_threads, on_one)
