"""Which array module an array lives on, devices, seeding.

This is the one module that imports CuPy. Everything else asks it for ``xp`` (the array
module: ``numpy`` or ``cupy``) and writes a single code path against that. Where NumPy and
CuPy differ, the difference lives here behind one helper (see :func:`scatter_add`).

CuPy missing, or installed without a usable GPU, means NumPy: silently for CPU tensors, and
with a clear :class:`DeviceError` for ``device="cuda"``.

Host memory (glibc keeping freed blocks for reuse) is ``tinygen.host_memory``'s; its
:func:`keep_freed_memory` is re-exported here.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tinygen import host_memory
from tinygen.host_memory import keep_freed_memory  # noqa: F401 - re-exported

try:  # guarded: CuPy is an optional extra (``pip install tinygen[gpu]``)
    import cupy
    import cupyx
except Exception as import_error:  # pragma: no cover - depends on the machine
    cupy = None
    cupyx = None
    _CUPY_IMPORT_ERROR: str | None = f"{type(import_error).__name__}: {import_error}"
else:
    _CUPY_IMPORT_ERROR = None

DEVICES = ("cpu", "cuda")


class DeviceError(RuntimeError):
    """A tensor is on the wrong device, devices are mixed, or no GPU is usable."""


class device:  # noqa: N801 - PyTorch's name, so ``tinygen.device("cuda")`` reads the same
    """A device, as ``torch.device``: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")``.

    It compares equal to its name, so ``t.device == "cpu"`` works as well as
    ``t.device.type == "cpu"``. tinygen uses one GPU: every CUDA index names it.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None):  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        name, _, number = str(type).partition(":")
        if name not in DEVICES or (number and not number.isdigit()):
            raise DeviceError(f"device: expected one of {DEVICES} (optionally 'cuda:N'), got "
                              f"{type!r}")
        self.type = name
        self.index = int(number) if number else index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):  # hot in device checks: compare without building one
            name, _, number = other.partition(":")
            return name == self.type and (
                not number or self.index is None or number == str(self.index))
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (
            self.index is None or other.index is None or self.index == other.index)

    def __hash__(self) -> int:
        return hash(self.type)


_DEVICE_OF_NAME = {name: device(name) for name in DEVICES}


_gpu_state: dict = {}


def _probe_gpu() -> tuple[bool, str]:
    """Return (usable, reason). The probe allocates once, because ``cupy.is_available()`` can
    be True on a machine whose first real allocation still fails."""
    if "usable" in _gpu_state:
        return _gpu_state["usable"], _gpu_state["reason"]
    if cupy is None:
        usable, reason = False, f"cupy is not installed ({_CUPY_IMPORT_ERROR})"
    else:
        try:
            if not cupy.is_available():
                raise RuntimeError("cupy.is_available() is False: no CUDA device or driver")
            cupy.zeros(1)  # the first allocation is what raises CUDARuntimeError
            usable, reason = True, f"GPU: {_gpu_name()}"
        except Exception as error:
            usable, reason = False, f"{type(error).__name__}: {error}"
    _gpu_state.update(usable=usable, reason=reason)
    return usable, reason


def _gpu_name() -> str:
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def gpu_available() -> bool:
    """True when CuPy imports and a GPU accepts an allocation."""
    return _probe_gpu()[0]


def info() -> dict:
    """Versions and the backend in use: numpy, cupy, the GPU found, or why NumPy is used;
    and whether freed host memory is kept for reuse (:func:`keep_freed_memory`)."""
    usable, reason = _probe_gpu()
    return {
        "numpy": np.__version__,
        "cupy": None if cupy is None else cupy.__version__,
        "gpu": reason if usable else None,
        "backend": "cupy" if usable else "numpy",
        "fallback_reason": None if usable else reason,
        "host_memory": host_memory.allocator_state.get("reason", "not asked"),
    }


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``.

    Accepts raw arrays and Tensors (anything with a ``.data`` array attribute).
    """
    if cupy is not None:
        for array in arrays:
            # Unwrap Tensors only: a raw array's own ``.data`` is its buffer (a memoryview in
            # NumPy, a MemoryPointer in CuPy), never an array.
            if isinstance(array, cupy.ndarray) or isinstance(
                    getattr(array, "data", None), cupy.ndarray):
                return cupy
    return np


def device_of(array) -> device:
    """The device of a raw array: ``device("cpu")`` or ``device("cuda")`` (equal to its name)."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return _DEVICE_OF_NAME["cuda"]
    return _DEVICE_OF_NAME["cpu"]


