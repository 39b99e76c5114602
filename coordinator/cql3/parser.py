"""Text to ``Statement``: the LALR parser of the CQL-like language, cached by text.

``parse`` is the one entry point. It lexes and parses with lark (grammar in
``grammar.lark``), turns the tree into the frozen dataclasses of ``statements``, and
remembers the last 1024 distinct texts, so a prepared-style workload parses each
statement once.

Invariant: every failure to parse is a ``CqlSyntaxError`` with ``line`` (from 1) and
``column`` (from 0, as Cassandra's ANTLR reports it) details; nothing else escapes,
except ``Invalid`` for well-formed text that shardsim refuses (lightweight
transactions, COMPACT STORAGE).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import uuid

import lark
from lark import Token, Transformer

from coordinator.cql3 import statements as st
from node.errors import CqlSyntaxError, Invalid, RequestError

CACHE_SIZE = 1024

_GRAMMAR_PATH = pathlib.Path(__file__).with_name("grammar.lark")


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    return lark.Lark(_GRAMMAR_PATH.read_text(), parser="lalr", maybe_placeholders=False,
                     propagate_positions=False)


@functools.lru_cache(maxsize=CACHE_SIZE)
def parse(text: str) -> st.Statement:
    """The statement written in ``text`` (one statement; a trailing ``;`` is optional)."""
    return parse_uncached(text)


def parse_uncached(text: str) -> st.Statement:
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    builder = _StatementBuilder()
    try:
        statement = builder.transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, RequestError):
            raise exc.orig_exc from None
        raise
    names = tuple(builder.marker_names)
    return dataclasses.replace(statement, bind_count=len(names), bind_names=names)


def _syntax_error(text: str, exc: lark.exceptions.UnexpectedInput) -> CqlSyntaxError:
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        line, column = exc.line, exc.column - 1
        shown = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "<EOF>"
        message = f"line {line}:{column} no viable alternative at character '{shown}'"
    elif isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type != "$END":
        line, column = exc.token.line, exc.token.column - 1
        message = f"line {line}:{column} no viable alternative at input '{exc.token}'"
    else:
        line = text.count("\n") + 1
        column = len(text) - (text.rfind("\n") + 1)
        message = f"line {line}:{column} mismatched input '<EOF>'"
        expected = sorted(getattr(exc, "expected", None) or ())
        if expected:
            message += f" expecting {', '.join(expected[:6])}"
    return CqlSyntaxError(message, line=line, column=column)


def _values(children: list) -> list:
    """Children without the keyword tokens (every Token left here is a keyword)."""
    return [child for child in children if not isinstance(child, Token)]


def _has(children: list, keyword: str) -> bool:
    return any(isinstance(child, Token) and child.type == keyword for child in children)


class _StatementBuilder(Transformer):
    """Tree to statement. One instance per parse: it numbers the bind markers."""

    def __init__(self) -> None:
        super().__init__()
        self.marker_names: list[str | None] = []

    # -------------------------------------------------------------- names and terms

    def name(self, children: list) -> str:
        (token,) = children
        if token.type == "QUOTED_NAME":
            return token[1:-1].replace('""', '"')
        return token.lower()

    def type_name(self, children: list) -> str:
        return children[0]

    def table_name(self, children: list) -> st.TableName:
        if len(children) == 2:
            return st.TableName(children[0], children[1])
        return st.TableName(None, children[0])

    def positional_marker(self, children: list) -> st.BindMarker:
        self.marker_names.append(None)
        return st.BindMarker(len(self.marker_names) - 1)

    def named_marker(self, children: list) -> st.BindMarker:
        self.marker_names.append(children[0])
        return st.BindMarker(len(self.marker_names) - 1, children[0])

    def integer(self, children: list) -> int:
        return int(children[0])

    def float(self, children: list) -> float:
        return float(children[0])

    def nan(self, children: list) -> float:
        return float("nan")

    def infinity(self, children: list) -> float:
        return float("inf")

    def negative_infinity(self, children: list) -> float:
        return float("-inf")

    def string(self, children: list) -> str:
        return children[0][1:-1].replace("''", "'")

    def dollar_string(self, children: list) -> str:
        return children[0][2:-2]

    def hex(self, children: list) -> bytes:
        token = children[0]
        try:
            return bytes.fromhex(token[2:])
        except ValueError:
            raise CqlSyntaxError(
                f"line {token.line}:{token.column - 1} invalid hex blob '{token}': an even "
                "number of hex digits is needed", line=token.line, column=token.column - 1) from None

    def true(self, children: list) -> bool:
        return True

    def false(self, children: list) -> bool:
        return False

    def null(self, children: list) -> None:
        return None

    def uuid(self, children: list) -> uuid.UUID:
        return uuid.UUID(str(children[0]))

    # -------------------------------------------------------------- schema statements

    def start(self, children: list) -> st.Statement:
        return children[0]

    def if_not_exists(self, children: list) -> bool:
        return bool(children)

    def if_exists(self, children: list) -> bool:
        return bool(children)

    def property(self, children: list) -> tuple[str, object]:
        return (children[0], children[1])

    def map_literal(self, children: list) -> tuple:
        return tuple(children)

    def map_entry(self, children: list) -> tuple:
        key, value = children
        return (key, value)

    def create_keyspace(self, children: list) -> st.CreateKeyspace:
        if_not_exists, name, *properties = _values(children)
        options = dict(properties)
        unknown = set(options) - {"replication", "durable_writes"}
        if unknown:
            raise Invalid(f"Unknown property '{sorted(unknown)[0]}'")
        replication = options.get("replication")
        if not isinstance(replication, tuple):
            raise Invalid("Missing mandatory option 'replication'" if replication is None
                          else "replication must be a map")
        durable = options.get("durable_writes", True)
        if isinstance(durable, str):
            durable = durable.lower() != "false"
        return st.CreateKeyspace(name, if_not_exists, replication, bool(durable))

    def drop_keyspace(self, children: list) -> st.DropKeyspace:
        if_exists, name = _values(children)
        return st.DropKeyspace(name, if_exists)

    def column_def(self, children: list) -> st.ColumnSpec:
        parts = _values(children)
        flags = {p.data for p in parts[2:]}
        return st.ColumnSpec(parts[0], parts[1], "static" in flags, "inline_primary" in flags)

    def column_add(self, children: list) -> st.ColumnSpec:
        parts = _values(children)
        return st.ColumnSpec(parts[0], parts[1], len(parts) > 2)

    def partition_key(self, children: list) -> tuple[str, ...]:
        return tuple(children)

    def primary_key_def(self, children: list) -> tuple:
        partition, *clustering = _values(children)
        return ("primary_key", partition, tuple(clustering))

    def ordering(self, children: list) -> tuple[str, bool]:
        return (children[0], _has(children, "DESC"))

    def clustering_order(self, children: list) -> tuple:
        return ("clustering_order", tuple(_values(children)))

    def compact_storage(self, children: list) -> tuple:
        raise Invalid("COMPACT STORAGE is not supported")

    def table_with(self, children: list) -> list:
        return _values(children)

    def create_table(self, children: list) -> st.CreateTable:
        if_not_exists, table, *elements = _values(children)
        options: list = elements.pop() if elements and isinstance(elements[-1], list) else []
        columns = tuple(e for e in elements if isinstance(e, st.ColumnSpec))
        keys = [e for e in elements if isinstance(e, tuple)]
        if len(keys) > 1:
            raise Invalid("Multiple PRIMARY KEY specifications are not allowed")
        partition, clustering = (keys[0][1], keys[0][2]) if keys else ((), ())
        order = tuple(pair for option in options if option[0] == "clustering_order"
                      for pair in option[1])
        plain = tuple(option for option in options if option[0] != "clustering_order")
        return st.CreateTable(table, if_not_exists, columns, partition, clustering, order, plain)

    def drop_table(self, children: list) -> st.DropTable:
        if_exists, table = _values(children)
        return st.DropTable(table, if_exists)

    def alter_table(self, children: list) -> st.AlterTable:
        table, (kind, items) = _values(children)
        return st.AlterTable(table, **{kind: tuple(items)})

    def alter_add(self, children: list) -> tuple:
        return ("add", _values(children))

    def alter_drop(self, children: list) -> tuple:
        return ("drop", _values(children))

    def alter_with(self, children: list) -> tuple:
        return ("options", _values(children))

    def truncate(self, children: list) -> st.Truncate:
        return st.Truncate(_values(children)[0])

    def use(self, children: list) -> st.Use:
        return st.Use(_values(children)[0])

    # -------------------------------------------------------------- data statements

    def select_all(self, children: list) -> None:
        return None

    def select_list(self, children: list) -> tuple[st.Selector, ...]:
        return tuple(children)

    def selector(self, children: list) -> st.Selector:
        parts = _values(children)
        kind, columns = parts[0]
        return st.Selector(kind, columns, parts[1] if len(parts) > 1 else None)

    def sel_column(self, children: list) -> tuple:
        return ("column", (children[0],))

    def sel_token(self, children: list) -> tuple:
        return ("token", tuple(_values(children)))

    def sel_ttl(self, children: list) -> tuple:
        return ("ttl", tuple(_values(children)))

    def sel_writetime(self, children: list) -> tuple:
        return ("writetime", tuple(_values(children)))

    def sel_count(self, children: list) -> tuple:
        return ("count", ())

    def order_by(self, children: list) -> tuple:
        return ("order_by", tuple(_values(children)))

    def per_partition_limit(self, children: list) -> tuple:
        return ("per_partition_limit", _values(children)[0])

    def limit(self, children: list) -> tuple:
        return ("limit", _values(children)[0])

    def allow_filtering(self, children: list) -> tuple:
        return ("allow_filtering", True)

    def where(self, children: list) -> tuple:
        return ("where", tuple(_values(children)))

    def select(self, children: list) -> st.Select:
        selectors, table, *clauses = _values(children)
        return st.Select(table, selectors, **dict(clauses))

    def rel_compare(self, children: list) -> st.Relation:
        return st.Relation(children[0], str(children[1]), children[2])

    def rel_equal(self, children: list) -> st.Relation:
        return st.Relation(children[0], "=", children[1])

    def rel_in(self, children: list) -> st.Relation:
        column, *terms = _values(children)
        return st.Relation(column, "IN", tuple(terms))

    def rel_in_marker(self, children: list) -> st.Relation:
        column, marker = _values(children)
        return st.Relation(column, "IN", marker)

    def rel_token(self, children: list) -> st.TokenRelation:
        *columns, operator, value = children[1:]
        return st.TokenRelation(tuple(columns), str(operator), value)

    def rel_token_equal(self, children: list) -> st.TokenRelation:
        *columns, value = children[1:]
        return st.TokenRelation(tuple(columns), "=", value)

    def using_ttl(self, children: list) -> tuple:
        return ("ttl", children[1])

    def using_timestamp(self, children: list) -> tuple:
        return ("timestamp", children[1])

    def using(self, children: list) -> dict:
        items = _values(children)
        found: dict = {}
        for key, value in items:
            if key in found:
                raise Invalid(f"Duplicate USING {key.upper()} clause")
            found[key] = value
        return found

    def lwt_if(self, children: list) -> None:
        raise Invalid("lightweight transactions are not supported")

    def insert(self, children: list) -> st.Insert:
        table, *rest = _values(children)
        using = rest.pop() if rest and isinstance(rest[-1], dict) else {}
        half = len(rest) // 2
        names, values = tuple(rest[:half]), tuple(rest[half:])
        if len(rest) % 2:
            raise Invalid("Unmatched column names/values")
        return st.Insert(table, names, values, **using)

    def assignment(self, children: list) -> tuple:
        return (children[0], children[1])

    def update(self, children: list) -> st.Update:
        table, *rest = _values(children)
        using = rest.pop(0) if isinstance(rest[0], dict) else {}
        (_, where) = rest.pop()
        return st.Update(table, tuple(rest), where, **using)

    def delete(self, children: list) -> st.Delete:
        parts = _values(children)
        (_, where) = parts.pop()
        using = parts.pop() if isinstance(parts[-1], dict) else {}
        if "ttl" in using:
            raise Invalid("Cannot specify a TTL on DELETE")
        *columns, table = parts
        return st.Delete(table, tuple(columns), where, **using)

    def batch_kind(self, children: list) -> bool:
        return _has(children, "LOGGED")

    def batch(self, children: list) -> st.Batch:
        logged, *rest = _values(children)
        using = rest.pop(0) if rest and isinstance(rest[0], dict) else {}
        if "ttl" in using:
            raise Invalid("Cannot specify a TTL on a whole BATCH; put USING TTL on its statements")
        return st.Batch(tuple(rest), logged, **using)
