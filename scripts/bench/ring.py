"""``shardsim bench ring``: tokens/s and replica look-ups/s beside bare ``mmh3.hash64``.

Each figure is measured in the same run as its baseline (bare ``mmh3.hash64`` on the
same serialized keys), so the ratio survives a noisy machine. Prints a table, then
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

import mmh3

from node.locator.replication import ReplicaMap, SimpleStrategy
from node.dht.token import token_of
from node.locator.token_metadata import Endpoint, TokenMetadata
from node.schema.types import TYPES, serialize_partition_key


def _rate(function: Callable[[bytes], object], keys: list[bytes], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        for key in keys:
            function(key)
        best = max(best, len(keys) / (time.perf_counter() - started))
    return best


def _keys(kind: str, count: int, rng: random.Random) -> list[bytes]:
    if kind == "int":
        return [serialize_partition_key([TYPES["int"]], [rng.randint(-2**31, 2**31 - 1)])
                for _ in range(count)]
    if kind == "text":
        alphabet = "abcdefghijklmnopqrstuvwxyzé日"
        return [serialize_partition_key([TYPES["text"]], ["".join(rng.choices(alphabet, k=rng.randint(4, 40)))])
                for _ in range(count)]
    return [serialize_partition_key([TYPES["bigint"], TYPES["text"]],
                                    [rng.getrandbits(63), f"user-{rng.getrandbits(32):08x}"])
            for _ in range(count)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shardsim bench ring")
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20k keys, one repeat")
    args = parser.parse_args(argv)
    count, repeat = (20_000, 1) if args.quick else (args.keys, args.repeat)
    rng = random.Random(1)

    def bare(key: bytes) -> object:
        return mmh3.hash64(key, 0, signed=True)

    ring = TokenMetadata("bench", [Endpoint(f"n{i}", "dc1", "r1") for i in range(1, 4)], 16)
    replicas = ReplicaMap(ring, SimpleStrategy(3))
    result: dict[str, float] = {}
    rows = []
    for kind in ("int", "text", "composite"):
        keys = _keys(kind, count, rng)
        exact = sum(1 for key in keys if key[len(key) & ~15:] and max(key[len(key) & ~15:]) >= 0x80)
        ours = _rate(token_of, keys, repeat)
        base = _rate(bare, keys, repeat)
        result[f"{kind}_tokens_per_s"] = round(ours)
        result[f"{kind}_mmh3_per_s"] = round(base)
        result[f"{kind}_ratio"] = round(ours / base, 3)
        rows.append((f"token_of, {kind} keys", ours, base, exact / len(keys)))
    keys = _keys("int", count, rng)
    lookups = _rate(lambda key: replicas.replicas_for_token(token_of(key)), keys, repeat)
    base = _rate(bare, keys, repeat)
    result["replica_lookups_per_s"] = round(lookups)
    result["replica_lookup_ratio"] = round(lookups / base, 3)
    rows.append(("token + replicas, int keys", lookups, base, float("nan")))
    print(f"{'operation':<30} {'ops/s':>12} {'mmh3.hash64/s':>14} {'ratio':>7} {'exact path':>11}")
    for name, ours, base, exact in rows:
        share = "" if exact != exact else f"{exact:.0%}"
        print(f"{name:<30} {ours:>12,.0f} {base:>14,.0f} {ours / base:>7.3f} {share:>11}")
    print(json.dumps({"benchmark": "ring", "keys": count, **result}))
    return 0
