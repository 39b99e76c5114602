"""CQL data types: validation, Cassandra's serialization, and order-preserving encoding.

Every value inside shardsim is a plain Python value of its type's ``python`` form:
int (int, bigint, smallint, tinyint, varint, timestamp as milliseconds since the
epoch), float (float, double), str (text, varchar, ascii), bytes (blob), bool
(boolean), ``uuid.UUID`` (uuid, timeuuid).

Three encodings per type:
- ``serialize``/``deserialize``: Cassandra's native format, the bytes a partition key
  is hashed from and the bytes of a cell value.
- ``encode_comparable``/``decode_comparable``: a prefix-free byte string whose
  ``memcmp`` order is the type's CQL order, so composite clustering keys compare as
  plain ``bytes`` (DESC components are the bitwise inverse).
- ``coerce``: a client value (JSON number, string, ``"0x..."`` hex, ISO timestamp)
  to the Python form, or ``Invalid``.

Invariant: ``decode_comparable(encode_comparable(v)) == v`` and the comparable order
equals the type's order, for every valid value of every type.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
import uuid
from typing import Any

from node.errors import Invalid

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class CqlType:
    """One CQL type. Instances are stateless singletons looked up by name."""

    name = "?"

    def coerce(self, value: Any) -> Any:
        raise NotImplementedError

    def serialize(self, value: Any) -> bytes:
        raise NotImplementedError

    def deserialize(self, data: bytes) -> Any:
        raise NotImplementedError

    def encode_comparable(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode_comparable(self, data: bytes, pos: int, invert: bool) -> tuple[Any, int]:
        """Read one component at ``pos``; ``invert`` for DESC (bytes are inverted)."""
        raise NotImplementedError

    def to_json(self, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return self.name

    def _invalid(self, value: Any, why: str = "") -> Invalid:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return Invalid(f"Invalid value {shown} for type {self.name}{': ' + why if why else ''}")


def _take(data: bytes, pos: int, size: int, invert: bool) -> bytes:
    chunk = data[pos:pos + size]
    if len(chunk) != size:
        raise ValueError("truncated comparable encoding")
    return bytes(b ^ 0xFF for b in chunk) if invert else chunk


class _FixedInt(CqlType):
    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.low = -(1 << (8 * size - 1))
        self.high = (1 << (8 * size - 1)) - 1

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            elif isinstance(value, str):
                try:
                    value = int(value.strip())
                except ValueError:
                    raise self._invalid(value) from None
            else:
                raise self._invalid(value)
        if not self.low <= value <= self.high:
            raise self._invalid(value, f"out of range [{self.low}, {self.high}]")
        return value

    def serialize(self, value: int) -> bytes:
        return value.to_bytes(self.size, "big", signed=True)

    def deserialize(self, data: bytes) -> int:
        if len(data) != self.size:
            raise self._invalid(data, f"expected {self.size} bytes")
        return int.from_bytes(data, "big", signed=True)

    def encode_comparable(self, value: int) -> bytes:
        return (value - self.low).to_bytes(self.size, "big")

    def decode_comparable(self, data: bytes, pos: int, invert: bool) -> tuple[int, int]:
        chunk = _take(data, pos, self.size, invert)
        return int.from_bytes(chunk, "big") + self.low, pos + self.size


class _Timestamp(_FixedInt):
    """Milliseconds since the epoch; clients may give ISO-8601 strings."""

    def __init__(self) -> None:
        super().__init__("timestamp", 8)

    def coerce(self, value: Any) -> int:
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=_dt.timezone.utc)
            return (value - _EPOCH) // _dt.timedelta(milliseconds=1)
        if isinstance(value, str):
            text = value.strip()
            try:
                return super().coerce(int(text))
            except (ValueError, Invalid):
                pass
            try:
                parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise self._invalid(value, "not an ISO-8601 timestamp") from None
            return self.coerce(parsed)
        return super().coerce(value)

    def to_json(self, value: int) -> str | int:
        """ISO-8601 UTC with milliseconds; outside years 1..9999, the raw milliseconds
        (as Cassandra's drivers do), never an error."""
        try:
            moment = _EPOCH + _dt.timedelta(milliseconds=value)
        except OverflowError:
            return value
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Varint(CqlType):
    name = "varint"

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self._invalid(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise self._invalid(value) from None
        raise self._invalid(value)

    def serialize(self, value: int) -> bytes:
        size = (value + (value < 0)).bit_length() // 8 + 1
        return value.to_bytes(size, "big", signed=True)

    def deserialize(self, data: bytes) -> int:
        return int.from_bytes(data, "big", signed=True) if data else 0

    def encode_comparable(self, value: int) -> bytes:
        magnitude = abs(value)
        body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "big")
        positive = len(body).to_bytes(4, "big") + body
        if value >= 0:
            return b"\x01" + positive
        return b"\x00" + bytes(b ^ 0xFF for b in positive)

    def decode_comparable(self, data: bytes, pos: int, invert: bool) -> tuple[int, int]:
        sign = _take(data, pos, 1, invert)[0]
        negative = sign == 0
        flip = invert != negative
        length = int.from_bytes(_take(data, pos + 1, 4, flip), "big")
        body = _take(data, pos + 5, length, flip)
        magnitude = int.from_bytes(body, "big")
        return (-magnitude if negative else magnitude), pos + 5 + length


class _Floating(CqlType):
    def __init__(self, name: str, fmt: str, bits_fmt: str) -> None:
        self.name = name
        self.fmt = fmt
        self.bits_fmt = bits_fmt
        self.size = struct.calcsize(fmt)

    def coerce(self, value: Any) -> float:
        if isinstance(value, bool):
            raise self._invalid(value)
        if isinstance(value, (int, float)):
            result = float(value)
        elif isinstance(value, str):
            try:
                result = float(value.strip())
            except ValueError:
                raise self._invalid(value) from None
        else:
            raise self._invalid(value)
        if self.size == 4 and not math.isinf(result) and not math.isnan(result):
            result = struct.unpack(">f", struct.pack(">f", result))[0]
        return result

    def serialize(self, value: float) -> bytes:
        return struct.pack(self.fmt, value)

    def deserialize(self, data: bytes) -> float:
        if len(data) != self.size:
            raise self._invalid(data, f"expected {self.size} bytes")
        return struct.unpack(self.fmt, data)[0]

    def encode_comparable(self, value: float) -> bytes:
        (bits,) = struct.unpack(self.bits_fmt, struct.pack(self.fmt, value))
        top = 1 << (8 * self.size - 1)
        bits = bits ^ ((1 << (8 * self.size)) - 1) if bits & top else bits | top
        return bits.to_bytes(self.size, "big")

    def to_json(self, value: float) -> float | str:
        """Strict JSON has no NaN or infinities: those become "NaN", "Infinity",
        "-Infinity" (which ``coerce`` reads back)."""
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")

    def decode_comparable(self, data: bytes, pos: int, invert: bool) -> tuple[float, int]:
        bits = int.from_bytes(_take(data, pos, self.size, invert), "big")
        top = 1 << (8 * self.size - 1)
        bits = bits & ~top if bits & top else bits ^ ((1 << (8 * self.size)) - 1)
        return struct.unpack(self.fmt, struct.pack(self.bits_fmt, bits))[0], pos + self.size


def _escape(raw: bytes) -> bytes:
    """Prefix-free encoding: 0x00 becomes 0x00 0xFF, the end is 0x00 0x00."""
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _unescape(data: bytes, pos: int, invert: bool) -> tuple[bytes, int]:
    zero = 0xFF if invert else 0x00
    out = bytearray()
    i = pos
    while True:
        j = data.find(bytes([zero]), i)
        if j < 0 or j + 1 >= len(data):
            raise ValueError("unterminated comparable encoding")
        out += data[i:j]
        marker = data[j + 1] ^ (0xFF if invert else 0)
        if marker == 0x00:
            raw = bytes(out)
            return (bytes(b ^ 0xFF for b in raw) if invert else raw), j + 2
        out.append(zero)
        i = j + 2


class _Text(CqlType):
    def __init__(self, name: str, ascii_only: bool = False) -> None:
        self.name = name
        self.ascii_only = ascii_only

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self._invalid(value)
        if self.ascii_only and not value.isascii():
            raise self._invalid(value, "not ASCII")
        return value

    def serialize(self, value: str) -> bytes:
        return value.encode("utf-8", "surrogatepass")

    def deserialize(self, data: bytes) -> str:
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise self._invalid(data, "not UTF-8") from None

    def encode_comparable(self, value: str) -> bytes:
        return _escape(self.serialize(value))

    def decode_comparable(self, data: bytes, pos: int, invert: bool) -> tuple[str, int]:
        raw, end = _unescape(data, pos, invert)
        return raw.decode("utf-8", "surrogatepass"), end


class _Blob(CqlType):
    name = "blob"

    def coerce(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, str) and value[:2] in ("0x", "0X"):
            try:
                return bytes.fromhex(value[2:])
            except ValueError:
                raise self._invalid(value, "bad hex") from None
        raise self._invalid(value, "blobs are written as 0x-prefixed hex")

    def serialize(self, value: bytes) -> bytes:
        return bytes(value)

    def deserialize(self, data: bytes) -> bytes:
        return bytes(data)

    def encode_comparable(self, value: bytes) -> bytes:
        return _escape(bytes(value))

    def decode_comparable(self, data: bytes, pos: int, invert: bool) -> tuple[bytes, int]:
        return _unescape(data, pos, invert)

    def to_json(self, value: bytes) -> str:
        return "0x" + bytes(value).hex()


class _Boolean(CqlType):
    name = "boolean"

    def coerce(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self._invalid(value)

    def serialize(self, value: bool) -> bytes:
        return b"\x01" if value else b"\x00"

    def deserialize(self, data: bytes) -> bool:
        if len(data) != 1:
            raise self._invalid(data, "expected 1 byte")
        return data != b"\x00"

    def encode_comparable(self, value: bool) -> bytes:
        return self.serialize(value)

    def decode_comparable(self, data: bytes, pos: int, invert: bool) -> tuple[bool, int]:
        return _take(data, pos, 1, invert) != b"\x00", pos + 1


class _Uuid(CqlType):
    """uuid and timeuuid. Order as Cassandra's: by version, then time for version 1
    (timeuuid: time, then the rest as signed bytes), then the raw bytes."""

    def __init__(self, name: str, time_based: bool) -> None:
        self.name = name
        self.time_based = time_based

    def coerce(self, value: Any) -> uuid.UUID:
        if isinstance(value, uuid.UUID):
            result = value
        elif isinstance(value, str):
            try:
                result = uuid.UUID(value.strip())
            except ValueError:
                raise self._invalid(value) from None
        elif isinstance(value, (bytes, bytearray)) and len(value) == 16:
            result = uuid.UUID(bytes=bytes(value))
        else:
            raise self._invalid(value)
        if self.time_based and result.version != 1:
            raise self._invalid(value, "a timeuuid must be a version 1 UUID")
        return result

    def serialize(self, value: uuid.UUID) -> bytes:
        return value.bytes

    def deserialize(self, data: bytes) -> uuid.UUID:
        if len(data) != 16:
            raise self._invalid(data, "expected 16 bytes")
        return uuid.UUID(bytes=bytes(data))

    def encode_comparable(self, value: uuid.UUID) -> bytes:
        raw = value.bytes
        if value.version == 1:
            signed_rest = bytes(b ^ 0x80 for b in raw[8:])
            return b"\x01" + value.time.to_bytes(8, "big") + signed_rest + raw
        return bytes([(value.version or 0) & 0x0F]) + raw[:8] + raw[8:] + raw

    def decode_comparable(self, data: bytes, pos: int, invert: bool) -> tuple[uuid.UUID, int]:
        chunk = _take(data, pos, 33, invert)
        return uuid.UUID(bytes=chunk[17:33]), pos + 33

    def to_json(self, value: uuid.UUID) -> str:
        return str(value)


TYPES: dict[str, CqlType] = {
    "int": _FixedInt("int", 4),
    "bigint": _FixedInt("bigint", 8),
    "smallint": _FixedInt("smallint", 2),
    "tinyint": _FixedInt("tinyint", 1),
    "varint": _Varint(),
    "float": _Floating("float", ">f", ">I"),
    "double": _Floating("double", ">d", ">Q"),
    "text": _Text("text"),
    "varchar": _Text("varchar"),
    "ascii": _Text("ascii", ascii_only=True),
    "blob": _Blob(),
    "boolean": _Boolean(),
    "uuid": _Uuid("uuid", time_based=False),
    "timeuuid": _Uuid("timeuuid", time_based=True),
    "timestamp": _Timestamp(),
}


def type_named(name: str) -> CqlType:
    """The type for a CQL type name (case-insensitive), or ``Invalid``."""
    found = TYPES.get(name.strip().lower())
    if found is None:
        raise Invalid(f"Unknown type {name!r}; known types: {', '.join(sorted(TYPES))}")
    return found


def serialize_partition_key(types: list[CqlType], values: list[Any]) -> bytes:
    """Cassandra's partition key bytes: the single component as is; a composite key as
    ``[u16 length][bytes][0x00]`` per component."""
    assert len(types) == len(values), "one value per partition key column"
    if len(types) == 1:
        return types[0].serialize(values[0])
    parts = []
    for kind, value in zip(types, values):
        raw = kind.serialize(value)
        if len(raw) > 0xFFFF:
            raise Invalid(f"partition key component of {len(raw)} bytes exceeds 65535")
        parts.append(len(raw).to_bytes(2, "big") + raw + b"\x00")
    return b"".join(parts)


def deserialize_partition_key(types: list[CqlType], data: bytes) -> list[Any]:
    """The inverse of ``serialize_partition_key``."""
    if len(types) == 1:
        return [types[0].deserialize(data)]
    values = []
    pos = 0
    for kind in types:
        length = int.from_bytes(data[pos:pos + 2], "big")
        values.append(kind.deserialize(data[pos + 2:pos + 2 + length]))
        pos += 2 + length + 1
    return values


def encode_clustering(types: list[CqlType], descending: list[bool], values: tuple) -> bytes:
    """A clustering prefix as one ``bytes`` whose order is the table's clustering order."""
    out = []
    for kind, desc, value in zip(types, descending, values):
        piece = kind.encode_comparable(value)
        out.append(bytes(b ^ 0xFF for b in piece) if desc else piece)
    return b"".join(out)


def decode_clustering(types: list[CqlType], descending: list[bool], data: bytes) -> tuple:
    """The inverse of ``encode_clustering``; a prefix decodes to fewer values."""
    values = []
    pos = 0
    for kind, desc in zip(types, descending):
        if pos >= len(data):
            break
        value, pos = kind.decode_comparable(data, pos, desc)
        values.append(value)
    return tuple(values)
