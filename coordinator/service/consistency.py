"""Consistency levels: how many replica answers a request waits for, and whether
enough replicas are alive to try at all.

As Cassandra's ``ConsistencyLevel.blockFor`` and ``assureSufficientLiveReplicas``:
QUORUM is ``sum(RF) / 2 + 1`` over every DC; LOCAL_* count only the coordinator's DC;
EACH_QUORUM needs a quorum in every DC. ``ANY`` (writes only) is satisfied by one
stored hint.

Invariant: ``check_available`` raises ``Unavailable`` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from node.errors import Invalid, Unavailable
from node.locator.replication import NetworkTopologyStrategy, Strategy

LEVELS = ("ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM",
          "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL")
WRITE_ONLY = {"ANY", "EACH_QUORUM"}
UNSUPPORTED = {"SERIAL", "LOCAL_SERIAL"}


def parse_level(value: object, *, for_write: bool) -> str:
    """A consistency level name from a client, upper-cased and checked."""
    if not isinstance(value, str) or value.upper() not in LEVELS:
        raise Invalid(f"unknown consistency level {value!r}; known: {', '.join(LEVELS[:9])}")
    level = value.upper()
    if level in UNSUPPORTED:
        raise Invalid(f"{level} is for lightweight transactions, which shardsim does not support")
    if level in WRITE_ONLY and not for_write:
        raise Invalid(f"{level} ConsistencyLevel is only supported for writes")
    return level


def _quorum(factor: int) -> int:
    return factor // 2 + 1


@dataclass(frozen=True)
class Requirement:
    """What a level needs: ``total`` answers, counted among ``scope`` DCs (None = any),
    and for EACH_QUORUM a quorum per DC."""

    level: str
    total: int
    local_dc: str | None = None
    per_dc: tuple[tuple[str, int], ...] = ()


def requirement(level: str, strategy: Strategy, local_dc: str) -> Requirement:
    total_rf = strategy.factor_in(None)
    if level in ("ANY", "ONE", "LOCAL_ONE"):
        needed = 1
    elif level == "TWO":
        needed = 2
    elif level == "THREE":
        needed = 3
    elif level == "QUORUM":
        needed = _quorum(total_rf)
    elif level == "ALL":
        needed = total_rf
    elif level == "LOCAL_QUORUM":
        needed = _quorum(_local_rf(strategy, local_dc))
    elif level == "EACH_QUORUM":
        if not isinstance(strategy, NetworkTopologyStrategy):
            return Requirement(level, _quorum(total_rf))  # as Cassandra: QUORUM for SimpleStrategy
        per_dc = tuple((dc, _quorum(rf)) for dc, rf in strategy.factors if rf > 0)
        return Requirement(level, sum(n for _, n in per_dc), per_dc=per_dc)
    else:
        raise Invalid(f"unknown consistency level {level!r}")
    local = local_dc if level in ("LOCAL_ONE", "LOCAL_QUORUM") else None
    return Requirement(level, needed, local_dc=local)


def _local_rf(strategy: Strategy, local_dc: str) -> int:
    if isinstance(strategy, NetworkTopologyStrategy):
        return strategy.factor_in(local_dc)
    return strategy.factor_in(None)


def counts(requirement_: Requirement, replica: str, dc_of: dict[str, str]) -> bool:
    """Whether an answer from ``replica`` counts towards the requirement."""
    return requirement_.local_dc is None or dc_of.get(replica) == requirement_.local_dc


def check_available(requirement_: Requirement, live: Iterable[str], dc_of: dict[str, str]) -> None:
    """Raise Unavailable (consistency, required, alive) when too few replicas live."""
    live = list(live)
    if requirement_.per_dc:
        for dc, needed in requirement_.per_dc:
            alive = sum(1 for replica in live if dc_of.get(replica) == dc)
            if alive < needed:
                raise Unavailable(f"Cannot achieve consistency level {requirement_.level} in DC {dc}",
                                  consistency=requirement_.level, required=needed, alive=alive)
        return
    alive = sum(1 for replica in live if counts(requirement_, replica, dc_of))
    if requirement_.level == "ANY":
        return  # a hint will do
    if alive < requirement_.total:
        raise Unavailable(f"Cannot achieve consistency level {requirement_.level}",
                          consistency=requirement_.level, required=requirement_.total, alive=alive)


def is_satisfied(requirement_: Requirement, acked: Iterable[str], dc_of: dict[str, str]) -> bool:
    acked = list(acked)
    if requirement_.per_dc:
        return all(sum(1 for r in acked if dc_of.get(r) == dc) >= needed
                   for dc, needed in requirement_.per_dc)
    return sum(1 for r in acked if counts(requirement_, r, dc_of)) >= requirement_.total


def received(requirement_: Requirement, acked: Iterable[str], dc_of: dict[str, str]) -> int:
    """How many of the answers count, for WriteTimeout/ReadTimeout's ``received``."""
    acked = list(acked)
    if requirement_.per_dc:
        return sum(min(sum(1 for r in acked if dc_of.get(r) == dc), needed)
                   for dc, needed in requirement_.per_dc)
    return sum(1 for r in acked if counts(requirement_, r, dc_of))
