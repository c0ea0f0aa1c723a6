"""Writes that matter: a file is replaced whole or not at all (STYLE.md section 7)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data to path so that readers see the old file or the new one, never half of one."""
    with atomic_writer(path) as f:
        f.write(data)


@contextmanager
def atomic_writer(path: Path, per_process: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write in pieces that appears at `path` whole, when the block ends
    without an error: a temp file beside it, fsync, rename, fsync of the folder; on an error
    the temp file is removed.

    The temp file is `.NAME.tmp`, so the next write replaces what a killed writer left; with
    per_process its name carries the process id instead, for files that several processes
    may write at once (ranks decoding one image folder)."""
    path = Path(path)
    tag = f".{os.getpid()}" if per_process else ""
    tmp = path.with_name(f".{path.name}{tag}.tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
