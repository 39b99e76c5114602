"""``shardsim ring`` and ``shardsim token``: the ring of a cluster.toml, offline.

``ring`` prints every node like ``nodetool status`` (dc, rack, tokens, effective
ownership for a replication setting, shards); ``token`` prints a key's token, its
replicas and the shard that owns it on each replica.
"""

from __future__ import annotations

import argparse
from typing import Any

from scripts.cluster_client import add_config_argument
from node.config import ClusterConfig, load_config
from node.errors import Invalid
from node.locator.replication import ReplicaMap, parse_replication_argument, strategy_from_options
from node.dht.sharding import shard_of
from node.dht.token import token_of
from node.locator.token_metadata import Endpoint, TokenMetadata
from node.schema.types import serialize_partition_key, type_named


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. hints.max_window_ms=2000")


def add_replication_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--rf", type=int, help="SimpleStrategy with this replication factor")
    group.add_argument("--replication", help="replication options as JSON, e.g. "
                       "'{\"class\": \"NetworkTopologyStrategy\", \"dc1\": 3}'")


def replication_options(args: argparse.Namespace, config: ClusterConfig) -> dict[str, Any]:
    if args.replication is not None:
        return parse_replication_argument(args.replication)
    factor = args.rf if args.rf is not None else min(3, len(config.nodes))
    return {"class": "SimpleStrategy", "replication_factor": factor}


def ring_of(config: ClusterConfig) -> TokenMetadata:
    endpoints = [Endpoint(node.name, node.dc, node.rack) for node in config.nodes]
    return TokenMetadata(config.name, endpoints, config.num_tokens)


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_ring(config: ClusterConfig, options: dict[str, Any]) -> str:
    strategy = strategy_from_options(options)
    ring = ring_of(config)
    ownership = ReplicaMap(ring, strategy).effective_ownership()
    lines = [f"Cluster: {config.name}   vnodes per node: {config.num_tokens}   "
             f"replication: {strategy.options()}"]
    for dc in sorted({node.dc for node in config.nodes}):
        lines += ["", f"Datacenter: {dc}", "=" * (12 + len(dc))]
        rows = [[node.name, f"{node.host}:{node.http_port}", node.rack,
                 str(len(ring.tokens_of(node.name))), f"{ownership[node.name] * 100:.1f}%",
                 str(node.shards), f"{node.rpc_port}-{node.rpc_port + node.shards - 1}"]
                for node in config.nodes if node.dc == dc]
        lines.append(format_table(["Node", "HTTP", "Rack", "Tokens", "Owns (effective)",
                                   "Shards", "RPC ports"], rows))
    total = sum(ownership.values()) * 100
    lines += ["", f"Total effective ownership: {total:.1f}% "
                  f"(RF {total / 100:.0f} x 100%)"]
    return "\n".join(lines)


def _ring(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    print(render_ring(config, replication_options(args, config)))
    return 0


def partition_key_bytes(values: list[str], type_names: str) -> bytes:
    names = [name.strip() for name in type_names.split(",")]
    if len(names) != len(values):
        raise Invalid(f"{len(values)} key component(s) given but --type names {len(names)} "
                      f"type(s): {type_names!r}")
    kinds = [type_named(name) for name in names]
    return serialize_partition_key(kinds, [kind.coerce(value) for kind, value in zip(kinds, values)])


def _token(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    key = partition_key_bytes(args.key, args.type)
    token = token_of(key)
    strategy = strategy_from_options(replication_options(args, config))
    ring = ring_of(config)
    replicas = ReplicaMap(ring, strategy).replicas_for_token(token)
    vnode = ring.vnode_range(ring.vnode_index(token))
    print(f"key:     {' '.join(args.key)} ({args.type}) = 0x{key.hex()}")
    print(f"token:   {token}")
    print(f"vnode:   ({vnode.start}, {vnode.end}] of {ring.owners[ring.vnode_index(token)]}")
    rows = []
    for name in replicas:
        node = config.node(name)
        rows.append([name, node.dc, node.rack, str(shard_of(token, node.shards, config.sharding_ignore_msb)),
                     str(node.shards)])
    print(format_table(["Replica", "DC", "Rack", "Shard", "of shards"], rows))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    ring = commands.add_parser("ring", help="print the ring of cluster.toml like nodetool status")
    add_config_arguments(ring)
    add_replication_arguments(ring)
    ring.set_defaults(handler=_ring)
    token = commands.add_parser("token", help="print a key's token, replicas and owning shards")
    token.add_argument("key", nargs="+", help="the partition key (one value per component)")
    token.add_argument("--type", default="text",
                       help="CQL type(s) of the key, comma-separated for a composite key "
                            "(default: %(default)s)")
    add_config_arguments(token)
    add_replication_arguments(token)
    token.set_defaults(handler=_token)


__all__ = ["register", "render_ring", "ring_of"]
