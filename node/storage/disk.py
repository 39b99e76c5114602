"""The disk seam: every write of the storage engine goes through a ``Disk``, whose
switches make writes fail with ``OSError`` for fault injection.

Invariant: when a switch is on, the matching write raises before any byte reaches the
file, so a refused write never leaves a partial record behind.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class Disk:
    def __init__(self) -> None:
        self.fail_data_writes = False       # SSTables (flush, compaction), markers
        self.fail_commitlog_writes = False

    def check_data_write(self, path: Path | str) -> None:
        if self.fail_data_writes:
            raise OSError(errno.EIO, "injected disk write failure", str(path))

    def check_commitlog_write(self, path: Path | str) -> None:
        if self.fail_commitlog_writes:
            raise OSError(errno.EIO, "injected disk write failure", str(path))

    def write_file_atomically(self, path: Path, data: bytes) -> None:
        """Write ``path`` via a temporary name, fsync, rename, fsync the folder."""
        self.check_data_write(path)
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_directory(path.parent)


def fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_and_close(descriptors: list[int]) -> None:
    """fsync then close every descriptor, each closed even if its fsync fails;
    raise the first failure once all are closed."""
    failure: OSError | None = None
    for descriptor in descriptors:
        try:
            os.fsync(descriptor)
        except OSError as exc:
            failure = failure or exc
        finally:
            os.close(descriptor)
    if failure is not None:
        raise failure
