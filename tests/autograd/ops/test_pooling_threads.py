"""Pooling on chunks of its planes, on 1 and 2 pinned threads, gives exactly what one whole
pass gives, and its first and second derivatives check in float64."""

import contextlib

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad, gradcheck, gradgradcheck
from tinygen.autograd.ops import pooling_passes

POOLS = [
    (F.max_pool2d, {"kernel_size": 2}),
    (F.max_pool2d, {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True}),
    (F.max_pool2d, {"kernel_size": (2, 3), "stride": 1, "dilation": (2, 1),
                    "ceil_mode": True}),
    (F.avg_pool2d, {"kernel_size": 2}),
    (F.avg_pool2d, {"kernel_size": 3, "stride": 1, "padding": 1}),
    (F.adaptive_avg_pool2d, {"output_size": 4}),
]


@contextlib.contextmanager
def _in_chunks(threads: int, monkeypatch, chunk_planes: int = 2):
    """``threadpool_limits(threads)`` with every pool cut into chunks of ``chunk_planes``
    planes of (16, 16) float64 (the drawn inputs are far below the size that would be) and
    its chunks on threads however few elements it has."""
    monkeypatch.setattr(pooling_passes, "CHUNK_BYTES", chunk_planes * 16 * 16 * 8)
    monkeypatch.setattr(pooling_passes, "PARALLEL_MIN_SIZE", 0)
    with threadpool_limits(threads):
        yield


def _pooled_and_gradient(pool, kwargs, x_values):
    x = tg.tensor(x_values, requires_grad=True)
    out = pool(x, **kwargs)
    y = out[0] if isinstance(out, tuple) else out
    upstream = np.random.default_rng(1).standard_normal(y.shape)
    (gx,) = grad(y, [x], [upstream])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))] + [gx.numpy()]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("pool", "kwargs"), POOLS)
def test_pooling_in_chunks_on_threads_matches_one_whole_pass(pool, kwargs, threads,
                                                             monkeypatch):
    # 5 * 3 = 15 planes in chunks of 2: seven full chunks and a last one of 1
    x_values = np.random.default_rng(0).standard_normal((5, 3, 16, 16))
    whole = _pooled_and_gradient(pool, kwargs, x_values)

    with _in_chunks(threads, monkeypatch):
        chunked = _pooled_and_gradient(pool, kwargs, x_values)

    for in_chunks, in_one in zip(chunked, whole):
        np.testing.assert_array_equal(in_chunks, in_one)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("pool", "kwargs"), POOLS)
def test_pooling_in_chunks_on_threads_passes_gradcheck_and_gradgradcheck(
        pool, kwargs, threads, monkeypatch):
    kwargs = {key: value for key, value in kwargs.items() if key != "return_indices"}
    x = tg.tensor(np.random.default_rng(2).standard_normal((3, 3, 16, 16)),
                  requires_grad=True)

    with _in_chunks(threads, monkeypatch):
        assert gradcheck(lambda t: pool(t, **kwargs), [x])
        assert gradgradcheck(lambda t: pool(t, **kwargs), [x])


@pytest.mark.parametrize("threads", [1, 2])
def test_in_chunks_runs_every_plane_once_in_as_many_blocks_as_threads(threads, monkeypatch):
    seen, blocks = [], []
    monkeypatch.setattr(pooling_passes, "CHUNK_BYTES", 2 * 8)  # 5 chunks of 2 planes
    monkeypatch.setattr(pooling_passes, "PARALLEL_MIN_SIZE", 0)
    run_blocks = pooling_passes.run_blocks
    monkeypatch.setattr(pooling_passes, "run_blocks",
                        lambda work, spans: blocks.append(len(spans)) or run_blocks(work, spans))
    planes = np.arange(10.0).reshape(10, 1)

    def kernel(block):
        seen.append(tuple(block[:, 0]))
        return (block * 2, block[:, :0])

    with threadpool_limits(threads):
        doubled, empty = pooling_passes.in_chunks(kernel, planes)

    np.testing.assert_array_equal(doubled, planes * 2)
    assert empty.shape == (10, 0)
    assert sorted(plane for chunk in seen for plane in chunk) == list(range(10))
    # as many chunks on each thread: 5 on one, 6 (of 1 or 2 planes) on two
    assert len(seen) == (5 if threads == 1 else 6) and blocks == [threads]


@pytest.mark.parametrize(("pool", "kwargs"), [
    (F.max_pool2d, {"kernel_size": 3, "stride": 2, "padding": 1}),
    (F.avg_pool2d, {"kernel_size": 2}),
])
def test_pooling_at_its_own_chunk_size_gives_the_same_bits_at_two_threads_as_at_one(
        pool, kwargs):
    # (8, 64, 32, 32) float32: 2 MiB, one chunk at one thread and two chunks at two
    x_values = np.random.default_rng(3).standard_normal((8, 64, 32, 32)).astype(np.float32)
    results = {}

    for threads in (1, 2):
        with threadpool_limits(threads):
            results[threads] = _pooled_and_gradient(pool, kwargs, x_values)

    for on_two, on_one in zip(results[2], results[1]):
        np.testing.assert_array_equal(on_two, on_one)
