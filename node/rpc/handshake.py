"""The membership proofs of the RPC handshake.

    server -> client   HELLO    nonce (16 random bytes), cluster name
    client -> server   AUTH     cluster name, client shard, HMAC-SHA256(secret,
                                "client" nonce cluster client-shard), client nonce
    server -> client   WELCOME  HMAC-SHA256(secret, "server" client-nonce cluster
                                server-shard), server shard    (or REFUSED, then close)

Both sides prove they hold the secret, over a nonce the other side chose, so a
recorded handshake cannot be replayed. The role tag keeps a client's proof from
ever serving as a server's.

Invariant: proofs are compared with ``hmac.compare_digest`` only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from node.rpc.transport import ShardId

NONCE_BYTES = 16


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def _proof(secret: bytes, role: bytes, nonce: bytes, cluster_name: str, shard: ShardId) -> bytes:
    message = b"\0".join((role, nonce, cluster_name.encode(), f"{shard.node}/{shard.shard}".encode()))
    return hmac.new(secret, message, hashlib.sha256).digest()


def client_proof(secret: bytes, nonce: bytes, cluster_name: str, client: ShardId) -> bytes:
    return _proof(secret, b"client", nonce, cluster_name, client)


def server_proof(secret: bytes, client_nonce: bytes, cluster_name: str, server: ShardId) -> bytes:
    return _proof(secret, b"server", client_nonce, cluster_name, server)


def proofs_match(expected: bytes, received: object) -> bool:
    return isinstance(received, bytes) and hmac.compare_digest(expected, received)
