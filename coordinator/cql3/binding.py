"""Terms to typed values: literals checked against a column's type, markers bound.

A ``Binder`` holds one execution's parameters (a positional list, or a dict by marker
name) and turns every term of a statement into the Python value of the target CQL
type with ``CqlType.coerce``. Literals must be of a kind the type accepts (an integer
literal is no text), as Cassandra checks; parameters arrive as JSON-ish values
(numbers, strings, bools, null, ``"0x.."`` blobs, ISO timestamps) and are coerced.

Invariant: every value a binder returns is None or a valid value of the asked type.
"""

from __future__ import annotations

import uuid
from typing import Any, Sequence

from coordinator.cql3.statements import BindMarker, Statement
from node.errors import Invalid
from node.schema.types import TYPES, CqlType

MAX_TTL_SECONDS = 20 * 365 * 24 * 3600  # 630720000, as Cassandra

_INTEGERS = {"int", "bigint", "smallint", "tinyint", "varint"}
_FLOATS = {"float", "double"}
_TEXTS = {"text", "varchar", "ascii"}

# literal kind -> the type names it may be given to
_ACCEPTS = {
    "INTEGER": _INTEGERS | _FLOATS | {"timestamp"},
    "FLOAT": _FLOATS,
    "STRING": _TEXTS | {"timestamp"},
    "HEX": {"blob"},
    "BOOLEAN": {"boolean"},
    "UUID": {"uuid", "timeuuid"},
}


def _literal_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "FLOAT"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, bytes):
        return "HEX"
    if isinstance(value, uuid.UUID):
        return "UUID"
    raise AssertionError(f"not a literal: {value!r}")


class Binder:
    """The parameters of one execution of ``statement``."""

    def __init__(self, statement: Statement, params: Sequence[Any] | dict[str, Any] | None) -> None:
        self.names = statement.bind_names
        count = statement.bind_count
        if params is None:
            params = []
        if isinstance(params, dict):
            missing = [name for name in self.names if name is None or name not in params]
            if missing:
                shown = "?" if missing[0] is None else missing[0]
                raise Invalid(f"No value bound for marker {shown}: named parameters need "
                              "named :markers")
            self.values = [params[name] for name in self.names]
        else:
            if len(params) != count:
                raise Invalid(f"There were {count} markers(?) in CQL but {len(params)} "
                              "bound variables")
            self.values = list(params)

    def value(self, term: Any, cql_type: CqlType, column: str) -> Any:
        """The term as a value of ``cql_type`` (None for null)."""
        if isinstance(term, BindMarker):
            return _coerce_param(self.values[term.index], cql_type, column)
        if term is None:
            return None
        kind = _literal_kind(term)
        if cql_type.name not in _ACCEPTS[kind]:
            raise Invalid(f'Invalid {kind} constant ({_shown(term)}) for "{column}" of type '
                          f"{cql_type.name}")
        try:
            return cql_type.coerce(term)
        except Invalid:
            raise Invalid(f'Invalid {kind} constant ({_shown(term)}) for "{column}" of type '
                          f"{cql_type.name}") from None

    def values_of(self, term: Any, cql_type: CqlType, column: str) -> list[Any]:
        """An IN list: a tuple of terms, or one marker bound to a list."""
        if isinstance(term, BindMarker):
            raw = self.values[term.index]
            if not isinstance(raw, (list, tuple)):
                raise Invalid(f"Invalid list value for IN on {column}: {raw!r:.80}")
            return [_coerce_param(item, cql_type, column) for item in raw]
        return [self.value(item, cql_type, column) for item in term]

    def integer(self, term: Any, what: str) -> int | None:
        """A bigint setting (LIMIT, TTL, TIMESTAMP); None when absent."""
        if term is None:
            return None
        value = self.value(term, TYPES["bigint"], what)
        if value is None:
            raise Invalid(f"Invalid null value of {what}")
        return value

    def ttl(self, term: Any, default_seconds: int) -> int:
        seconds = self.integer(term, "ttl")
        if seconds is None:
            return default_seconds
        if seconds < 0:
            raise Invalid(f"A TTL must be greater or equal to 0, but was {seconds}")
        if seconds > MAX_TTL_SECONDS:
            raise Invalid(f"ttl is too large. requested ({seconds}) maximum ({MAX_TTL_SECONDS})")
        return seconds


def _coerce_param(raw: Any, cql_type: CqlType, column: str) -> Any:
    if raw is None:
        return None
    try:
        return cql_type.coerce(raw)
    except Invalid as exc:
        raise Invalid(f"{exc.message} (bound to {column})") from None


def _shown(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
