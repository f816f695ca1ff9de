"""tinygen.backend: array modules, devices, the NumPy fallback, seeding.

No machine here has a GPU, so the CUDA paths are exercised through a fake CuPy module whose
"device arrays" are an ndarray subclass: enough for ``to_device``, ``Tensor.to`` and the
device-mix check, which only look at array types.
"""

import os
import subprocess
import sys
import types

import numpy as np
import pytest

import tinygen as tg
from tinygen import backend
from tinygen.backend import DeviceError


class FakeDeviceArray(np.ndarray):
    """Stands in for ``cupy.ndarray``: a distinct array type on a pretend "cuda" device."""

    __cuda_array_interface__ = {}  # what Tensor looks for to keep a non-NumPy array as is


@pytest.fixture
def fake_gpu(monkeypatch):
    """Make backend believe a usable GPU exists, with FakeDeviceArray as its arrays."""
    fake_cupy = types.SimpleNamespace(
        __version__="0.0-fake",
        ndarray=FakeDeviceArray,
        asarray=lambda array, dtype=None: np.asarray(array, dtype=dtype).view(FakeDeviceArray),
        asnumpy=lambda array: np.asarray(array).view(np.ndarray).copy(),
    )
    monkeypatch.setattr(backend, "cupy", fake_cupy)
    monkeypatch.setattr(backend, "_gpu_state", {"usable": True, "reason": "GPU: fake"})
    return fake_cupy


@pytest.fixture
def cupy_without_gpu(monkeypatch):
    """CuPy imports (as it does here) but reports no device, whatever this machine has."""
    cupy = pytest.importorskip("cupy")
    monkeypatch.setattr(backend, "cupy", cupy)
    monkeypatch.setattr(backend, "_gpu_state", {})
    monkeypatch.setattr(cupy, "is_available", lambda: False)
    return cupy


# ----------------------------------------------------------------------------- array module
def test_get_array_module_is_numpy_for_numpy_arrays_tensors_and_scalars():
    assert backend.get_array_module(np.zeros(3)) is np
    assert backend.get_array_module(tg.tensor([1.0, 2.0])) is np
    assert backend.get_array_module(1.0, [1, 2]) is np
    assert backend.get_array_module() is np


def test_get_array_module_picks_the_device_module_if_any_argument_lives_there(fake_gpu):
    on_device = fake_gpu.asarray(np.ones(2))
    assert backend.get_array_module(np.zeros(2), on_device) is fake_gpu
    assert backend.get_array_module(tg.tensor(on_device)) is fake_gpu


# ----------------------------------------------------------------------------- devices
def test_device_names_are_validated_with_the_choices_in_the_message():
    assert backend.check_device(None) == "cpu"
    assert backend.check_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match=r"one of \('cpu', 'cuda'\), got 'tpu'"):
        backend.check_device("tpu")


def test_cuda_with_an_index_is_the_cuda_device(fake_gpu):
    assert backend.check_device("cuda:0") == "cuda"
    assert tg.tensor([1.0], device="cuda:0").device == "cuda"


def test_tensors_are_on_cpu_by_default():
    x = tg.tensor([1.0, 2.0])
    assert x.device == "cpu"
    assert x.to("cpu") is x
    assert x.cpu() is x


# ----------------------------------------------------------------------------- info
def test_info_reports_versions_and_the_backend_in_use():
    report = tg.info()
    assert report["numpy"] == np.__version__
    assert report["backend"] in ("numpy", "cupy")
    if report["backend"] == "numpy":
        assert report["gpu"] is None
        assert report["fallback_reason"]
    else:
        assert report["gpu"].startswith("GPU: ")
        assert report["fallback_reason"] is None


def test_info_reports_the_cupy_version_when_cupy_imports():
    cupy = pytest.importorskip("cupy")
    assert tg.info()["cupy"] == cupy.__version__


# ----------------------------------------------------------------------------- fallback
def test_cupy_without_a_gpu_falls_back_to_numpy_and_names_the_reason(cupy_without_gpu):
    assert not backend.gpu_available()
    report = tg.info()
    assert report["backend"] == "numpy"
    assert "no CUDA device" in report["fallback_reason"]
    x = tg.tensor([1.0, 2.0]) * 3.0  # CPU tensors keep working, silently
    assert type(x.data) is np.ndarray


