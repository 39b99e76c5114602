"""How the shell shows things: result pages as aligned tables in the manner of cqlsh,
traces, errors, and DESCRIBE output rebuilt as CQL from ``GET /v1/schema``.

Every function here is pure: it takes documents and returns lines.

Invariant: a table's columns are as wide as their widest cell, so every ``|`` of a
page lines up.
"""

from __future__ import annotations

import json
from typing import Any


def cell_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def table_lines(columns: list[str], rows: list[list[Any]]) -> list[str]:
    """`` k | v`` / ``---+---`` / `` 1 | a``: numbers right-aligned, text left."""
    texts = [[cell_text(value) for value in row] for row in rows]
    widths = [max([len(name)] + [len(row[index]) for row in texts if index < len(row)])
              for index, name in enumerate(columns)]
    numeric = [all(isinstance(row[index], (int, float)) and not isinstance(row[index], bool)
                   for row in rows if index < len(row) and row[index] is not None)
               for index in range(len(columns))]
    lines = [(" " + " | ".join(name.rjust(width) if numeric[index] else name.ljust(width)
                               for index, (name, width) in enumerate(zip(columns, widths)))).rstrip(),
             "-" + "-+-".join("-" * width for width in widths) + "-"]
    for row in texts:
        cells = [(text.rjust(width) if numeric[index] else text.ljust(width))
                 for index, (text, width) in enumerate(zip(row, widths))]
        lines.append((" " + " | ".join(cells)).rstrip())
    return lines


def result_lines(result: dict[str, Any]) -> list[str]:
    """A result page; an empty list for statements that return no columns."""
    columns = [column["name"] for column in result.get("columns") or []]
    if not columns:
        return []
    return table_lines(columns, result.get("rows") or [])


def rows_footer(count: int) -> str:
    return f"({count} rows)"


def trace_lines(trace: list[dict[str, Any]]) -> list[str]:
    rows = []
    for event in trace:
        details = ", ".join(f"{key}={cell_text(value)}" for key, value in event.items()
                            if key not in ("event", "elapsed_ms"))
        rows.append([event.get("event", "?"), event.get("elapsed_ms"), details])
    return ["", "Tracing session:", ""] + table_lines(["activity", "elapsed_ms", "details"], rows)


def error_line(name: str, code: int | None, message: str, details: dict[str, Any]) -> str:
    extra = ", ".join(f"{key}={cell_text(value)}" for key, value in details.items())
    code_text = f" code=0x{code:04x}" if isinstance(code, int) else ""
    return f"{name}:{code_text} {message}" + (f" [{extra}]" if extra else "")


# --- DESCRIBE ----------------------------------------------------------------------

def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if value is None:
        return "null"
    return str(value)


def _map_literal(mapping: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{_literal(key)}: {_literal(value)}" for key, value in mapping.items()) + "}"


def keyspace_cql(keyspace: dict[str, Any]) -> str:
    return (f"CREATE KEYSPACE {keyspace['name']} WITH replication = "
            f"{_map_literal(keyspace['replication'])};")


def table_cql(table: dict[str, Any]) -> str:
    columns = table["columns"]
    lines = [f"CREATE TABLE {table['keyspace']}.{table['name']} ("]
    for column in columns:
        static = " static" if column["kind"] == "static" else ""
        lines.append(f"    {column['name']} {column['type']}{static},")
    partition = [c["name"] for c in columns if c["kind"] == "partition_key"]
    clustering = [c for c in columns if c["kind"] == "clustering"]
    key = partition[0] if len(partition) == 1 else "(" + ", ".join(partition) + ")"
    primary = ", ".join([key] + [c["name"] for c in clustering])
    lines.append(f"    PRIMARY KEY ({primary})")
    options = table.get("options") or {}
    properties = []
    if any(c.get("descending") for c in clustering):
        order = ", ".join(f"{c['name']} {'DESC' if c.get('descending') else 'ASC'}" for c in clustering)
        properties.append(f"CLUSTERING ORDER BY ({order})")
    for name in ("default_time_to_live", "gc_grace_seconds"):
        if name in options:
            properties.append(f"{name} = {options[name]}")
    if options.get("compression"):
        properties.append(f"compression = {_map_literal({'class': options['compression']})}")
    closing = ")" + (" WITH " + "\n    AND ".join(properties) if properties else "") + ";"
    return "\n".join(lines + [closing])


def describe_keyspaces(schema: dict[str, Any]) -> list[str]:
    names = [keyspace["name"] for keyspace in schema.get("keyspaces", [])]
    return ["", "  ".join(names) if names else "(no keyspaces)", ""]


def describe_tables(schema: dict[str, Any], keyspace: str | None) -> list[str]:
    lines = [""]
    for entry in schema.get("keyspaces", []):
        if keyspace is not None and entry["name"] != keyspace:
            continue
        lines += [f"Keyspace {entry['name']}", "-" * (9 + len(entry["name"]))]
        lines.append("  ".join(table["name"] for table in entry["tables"]) or "(no tables)")
        lines.append("")
    return lines


def find_table(schema: dict[str, Any], name: str, keyspace: str | None) -> dict[str, Any] | None:
    if "." in name:
        keyspace, name = name.split(".", 1)
    for entry in schema.get("keyspaces", []):
        if keyspace is not None and entry["name"] != keyspace:
            continue
        for table in entry["tables"]:
            if table["name"] == name:
                return table
    return None


def find_keyspace(schema: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((entry for entry in schema.get("keyspaces", []) if entry["name"] == name), None)
