"""The cluster secret that proves membership in the RPC handshake.

Set in cluster.toml (``secret = "..."``) or, if not, kept in ``<data_dir>/cluster.secret``
(created at first launch, mode 0600, 32 random bytes as hex text). Every process of a
local cluster shares the data dir and so the secret; on several machines, copy the
file or set the key.

Invariant: the file is created whole or not at all (written aside, then linked into
place), so shard processes starting together all read the same secret.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from node.errors import ConfigurationError

SECRET_FILE = "cluster.secret"


def load_or_create_secret(data_dir: Path) -> bytes:
    """The secret of ``data_dir``, created on first use."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    if not path.exists():
        aside = data_dir / f".{SECRET_FILE}.{os.getpid()}.tmp"
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, secrets.token_hex(32).encode() + b"\n")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(aside, path)  # fails if another process won the race: read theirs
        except FileExistsError:
            pass
        finally:
            aside.unlink(missing_ok=True)
    secret = path.read_bytes().strip()
    if len(secret) < 16:
        raise ConfigurationError(f"{path}: the cluster secret is shorter than 16 bytes")
    return secret
