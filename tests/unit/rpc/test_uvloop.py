"""Shard processes run on uvloop, whose transports are not ``asyncio.Transport``
instances: the TCP transport must work there too (handshake, calls, refusals)."""

import asyncio
import os

import uvloop

from node.rpc.faults import NetworkFaults
from node.rpc.messaging import MessagingService
from node.rpc.tcp import TcpTransport
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from tests.unit.rpc.harness import CLUSTER, SECRET, RecordingLog, echo, eventually


async def _scenario() -> tuple[list, int, list]:
    log = RecordingLog()
    one, two = ShardId("n1", 0), ShardId("n2", 0)
    server = TcpTransport(two, "127.0.0.1", 0, {}, CLUSTER, SECRET, faults=NetworkFaults("n2"), log=log)
    server_messaging = MessagingService(two, server, log=log)
    server_messaging.register(Verb.ECHO, echo)
    await server.start()
    client = TcpTransport(one, "127.0.0.1", 0, {two: ("127.0.0.1", server.port)}, CLUSTER, SECRET,
                          faults=NetworkFaults("n1"), log=RecordingLog())
    client_messaging = MessagingService(one, client)
    try:
        answers = await asyncio.gather(*(client_messaging.send(Verb.ECHO, two, i, timeout_s=5)
                                         for i in range(50)))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(os.urandom(1000))
        await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await eventually(lambda: bool(log.named("rpc.connection_refused")))
        after = await client_messaging.send(Verb.ECHO, two, "after", timeout_s=5)
        return answers, len(log.named("rpc.connection_refused")), [after]
    finally:
        await client_messaging.aclose()
        await server_messaging.aclose()


def test_tcp_transport_on_uvloop():
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        answers, refusals, after = runner.run(_scenario())
    assert answers == list(range(50))
    assert refusals == 1
    assert after == ["after"]
