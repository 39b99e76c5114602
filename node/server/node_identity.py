"""A node's identity on disk: ``<data>/<node>/node.json`` = ``{"node": name, "shards": N}``.

The shard count decides which shard owns each token (``node.dht.sharding``), so the
data a node holds is laid out for one count only: started with another, tokens route
to shards that do not hold them and reads find nothing. The first start records the
count (written atomically: a temporary name, fsync, rename, fsync of the folder); every
later start with another count is refused with a ``ConfigurationError`` that names the
setting and the recorded value. Resharding may come later; until then the way to
another count is a fresh data dir.

A node folder from before identity files holds ``shard<i>/`` folders: their number is
taken as the recorded count.

Invariant: ``node.json`` is never rewritten with another count; an unreadable one is
an error, never silently replaced.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from node.errors import ConfigurationError
from node.storage.disk import fsync_directory

IDENTITY_FILE = "node.json"
_SHARD_FOLDER = re.compile(r"^shard(\d+)$")


def recorded_shards(node_dir: Path, node: str) -> int | None:
    """The shard count recorded for the node in ``node_dir`` (None: never started)."""
    path = node_dir / IDENTITY_FILE
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return _shard_folders(node_dir)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"{path}: cannot read the node's identity: {error}") from None
    shards = document.get("shards") if isinstance(document, dict) else None
    if type(shards) is not int or shards < 1 or document.get("node") != node:
        raise ConfigurationError(f"{path}: not the identity of node {node}: {document!r:.200}")
    return shards


def check_node_identity(node_dir: Path, node: str, shards: int) -> None:
    """Raise ``ConfigurationError`` if the node was started before with another count."""
    recorded = recorded_shards(node_dir, node)
    if recorded is not None and recorded != shards:
        raise ConfigurationError(
            f"nodes.{node}.shards = {shards}, but node {node} was created with {recorded} shards "
            f"({node_dir / IDENTITY_FILE}); a node's shard count cannot change (resharding is "
            f"not supported): set nodes.{node}.shards = {recorded}, or start it on a fresh data dir")


def ensure_node_identity(node_dir: Path, node: str, shards: int) -> None:
    """Check the count, and record it if this is the node's first start."""
    check_node_identity(node_dir, node, shards)
    path = node_dir / IDENTITY_FILE
    if path.exists():
        return
    node_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as stream:
        stream.write(json.dumps({"node": node, "shards": shards}))
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    fsync_directory(node_dir)


def _shard_folders(node_dir: Path) -> int | None:
    """How many ``shard<i>`` folders a node folder without ``node.json`` holds."""
    if not node_dir.is_dir():
        return None
    indexes = [int(match.group(1)) for entry in node_dir.iterdir()
               if entry.is_dir() and (match := _SHARD_FOLDER.match(entry.name))]
    return max(indexes) + 1 if indexes else None
