"""What the operating system keeps of the stores in its cache while they are measured.

The kernel of these VMs runs DAMON with a `pageout` scheme (/sys/kernel/mm/damon/admin/kdamonds/0): file
pages that no process maps and that were seen accessed in at most one of ten samples in each 5 s interval,
for a minute, are dropped, whatever memory is free. A store of 10,000 profiles under load is touched all
over every second and stays. A store of 1,000,000 under random updates is not: each of its pages is
touched every few minutes, so the scheme drops the store while it is in use, and its server reads pages
back from disk on its event loop (bench/ROUNDS.md, eighth round).

So the suite reads every store into the cache before each benchmark (`warm`) and, unless asked not to
(`--os-cache as-is`), keeps every working copy mapped into its own process while its servers run
(`hold`). The scheme leaves mapped pages alone; the servers' own memory is not touched, and they read the
file as they always do. That is the cache a machine with memory to spare and no such scheme keeps anyway.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MODES = ("held", "as-is")
PAGE = mmap.PAGESIZE
_MADV_POPULATE_READ = 22  # Linux 5.14 and later: fault every page of a range in, read-only


def warm(path: Path) -> int:
    """Read the file once, so the OS cache holds it (the bytes read)."""
    total = 0
    with path.open("rb", buffering=0) as source:
        while chunk := source.read(1 << 20):
            total += len(chunk)
    return total


@contextmanager
def hold(path: Path) -> Iterator[int]:
    """Map the whole file (as long as it is now) read-only and fault every page of it in, so that the OS
    cache keeps it while the block runs; yields the bytes held. Pages the file grows by later are not
    held: they are the ones just written, which the cache keeps anyway."""
    size = path.stat().st_size
    if size == 0:
        yield 0
        return
    with path.open("rb") as file, mmap.mmap(file.fileno(), size, prot=mmap.PROT_READ) as mapped:
        try:
            mapped.madvise(_MADV_POPULATE_READ)
        except OSError:  # an older kernel: touch a byte of every page instead
            for offset in range(0, size, PAGE):
                mapped[offset]
        yield size


def resident(path: Path) -> float:
    """The share of the file's pages in the OS cache now (0 to 1), as mincore(2) reports it."""
    size = path.stat().st_size
    if size == 0:
        return 1.0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    pages = (size + PAGE - 1) // PAGE
    vector = (ctypes.c_ubyte * pages)()
    with path.open("rb") as file:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, file.fileno(), 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(path))
        try:
            if libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(path))
        finally:
            libc.munmap(address, size)
    return sum(byte & 1 for byte in vector) / pages
