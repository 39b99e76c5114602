"""Reading one SSTable file (layout in ``sstable_writer``): open, seek, scan blocks.

``SSTable`` holds what is loaded at open (metadata, summary, bloom filter) and a
reference count: an SSTable replaced by compaction is deleted only when no reader holds
it. ``SSTableCursor`` is one reader's view: it keeps the last index chunk and the last
data block it decoded, so a reader that resumes inside the same block reads nothing
again.

Invariant: every ``os.pread`` on the file goes through ``SSTable._read``, which counts
one read op and its bytes.
"""

from __future__ import annotations

import bisect
import os
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

import msgpack
import zstandard

from node.storage.bloom import BloomFilter
from node.mutation.mutation import RangeTombstone, Row, Tombstone
from node.storage.partition import Partition
from node.storage.sstable_writer import BLOCK_HEADER, FLAG_ZSTD, FOOTER, FORMAT_VERSION, MAGIC
from node.storage.statistics import Counters

PartitionPosition = tuple[int, bytes]
unpackb = msgpack.unpackb


class CorruptSSTable(Exception):
    """The file is not a whole, readable SSTable."""


class SSTable:
    def __init__(self, path: Path, generation: int, counters: Counters) -> None:
        self.path = path
        self.generation = generation
        self.counters = counters
        self.references = 1   # the table's own reference
        self.obsolete = False
        self.on_deleted: Callable[[], None] | None = None   # after an obsolete file goes
        self._descriptor = os.open(path, os.O_RDONLY)
        try:
            self._load()
        except Exception:
            os.close(self._descriptor)
            raise

    def _load(self) -> None:
        size = os.fstat(self._descriptor).st_size
        self.size_bytes = size
        if size < FOOTER.size:
            raise CorruptSSTable(f"{self.path}: {size} bytes is shorter than a footer")
        magic, meta_offset, meta_length, meta_crc = FOOTER.unpack(
            self._read(size - FOOTER.size, FOOTER.size))
        if magic != MAGIC or meta_offset + meta_length + FOOTER.size != size:
            raise CorruptSSTable(f"{self.path}: bad footer")
        raw = self._read(meta_offset, meta_length)
        if zlib.crc32(raw) != meta_crc:
            raise CorruptSSTable(f"{self.path}: metadata checksum mismatch")
        meta = msgpack.unpackb(raw, raw=False)
        if meta.get("format") != FORMAT_VERSION:
            raise CorruptSSTable(f"{self.path}: unknown format {meta.get('format')!r}")
        self.table_id: str = meta["table_id"]
        self.compressed = meta.get("compression") == "zstd"
        self.statistics: dict[str, Any] = meta["statistics"]
        self.blocks: list[list[int]] = meta["blocks"]
        self.summary: list[list[Any]] = meta["summary"]
        self.summary_keys = [(entry[0], entry[1]) for entry in self.summary]
        position = meta["commitlog_position"]
        self.commitlog_position = None if position is None else tuple(position)
        filter_offset, filter_length, bit_count, hash_count = meta["filter"]
        self.bloom = BloomFilter(bytearray(self._read(filter_offset, filter_length)),
                                 bit_count, hash_count)

    @property
    def partition_count(self) -> int:
        return self.statistics["partitions"]

    @property
    def min_timestamp_us(self) -> int | None:
        return self.statistics["min_timestamp_us"]

    def _read(self, offset: int, length: int, counters: Counters | None = None) -> bytes:
        data = os.pread(self._descriptor, length, offset)
        counted = counters if counters is not None else self.counters
        counted.sstable_read_ops += 1
        counted.sstable_bytes_read += len(data)
        if len(data) != length:
            raise CorruptSSTable(f"{self.path}: short read at {offset}")
        return data

    def read_framed(self, offset: int, length: int, counters: Counters,
                    decompressor: zstandard.ZstdDecompressor | None) -> list[Any]:
        record = self._read(offset, length, counters)
        body_length, crc, flags = BLOCK_HEADER.unpack_from(record)
        body = record[BLOCK_HEADER.size:]
        if len(body) != body_length or zlib.crc32(body) != crc:
            raise CorruptSSTable(f"{self.path}: block checksum mismatch at {offset}")
        if flags & FLAG_ZSTD:
            assert decompressor is not None
            body = decompressor.decompress(body)
            counters.blocks_decompressed += 1
        return msgpack.unpackb(body, raw=False)

    def acquire(self) -> SSTable:
        assert self.references > 0, "acquire of a released SSTable"
        self.references += 1
        return self

    def release(self) -> None:
        self.references -= 1
        assert self.references >= 0
        if self.references == 0:
            os.close(self._descriptor)
            if self.obsolete:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                if self.on_deleted is not None:
                    self.on_deleted()

    def close(self) -> None:
        """The table lets go of its own reference (at shutdown or when obsolete)."""
        self.release()


