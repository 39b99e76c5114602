"""Hostile or confused peers on a real RPC port (127.0.0.1, port 0): garbage bytes, a
wrong secret, a wrong cluster, an oversized frame, silence. Each costs only its own
connection, leaves a log line, and the shard goes on serving its other peers."""

from __future__ import annotations

import asyncio
import os
import struct

import msgpack
import pytest

from node.clock import ManualClock, SystemClock
from node.rpc.errors import HandshakeFailed
from node.rpc.faults import NetworkFaults
from node.rpc.frames import AUTH, HELLO, REQUEST, WELCOME, frame, unpack
from node.rpc.handshake import client_proof
from node.rpc.messaging import MessagingService
from node.rpc.tcp import TcpTransport
from node.rpc.transport import RpcLimits, ShardId
from node.rpc.verbs import Verb
from tests.unit.rpc.harness import CLUSTER, SECRET, RecordingLog, echo, eventually

SERVER, FRIEND, STRANGER = ShardId("n1", 0), ShardId("n2", 0), ShardId("n3", 0)


class Server:
    def __init__(self, clock=None) -> None:
        self.log = RecordingLog()
        self.transport = TcpTransport(SERVER, "127.0.0.1", 0, {}, CLUSTER, SECRET,
                                      faults=NetworkFaults("n1"), clock=clock or SystemClock(),
                                      log=self.log,
                                      limits=RpcLimits(handshake_timeout_s=1.0))
        self.messaging = MessagingService(SERVER, self.transport, log=self.log)
        self.messaging.register(Verb.ECHO, echo)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.transport.port)

    def refusals(self) -> list[dict]:
        return self.log.named("rpc.connection_refused")


@pytest.fixture
async def server():
    built = Server()
    await built.transport.start()
    yield built
    await built.messaging.aclose()


@pytest.fixture
async def friend(server):
    transport = TcpTransport(FRIEND, "127.0.0.1", 0, {SERVER: server.address}, CLUSTER, SECRET,
                             faults=NetworkFaults("n2"), log=RecordingLog())
    messaging = MessagingService(FRIEND, transport)
    yield messaging
    await messaging.aclose()


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout=5)


async def read_message(reader: asyncio.StreamReader):
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    return unpack(await reader.readexactly(length))


async def authenticated_socket(server: Server, me: ShardId = STRANGER):
    reader, writer = await asyncio.open_connection(*server.address)
    hello = await read_message(reader)
    assert hello[0] == HELLO and hello[2] == CLUSTER
    proof = client_proof(SECRET, hello[1], CLUSTER, me)
    writer.write(frame(msgpack.packb([AUTH, CLUSTER, list(me), proof, os.urandom(16)])))
    welcome = await read_message(reader)
    assert welcome[0] == WELCOME
    return reader, writer


async def test_garbage_bytes_close_that_connection_only(server, friend):
    assert await friend.send(Verb.ECHO, SERVER, "before", timeout_s=5) == "before"
    reader, writer = await asyncio.open_connection(*server.address)
    writer.write(os.urandom(4096))
    rest = await read_until_closed(reader)
    writer.close()
    assert rest.startswith(struct.pack(">I", len(rest) - 4))  # only the HELLO came back
    await eventually(lambda: len(server.refusals()) == 1)
    assert await friend.send(Verb.ECHO, SERVER, "after", timeout_s=5) == "after"


async def test_plausible_msgpack_before_the_handshake_is_refused(server, friend):
    reader, writer = await asyncio.open_connection(*server.address)
    await read_message(reader)
    writer.write(frame(msgpack.packb([REQUEST, 1, int(Verb.ECHO), "sneaky"])))
    await read_until_closed(reader)
    writer.close()
    await eventually(lambda: len(server.refusals()) == 1)
    assert "membership" in server.refusals()[0]["reason"]
    assert await friend.send(Verb.ECHO, SERVER, "after", timeout_s=5) == "after"


