"""``shardsim cql``: an interactive shell over the HTTP API, in the manner of cqlsh.

Statements may span lines and end with ``;``; results print as aligned tables, a page
at a time (``---MORE---`` between pages when interactive). Shell commands, ended by the
line (a ``;`` is optional): ``CONSISTENCY [level]``, ``PAGING [ON|OFF|n]``,
``TRACING [ON|OFF]``, ``DESCRIBE KEYSPACES|TABLES|TABLE name|KEYSPACE name``,
``SOURCE 'file'``, ``HELP``, ``EXIT``. ``USE ks`` is sent to the node, whose answer
carries ``"keyspace"``; the shell sends it with every later request.

Non-interactive: ``-e "statements"``, ``-f file``, or statements piped on stdin;
the exit code is 2 if any statement failed, else 0.

Invariant: the shell keeps all of its state (keyspace, consistency, paging, tracing)
in ``ShellState`` and sends it with every request; the node keeps none of it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from node.errors import ShardsimError
from scripts.shell import formatting as fmt
from scripts.cluster_client import (CONNECTION_ERROR, ClusterTarget, QueryFailed, add_cluster_arguments,
                                    post_cql, request_json, resolve_target)
from scripts.shell.line_input import StatementSplitter, split_statements

LEVELS = ("ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM", "EACH_QUORUM")
DEFAULT_PAGE_SIZE = 100
UNPAGED_PAGE_SIZE = 2**31 - 1
HISTORY_FILE = Path("~/.shardsim_history")
HISTORY_LENGTH = 1000
SHELL_COMMANDS = ("CONSISTENCY", "PAGING", "TRACING", "DESCRIBE", "DESC", "SOURCE", "HELP",
                  "EXIT", "QUIT")
HELP_TEXT = """\
Statements end with ';' and may span lines. Shell commands:
  CONSISTENCY [level]         show or set the consistency level (default ONE)
  PAGING [ON|OFF|n]           page results (ON: 100 rows a page) or not
  TRACING [ON|OFF]            print each statement's trace after its result
  DESCRIBE KEYSPACES | TABLES | TABLE name | KEYSPACE name
  SOURCE 'file'               run the statements of a file
  USE keyspace;               make a keyspace the default
  EXIT                        leave (Ctrl-D too)"""


@dataclass
class ShellState:
    keyspace: str | None = None
    consistency: str = "ONE"
    page_size: int | None = DEFAULT_PAGE_SIZE  # None: paging off
    tracing: bool = False


class Shell:
    """Runs statements and shell commands; prints to ``out``/``err``. ``ask`` reads a
    line from the user (None when not interactive: pages then follow one another)."""

    def __init__(self, target: ClusterTarget, *, out: TextIO, err: TextIO,
                 ask: Callable[[str], str] | None = None, timeout_s: float = 30.0) -> None:
        self.target = target
        self.out = out
        self.err = err
        self.ask = ask
        self.timeout_s = timeout_s
        self.state = ShellState()
        self.errors = 0
        self._url_index = 0
        self._sources: list[Path] = []  # files being sourced, to refuse loops

    # --- output ----------------------------------------------------------------

    def _print(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.out)
        self.out.flush()

    def _fail(self, text: str) -> bool:
        self.errors += 1
        print(text, file=self.err)
        self.err.flush()
        return False

    # --- requests ----------------------------------------------------------------

    def _call(self, send: Callable[[str], Any]) -> Any:
        """Send to the current node; on a refused connection, try the others in turn."""
        urls = self.target.urls
        last: QueryFailed | None = None
        for attempt in range(len(urls)):
            url = urls[(self._url_index + attempt) % len(urls)]
            try:
                answer = send(url)
            except QueryFailed as error:
                if error.name != CONNECTION_ERROR:
                    raise
                last = error
                continue
            self._url_index = (self._url_index + attempt) % len(urls)
            return answer
        assert last is not None
        raise last

    def _cql(self, query: str, paging_state: str | None = None) -> dict[str, Any]:
        state = self.state
        page_size = state.page_size if state.page_size is not None else UNPAGED_PAGE_SIZE
        return self._call(lambda url: post_cql(
            url, query, self.timeout_s, keyspace=state.keyspace, consistency=state.consistency,
            page_size=page_size, paging_state=paging_state, trace=state.tracing))

    def schema(self) -> dict[str, Any]:
        return self._call(lambda url: request_json(url, "GET", "/v1/schema", None, self.timeout_s))

    # --- one input ---------------------------------------------------------------

    def execute(self, text: str) -> bool:
        """Run one statement or shell command; False if it failed (already reported)."""
        text = text.strip().rstrip(";").strip()
        if not text:
            return True
        first = text.split(None, 1)[0].upper()
        try:
            if first in SHELL_COMMANDS:
                return self._command(first, text[len(first):].strip())
            return self._statement(text)
        except QueryFailed as error:
            return self._fail(fmt.error_line(error.name, error.code, error.message, error.details))
        except ShardsimError as error:
            return self._fail(f"error: {error}")

    def _statement(self, query: str) -> bool:
        answer = self._cql(query)
        if "keyspace" in answer:
            self.state.keyspace = answer["keyspace"]
        total = 0
        shown_header = False
        traces: list[dict[str, Any]] = []
        while True:
            lines = fmt.result_lines(answer)
            if lines:
                shown_header = True
                if total == 0:
                    self._print("", *lines)
                else:  # later pages: a new header when paging by hand, else the rows go on
                    self._print(*(lines if self.ask is not None else lines[2:]))
            total += len(answer.get("rows") or [])
            traces.extend(answer.get("trace") or [])
            paging_state = answer.get("paging_state")
            if not paging_state:
                break
            if self.ask is not None:
                reply = self.ask("---MORE---")
                if reply.strip().lower() in ("q", "quit"):
                    break
            answer = self._cql(query, paging_state)
        if shown_header:
            self._print("", fmt.rows_footer(total))
        if traces:
            self._print(*fmt.trace_lines(traces))
        if shown_header or traces:
            self._print("")
        return True

    # --- shell commands ------------------------------------------------------------

    def _command(self, command: str, argument: str) -> bool:
        if command == "CONSISTENCY":
            return self._consistency(argument)
        if command == "PAGING":
            return self._paging(argument)
        if command == "TRACING":
            return self._tracing(argument)
        if command in ("DESCRIBE", "DESC"):
            return self._describe(argument)
        if command == "SOURCE":
            return self._source(argument)
        if command == "HELP":
            self._print(HELP_TEXT)
            return True
        raise EOFError  # EXIT / QUIT

    def _consistency(self, argument: str) -> bool:
        if not argument:
            self._print(f"Current consistency level is {self.state.consistency}.")
            return True
        level = argument.upper()
        if level not in LEVELS:
            return self._fail(f"Improper CONSISTENCY command: unknown level {argument!r}; "
                              f"known: {', '.join(LEVELS)}")
        self.state.consistency = level
        self._print(f"Consistency level set to {level}.")
        return True

    def _paging(self, argument: str) -> bool:
        word = argument.upper()
        if not word:
            enabled = self.state.page_size is not None
            self._print(f"Query paging is currently {'enabled' if enabled else 'disabled'}."
                        + (f" Page size: {self.state.page_size}" if enabled else ""))
            return True
        if word == "ON":
            self.state.page_size = self.state.page_size or DEFAULT_PAGE_SIZE
        elif word == "OFF":
            self.state.page_size = None
        elif word.isdigit() and int(word) > 0:
            self.state.page_size = int(word)
        else:
            return self._fail("Improper PAGING command: expected ON, OFF or a page size")
        if self.state.page_size is None:
            self._print("Disabled Query paging.")
        else:
            self._print(f"Page size: {self.state.page_size}")
        return True

    def _tracing(self, argument: str) -> bool:
        word = argument.upper()
        if word not in ("", "ON", "OFF"):
            return self._fail("Improper TRACING command: expected ON or OFF")
        if word:
            self.state.tracing = word == "ON"
        self._print(f"Tracing is {'enabled' if self.state.tracing else 'disabled'}.")
        return True

    def _describe(self, argument: str) -> bool:
        words = argument.split()
        what = words[0].upper() if words else ""
        schema = self.schema()
        if what == "KEYSPACES" and len(words) == 1:
            self._print(*fmt.describe_keyspaces(schema))
        elif what == "TABLES" and len(words) == 1:
            self._print(*fmt.describe_tables(schema, self.state.keyspace))
        elif what in ("TABLE", "COLUMNFAMILY") and len(words) == 2:
            table = fmt.find_table(schema, words[1], self.state.keyspace)
            if table is None:
                return self._fail(f"Table {words[1]!r} not found"
                                  + ("" if "." in words[1] or self.state.keyspace else
                                     " (name it keyspace.table, or USE a keyspace)"))
            self._print("", fmt.table_cql(table), "")
        elif what == "KEYSPACE" and len(words) <= 2:
            name = words[1] if len(words) == 2 else self.state.keyspace
            keyspace = fmt.find_keyspace(schema, name) if name else None
            if keyspace is None:
                return self._fail(f"Keyspace {name!r} not found")
            self._print("", fmt.keyspace_cql(keyspace), "",
                        *("\n" + fmt.table_cql(table) for table in keyspace["tables"]), "")
        else:
            return self._fail("Improper DESCRIBE command: DESCRIBE KEYSPACES | TABLES | "
                              "TABLE name | KEYSPACE name")
        return True

    def _source(self, argument: str) -> bool:
        match = re.fullmatch(r"'(.*)'|\"(.*)\"|(\S+)", argument)
        if match is None or not argument:
            return self._fail("Improper SOURCE command: SOURCE 'file'")
        return self.source_file(Path(os.path.expanduser(next(g for g in match.groups() if g is not None))))

    def source_file(self, path: Path) -> bool:
        """Run the statements of a file; False if any failed."""
        if path.resolve() in self._sources:
            return self._fail(f"{path}: already being sourced")
        try:
            text = path.read_text()
        except OSError as error:
            return self._fail(f"Could not open {str(path)!r}: {error.strerror or error}")
        self._sources.append(path.resolve())
        ask, self.ask = self.ask, None  # a sourced file runs through, without ---MORE---
        try:
            failures = self.errors
            self.run_script(text)
            return self.errors == failures
        finally:
            self.ask = ask
            self._sources.pop()

    # --- whole inputs ----------------------------------------------------------------

    def run_script(self, text: str) -> int:
        """Run every statement of ``text``; the number of failures."""
        before = self.errors
        splitter = StatementSplitter()
        for line in text.splitlines():
            if not splitter.pending and _is_shell_command(line):
                if not self._run_line_command(line):
                    return self.errors - before
                continue
            try:
                for statement in splitter.feed(line):
                    self.execute(statement)
            except EOFError:  # EXIT after a statement on the same line
                return self.errors - before
        last = splitter.finish()
        if last:
            try:
                self.execute(last)
            except EOFError:
                pass
        return self.errors - before

    def _run_line_command(self, line: str) -> bool:
        """A shell command line; False on EXIT."""
        try:
            self.execute(line)
        except EOFError:
            return False
        return True

    def interact(self, read_line: Callable[[str], str]) -> int:
        splitter = StatementSplitter()
        while True:
            keyspace = self.state.keyspace
            prompt = "   ... " if splitter.pending else f"shardsim{':' + keyspace if keyspace else ''}> "
            try:
                line = read_line(prompt)
            except EOFError:
                self._print("")
                return 0
            except KeyboardInterrupt:  # Ctrl-C drops the statement being typed
                self._print("")
                splitter.finish()
                continue
            try:
                if not splitter.pending and _is_shell_command(line):
                    if not self._run_line_command(line):
                        return 0
                    continue
                for statement in splitter.feed(line):
                    self.execute(statement)
            except EOFError:
                return 0
            except KeyboardInterrupt:
                self._print("")


def _is_shell_command(line: str) -> bool:
    words = line.strip().split(None, 1)
    return bool(words) and words[0].upper().rstrip(";") in SHELL_COMMANDS


def _readline_input() -> Callable[[str], str]:
    """``input`` with line editing and a history file, when readline is available."""
    try:
        import readline
    except ImportError:  # pragma: no cover - platforms without readline
        return input
    history = HISTORY_FILE.expanduser()
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    readline.set_history_length(HISTORY_LENGTH)
    import atexit

    def save() -> None:
        try:
            readline.write_history_file(history)
        except OSError:
            pass

    atexit.register(save)
    return input


def run(args: argparse.Namespace, stdin: TextIO | None = None, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    err = err or sys.stderr
    target = resolve_target(args)
    shell = Shell(target, out=out, err=err, timeout_s=args.timeout_s)
    if args.keyspace:
        shell.state.keyspace = args.keyspace
    if args.consistency:
        if shell.execute(f"CONSISTENCY {args.consistency}") is False:
            return 2
    if args.execute is not None or args.file is not None:
        if args.execute is not None:
            shell.run_script(args.execute)
        if args.file is not None:
            shell.source_file(Path(args.file))
        return 2 if shell.errors else 0
    if not stdin.isatty():
        shell.run_script(stdin.read())
        return 2 if shell.errors else 0
    read_line = _readline_input()
    shell.ask = read_line
    print(f"Connected to {target.urls[0]} (shardsim). HELP for help, EXIT or Ctrl-D to leave.", file=out)
    return shell.interact(read_line)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("cql", help="an interactive CQL shell (cqlsh-like) over the HTTP API")
    add_cluster_arguments(parser)
    parser.add_argument("-e", "--execute", metavar="STATEMENTS", help="run these statements and exit")
    parser.add_argument("-f", "--file", metavar="FILE", help="run the statements of FILE and exit")
    parser.add_argument("-k", "--keyspace", help="start with this keyspace")
    parser.add_argument("--consistency", help="start with this consistency level")
    parser.add_argument("--timeout-s", type=float, default=30.0,
                        help="seconds to wait for a node's answer (default: %(default)s)")
    parser.set_defaults(handler=run)


__all__ = ["Shell", "ShellState", "register", "run", "split_statements"]
