"""The framing of Raft's files: checksummed records, and how a log file is read back.

A record is ``[magic u32][payload length u32][crc32(payload) u32][payload]``. Appends
are fsynced one batch at a time, so a crash can only tear the tail: a bad record with
no valid record after it is a torn tail, cut off at start. A bad record followed by a
valid one is damage to acknowledged data, and reading refuses it (``LogCorrupted``):
dropping it could lose an entry a majority counted on.

Invariant: ``read_records`` yields only records whose checksum matched, in file order.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from node.raft.errors import LogCorrupted

MAGIC = 0x52414654  # "RAFT"
MAGIC_BYTES = struct.pack(">I", MAGIC)
HEADER = struct.Struct(">III")
RECORD_BYTES_MAX = 64 * 1024 * 1024  # a length above this is damage, not a record


def frame(payload: bytes) -> bytes:
    assert len(payload) <= RECORD_BYTES_MAX, "a record fits the reader's bound"
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True)
class Records:
    payloads: list[bytes]
    valid_bytes: int        # where the valid records end: the rest is a torn tail


def _record_end(data: bytes, offset: int) -> int | None:
    """The end offset of the valid record at ``offset``, or None."""
    if len(data) - offset < HEADER.size:
        return None
    magic, length, crc = HEADER.unpack_from(data, offset)
    end = offset + HEADER.size + length
    if magic != MAGIC or length > RECORD_BYTES_MAX or end > len(data):
        return None
    if zlib.crc32(data[offset + HEADER.size:end]) != crc:
        return None
    return end


def read_records(data: bytes, name: str) -> Records:
    """The records of a file's bytes; raises ``LogCorrupted`` if a bad record is
    followed by a good one."""
    payloads: list[bytes] = []
    offset = 0
    while offset < len(data):
        end = _record_end(data, offset)
        if end is None:
            _refuse_damage_before_valid_record(data, offset, name)
            break
        payloads.append(data[offset + HEADER.size:end])
        offset = end
    return Records(payloads, offset)


def _refuse_damage_before_valid_record(data: bytes, bad_offset: int, name: str) -> None:
    found = data.find(MAGIC_BYTES, bad_offset + 1)
    while found >= 0:
        if _record_end(data, found) is not None:
            raise LogCorrupted(f"{name}: damaged record at offset {bad_offset} before valid "
                               f"records; refusing to drop acknowledged entries",
                               file=name, offset=bad_offset)
        found = data.find(MAGIC_BYTES, found + 1)


def read_single(data: bytes, name: str) -> bytes:
    """The one record of a file written atomically; anything else is damage."""
    records = read_records(data, name)
    if len(records.payloads) != 1 or records.valid_bytes != len(data):
        raise LogCorrupted(f"{name}: not one whole record", file=name)
    return records.payloads[0]