async def test_a_wrong_secret_is_refused_and_logged(server, friend):
    log = RecordingLog()
    impostor = TcpTransport(STRANGER, "127.0.0.1", 0, {SERVER: server.address}, CLUSTER,
                            b"not the secret at all, no", faults=NetworkFaults("n3"), log=log)
    messaging = MessagingService(STRANGER, impostor)
    try:
        with pytest.raises(HandshakeFailed):
            await messaging.send(Verb.ECHO, SERVER, "let me in", timeout_s=5)
    finally:
        await messaging.aclose()
    await eventually(lambda: len(server.refusals()) == 1)
    assert "proof" in server.refusals()[0]["reason"]
    assert log.named("rpc.handshake_failed") or log.named("rpc.connect_failed")
    assert await friend.send(Verb.ECHO, SERVER, "after", timeout_s=5) == "after"


async def test_a_wrong_cluster_name_is_refused(server):
    impostor = TcpTransport(STRANGER, "127.0.0.1", 0, {SERVER: server.address}, "other-cluster",
                            SECRET, faults=NetworkFaults("n3"), log=RecordingLog())
    messaging = MessagingService(STRANGER, impostor)
    try:
        with pytest.raises(HandshakeFailed):
            await messaging.send(Verb.ECHO, SERVER, "let me in", timeout_s=5)
    finally:
        await messaging.aclose()


async def test_a_client_also_checks_the_server_proof(server):
    """A server that does not hold the secret cannot pose as a cluster member."""
    impostor_server = Server()
    impostor_server.transport.secret = b"a different secret, 32 bytes ok"
    await impostor_server.transport.start()
    client = TcpTransport(FRIEND, "127.0.0.1", 0, {SERVER: impostor_server.address}, CLUSTER,
                          SECRET, faults=NetworkFaults("n2"), log=RecordingLog())
    messaging = MessagingService(FRIEND, client)
    try:
        with pytest.raises(HandshakeFailed):
            await messaging.send(Verb.ECHO, SERVER, "hello?", timeout_s=5)
    finally:
        await messaging.aclose()
        await impostor_server.messaging.aclose()


async def test_an_oversized_frame_closes_the_connection(server, friend):
    reader, writer = await authenticated_socket(server)
    writer.write(struct.pack(">I", 16 * 1024 * 1024 + 1) + b"\x00" * 1024)
    await read_until_closed(reader)
    writer.close()
    await eventually(lambda: len(server.refusals()) == 1)
    assert "over the limit" in server.refusals()[0]["reason"]
    assert await friend.send(Verb.ECHO, SERVER, "after", timeout_s=5) == "after"


async def test_a_large_frame_before_the_handshake_is_refused(server):
    reader, writer = await asyncio.open_connection(*server.address)
    await read_message(reader)
    writer.write(struct.pack(">I", 1024 * 1024))
    await read_until_closed(reader)
    writer.close()
    await eventually(lambda: len(server.refusals()) == 1)


async def test_a_malformed_request_after_the_handshake_closes_the_connection(server, friend):
    reader, writer = await authenticated_socket(server)
    writer.write(frame(msgpack.packb([REQUEST, "not an id", "nor a verb"])))
    await read_until_closed(reader)
    writer.close()
    await eventually(lambda: len(server.refusals()) == 1)
    assert await friend.send(Verb.ECHO, SERVER, "after", timeout_s=5) == "after"


async def test_an_authenticated_raw_client_gets_answers_and_error_answers(server):
    reader, writer = await authenticated_socket(server)
    writer.write(frame(msgpack.packb([REQUEST, 1, int(Verb.ECHO), "hi"])))
    writer.write(frame(msgpack.packb([REQUEST, 2, 4242, None])))
    assert await read_message(reader) == [1, 1, 0, "hi"]
    answer = await read_message(reader)
    assert answer[:3] == [1, 2, 2] and answer[3]["kind"] == "UnknownVerb"
    writer.close()
    assert server.log.named("rpc.unknown_verb")


async def test_a_silent_client_is_dropped_after_the_handshake_timeout():
    clock = ManualClock()
    server = Server(clock)
    await server.transport.start()
    try:
        reader, writer = await asyncio.open_connection(*server.address)
        await read_message(reader)
        await eventually(lambda: len(server.transport.server_connections) == 1)
        clock.advance(1.0)
        await read_until_closed(reader)
        writer.close()
        await eventually(lambda: len(server.refusals()) == 1)
        assert "in time" in server.refusals()[0]["reason"]
    finally:
        await server.messaging.aclose()
