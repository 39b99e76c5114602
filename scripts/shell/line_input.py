"""Statements out of typed lines: a statement ends at a ``;`` that is outside a
string ('...' with '' escapes), a quoted name ("..."), or a comment (``--`` or ``//``
to the end of the line, ``/* ... */``).

``StatementSplitter.feed(line)`` returns the statements the line completes and keeps
the rest; ``pending`` says whether a statement is still open (the shell then shows its
continuation prompt). Comments are dropped from the statements.

Invariant: the concatenation of the returned statements and ``buffer`` is the input
with comments removed and the terminating semicolons dropped; nothing else is lost.
"""

from __future__ import annotations


class StatementSplitter:
    def __init__(self) -> None:
        self.buffer = ""
        self._quote: str | None = None  # "'" or '"' while inside one
        self._in_block_comment = False

    @property
    def pending(self) -> bool:
        return bool(self.buffer.strip()) or self._quote is not None or self._in_block_comment

    def feed(self, line: str) -> list[str]:
        """Add one line (without its newline); the statements it completes, stripped."""
        done: list[str] = []
        text = line + "\n"
        index = 0
        while index < len(text):
            char = text[index]
            following = text[index + 1] if index + 1 < len(text) else ""
            if self._in_block_comment:
                if char == "*" and following == "/":
                    self._in_block_comment = False
                    index += 2
                    continue
                index += 1
                continue
            if self._quote is not None:
                self.buffer += char
                if char == self._quote:
                    if following == self._quote:  # an escaped quote: '' or ""
                        self.buffer += following
                        index += 2
                        continue
                    self._quote = None
                index += 1
                continue
            if char in ("'", '"'):
                self._quote = char
                self.buffer += char
            elif (char == "-" and following == "-") or (char == "/" and following == "/"):
                self.buffer += "\n"
                break  # the rest of the line is a comment
            elif char == "/" and following == "*":
                self._in_block_comment = True
                index += 2
                continue
            elif char == ";":
                statement = self.buffer.strip()
                if statement:
                    done.append(statement)
                self.buffer = ""
            else:
                self.buffer += char
            index += 1
        return done

    def finish(self) -> str | None:
        """End of input: the unterminated statement left, if any (and reset)."""
        statement = self.buffer.strip()
        self.buffer, self._quote, self._in_block_comment = "", None, False
        return statement or None


def split_statements(text: str) -> list[str]:
    """Every statement of a script; a last statement without ``;`` counts too."""
    splitter = StatementSplitter()
    statements: list[str] = []
    for line in text.splitlines():
        statements += splitter.feed(line)
    last = splitter.finish()
    if last:
        statements.append(last)
    return statements
