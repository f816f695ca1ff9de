"""Running a conv's per-image work on blocks of the batch, one thread each, BLAS on one.

A per-image layout issues many small GEMMs. Given several BLAS threads, each of them splits
into pieces that wait on a thread hand-off, and the window copies between them run on one
core. :func:`in_blocks` instead cuts the batch into as many contiguous blocks as NumPy's BLAS
may use threads, runs each block's copies and GEMMs on its own thread (NumPy releases the GIL
inside a copy or a matmul) with BLAS held to one thread meanwhile, and waits once at the end.
A conv too small to split runs as one block, on one BLAS thread too, and a dense one (one
GEMM, no copies) whole on BLAS's threads only when large (WHOLE_MIN_MACS).
The BLAS limit is process-wide while the blocks run, as ``threadpoolctl.threadpool_limits``
would set it: a matmul on another user thread at the same moment also runs on one thread.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from tinygen.backend import blas_threads

#: A conv of at least this many multiply-adds runs on blocks of the batch across threads;
#: below it the hand-off costs more than it saves
PARALLEL_MIN_MACS = 1 << 22
#: A dense conv (one GEMM, no copies) of at least this many multiply-adds runs whole on
#: BLAS's own threads; a smaller one on one thread (a DCGAN generator's 100 -> 512 first
#: layer, 52M multiply-adds at batch 64: median 64 ms on two BLAS threads, 16 on one, on a
#: loaded 2-core machine, from thread wake-ups it cannot repay)
WHOLE_MIN_MACS = 1 << 27
_pools: dict = {}  # process id -> ThreadPoolExecutor (a forked child makes its own)
_blas_libs: list = []  # threadpoolctl's controllers of NumPy's own BLAS, found once


def _numpy_blas() -> list:
    """The threadpoolctl controllers of the BLAS that NumPy's matmul calls."""
    if not _blas_libs:
        from threadpoolctl import ThreadpoolController

        libs = ThreadpoolController().select(user_api="blas").lib_controllers
        # NumPy's own BLAS (wheels ship it in numpy.libs), not another library's
        _blas_libs.append([lib for lib in libs if "numpy" in lib.filepath] or libs)
    return _blas_libs[0]


def batch_blocks(x, macs: int) -> list:
    """The contiguous (low, high) blocks of x's batch that :func:`in_blocks` runs: as many
    as NumPy's BLAS may use threads, at most one image each, and one block (no threads) for
    a conv of fewer than PARALLEL_MIN_MACS multiply-adds (``macs``) or on CuPy (one GPU
    stream)."""
    n = x.shape[0]
    parts = max(1, min(blas_threads(x), n)) if macs >= PARALLEL_MIN_MACS else 1
    cuts = [n * index // parts for index in range(parts + 1)]
    return list(zip(cuts, cuts[1:]))


def in_blocks(work, blocks: list) -> list:
    """``work(low, high)`` for each of ``blocks`` (from :func:`batch_blocks`), each on its
    own thread with NumPy's BLAS held to one thread meanwhile. One block runs here, on one
    BLAS thread too: a conv too small to split is too small to repay a BLAS hand-off.

    Args:
        work: a function of an image range, safe to run on blocks concurrently (it writes
            only its own images' outputs, or returns its partial result).
        blocks: the (low, high) image ranges.

    Returns:
        ``work``'s results in the order of ``blocks``.
    """
    libs = _numpy_blas()
    saved = [lib.num_threads for lib in libs]
    if max(saved, default=1) == 1:  # one BLAS thread (or CuPy's one block): nothing to hold
        return [work(*block) for block in blocks]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        if len(blocks) < 2:
            return [work(*block) for block in blocks]
        pool = _pools.get(os.getpid())
        if pool is None:
            pool = _pools[os.getpid()] = ThreadPoolExecutor(
                max_workers=os.cpu_count() or 1, thread_name_prefix="tinygen-conv")
        others = [pool.submit(work, *block) for block in blocks[1:]]
        # the first block runs here, the others on the pool
        return [work(*blocks[0])] + [other.result() for other in others]
    finally:
        for lib, threads in zip(libs, saved):
            lib.set_num_threads(threads)
