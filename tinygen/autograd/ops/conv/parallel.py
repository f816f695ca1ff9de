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

from tinygen.backend import blas_threads, even_blocks, run_blocks

#: A conv of at least this many multiply-adds runs on blocks of the batch across threads;
#: below it the hand-off and the blocks' shared memory traffic cost more than they save:
#: MNIST's 1 -> 32 3x3 on 28x28 (12M multiply-adds, batch 64, forward + backward) ran 1.41
#: ms as one block and 1.57 on two at two threads (quiet 2-core VM, warm, min of 7)
PARALLEL_MIN_MACS = 1 << 24
#: A dense conv (one GEMM, no copies) of at least this many multiply-adds runs whole on
#: BLAS's own threads; a smaller one on one thread (a DCGAN generator's 100 -> 512 first
#: layer, 52M multiply-adds at batch 64: median 64 ms on two BLAS threads, 16 on one, on a
#: loaded 2-core machine, from thread wake-ups it cannot repay)
WHOLE_MIN_MACS = 1 << 27


def batch_blocks(x, macs: int) -> list:
    """The contiguous (low, high) blocks of x's batch that :func:`in_blocks` runs: as many
    as NumPy's BLAS may use threads, at most one image each, and one block (no threads) for
    a conv of fewer than PARALLEL_MIN_MACS multiply-adds (``macs``) or on CuPy (one GPU
    stream)."""
    n = x.shape[0]
    parts = max(1, min(blas_threads(x), n)) if macs >= PARALLEL_MIN_MACS else 1
    return even_blocks(n, parts)


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
    return run_blocks(work, blocks, single_threaded_blas=True)
