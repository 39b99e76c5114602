"""Hinted handoff between real node processes, launched through the shardsim launcher.

What must hold: rows written at QUORUM while n3 is down are on n3 soon after it is
started (within the retry period), checked by reading every row at ONE through n3
alone, with no repair; rows written while hinted handoff is switched off, or once n3
had been down longer than the window, are not; a coordinator killed with -9 while
holding hints still delivers them; CL=ANY succeeds with every replica of a key down.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

SETTINGS = ("failure_detector.heartbeat_ms=500", "failure_detector.timeout_ms=2000")
RETRY_S = 10.0  # hints.retry_ms default
DELIVERED_WITHIN_S = RETRY_S + 30.0  # the retry period, plus slack for a loaded 2-core machine
UP_WITHIN_S = 20.0
DOWN_WITHIN_S = 10.0


def post(cluster, node, path, body):
    request = urllib.request.Request(f"{cluster.entry(node)['http']}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def cql(cluster, node, query, params=None, consistency="ONE"):
    status, body = post(cluster, node, "/v1/cql", {"query": query, "params": params,
                                                   "consistency": consistency})
    assert status == 200, (query, params, status, body)
    return body


def insert_rows(cluster, table, keys, nodes=("n1", "n2"), consistency="QUORUM"):
    keys = list(keys)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: cql(cluster, nodes[k % len(nodes)], f"INSERT INTO {table} (k, v) VALUES (?, ?)",
                                    [k, f"v{k}"], consistency), keys))


def keys_on(cluster, node, table, keys):
    """The keys ``node`` answers for at ONE (its own replica first)."""
    def has(k):
        rows = cql(cluster, node, f"SELECT v FROM {table} WHERE k = ?", [k])["rows"]
        assert rows in ([], [[f"v{k}"]]), rows
        return k if rows else None

    with ThreadPoolExecutor(8) as pool:
        return {k for k in pool.map(has, list(keys)) if k is not None}


def pending_hints(cluster, node):
    """The node's pending hints, or None while one of its shards cannot answer yet."""
    try:
        return cluster.request(node, "GET", "/v1/admin/hints")["pending_hints"]
    except (urllib.error.URLError, ConnectionError):
        return None


def seen(cluster, observers, target, state):
    return all(cluster.sees(observer, {target: state}) for observer in observers)


def started(launch_cluster, *settings):
    cluster = launch_cluster(nodes=3, shards=2, settings=SETTINGS + settings)
    wait_for(lambda: all(seen(cluster, cluster.names, n, "UP") for n in cluster.names), UP_WITHIN_S,
             "every node UP")
    cql(cluster, "n1", "CREATE KEYSPACE ks WITH replication = "
                       "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    return cluster


def test_hints_reach_a_returning_replica_even_after_their_coordinator_was_killed(launch_cluster):
    cluster = started(launch_cluster)
    cql(cluster, "n1", "CREATE TABLE ks.hinted (k int PRIMARY KEY, v text)")
    cql(cluster, "n1", "CREATE TABLE ks.unhinted (k int PRIMARY KEY, v text)")
    cluster.shardsim("kill", "n3")
    wait_for(lambda: every_shard_sees_one_down(cluster, "n1") and every_shard_sees_one_down(cluster, "n2"),
             DOWN_WITHIN_S, "n3 seen DOWN by every shard of n1 and n2")
    insert_rows(cluster, "ks.hinted", range(1000))
    assert pending_hints(cluster, "n1") + pending_hints(cluster, "n2") == 1000
    for node in ("n1", "n2"):
        status, body = post(cluster, node, "/v1/admin/hints", {"enabled": False})
        assert status == 200 and not body["running"]
    insert_rows(cluster, "ks.unhinted", range(200))
    assert pending_hints(cluster, "n1") + pending_hints(cluster, "n2") == 1000
    cluster.shardsim("kill", "n1")  # SIGKILL while it holds ~500 hints for n3
    cluster.shardsim("start", "n1")
    wait_for(lambda: (pending_hints(cluster, "n1") or 0) > 0, UP_WITHIN_S,
             "the restarted n1 finds its hints on disk")
    cluster.shardsim("start", "n3")
    wait_for(lambda: pending_hints(cluster, "n1") == 0 and pending_hints(cluster, "n2") == 0,
             DELIVERED_WITHIN_S, "every hint delivered")
    cluster.shardsim("stop", "n1")
    cluster.shardsim("stop", "n2")
    assert keys_on(cluster, "n3", "ks.hinted", range(1000)) == set(range(1000))
    assert keys_on(cluster, "n3", "ks.unhinted", range(200)) == set()


def metric_on_every_shard(cluster, node, name, shards=2):
    """The value of a metric on each shard of ``node`` (an empty list until all answer)."""
    text = urllib.request.urlopen(f"{cluster.entry(node)['http']}/metrics", timeout=10).read().decode()
    values = re.findall(r'^shardsim_%s\{node="%s",shard="\d+"\} (\d+)' % (name, node), text, re.M)
    return [int(value) for value in values] if len(values) == shards else []


def dropped_for_window_on_every_shard(cluster, node):
    values = metric_on_every_shard(cluster, node, "hints_dropped_window")
    return bool(values) and all(value > 0 for value in values)


def every_shard_sees_one_down(cluster, node):
    return metric_on_every_shard(cluster, node, "gossip_live_nodes") == [2, 2]


def test_window_and_any_with_every_replica_down(launch_cluster):
    cluster = started(launch_cluster, "hints.max_window_ms=2000")
    cql(cluster, "n1", "CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
    cql(cluster, "n1", "CREATE KEYSPACE one WITH replication = "
                       "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    cql(cluster, "n1", "CREATE TABLE one.t (k int PRIMARY KEY, v text)")
    cluster.shardsim("kill", "n3")
    wait_for(lambda: every_shard_sees_one_down(cluster, "n1"), DOWN_WITHIN_S, "n3 seen DOWN by n1")
    early = range(0, 40)
    insert_rows(cluster, "ks.t", early, nodes=("n1",))
    only_on_n3 = []  # keys of RF=1 whose single replica is n3: ONE is Unavailable, ANY is not
    for k in range(30):
        status, body = post(cluster, "n1", "/v1/cql", {"query": "INSERT INTO one.t (k, v) VALUES (?, ?)",
                                                       "params": [k, f"v{k}"], "consistency": "ONE"})
        if status != 200:
            assert body["error"]["name"] == "Unavailable", body
            cql(cluster, "n1", "INSERT INTO one.t (k, v) VALUES (?, ?)", [k, f"v{k}"], "ANY")
            only_on_n3.append(k)
    assert only_on_n3, "some key of RF=1 lives on n3"
    probe = iter(range(10_000, 20_000))
    wait_for(lambda: cql(cluster, "n1", "INSERT INTO ks.t (k, v) VALUES (?, 'p')", [next(probe)], "QUORUM")
             and dropped_for_window_on_every_shard(cluster, "n1"), 30, "n3 down longer than the window")
    late = range(100, 140)
    insert_rows(cluster, "ks.t", late, nodes=("n1",))
    cluster.shardsim("start", "n3")
    wait_for(lambda: pending_hints(cluster, "n1") == 0, DELIVERED_WITHIN_S, "early hints delivered")
    cluster.shardsim("stop", "n1")
    cluster.shardsim("stop", "n2")
    assert keys_on(cluster, "n3", "ks.t", [*early, *late]) == set(early)
    assert keys_on(cluster, "n3", "one.t", only_on_n3) == set(only_on_n3)
