"""Writing one SSTable: sorted partitions in, one immutable file out.

File layout (one file per SSTable, ``<generation>.sst``)::

    data blocks    [u32 body length][u32 crc32(body)][u8 flags: 1 = zstd][body]
                   body = msgpack list of entries [token, key, packed piece], the piece
                   being msgpack bytes of [header, rows] (so a point read decodes
                   only the partition it wants);
                   header = [tombstone, static row, range tombstones] on the first
                   piece of a partition, None on a continuation piece (a partition
                   bigger than a block continues in the next block)
    index chunks   same framing; body = msgpack list of [token, key, block number],
                   one per partition, up to INDEX_CHUNK_PARTITIONS per chunk
    bloom filter   raw bits
    metadata       msgpack map: statistics, block table, summary (first partition of
                   every index chunk), filter location, commitlog position
    footer         MAGIC, u64 metadata offset, u32 metadata length, u32 crc32(metadata)

Invariant: the file is written under a ``.tmp`` name, fsynced and renamed only when
complete, so a file named ``*.sst`` is always whole; a crash leaves only ``*.tmp``.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any, Iterable

import msgpack
import zstandard

from node.storage.bloom import BloomFilter
from node.storage.disk import Disk, fsync_directory
from node.storage.partition import Partition

MAGIC = b"SHSST\x00v1"
FOOTER = struct.Struct(">8sQII")
BLOCK_HEADER = struct.Struct(">IIB")
FLAG_ZSTD = 1
INDEX_CHUNK_PARTITIONS = 128
FORMAT_VERSION = 1


class _Statistics:
    def __init__(self) -> None:
        self.min_token: int | None = None
        self.max_token: int | None = None
        self.partitions = 0
        self.rows = 0
        self.min_timestamp_us: int | None = None
        self.max_timestamp_us: int | None = None
        self.max_deletion_time_s = 0

    def saw_timestamp(self, timestamp_us: int) -> None:
        if self.min_timestamp_us is None or timestamp_us < self.min_timestamp_us:
            self.min_timestamp_us = timestamp_us
        if self.max_timestamp_us is None or timestamp_us > self.max_timestamp_us:
            self.max_timestamp_us = timestamp_us

    def saw_deletion(self, deletion_time_s: int) -> None:
        if deletion_time_s > self.max_deletion_time_s:
            self.max_deletion_time_s = deletion_time_s

    def saw_row_wire(self, wire: list[Any]) -> None:
        marker, tombstone, cells = wire
        if marker is not None:
            self.saw_timestamp(marker[0])
            self.saw_deletion(marker[3])
        if tombstone is not None:
            self.saw_timestamp(tombstone[0])
            self.saw_deletion(tombstone[1])
        for cell in cells.values():
            self.saw_timestamp(cell[0])
            self.saw_deletion(cell[3])

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)


def write_sstable(path: Path, partitions: Iterable[Partition], *, table_id: str,
                  compression: str | None, block_bytes: int,
                  commitlog_position: tuple[int, int] | None, disk: Disk,
                  expected_partitions: int) -> int:
    """Write the SSTable ``path`` from sorted ``partitions``; return its size in bytes.
    Runs in a worker thread: it touches nothing but its arguments."""
    disk.check_data_write(path)
    temporary = path.with_name(path.name + ".tmp")
    compressor = zstandard.ZstdCompressor(level=1) if compression == "zstd" else None
    stats = _Statistics()
    bloom = BloomFilter.for_keys(max(1, expected_partitions))
    blocks: list[list[int]] = []
    index: list[list[Any]] = []
    with open(temporary, "wb") as handle:
        offset = 0
        entries: list[Any] = []
        entries_bytes = 0

        def cut_block() -> None:
            nonlocal offset, entries, entries_bytes
            disk.check_data_write(path)
            packer = msgpack.Packer(use_bin_type=True)
            body = packer.pack([[token, key, packer.pack([header, rows])]
                                for token, key, header, rows in entries])
            flags = 0
            if compressor is not None:
                body = compressor.compress(body)
                flags = FLAG_ZSTD
            record = BLOCK_HEADER.pack(len(body), zlib.crc32(body), flags) + body
            handle.write(record)
            blocks.append([offset, len(record)])
            offset += len(record)
            entries = []
            entries_bytes = 0

        for partition in partitions:
            stats.partitions += 1
            if stats.min_token is None:
                stats.min_token = partition.token
            stats.max_token = partition.token
            bloom.add(partition.key)
            index.append([partition.token, partition.key, len(blocks)])
            header = [None if partition.tombstone is None else partition.tombstone.to_wire(),
                      None if partition.static_row is None else partition.static_row.to_wire(),
                      [rt.to_wire() for rt in partition.range_tombstones]]
            if partition.tombstone is not None:
                stats.saw_timestamp(partition.tombstone.timestamp_us)
                stats.saw_deletion(partition.tombstone.deletion_time_s)
            for rt in partition.range_tombstones:
                stats.saw_timestamp(rt.tombstone.timestamp_us)
                stats.saw_deletion(rt.tombstone.deletion_time_s)
            if header[1] is not None:
                stats.saw_row_wire(header[1])
            rows: list[Any] = []
            entries.append([partition.token, partition.key, header, rows])
            entries_bytes += 48 + len(partition.key)
            for clustering, row in partition.rows:
                wire = row.to_wire()
                stats.rows += 1
                stats.saw_row_wire(wire)
                rows.append([clustering, wire])
                entries_bytes += len(clustering) + row.size_bytes()
                if entries_bytes >= block_bytes:
                    cut_block()
                    rows = []
                    entries.append([partition.token, partition.key, None, rows])
                    entries_bytes = 48 + len(partition.key)
            if entries_bytes >= block_bytes:
                cut_block()
        if entries and not (len(entries) == 1 and entries[0][2] is None and not entries[0][3]):
            cut_block()
        summary = []
        for start in range(0, len(index), INDEX_CHUNK_PARTITIONS):
            chunk = index[start:start + INDEX_CHUNK_PARTITIONS]
            body = msgpack.packb(chunk, use_bin_type=True)
            record = BLOCK_HEADER.pack(len(body), zlib.crc32(body), 0) + body
            summary.append([chunk[0][0], chunk[0][1], chunk[0][2], offset, len(record)])
            disk.check_data_write(path)
            handle.write(record)
            offset += len(record)
        filter_offset = offset
        handle.write(bytes(bloom.bits))
        offset += len(bloom.bits)
        metadata = msgpack.packb({
            "format": FORMAT_VERSION, "table_id": table_id, "compression": compression,
            "statistics": stats.to_wire(), "blocks": blocks, "summary": summary,
            "filter": [filter_offset, len(bloom.bits), bloom.bit_count, bloom.hash_count],
            "commitlog_position": None if commitlog_position is None else list(commitlog_position),
        }, use_bin_type=True)
        handle.write(metadata)
        handle.write(FOOTER.pack(MAGIC, offset, len(metadata), zlib.crc32(metadata)))
        offset += len(metadata) + FOOTER.size
        handle.flush()
        disk.check_data_write(path)
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)
    return offset
