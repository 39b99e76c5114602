"""Replication strategies: which nodes hold the replicas of a vnode.

- ``SimpleStrategy``: the vnode's owner and the next distinct nodes clockwise, RF in all.
- ``NetworkTopologyStrategy``: per DC, walk the ring clockwise taking nodes of racks
  not seen yet; a node of an already-seen rack is taken only while the DC still has
  "rack repeats" left (RF minus the DC's number of racks), exactly as Cassandra 4's
  ``DatacenterEndpoints.addEndpointAndCheckIfDone``.

``ReplicaMap`` computes the replicas of every vnode once per strategy, so a look-up
is a bisect and an index.

Invariant: replicas of a vnode are distinct, number ``min(RF, nodes in the DC)`` per
DC, and do not depend on the order nodes are listed in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from node.errors import ConfigError
from node.dht.ranges import RING_SIZE
from node.locator.token_metadata import TokenMetadata


@dataclass(frozen=True)
class SimpleStrategy:
    replication_factor: int

    def replicas(self, ring: TokenMetadata, vnode: int) -> list[str]:
        wanted = min(self.replication_factor, len(ring.endpoints))
        chosen: list[str] = []
        count = len(ring.tokens)
        for step in range(count):
            owner = ring.owners[(vnode + step) % count]
            if owner not in chosen:
                chosen.append(owner)
                if len(chosen) == wanted:
                    break
        return chosen

    def factor_in(self, dc: str | None = None) -> int:
        return self.replication_factor

    def options(self) -> dict[str, Any]:
        return {"class": "SimpleStrategy", "replication_factor": self.replication_factor}


@dataclass(frozen=True)
class NetworkTopologyStrategy:
    factors: tuple[tuple[str, int], ...]  # (dc, rf), sorted by dc

    def replicas(self, ring: TokenMetadata, vnode: int) -> list[str]:
        nodes_in_dc: dict[str, int] = defaultdict(int)
        racks_in_dc: dict[str, set[str]] = defaultdict(set)
        for endpoint in ring.endpoints.values():
            nodes_in_dc[endpoint.dc] += 1
            racks_in_dc[endpoint.dc].add(endpoint.rack)
        left = {dc: min(rf, nodes_in_dc[dc]) for dc, rf in self.factors if rf > 0}
        repeats = {dc: left[dc] - len(racks_in_dc[dc]) for dc in left}
        seen_racks: dict[str, set[str]] = defaultdict(set)
        chosen: list[str] = []
        count = len(ring.tokens)
        for step in range(count):
            if not any(left.values()):
                break
            owner = ring.owners[(vnode + step) % count]
            endpoint = ring.endpoints[owner]
            dc = endpoint.dc
            if left.get(dc, 0) <= 0 or owner in chosen:
                continue
            if endpoint.rack not in seen_racks[dc]:
                seen_racks[dc].add(endpoint.rack)
            elif repeats[dc] > 0:
                repeats[dc] -= 1
            else:
                continue
            chosen.append(owner)
            left[dc] -= 1
        return chosen

    def factor_in(self, dc: str | None = None) -> int:
        if dc is None:
            return sum(rf for _, rf in self.factors)
        return dict(self.factors).get(dc, 0)

    def options(self) -> dict[str, Any]:
        return {"class": "NetworkTopologyStrategy", **dict(self.factors)}


Strategy = SimpleStrategy | NetworkTopologyStrategy

_CLASS_NAMES = {
    "simplestrategy": "SimpleStrategy",
    "org.apache.cassandra.locator.simplestrategy": "SimpleStrategy",
    "networktopologystrategy": "NetworkTopologyStrategy",
    "org.apache.cassandra.locator.networktopologystrategy": "NetworkTopologyStrategy",
}


def _factor(value: Any, what: str) -> int:
    try:
        factor = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be numeric; found {value!r}") from None
    if isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{what} must be a whole number; found {value!r}")
    return factor


def strategy_from_options(options: dict[str, Any]) -> Strategy:
    """A strategy from CQL replication options; ``ConfigError`` when they are wrong."""
    if not isinstance(options, dict) or "class" not in options:
        raise ConfigError("Missing replication strategy class")
    name = _CLASS_NAMES.get(str(options["class"]).lower())
    rest = {key: value for key, value in options.items() if key != "class"}
    if name == "SimpleStrategy":
        unknown = set(rest) - {"replication_factor"}
        if unknown:
            raise ConfigError(f"Unrecognized strategy option {{{', '.join(sorted(unknown))}}} "
                              "passed to SimpleStrategy")
        if "replication_factor" not in rest:
            raise ConfigError("SimpleStrategy requires a replication_factor strategy option.")
        factor = _factor(rest["replication_factor"], "Replication factor")
        if factor < 1:
            raise ConfigError(f"Replication factor must be at least 1; found {factor}")
        return SimpleStrategy(factor)
    if name == "NetworkTopologyStrategy":
        factors = []
        for dc, value in rest.items():
            factor = _factor(value, f"Replication factor for {dc}")
            if factor < 0:
                raise ConfigError(f"Replication factor for {dc} must not be negative; found {factor}")
            factors.append((str(dc), factor))
        if not any(factor for _, factor in factors):
            raise ConfigError("NetworkTopologyStrategy needs a replication factor of at "
                              "least 1 in one datacenter")
        return NetworkTopologyStrategy(tuple(sorted(factors)))
    raise ConfigError(f"Unable to find replication strategy class {options['class']!r}")


class ReplicaMap:
    """The replicas of every vnode for one strategy, computed once."""

    def __init__(self, ring: TokenMetadata, strategy: Strategy) -> None:
        self.ring = ring
        self.strategy = strategy
        self.by_vnode: list[tuple[str, ...]] = [
            tuple(strategy.replicas(ring, vnode)) for vnode in range(len(ring))]

    def replicas_for_token(self, token: int) -> tuple[str, ...]:
        return self.by_vnode[self.ring.vnode_index(token)]

    def effective_ownership(self) -> dict[str, float]:
        """Fraction of the ring each node holds a replica of (sums to RF over nodes)."""
        owned: dict[str, int] = {name: 0 for name in self.ring.endpoints}
        for vnode, replicas in enumerate(self.by_vnode):
            width = self.ring.vnode_range(vnode).width()
            for name in replicas:
                owned[name] += width
        return {name: amount / RING_SIZE for name, amount in owned.items()}


def parse_replication_argument(text: str) -> dict[str, Any]:
    """``--replication '{"class": ..., ...}'`` for the command line."""
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--replication is not valid JSON: {error}") from None
    if not isinstance(options, dict):
        raise ConfigError("--replication must be a JSON object like "
                          "{\"class\": \"SimpleStrategy\", \"replication_factor\": 3}")
    return options
