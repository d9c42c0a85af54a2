"""Keep glibc from returning freed activation memory to the OS on every step.

Measured on 2-core CPUs: with glibc's default, dynamic mmap threshold,
the ~64 KB-4 MB blocks of small-image activations are unmapped when freed and page-faulted back
on the next step, which made 3x3 convolutions up to 3x slower and far noisier. Raising the mmap
and trim thresholds (what ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` do, but from
inside the process) keeps that memory mapped; the cost is a higher resident size after peaks.
It is on by default for the CLI and for multi-trial workers (``tune_malloc=true``), a no-op outside
glibc, and never touches CUDA memory. ``python -m benchmarks.throughput --compare-malloc`` measures it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory_mapped(threshold_bytes: int = 1 << 30) -> bool:
    """Returns True when the thresholds were set (glibc only)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # glibc caps M_MMAP_THRESHOLD at HEAP_MAX/2 (32 MB on 64-bit); larger blocks stay mmapped anyway.
    ok = mallopt(_M_MMAP_THRESHOLD, min(threshold_bytes, 32 << 20)) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, threshold_bytes) == 1 and ok
    _done = ok
    return ok
