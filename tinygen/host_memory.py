"""Host memory: an engine on NumPy allocates a fresh array for almost every op, and glibc
hands large freed blocks back to the kernel, so the next step page-faults them in again
(zeroed by the kernel). :func:`keep_freed_memory`, run when tinygen is imported, asks glibc to
keep them for reuse instead. A PixelCNN training step takes 0.8x the time with it (2-core
Intel Xeon, one BLAS thread, alone on the machine; docs/BENCHMARKS.md). Set
``TINYGEN_KEEP_FREED_MEMORY=0`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# blocks up to this size come from the heap and are reused; glibc's largest allowed value
# on 64-bit machines (4 * 1024 * 1024 * sizeof(long))
MMAP_THRESHOLD_BYTES = 32 << 20
# free memory at the top of the heap kept, not returned: above a model step's churn
TRIM_THRESHOLD_BYTES = 512 << 20
allocator_state: dict = {}


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks of up to 32 MiB for reuse, and up to 512 MiB
    of free heap before returning memory to the kernel. Returns whether it did.

    By default glibc serves large blocks by mmap and returns them (and a large free heap
    top) to the kernel on free, so each training step page-faults its arrays in afresh.
    Nothing is done, and the reason is kept for ``tinygen.backend.info``, when
    ``TINYGEN_KEEP_FREED_MEMORY=0``, when the user set glibc's own ``MALLOC_MMAP_THRESHOLD_``
    or ``MALLOC_TRIM_THRESHOLD_`` (theirs win), or off Linux/glibc.
    """
    if os.environ.get("TINYGEN_KEEP_FREED_MEMORY", "1") == "0":
        reason = "left alone: TINYGEN_KEEP_FREED_MEMORY=0"
    elif any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        reason = "left alone: MALLOC_*_THRESHOLD_ set in the environment"
    elif not sys.platform.startswith("linux"):
        reason = f"left alone: not Linux ({sys.platform})"
    else:
        try:
            mallopt = ctypes.CDLL("libc.so.6").mallopt
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is None:
            reason = "left alone: no glibc mallopt"
        elif (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
              and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)):
            reason = "glibc keeps freed blocks <= 32 MiB and up to 512 MiB of free heap"
        else:
            reason = "left alone: glibc refused the mallopt values"
    allocator_state["reason"] = reason
    return reason.startswith("glibc keeps")
