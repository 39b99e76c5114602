"""The replay of one target's hints against a fake shard: order, deletion only after
acknowledgement, resumption without resending, gc_grace, unknown tables, ownership
changes, corrupt records, hints their target refuses for good."""

import msgpack
import structlog

from node.clock import ManualClock
from node.errors import Invalid
from node.hints.segment import encode_payload, frame, list_segment_ids
from node.hints.sender import HintSender
from node.hints.statistics import HintCounters
from node.hints.store import HintStore
from node.hints.throttle import Throttle

LOG = structlog.get_logger()
DAY_S = 86400


class FakeShard:
    """Routing, delivery and re-hinting, recorded."""

    def __init__(self):
        self.owners = {}              # token -> replicas; default ("n3",)
        self.gc_grace = {"t": DAY_S}
        self.alive = {"n1", "n2", "n3"}
        self.delivered = []           # (node, token)
        self.rehinted = []
        self.fail_token = None
        self.invalid_tokens = set()   # the target refuses these hints (Invalid)
        self.schema_agrees = True     # the target's schema version equals ours
        self.truncated = {}           # table -> time of its last TRUNCATE

    def agrees_on_schema(self, node):
        return self.schema_agrees

    def truncated_at_us(self, table_id):
        return self.truncated.get(table_id)

    def gc_grace_s(self, table_id):
        return self.gc_grace.get(table_id)

    def replicas_of(self, table_id, token):
        return self.owners.get(token, ("n3",))

    def is_alive(self, node):
        return node in self.alive

    async def deliver(self, node, wire):
        if wire[2] == self.fail_token:
            raise ConnectionError("replica refused")
        if wire[2] in self.invalid_tokens:
            raise Invalid("Undefined column name gone in table ks.t")
        self.delivered.append((node, wire[2]))

    async def rehint(self, node, wire, created_us, gc_grace_s):
        self.rehinted.append((node, wire[2]))
        return True


def make(tmp_path, shard, clock, segment_bytes=1 << 20, in_flight_max=4):
    store = HintStore(tmp_path / "n3", segment_bytes, LOG)
    store.open()
    counters = HintCounters()
    sender = HintSender("n3", store, routing=shard, deliver=shard.deliver, rehint=shard.rehint,
                        clock=clock, throttle=Throttle(1 << 30, clock), counters=counters, log=LOG,
                        in_flight_max=in_flight_max)
    return store, sender, counters


def hint(token, clock, table="t"):
    return frame(encode_payload(clock.now_us(), [table, b"k%d" % token, token, None, None, [], []]))


async def test_every_hint_is_sent_in_segment_order_and_segments_deleted(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock, segment_bytes=300, in_flight_max=1)
    for token in range(20):
        store.append(hint(token, clock))
    assert await sender.replay()
    assert shard.delivered == [("n3", token) for token in range(20)]
    assert counters.sent == 20 and store.pending_hints == 0
    assert list_segment_ids(tmp_path / "n3") == []


async def test_a_failed_send_keeps_the_segment_and_the_next_round_resends_only_the_rest(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock, in_flight_max=1)
    for token in range(10):
        store.append(hint(token, clock))
    shard.fail_token = 6
    assert not await sender.replay()
    assert counters.send_errors == 1 and len(list_segment_ids(tmp_path / "n3")) == 1
    assert store.pending_hints == 4
    shard.fail_token = None
    assert await sender.replay()
    assert sorted(token for _, token in shard.delivered) == list(range(10))  # none twice
    assert list_segment_ids(tmp_path / "n3") == []


