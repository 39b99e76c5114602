"""The paging state: the opaque cookie a client sends back to get the next page.

It holds where the previous page stopped (the position of the last row consumed:
partition key and clustering key), the rows LIMIT and PER PARTITION LIMIT still allow,
the query id (the key of the replicas' saved readers) and the replicas used per vnode
range, so the next page, served by any coordinator, goes back to the same replicas
and finds their querier caches. On the wire: msgpack, an 8-byte keyed BLAKE2b tag
(the cluster's name and secret), URL-safe base64 without padding.

Invariant: ``decode`` of anything a client sends either returns a well-typed state
that ``encode`` produced for this cluster, or raises ``Invalid``; it never crashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

import msgpack

from node.errors import Invalid
from node.dht.token import TOKEN_MAX, TOKEN_MIN
from node.readers.position import AFTER_END, BEFORE_ALL, Position

VERSION = 1
TAG_BYTES = 8
COOKIE_CHARS_MAX = 64 * 1024


@dataclass(frozen=True)
class PagingState:
    table_id: str
    query_id: bytes
    position: Position = Position()
    rows_remaining: int | None = None             # under LIMIT; None: no LIMIT
    partition_rows_remaining: int | None = None   # under PER PARTITION LIMIT, in position's partition
    replicas: dict[int, tuple[str, ...]] = field(default_factory=dict)  # vnode token -> nodes
    request_end: int | None = None   # vnode token ending the request the page ended in


class PagingCodec:
    """Encodes and checks cookies for one cluster."""

    def __init__(self, cluster_name: str, secret: str = "") -> None:
        self._key = hashlib.blake2b(f"paging/{cluster_name}/{secret}".encode(),
                                    digest_size=32).digest()

    def _tag(self, payload: bytes) -> bytes:
        return hashlib.blake2b(payload, key=self._key, digest_size=TAG_BYTES).digest()

    def encode(self, state: PagingState) -> str:
        body = [VERSION, state.table_id, state.query_id, state.position.to_wire(),
                state.rows_remaining, state.partition_rows_remaining,
                [[token, list(nodes)] for token, nodes in sorted(state.replicas.items())],
                state.request_end]
        payload = msgpack.packb(body, use_bin_type=True)
        return base64.urlsafe_b64encode(payload + self._tag(payload)).decode().rstrip("=")

    def decode(self, cookie: Any) -> PagingState:
        if not isinstance(cookie, str) or not cookie or len(cookie) > COOKIE_CHARS_MAX:
            raise Invalid("invalid paging state: not a paging state string")
        try:
            raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
        except (binascii.Error, ValueError):
            raise Invalid("invalid paging state: not URL-safe base64") from None
        payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if len(raw) <= TAG_BYTES or not hmac.compare_digest(tag, self._tag(payload)):
            raise Invalid("invalid paging state: it was not issued by this cluster or was altered")
        try:
            body = msgpack.unpackb(payload, raw=False)
            return _state_from_body(body)
        except Invalid:
            raise
        except Exception as error:  # a well-tagged cookie of another version or shape
            raise Invalid(f"invalid paging state: {type(error).__name__}") from None


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise Invalid(f"invalid paging state: {what}")


def _optional_count(value: Any, what: str) -> int | None:
    _check(value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0),
           what)
    return value


def _state_from_body(body: Any) -> PagingState:
    _check(isinstance(body, list) and len(body) == 8 and body[0] == VERSION, "unknown version")
    _, table_id, query_id, position_wire, rows, partition_rows, replicas, request_end = body
    _check(isinstance(table_id, str) and isinstance(query_id, bytes) and len(query_id) == 16,
           "table or query id")
    position = _position(position_wire)
    _check(isinstance(replicas, list), "replicas")
    by_vnode: dict[int, tuple[str, ...]] = {}
    for item in replicas:
        _check(isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)
               and isinstance(item[1], list) and all(isinstance(n, str) for n in item[1]),
               "replicas")
        by_vnode[item[0]] = tuple(item[1])
    _check(request_end is None or (isinstance(request_end, int) and not isinstance(request_end, bool)
                                   and TOKEN_MIN <= request_end <= TOKEN_MAX), "request end")
    return PagingState(table_id, query_id, position, _optional_count(rows, "rows remaining"),
                       _optional_count(partition_rows, "partition rows remaining"), by_vnode,
                       request_end)


def _position(wire: Any) -> Position:
    _check(isinstance(wire, list) and len(wire) == 5, "position")
    stage, token, key, clustering, range_tombstone = wire
    _check(isinstance(stage, int) and BEFORE_ALL <= stage <= AFTER_END, "position stage")
    _check(isinstance(token, int) and TOKEN_MIN <= token <= TOKEN_MAX, "position token")
    _check(isinstance(key, bytes), "position key")
    _check(clustering is None or isinstance(clustering, bytes), "position clustering")
    _check(range_tombstone is None, "position inside range tombstones")
    _check((stage == 4) == (clustering is not None), "position clustering")
    return Position.from_wire(wire)
