"""Compaction logs: which SSTables a finished compaction replaced.

A compaction may drop a tombstone together with the data it shadowed. Its inputs are
deleted one by one, when their last reader lets go; if the shard stops after the input
holding the tombstone is gone but before the one holding the data is, that data would
load again, unshadowed. So once the output is renamed into place (and its folder
fsynced), and before any input is deleted, ``compaction-<output>.log`` is written
(atomically, fsynced) naming the output and the inputs. ``finish_logged_compactions``
runs first at load and deletes every input a log names; a running table removes the
log once all its inputs are deleted.

Invariant: while any input of a finished compaction is on disk, its log is on disk.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgpack

from node.storage.disk import Disk, fsync_directory

LOG_NAME = re.compile(r"^compaction-(\d+)\.log$")


def log_path(directory: Path, output_generation: int) -> Path:
    return directory / f"compaction-{output_generation:08d}.log"


def sstable_path(directory: Path, generation: int) -> Path:
    return directory / f"{generation:08d}.sst"


def write_log(disk: Disk, directory: Path, output_generation: int,
              input_generations: list[int]) -> Path:
    """Write the log (fsynced, folder too); call after the output is in place."""
    path = log_path(directory, output_generation)
    disk.write_file_atomically(path, msgpack.packb(
        {"output": output_generation, "inputs": input_generations}))
    return path


def remove_log(path: Path) -> None:
    """Every input is deleted: make those deletions durable, then drop the log."""
    try:
        fsync_directory(path.parent)
    except FileNotFoundError:
        return   # the table was dropped: its folder is gone, the log with it
    path.unlink(missing_ok=True)


def finish_logged_compactions(directory: Path, log: Any) -> int:
    """Delete the inputs named by every compaction log in ``directory``, then the
    logs. Returns the highest generation a log names (0: none), so that no
    generation is reused while a log could still name it."""
    highest = 0
    for entry in sorted(directory.iterdir()):
        if not LOG_NAME.match(entry.name):
            continue
        try:
            content = msgpack.unpackb(entry.read_bytes(), raw=False)
            output, inputs = int(content["output"]), [int(g) for g in content["inputs"]]
        except (OSError, ValueError, KeyError, TypeError, msgpack.UnpackException) as exc:
            log.error("compaction_log.unreadable", path=str(entry), error=str(exc))
            entry.unlink(missing_ok=True)
            continue
        highest = max(highest, output, *inputs)
        deleted = []
        for generation in inputs:
            path = sstable_path(directory, generation)
            if path.exists():
                path.unlink()
                deleted.append(generation)
        remove_log(entry)
        log.info("compaction_log.finished", output=output, inputs=inputs, deleted=deleted)
    return highest