def test_cuda_tensor_without_a_gpu_raises_device_error_with_the_reason(cupy_without_gpu):
    with pytest.raises(DeviceError, match="device='cuda'.*no GPU is usable.*no CUDA device"):
        tg.tensor([1.0], device="cuda")
    with pytest.raises(DeviceError, match="no GPU is usable"):
        tg.tensor([1.0]).cuda()
    with pytest.raises(DeviceError, match="no GPU is usable"):
        tg.zeros(2, device="cuda")


def test_gpu_probe_reports_a_failing_first_allocation(monkeypatch):
    cupy = pytest.importorskip("cupy")
    monkeypatch.setattr(backend, "cupy", cupy)
    monkeypatch.setattr(backend, "_gpu_state", {})
    monkeypatch.setattr(cupy, "is_available", lambda: True)

    def failing_zeros(*args, **kwargs):
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    monkeypatch.setattr(cupy, "zeros", failing_zeros)
    assert not backend.gpu_available()
    assert "cudaErrorNoDevice" in tg.info()["fallback_reason"]


def test_missing_cupy_is_reported_as_the_fallback_reason(monkeypatch):
    monkeypatch.setattr(backend, "cupy", None)
    monkeypatch.setattr(backend, "_gpu_state", {})
    monkeypatch.setattr(backend, "_CUPY_IMPORT_ERROR", "ModuleNotFoundError: No module 'cupy'")
    report = tg.info()
    assert report["cupy"] is None
    assert "cupy is not installed" in report["fallback_reason"]
    assert backend.get_array_module(np.zeros(1)) is np


# ----------------------------------------------------------------------------- Tensor.to
def test_to_cuda_and_back_round_trips_values_and_dtype(fake_gpu):
    x = tg.tensor([[1.0, -2.0], [3.0, 4.5]])
    on_gpu = x.cuda()
    assert on_gpu.device == "cuda"
    assert isinstance(on_gpu.data, FakeDeviceArray)
    back = on_gpu.cpu()
    assert back.device == "cpu"
    assert type(back.data) is np.ndarray
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back.numpy(), x.numpy())


def test_to_device_is_differentiable_and_returns_the_gradient_to_the_source_device(fake_gpu):
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to("cuda").to("cpu") * 2.0
    y.sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_to_changes_dtype_and_device_together(fake_gpu):
    x = tg.tensor([1.0, 2.0])
    y = x.to("cuda", dtype=np.float64)
    assert (y.device, y.dtype) == ("cuda", np.float64)


def test_mixing_devices_in_one_op_names_the_op_and_both_devices(fake_gpu):
    a = tg.tensor([1.0, 2.0]).cuda()
    b = tg.tensor([3.0, 4.0])
    with pytest.raises(DeviceError) as raised:
        a + b
    message = str(raised.value)
    assert "input 0: cuda" in message
    assert "input 1: cpu" in message
    assert "Add" in message or "add" in message
    assert ".to(device)" in message


