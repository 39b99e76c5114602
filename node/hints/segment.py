"""The framing of hint segments: append-only files of checksummed records.

A record is ``[magic u32][payload length u32][crc32(payload) u32][payload]``. The
payload is msgpack ``[created_us, mutation wire, gc_grace_s]``: the table's
``gc_grace_seconds`` when the hint was written is optional (records written before it
existed hold two fields and decode with ``gc_grace_s = None``). Reading resynchronizes after a
torn or corrupt record by scanning for the next magic whose record checks out, so one
bad record costs only itself: the records after it in the same segment are still
delivered. Each bad region is counted once.

Invariant: ``read_records`` yields only records whose checksum matched, in file
order, each with the offset it starts at.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import msgpack

MAGIC = 0x48494E54  # "HINT"
MAGIC_BYTES = struct.pack(">I", MAGIC)
RECORD_HEADER = struct.Struct(">III")
SEGMENT_NAME = re.compile(r"^Hints-(\d{12})\.log$")
RECORD_BYTES_MAX = 64 * 1024 * 1024  # a length above this is corruption, not a record


def segment_name(segment_id: int) -> str:
    return f"Hints-{segment_id:012d}.log"


def list_segment_ids(directory: Path) -> list[int]:
    """The ids of the segments in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [int(match.group(1)) for entry in directory.iterdir()
             if (match := SEGMENT_NAME.match(entry.name))]
    return sorted(found)


class HintPayload(NamedTuple):
    created_us: int
    wire: list[Any]              # the mutation's wire form
    gc_grace_s: int | None       # the table's gc_grace_seconds at creation; None: not recorded


def encode_payload(created_us: int, mutation_wire: list[Any], gc_grace_s: int | None = None) -> bytes:
    fields = [created_us, mutation_wire] if gc_grace_s is None else \
        [created_us, mutation_wire, gc_grace_s]
    return msgpack.packb(fields, use_bin_type=True)


def decode_payload(payload: bytes) -> HintPayload:
    """The hint of a payload; ValueError if the payload is not a hint."""
    try:
        fields = msgpack.unpackb(payload, raw=False)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise ValueError(f"not a hint record: {error}") from None
    if not isinstance(fields, list) or len(fields) not in (2, 3):
        raise ValueError("not a hint record: wrong shape")
    created_us, wire = fields[0], fields[1]
    gc_grace_s = fields[2] if len(fields) == 3 else None
    if not isinstance(created_us, int) or not isinstance(wire, list) or len(wire) < 3 \
            or not (gc_grace_s is None or (type(gc_grace_s) is int and gc_grace_s >= 0)):
        raise ValueError("not a hint record: wrong shape")
    return HintPayload(created_us, wire, gc_grace_s)


def frame(payload: bytes) -> bytes:
    """One whole record, ready to append."""
    assert len(payload) <= RECORD_BYTES_MAX, "a hint record fits the reader's bound"
    return RECORD_HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True)
class Record:
    offset: int
    payload: bytes


def _record_at(data: bytes, offset: int) -> Record | None:
    """The valid record starting at ``offset``, or None."""
    if len(data) - offset < RECORD_HEADER.size:
        return None
    magic, length, crc = RECORD_HEADER.unpack_from(data, offset)
    if magic != MAGIC or length > RECORD_BYTES_MAX:
        return None
    start = offset + RECORD_HEADER.size
    payload = data[start:start + length]
    if len(payload) != length or zlib.crc32(payload) != crc:
        return None
    return Record(offset, payload)


def read_records(data: bytes, on_corrupt: Any = None) -> Iterator[Record]:
    """Every valid record of a segment's bytes; ``on_corrupt(offset)`` once per bad
    region (a torn tail included)."""
    offset = 0
    while offset < len(data):
        record = _record_at(data, offset)
        if record is not None:
            yield record
            offset += RECORD_HEADER.size + len(record.payload)
            continue
        if on_corrupt is not None:
            on_corrupt(offset)
        offset = _next_record_offset(data, offset + 1)


def _next_record_offset(data: bytes, start: int) -> int:
    """The offset of the next valid record at or after ``start`` (len(data) if none)."""
    while True:
        found = data.find(MAGIC_BYTES, start)
        if found < 0:
            return len(data)
        if _record_at(data, found) is not None:
            return found
        start = found + 1