async def test_no_replay_while_the_target_is_down(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, _ = make(tmp_path, shard, clock)
    store.append(hint(1, clock))
    shard.alive.discard("n3")
    assert not await sender.replay()
    assert shard.delivered == [] and store.pending_hints == 1


async def test_hints_older_than_gc_grace_and_of_dropped_tables_are_discarded(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock)
    store.append(hint(1, clock))
    store.append(hint(2, clock, table="dropped"))
    clock.advance(DAY_S + 1)
    store.append(hint(3, clock))
    assert await sender.replay()
    assert shard.delivered == [("n3", 3)]
    assert counters.discarded_gc_grace == 1 and counters.discarded_unknown_table == 1


async def test_a_token_the_target_no_longer_owns_goes_to_its_current_replicas(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock)
    shard.owners[5] = ("n1", "n2")
    shard.alive.discard("n2")
    store.append(hint(5, clock))
    assert await sender.replay()
    assert shard.delivered == [("n1", 5)] and shard.rehinted == [("n2", 5)]
    assert counters.redirected == 1


async def test_a_corrupt_record_is_skipped_and_counted_and_the_rest_delivered(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock, in_flight_max=2)
    for token in range(6):
        store.append(hint(token, clock))
    store.seal()
    (segment,) = store.sealed_ids()
    path = next((tmp_path / "n3").glob("Hints-*.log"))
    data = bytearray(path.read_bytes())
    data[len(hint(0, clock)) + 15] ^= 0x55  # inside the second record
    path.write_bytes(bytes(data))
    assert await sender.replay()
    assert sorted(token for _, token in shard.delivered) == [0, 2, 3, 4, 5]
    assert counters.corrupted_records == 1


async def test_a_hint_its_target_refuses_as_invalid_is_discarded_and_the_queue_goes_on(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock, segment_bytes=300, in_flight_max=1)
    for token in range(20):
        store.append(hint(token, clock))
    shard.invalid_tokens = {3}
    assert await sender.replay(), "one round delivers the whole queue"
    assert sorted(token for _, token in shard.delivered) == [t for t in range(20) if t != 3]
    assert counters.discarded_invalid == 1 and counters.sent == 19 and counters.send_errors == 0
    assert list_segment_ids(tmp_path / "n3") == []


async def test_an_invalid_refusal_while_the_schemas_disagree_keeps_the_hint(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock, in_flight_max=1)
    store.append(hint(1, clock))
    shard.invalid_tokens, shard.schema_agrees = {1}, False   # the target has not pulled our schema
    assert not await sender.replay()
    assert counters.discarded_invalid == 0 and store.pending_hints == 1
    shard.invalid_tokens, shard.schema_agrees = set(), True
    assert await sender.replay()
    assert shard.delivered == [("n3", 1)]


def hint_with_gc_grace(token, clock, gc_grace_s):
    wire = ["t", b"k%d" % token, token, None, None, [], []]
    return frame(encode_payload(clock.now_us(), wire, gc_grace_s))


async def test_hint_expiry_uses_the_smaller_of_gc_grace_at_creation_and_now(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock)
    store.append(hint_with_gc_grace(1, clock, 3600))        # gc_grace was 1 h when written
    store.append(hint_with_gc_grace(2, clock, 10 * DAY_S))  # lowered to 1 day since
    store.append(hint_with_gc_grace(3, clock, 10 * DAY_S))
    clock.advance(3601)
    store.append(frame(msgpack.packb([clock.now_us(), ["t", b"k4", 4, None, None, [], []]])))  # old format
    assert await sender.replay()
    assert sorted(token for _, token in shard.delivered) == [2, 3, 4]
    assert counters.discarded_gc_grace == 1
    store.append(hint_with_gc_grace(5, clock, 10 * DAY_S))
    clock.advance(DAY_S)
    assert await sender.replay()
    assert counters.discarded_gc_grace == 2 and counters.sent == 3


def hint_with_cells(token, timestamps, clock):
    rows = [[b"", [None, None, {f"c{i}": [ts, b"x", 0, 0] for i, ts in enumerate(timestamps)}]]]
    return frame(encode_payload(clock.now_us(), ["t", b"k%d" % token, token, None, None, rows, []]))


async def test_what_a_hint_holds_from_before_its_table_s_truncation_is_not_sent(tmp_path):
    clock, shard = ManualClock(), FakeShard()
    store, sender, counters = make(tmp_path, shard, clock)
    shard.truncated["t"] = 1_000
    store.append(hint_with_cells(1, [500, 1_000], clock))   # all of it before: discarded
    store.append(hint_with_cells(2, [500, 2_000], clock))   # in part: the rest goes
    sent = []

    async def deliver(node, wire):
        sent.append(wire)
    sender.deliver = deliver
    assert await sender.replay()
    assert counters.discarded_truncated == 1 and counters.sent == 1
    assert [wire[2] for wire in sent] == [2]
    assert list(sent[0][5][0][1][2]) == ["c1"]