# ----------------------------------------------------------------------------- helpers
def test_scatter_add_sums_repeated_indices():
    target = np.zeros(4)
    backend.scatter_add(target, np.array([0, 2, 2, 3, 0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(target, [6.0, 0.0, 5.0, 4.0])


def test_to_numpy_returns_a_numpy_array_from_any_device(fake_gpu):
    on_gpu = fake_gpu.asarray(np.arange(3.0))
    result = backend.to_numpy(on_gpu)
    assert type(result) is np.ndarray
    np.testing.assert_array_equal(result, [0.0, 1.0, 2.0])


# ----------------------------------------------------------------------------- seeding
@pytest.mark.parametrize("a_shape, b_shape", [
    ((4, 1), (1, 5)),          # a contraction of length 1: the broadcast product
    ((2, 1, 3, 1), (4, 1, 6)),  # ... with batch axes that broadcast
    ((3, 2), (2, 5)),          # an ordinary product
    ((2, 3, 2), (2, 4)),
])
def test_matmul_equals_numpy_matmul_exactly_including_contractions_of_length_one(a_shape,
                                                                                b_shape):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    result = backend.matmul(a, b)
    assert result.shape == (a @ b).shape
    np.testing.assert_array_equal(result, a @ b)


def test_manual_seed_makes_random_factories_reproducible():
    tg.manual_seed(123)
    first = (tg.randn(3, 4).numpy(), tg.rand(5).numpy(), tg.randint(0, 10, (6,)).numpy())
    tg.manual_seed(123)
    second = (tg.randn(3, 4).numpy(), tg.rand(5).numpy(), tg.randint(0, 10, (6,)).numpy())
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    tg.manual_seed(124)
    assert not np.array_equal(tg.randn(3, 4).numpy(), first[0])


def test_manual_seed_rejects_non_integers_naming_the_type():
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        tg.manual_seed(1.5)
    with pytest.raises(TypeError, match="got bool"):
        tg.manual_seed(True)


def test_rng_state_round_trips_and_replays_the_same_draws():
    tg.manual_seed(7)
    tg.randn(2)
    state = backend.get_rng_state()
    expected = tg.randn(3, 3).numpy()
    tg.randn(10)
    backend.set_rng_state(state)
    np.testing.assert_array_equal(tg.randn(3, 3).numpy(), expected)


def _fake_cuda_generator(state_buffer):
    """A stand-in for ``cupy.random.Generator``: CuPy 14 keeps the cuRAND states in the bit
    generator's ``_state`` device array (cupy/random/_bit_generator.pyx)."""
    return types.SimpleNamespace(bit_generator=types.SimpleNamespace(_state=state_buffer))


def test_cuda_rng_state_is_saved_as_host_bytes_and_restored_into_the_device_buffer(
        fake_gpu, monkeypatch):
    device_state = fake_gpu.asarray(np.arange(8, dtype=np.int8))
    monkeypatch.setitem(backend._generators, "cuda", _fake_cuda_generator(device_state))
    saved = backend.get_rng_state()["cuda"]
    assert type(saved) is np.ndarray  # plain host data, so a checkpoint can hold it
    device_state[...] = 0  # drawing numbers advances the states on the device
    backend.set_rng_state({"cuda": saved})
    np.testing.assert_array_equal(device_state, np.arange(8))


def test_cuda_rng_state_fails_loudly_if_cupy_moves_its_state_buffer(fake_gpu, monkeypatch):
    monkeypatch.setitem(backend._generators, "cuda", _fake_cuda_generator(None))
    with pytest.raises(RuntimeError, match="cannot save the CUDA generator state with cupy"):
        backend.get_rng_state()


@pytest.mark.gpu
def test_cuda_rng_state_round_trips_on_a_real_gpu():
    tg.manual_seed(7)
    tg.randn(2, device="cuda")
    state = backend.get_rng_state()
    expected = tg.randn(3, 3, device="cuda").numpy()
    tg.randn(10, device="cuda")
    backend.set_rng_state(state)
    np.testing.assert_array_equal(tg.randn(3, 3, device="cuda").numpy(), expected)


@pytest.mark.gpu
def test_real_gpu_round_trip_and_device_mix_error():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x.cuda() * 3.0).cpu().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    with pytest.raises(DeviceError, match="cuda.*cpu|cpu.*cuda"):
        x.cuda() + x


def _host_memory_in_fresh_process(**env):
    """What a fresh interpreter's tinygen.info() says of host memory, under ``env`` (and no
    MALLOC_* variables of the caller's)."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("MALLOC_")}
    code = "import tinygen; print(tinygen.info()['host_memory'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**base, **env})
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_importing_tinygen_keeps_freed_memory_for_reuse_on_glibc():
    said = _host_memory_in_fresh_process(TINYGEN_KEEP_FREED_MEMORY="1")
    if "no glibc mallopt" in said:
        pytest.skip("not glibc (e.g. musl)")
    assert said == "glibc keeps freed blocks <= 32 MiB and up to 512 MiB of free heap"


@pytest.mark.parametrize("env, reason", [
    ({"TINYGEN_KEEP_FREED_MEMORY": "0"}, "left alone: TINYGEN_KEEP_FREED_MEMORY=0"),
    ({"MALLOC_TRIM_THRESHOLD_": "1000000"},
     "left alone: MALLOC_*_THRESHOLD_ set in the environment"),
])
def test_the_allocator_is_left_alone_when_asked(env, reason):
    assert _host_memory_in_fresh_process(**env) == reason


@pytest.mark.parametrize("threads", [1, 2])
def test_work_threads_is_the_users_thread_count_also_inside_blocks_holding_blas_to_one(threads):
    from threadpoolctl import threadpool_limits

    array = np.zeros(4)
    with threadpool_limits(threads):
        users = backend.blas_threads(array)  # `threads`, unless the machine caps BLAS lower
        outside = backend.work_threads(array)
        inside = backend.run_blocks(
            lambda low, high: (backend.work_threads(array), backend.blas_threads(array)),
            [(0, 2), (2, 4)], single_threaded_blas=True)
        after = backend.work_threads(array)

    assert outside == after == users
    assert inside == [(users, 1)] * 2


def test_a_run_nested_in_a_hold_keeps_the_record_and_the_outer_run_restores_blas():
    from threadpoolctl import threadpool_limits

    array = np.zeros(4)
    with threadpool_limits(2):
        users = backend.blas_threads(array)

        def outer_block(low, high):
            inner = backend.run_blocks(lambda lo, hi: backend.work_threads(array), [(0, 1)],
                                       single_threaded_blas=True)
            return inner[0], backend.work_threads(array), backend.blas_threads(array)

        inside = backend.run_blocks(outer_block, [(0, 2), (2, 4)], single_threaded_blas=True)
        after = backend.blas_threads(array), backend.work_threads(array)

    assert inside == [(users, users, 1)] * 2
    assert after == (users, users)


# (a shape, b shape, the blocks run_blocks gets at two threads with every product counted
# as large): a's rows, b's columns, a stack's first axis (b shared or stacked), and the
# shapes that run whole on the calling thread (too few rows, broadcast batch axes)
_SPLITS = [
    ((40, 7), (7, 12), [(0, 20), (20, 40)]),
    ((12, 7), (7, 40), [(0, 20), (20, 40)]),
    ((5, 6, 7), (7, 9), [(0, 2), (2, 5)]),
    ((5, 6, 7), (5, 7, 9), [(0, 2), (2, 5)]),
    ((3, 4), (4, 3), [(0, 1)]),
    ((1, 6, 7), (5, 7, 9), [(0, 1)]),
]


@pytest.mark.parametrize("a_shape, b_shape, blocks", _SPLITS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_on_tinygens_threads_equals_numpy_and_holds_blas_to_one(
        a_shape, b_shape, blocks, dtype, monkeypatch):
    from threadpoolctl import threadpool_limits

    for name in ("BLAS_THREADED_MACS", "SPLIT_MIN_MACS"):
        monkeypatch.setattr(backend, name, 0)
    monkeypatch.setattr(backend, "SPLIT_MIN_SIDE", 2)
    runs, run_blocks = [], backend.run_blocks

    def spy(work, ran, *, single_threaded_blas=False):
        runs.append((ran, single_threaded_blas))
        return run_blocks(work, ran, single_threaded_blas=single_threaded_blas)

    monkeypatch.setattr(backend, "run_blocks", spy)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    with threadpool_limits(2):
        if backend.blas_threads(a) < 2:
            pytest.skip("NumPy's BLAS runs on one thread here")
        got = backend.matmul(a, b)
        after = backend.blas_threads(a)

    want = a @ b
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=10 * np.finfo(dtype).eps, atol=0)
    assert runs == [(blocks, True)]
    assert after == 2  # BLAS's threads given back


def test_matmul_leaves_products_blas_runs_on_one_thread_to_numpy(monkeypatch):
    from threadpoolctl import threadpool_limits

    called = []
    monkeypatch.setattr(backend, "threaded_matmul", lambda a, b: called.append(1))
    a = np.ones((64, 64), np.float32)  # 2^18 multiply-adds: OpenBLAS threads from there
    small = np.ones((63, 64), np.float32)
    with threadpool_limits(2):
        backend.matmul(small, a)
        backend.run_blocks(lambda low, high: backend.matmul(a, a), [(0, 1)],
                           single_threaded_blas=True)  # already held
        assert not called
        backend.matmul(a, a)
    assert called == [1]


def _cpu_ms_while_idle(seconds=0.08):
    import time

    start = time.process_time()
    time.sleep(seconds)
    return (time.process_time() - start) * 1e3


def test_blas_workers_do_not_spin_after_a_tinygen_matmul():
    # the reason tinygen splits products itself: after a product on its own threads,
    # OpenBLAS's workers spin for ~0.1 s, each holding a core the next blocks need. The
    # control, NumPy's own matmul, must show the spin for the check to mean anything.
    import time

    from threadpoolctl import threadpool_limits

    a = np.ones((256, 256), np.float32)
    with threadpool_limits(2):
        if backend.blas_threads(a) < 2 or (os.cpu_count() or 1) < 2:
            pytest.skip("NumPy's BLAS runs on one thread here")
        time.sleep(0.3)  # any spinning from earlier tests stops
        a @ a
        control = _cpu_ms_while_idle()
        if control < 40:
            pytest.skip(f"this BLAS does not spin after a product ({control:.0f} ms of CPU "
                        "in 80 ms idle)")
        time.sleep(0.3)
        for _ in range(3):
            backend.matmul(a, a)  # 2^24 multiply-adds: split across tinygen's threads
            backend.matmul(a[:128], a[:, :128])  # 2^22: whole, BLAS held to one thread
        spun = _cpu_ms_while_idle()
    assert spun < control / 4, (spun, control)