def check_device(device) -> str:
    """Validate a device argument and return its canonical name."""
    if device is None:
        return "cpu"
    name = str(device)
    if name.startswith("cuda:") and name[5:].isdigit():
        name = "cuda"
    if name not in DEVICES:
        raise DeviceError(f"device must be one of {DEVICES}, got {device!r}")
    if name == "cuda":
        usable, reason = _probe_gpu()
        if not usable:
            raise DeviceError(f"device='cuda' was requested but no GPU is usable: {reason}")
    return name


def array_module_for(device: str):
    """The array module that holds arrays on ``device``."""
    return cupy if check_device(device) == "cuda" else np


def to_device(array, device: str):
    """Move a raw array to ``device`` (a no-op when it is already there)."""
    device = check_device(device)
    if device == device_of(array):
        return array
    if device == "cuda":
        return cupy.asarray(array)
    return cupy.asnumpy(array)


def to_numpy(array) -> np.ndarray:
    """A NumPy view or copy of a raw array, wherever it lives."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return np.asarray(array)


def scatter_add(target, index, values) -> None:
    """In place ``target[index] += values``, summing over repeated indices.

    NumPy spells this ``np.add.at``; CuPy spells it ``cupyx.scatter_add``.
    """
    if device_of(target) == "cuda":
        cupyx.scatter_add(target, index, values)
    else:
        np.add.at(target, index, values)


def sliding_windows(x, kernel: tuple, stride: tuple, dilation: tuple = (1, 1)):
    """A read-only strided view of the 2-D windows of ``x`` (no copy).

    (N, C, H, W) -> (N, C, oh, ow, kh, kw), where window (i, j) starts at
    (i * stride_h, j * stride_w) and its taps are ``dilation`` apart.
    NumPy and CuPy keep ``as_strided`` in different modules; this is the one place that knows.
    """
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s0, s1, s2, s3 = x.strides
    shape = (n, c, oh, ow, kh, kw)
    strides = (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw)
    if device_of(x) == "cuda":
        return cupy.lib.stride_tricks.as_strided(x, shape, strides)
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def shifted_rows(flat, kernel: tuple, dilation: tuple, row_width: int, length: int):
    """A read-only strided view of the kernel taps of images stored as flat rows (no copy).

    ``flat`` is (N, C, L), each image's rows of ``row_width`` pixels laid end to end; the
    view is (N, C, kh, kw, length), entry [n, c, i, j, q] = flat[n, c, i dh row_width +
    j dw + q]: for each tap, the image shifted by that tap, as one contiguous run.
    """
    kh, kw = kernel
    dh, dw = dilation
    s0, s1, s2 = flat.strides
    shape = flat.shape[:2] + (kh, kw, length)
    strides = (s0, s1, s2 * dh * row_width, s2 * dw, s2)
    if device_of(flat) == "cuda":
        return cupy.lib.stride_tricks.as_strided(flat, shape, strides)
    return np.lib.stride_tricks.as_strided(flat, shape, strides, writeable=False)


def matmul(a, b):
    """``a @ b`` (NumPy's rules), on NumPy's BLAS as tinygen runs it.

    A contraction of length 1 is done as the broadcast product it is: NumPy's matmul runs
    that case outside BLAS, 20x slower ((32, 1) @ (1, 3136): 250 µs against 12 µs; a DCGAN
    critic's one-channel input gradient). Both are exact, each entry being a single product.

    A product OpenBLAS would spread over its own threads runs on tinygen's instead
    (:func:`threaded_matmul`), so that one pool of threads does all of a step's parallel work.
    """
    if a.shape[-1] == 1 and a.ndim >= 2 and b.ndim >= 2:
        return a * b  # (..., m, 1) * (..., 1, n) -> (..., m, n), batch axes broadcast
    if (type(a) is np.ndarray and type(b) is np.ndarray and _held_threads[0] is None
            and a.ndim >= 2 and b.ndim >= 2
            and a.shape[-2] * a.shape[-1] * b.shape[-1] >= BLAS_THREADED_MACS):
        return threaded_matmul(a, b)
    return a @ b


# ----------------------------------------------------------------------------- threads
# NumPy releases the GIL inside a ufunc's loop, a copy and a matmul, so kernels that split a
# large array into blocks (pooling's passes, the optimizers' updates, a conv's per-image
# GEMMs) run the blocks on worker threads: as many as NumPy's BLAS may use, so that
# ``threadpool_limits`` caps them all, as PyTorch's intra-op threads do.
_numpy_blas: list = []  # threadpoolctl's controllers of NumPy's own BLAS, found once
_pools: dict = {}  # process id -> ThreadPoolExecutor (a forked child makes its own)
# NumPy's BLAS threads as they were before run_blocks held them to one, while it holds them
# (process-wide, as the hold itself): what work_threads reports inside the blocks
_held_threads: list = [None]
#: Multiply-adds of one matrix product from which OpenBLAS 0.3 may use several threads
#: (interface/gemm.c: 65536 * GEMM_MULTITHREAD_THRESHOLD, 4 by default); below it a product
#: runs on the calling thread either way and :func:`matmul` leaves it to NumPy
BLAS_THREADED_MACS = 1 << 18
#: Multiply-adds of a product from which :func:`threaded_matmul` cuts it into blocks, one per
#: thread. Measured at two threads on the 2-core VM, µs, (m, k, n) one thread / blocks /
#: OpenBLAS's own two threads with its workers spinning: (64, 4608, 64) 407 / 345 / 295,
#: (128, 784, 400) 807 / 545 / 553, (64, 1024, 1024) 1744 / 987 / 873; (100, 128, 512) 139 /
#: 182 / 111: a hand-off to a worker thread costs about 60 µs
SPLIT_MIN_MACS = 1 << 24
#: rows (or columns) of a product's side that a block gets at least
SPLIT_MIN_SIDE = 16


def _blas_controllers() -> list:
    """The threadpoolctl controllers of the BLAS that NumPy's matmul calls."""
    if not _numpy_blas:
        from threadpoolctl import ThreadpoolController

        blas = ThreadpoolController().select(user_api="blas").lib_controllers
        # NumPy's own BLAS (wheels ship it in numpy.libs); another library's (torch's, say)
        # is not the one np.matmul calls
        _numpy_blas.append([lib for lib in blas if "numpy" in lib.filepath] or blas)
    return _numpy_blas[0]


def blas_threads(array) -> int:
    """How many threads the BLAS behind ``array``'s matmul uses right now: NumPy's BLAS as
    threadpoolctl sees it (so ``threadpool_limits`` is honoured), 1 if it cannot tell, and 1
    for CuPy (one GPU stream). Kernels that issue many small GEMMs ask this, because each
    multi-threaded BLAS call pays a thread hand-off that small products cannot repay."""
    if device_of(array) == "cuda" or _held_threads[0] is not None:
        return 1  # inside run_blocks' hold: asking OpenBLAS (a ctypes call) would release
        # the GIL, and taking it back waits on the other blocks' Python
    return max((lib.num_threads for lib in _blas_controllers()), default=1)


def work_threads(array) -> int:
    """How many threads tinygen's work on ``array`` may use: NumPy's BLAS threads as the
    user left them (``threadpool_limits`` honoured), also inside :func:`run_blocks`, which
    holds BLAS itself to one thread while its blocks run on that many threads; 1 for CuPy.
    A layout whose memory-bound passes do not scale to several cores asks this."""
    if device_of(array) == "cuda":
        return 1
    return _held_threads[0] or blas_threads(array)


def even_blocks(length: int, parts: int) -> list[tuple[int, int]]:
    """``range(length)`` cut into ``parts`` contiguous (low, high) blocks whose sizes differ
    by at most one."""
    cuts = [length * index // parts for index in range(parts + 1)]
    return list(zip(cuts, cuts[1:]))


def threaded_matmul(a, b):
    """``a @ b`` for NumPy arrays, the work spread over tinygen's threads, never BLAS's own.

    After a call on several threads, OpenBLAS's workers spin for about 0.1 s waiting for the
    next one, each holding a core. The next :func:`run_blocks` of a conv, a pool or an
    optimizer then shares its cores with them: on 2 cores a PyTorch-style MNIST step ran
    35 ms with them spinning, 25 ms without (docs/BENCHMARKS.md, "One pool of threads").
    So BLAS is held to one thread here; a product of at least ``SPLIT_MIN_MACS``
    multiply-adds is cut along its longer side (a's rows or b's columns; for a stack of
    products, a's first batch axis) into one block per thread, and a smaller one
    runs whole on the calling thread, where a hand-off to another would cost more than it
    saves.

    The cost: a step made of products alone (an MLP's) loses OpenBLAS's spinning workers,
    whose hand-offs are cheaper than tinygen's (~60 µs to wake a sleeping thread here): an
    MLP VAE's step ran 1.03-1.09x as long. Choosing OpenBLAS's threads only while no blocks
    had run lately was tried and dropped: its two-thread products round differently from
    one-thread ones (784-long sums), so a run's bits then hung on timing, and a resumed run
    no longer matched a straight one (tests/models/test_resume.py). Here the path depends on
    the shapes and the thread count alone (and on this machine the blocks gave one thread's
    bits: each entry's sum runs in the same order wherever a block starts).
    """
    threads = blas_threads(a)
    if threads == 1:
        return a @ b
    m, n = a.shape[-2], b.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if math.prod(batch) * m * a.shape[-1] * n >= SPLIT_MIN_MACS:
        if a.ndim == b.ndim == 2 and max(m, n) >= threads * SPLIT_MIN_SIDE:
            out = np.empty((m, n), dtype=np.result_type(a, b))
            if m >= n:  # a's rows: (m_i, k) @ (k, n) -> out's rows
                def work(low, high):
                    np.matmul(a[low:high], b, out=out[low:high])
            else:  # b's columns: (m, k) @ (k, n_i) -> out's columns, a strided view
                def work(low, high):
                    np.matmul(a, b[:, low:high], out=out[:, low:high])
            run_blocks(work, even_blocks(max(m, n), threads), single_threaded_blas=True)
            return out
        if a.ndim > 2 and b.shape[:-2] in ((), a.shape[:-2]) and batch[0] >= threads:
            out = np.empty(batch + (m, n), dtype=np.result_type(a, b))

            def work(low, high):  # (B_i, ..., m, k) @ ([B_i, ...,] k, n) -> (B_i, ..., m, n)
                np.matmul(a[low:high], b if b.ndim == 2 else b[low:high], out=out[low:high])
            run_blocks(work, even_blocks(batch[0], threads), single_threaded_blas=True)
            return out
    return run_blocks(lambda low, high: a @ b, [(0, 1)], single_threaded_blas=True)[0]


def run_blocks(work, blocks: list, *, single_threaded_blas: bool = False) -> list:
    """``work(low, high)`` for each of ``blocks``: the first on the calling thread, the others
    on the process's worker threads; the results in the order of ``blocks``.

    Args:
        work: a function of a block, safe to run on blocks concurrently (it writes only its
            own block's outputs, or returns its partial result).
        blocks: the (low, high) ranges, e.g. from :func:`even_blocks`.
        single_threaded_blas: hold NumPy's BLAS to one thread while the blocks run, also a
            single block (each block's GEMMs then run on its own thread instead of waiting on
            BLAS's hand-offs).
            The limit is process-wide, as ``threadpool_limits`` sets it: a matmul on another
            user thread at the same moment also runs on one thread.
    """
    # the outermost hold asks BLAS and records its threads; a run nested in a block (BLAS
    # already held to one) leaves the record alone
    holding = single_threaded_blas and _held_threads[0] is None
    libs = _blas_controllers() if holding else []
    saved = [lib.num_threads for lib in libs]
    for lib, threads in zip(libs, saved):
        if threads != 1:
            lib.set_num_threads(1)
    if holding:
        _held_threads[0] = max(saved, default=1)
    try:
        if len(blocks) < 2:
            return [work(*block) for block in blocks]
        pool = _pools.get(os.getpid())
        if pool is None:
            pool = _pools[os.getpid()] = ThreadPoolExecutor(
                max_workers=os.cpu_count() or 1, thread_name_prefix="tinygen")
        others = [pool.submit(work, *block) for block in blocks[1:]]
        return [work(*blocks[0])] + [other.result() for other in others]
    finally:
        for lib, threads in zip(libs, saved):
            if threads != 1:
                lib.set_num_threads(threads)
        if holding:
            _held_threads[0] = None


# ----------------------------------------------------------------------------- seeding
_generators: dict = {}
_seed: list = [None]  # the last manual_seed, so generators made later derive from it


def manual_seed(seed: int) -> None:
    """Seed every random generator tinygen uses, on both backends."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    _generators["cpu"] = np.random.default_rng(int(seed))
    _generators.pop("cuda", None)
    _seed[0] = int(seed)
    if gpu_available():
        _generators["cuda"] = cupy.random.default_rng(int(seed))


def get_generator(device: str = "cpu"):
    """The generator for ``device``, created from the last manual_seed (or fresh entropy)."""
    generator = _generators.get(device)
    if generator is None:
        seed = _seed[0]
        if device == "cuda":
            check_device("cuda")
            generator = cupy.random.default_rng(seed)
        else:
            generator = np.random.default_rng(seed)
        _generators[device] = generator
    return generator


def get_rng_state() -> dict:
    """The state of every generator, as plain host data: NumPy's state dict for "cpu", the
    cuRAND state bytes (an int8 NumPy array) for "cuda"."""
    return {device: _generator_state(gen, device) for device, gen in _generators.items()}


def set_rng_state(state: dict) -> None:
    """Restore generator states produced by :func:`get_rng_state`."""
    for device, saved in state.items():
        generator = get_generator(device)
        if device == "cuda":
            # CuPy (checked on 14.x) keeps cuRAND states in a device buffer: copy them back.
            _cuda_state_buffer(generator)[...] = cupy.asarray(saved)
        else:
            generator.bit_generator.state = saved


def _generator_state(generator, device: str):
    if device == "cuda":
        return cupy.asnumpy(_cuda_state_buffer(generator))
    return generator.bit_generator.state


def _cuda_state_buffer(generator):
    """The int8 device array holding a CuPy Generator's cuRAND states.

    CuPy's ``bit_generator.state`` is a method returning a raw pointer, not NumPy's settable
    state dict, and CuPy has no public way to save or restore it; the buffer is private
    (``_state``), so this is the one place that touches it, and it fails loudly if it moves.
    """
    buffer = getattr(generator.bit_generator, "_state", None)
    if buffer is None or not isinstance(buffer, cupy.ndarray):
        raise RuntimeError(
            f"cannot save the CUDA generator state with cupy {cupy.__version__}: its bit "
            f"generator {type(generator.bit_generator).__name__} has no _state device buffer")
    return buffer
