"""Process-wide CPU settings that make training faster without changing what it computes.

Measured on the 2-core reference machine (../shared/PERF_NOTES.md, benchmarks/README.md):
glibc returning large freed buffers to the OS made every step fault them back in (20-30% of an
eager MLP step), and denormal floats from saturated sigmoids slow matmuls by up to ~70x.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import torch

# glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc to keep freed buffers of up to 32 MiB in the heap instead of unmapping them.

    A training step frees and reallocates the same activation buffers every iteration; glibc's
    default hands blocks above 128 KiB back to the OS and takes page faults to get them again.
    This is the runtime form of MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_, done here
    because those environment variables must be set before the process starts. It changes
    where memory lives, never a number. Returns False where there is no glibc (nothing done).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024) and mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    )


def configure_cpu(threads: int | None = None) -> None:
    """Threads (when given), flushing of denormals to zero, and the allocator setting above.

    Denormals (|x| < 1.2e-38) are flushed to zero: every value a GAN's loss depends on is far
    above that, and a saturated sigmoid's tiny gradients otherwise fall into the slow path.
    """
    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    keep_freed_memory()
