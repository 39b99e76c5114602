"""Token ranges as Cassandra writes them: ``(start, end]``, possibly wrapping.

``start == end`` is the whole ring. A range with ``start > end`` wraps past the
maximum token and is split by ``unwrap`` into at most two non-wrapping ranges, which
is the only form the sharding and storage layers accept.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.dht.token import TOKEN_MAX, TOKEN_MIN

RING_SIZE = 1 << 64


@dataclass(frozen=True, order=True)
class TokenRange:
    start: int  # exclusive
    end: int  # inclusive

    @property
    def wraps(self) -> bool:
        return self.start >= self.end

    def contains(self, token: int) -> bool:
        if self.start < self.end:
            return self.start < token <= self.end
        return token > self.start or token <= self.end

    def unwrap(self) -> list[TokenRange]:
        """Non-wrapping pieces in token order, starting from the ring's minimum."""
        if self.start < self.end:
            return [self]
        pieces = []
        if self.end > TOKEN_MIN:
            pieces.append(TokenRange(TOKEN_MIN, self.end))
        if self.start < TOKEN_MAX:
            pieces.append(TokenRange(self.start, TOKEN_MAX))
        return pieces

    def width(self) -> int:
        """How many tokens the range holds (the whole ring for start == end)."""
        return (self.end - self.start) % RING_SIZE or RING_SIZE


FULL_RING = TokenRange(TOKEN_MIN, TOKEN_MAX)