def _decode_header(header: list[Any]) -> tuple[Tombstone | None, Row | None, list[RangeTombstone]]:
    return (Tombstone.from_wire(header[0]),
            None if header[1] is None else Row.from_wire(header[1]),
            [RangeTombstone.from_wire(rt) for rt in header[2]])


class SSTableCursor:
    """One reader's sequential view of one SSTable, with its own small block cache."""

    def __init__(self, sstable: SSTable, counters: Counters) -> None:
        self.sstable = sstable.acquire()
        self.counters = counters
        self._decompressor: zstandard.ZstdDecompressor | None = None   # made on first need
        self._block_number = -1
        self._block: list[Any] = []
        self._index_offset = -1
        self._index: list[Any] = []
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.sstable.release()

    def block(self, number: int) -> list[Any]:
        if number != self._block_number:
            offset, length = self.sstable.blocks[number]
            if self._decompressor is None and self.sstable.compressed:
                self._decompressor = zstandard.ZstdDecompressor()
            self._block = self.sstable.read_framed(offset, length, self.counters,
                                                   self._decompressor)
            self._block_number = number
            self.counters.blocks_read += 1
        return self._block

    def _index_chunk(self, chunk_number: int) -> list[Any]:
        entry = self.sstable.summary[chunk_number]
        if entry[3] != self._index_offset:
            self._index = self.sstable.read_framed(entry[3], entry[4], self.counters, None)
            self._index_offset = entry[3]
        return self._index

    def first_block_at(self, lower: tuple[PartitionPosition, bool] | None) -> int | None:
        """The block holding the first partition at or after ``lower`` (None: none)."""
        summary = self.sstable.summary
        if not summary:
            return None
        if lower is None:
            return 0
        bound, inclusive = lower
        chunk_number = max(0, bisect.bisect_right(self.sstable.summary_keys, bound) - 1)
        while chunk_number < len(summary):
            for token, key, block_number in self._index_chunk(chunk_number):
                position = (token, key)
                if position > bound or (inclusive and position == bound):
                    return block_number
            chunk_number += 1
        return None

    def partitions(self, lower: tuple[PartitionPosition, bool] | None,
                   upper: tuple[PartitionPosition, bool] | None) -> Iterator[Partition]:
        """The partitions in ``[lower, upper]`` (bounds with their inclusiveness), in
        order, each assembled from all its pieces. A generator: it reads blocks only as
        the caller pulls."""
        if lower is not None and upper is not None and lower[0] == upper[0] \
                and not self.sstable.bloom.might_contain(lower[0][1]):
            return
        number = self.first_block_at(lower)
        if number is None:
            return
        current: Partition | None = None
        block_count = len(self.sstable.blocks)
        while number < block_count:
            entries = self.block(number)
            number += 1
            for token, key, packed in entries:
                position = (token, key)
                if current is not None and current.position == position:
                    header, rows = unpackb(packed, raw=False)
                    assert header is None, "a partition's first piece comes once"
                    current.rows.extend((row[0], Row.from_wire(row[1])) for row in rows)
                    continue
                if current is not None:
                    yield current
                    current = None
                if lower is not None and (position < lower[0]
                                          or (position == lower[0] and not lower[1])):
                    continue
                if upper is not None and (position > upper[0]
                                          or (position == upper[0] and not upper[1])):
                    return
                header, rows = unpackb(packed, raw=False)
                if header is None:
                    continue   # the tail of a partition that started before ``lower``
                tombstone, static_row, range_tombstones = _decode_header(header)
                current = Partition(token, key, tombstone, static_row,
                                    [(row[0], Row.from_wire(row[1])) for row in rows],
                                    range_tombstones)
        if current is not None:
            yield current


