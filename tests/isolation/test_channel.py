"""The frame channel against real peer processes: limits at N and N+1, deadlines, dripping, flooding, dying peers."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securehost._isolation.channel import DEFAULT_MAX_FRAME, Channel, ChannelClosedError, RequestIds
from securehost._isolation.codec import (
    Audit,
    Call,
    InvokeHandle,
    Result,
    decode_worker_frame,
    encode_host_frame,
)
from securehost.exceptions import ProtocolViolationError, WorkerCrashedError, WorkerTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from securehost._isolation.codec import HostFrame

SRC = str(Path(__file__).resolve().parents[2] / "src")
PEER_PRELUDE = """\
import hashlib, os, socket, struct, sys, time
sock = socket.socket(fileno=int(sys.argv[1]))
def frame(payload): return struct.pack(">I", len(payload)) + payload
def read_exactly(n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk: sys.exit(0)
        data += chunk
    return data
def read_frame(): return read_exactly(struct.unpack(">I", read_exactly(4))[0])
"""


class Peer:
    def __init__(self, code: str, *, max_frame: int = DEFAULT_MAX_FRAME, isolated: bool = True) -> None:
        ours, theirs = socket.socketpair()
        flags = ["-I", "-S"] if isolated else []
        env = None if isolated else {**os.environ, "PYTHONPATH": SRC}
        script = PEER_PRELUDE + textwrap.dedent(code)
        self.process = subprocess.Popen(
            [sys.executable, *flags, "-c", script, str(theirs.fileno())], pass_fds=[theirs.fileno()], env=env
        )
        theirs.close()
        self.channel = Channel(ours, max_frame=max_frame)

    def close(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    started: list[Peer] = []
    yield started
    for peer in started:
        peer.close()


def spawn(peers: list[Peer], code: str, *, max_frame: int = DEFAULT_MAX_FRAME, isolated: bool = True) -> Peer:
    peer = Peer(code, max_frame=max_frame, isolated=isolated)
    peers.append(peer)
    return peer


def soon(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


ECHO = "while True: sock.sendall(frame(read_frame()))"


# --- frames through a real peer --------------------------------------------------------------------------------


def test_frames_of_every_size_round_trip(peers: list[Peer]) -> None:
    limit = 2 * 1024 * 1024
    channel = spawn(peers, ECHO, max_frame=limit).channel
    for size in (1, 2, 4095, 65532, 65533, 65536, 1024 * 1024, limit):  # 65532 + header fills the receive buffer
        payload = os.urandom(size)
        channel.send(payload, deadline=soon())
        assert channel.recv(deadline=soon()) == payload


def test_pipelined_frames_arrive_one_by_one(peers: list[Peer]) -> None:
    channel = spawn(
        peers, "sock.sendall(frame(b'a') + frame(b'bb') + frame(b'c' * 70000) + frame(b'd')); time.sleep(5)"
    ).channel
    assert [channel.recv(deadline=soon()) for _ in range(4)] == [b"a", b"bb", b"c" * 70000, b"d"]


def test_recv_without_deadline_waits(peers: list[Peer]) -> None:
    channel = spawn(peers, "time.sleep(0.2); sock.sendall(frame(b'late')); time.sleep(5)").channel
    assert channel.recv() == b"late"


# --- limits: N passes, N+1 fails -------------------------------------------------------------------------------


def test_frame_at_max_frame_passes_and_one_more_byte_is_refused_before_the_body(peers: list[Peer]) -> None:
    code = "sock.sendall(frame(b'x' * 1000)); sock.sendall(struct.pack('>I', 1001)); time.sleep(30)"
    channel = spawn(peers, code, max_frame=1000).channel
    assert channel.recv(deadline=soon()) == b"x" * 1000
    started = time.monotonic()
    with pytest.raises(ProtocolViolationError, match="announced a frame of 1001 bytes; frames have 1 to 1000"):
        channel.recv(deadline=soon(20))  # no body follows: raised from the header alone, not at the deadline
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("announced", [0, 2**32 - 1, DEFAULT_MAX_FRAME + 1])
def test_bad_lengths_are_violations(peers: list[Peer], announced: int) -> None:
    channel = spawn(peers, f"sock.sendall(struct.pack('>I', {announced})); time.sleep(30)").channel
    with pytest.raises(ProtocolViolationError, match=f"announced a frame of {announced} bytes"):
        channel.recv(deadline=soon())
    with pytest.raises(ChannelClosedError, match="unusable after an earlier error"):
        channel.recv(deadline=soon())


def test_send_limits() -> None:
    ours, theirs = socket.socketpair()
    with Channel(ours, max_frame=100) as channel, Channel(theirs, max_frame=100) as peer:
        channel.send(b"x" * 100)
        assert peer.recv(deadline=soon()) == b"x" * 100
        for bad in (b"", b"x" * 101):
            with pytest.raises(ValueError, match="a frame must have 1 to 100 bytes"):
                channel.send(bad)
    for bad_limit in (0, 2**32):
        with socket.socket() as sock, pytest.raises(ValueError, match="max_frame"):
            Channel(sock, max_frame=bad_limit)


def test_garbage_is_a_violation(peers: list[Peer]) -> None:
    channel = spawn(peers, "sock.sendall(b'GET / HTTP/1.1\\r\\n\\r\\n'); time.sleep(30)").channel
    with pytest.raises(ProtocolViolationError, match="announced a frame of 1195725856 bytes"):
        channel.recv(deadline=soon())


def test_garbage_inside_a_frame_is_a_codec_violation(peers: list[Peer]) -> None:
    channel = spawn(
        peers, "sock.sendall(frame(os.urandom(64)) + frame(b'\\x93\\xa6result\\x01\\xc1')); time.sleep(30)"
    ).channel
    for _ in range(2):
        with pytest.raises(ProtocolViolationError):
            decode_worker_frame(channel.recv(deadline=soon()), handle_factory=int)


# --- deadlines -------------------------------------------------------------------------------------------------


def test_a_dripping_peer_hits_the_overall_deadline(peers: list[Peer]) -> None:
    code = "for byte in frame(b'x' * 40): sock.sendall(bytes([byte])); time.sleep(0.05)\ntime.sleep(30)"
    channel = spawn(peers, code).channel
    started = time.monotonic()
    with pytest.raises(WorkerTimeoutError, match="did not deliver a frame before the deadline"):
        channel.recv(deadline=started + 0.5)  # 44 bytes at 20 per second would take 2.2 s
    assert 0.45 < time.monotonic() - started < 1.5


def test_a_slow_but_steady_peer_within_the_deadline_delivers(peers: list[Peer]) -> None:
    channel = spawn(peers, "for byte in frame(b'abc'): sock.sendall(bytes([byte])); time.sleep(0.02)").channel
    assert channel.recv(deadline=soon()) == b"abc"


def test_a_deadline_in_the_past_times_out(peers: list[Peer]) -> None:
    channel = spawn(peers, "time.sleep(30)").channel
    with pytest.raises(WorkerTimeoutError):
        channel.recv(deadline=time.monotonic() - 1)


def test_sending_to_a_peer_that_never_reads_times_out(peers: list[Peer]) -> None:
    channel = spawn(peers, "time.sleep(30)").channel
    started = time.monotonic()
    with pytest.raises(WorkerTimeoutError, match="did not take the whole frame"):
        channel.send(b"x" * (8 * 1024 * 1024), deadline=started + 0.3)
    assert 0.25 < time.monotonic() - started < 1.5
    with pytest.raises(ChannelClosedError, match="unusable"):
        channel.send(b"x", deadline=soon())


def test_a_slowly_reading_peer_does_not_reset_the_send_deadline(peers: list[Peer]) -> None:
    code = "while True:\n    if not sock.recv(65536): break\n    time.sleep(0.01)"
    channel = spawn(peers, code).channel
    started = time.monotonic()
    with pytest.raises(WorkerTimeoutError):
        channel.send(b"x" * (4 * 1024 * 1024), deadline=started + 0.3)  # 64 reads per MiB, 10 ms apart
    assert time.monotonic() - started < 1.5


def test_a_large_frame_with_partial_writes_arrives_intact(peers: list[Peer]) -> None:
    code = """\
    data = read_frame()
    sock.sendall(frame(hashlib.sha256(data).digest()))
    """
    channel = spawn(peers, code).channel
    payload = os.urandom(DEFAULT_MAX_FRAME)
    channel.send(payload, deadline=soon())
    assert channel.recv(deadline=soon()) == hashlib.sha256(payload).digest()


# --- peers that go away ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "where"),
    [
        ("sock.close()", "between frames"),
        ("sock.sendall(frame(b'ok')[:2])", "inside a frame"),
        ("sock.sendall(frame(b'ok' * 10)[:9])", "inside a frame"),
        ("sock.sendall(frame(b'ok' * 100000)[:150000])", "inside a frame"),
    ],
)
def test_eof_is_a_closed_channel(peers: list[Peer], code: str, where: str) -> None:
    channel = spawn(peers, code).channel
    with pytest.raises(ChannelClosedError, match=f"the peer closed the channel {where}") as info:
        channel.recv(deadline=soon())
    assert isinstance(info.value, WorkerCrashedError)


def test_a_peer_killed_mid_frame(peers: list[Peer]) -> None:
    peer = spawn(peers, "sock.sendall(frame(b'x' * 100)[:50]); time.sleep(30)")
    threading.Timer(0.2, peer.process.send_signal, [signal.SIGKILL]).start()
    with pytest.raises(ChannelClosedError, match="inside a frame"):
        peer.channel.recv(deadline=soon())


def test_sending_to_a_dead_peer(peers: list[Peer]) -> None:
    peer = spawn(peers, "sock.close()")
    peer.process.wait(timeout=10)
    with pytest.raises(ChannelClosedError, match=r"failed while sending: .*Broken pipe"):
        peer.channel.send(b"x" * 1000, deadline=soon())


def test_close_is_idempotent_and_final() -> None:
    ours, theirs = socket.socketpair()
    channel = Channel(ours)
    channel.close()
    channel.close()
    theirs.close()
    assert channel.fileno() == -1
    with pytest.raises(ChannelClosedError, match="was closed"):
        channel.recv(deadline=soon())
    with pytest.raises(ChannelClosedError, match="was closed"):
        channel.send(b"x")


def test_a_flooding_peer_is_read_frame_by_frame(peers: list[Peer]) -> None:
    code = "chunk = frame(b'f' * 1000) * 1000\nwhile True: sock.sendall(chunk)"
    channel = spawn(peers, code).channel
    for _ in range(5000):
        assert channel.recv(deadline=soon()) == b"f" * 1000


@settings(max_examples=25)
@given(
    sizes=st.lists(st.integers(1, 70_000), min_size=1, max_size=6),
    cuts=st.lists(st.integers(1, 100_000), min_size=1, max_size=8),
)
def test_frames_split_anywhere_are_reassembled(sizes: list[int], cuts: list[int]) -> None:
    payloads = [bytes([index % 256]) * size for index, size in enumerate(sizes)]
    stream = b"".join(len(p).to_bytes(4, "big") + p for p in payloads)
    ours, theirs = socket.socketpair()

    def write() -> None:  # the stream in arbitrary pieces, so frames straddle reads and the buffer's end
        position, index = 0, 0
        while position < len(stream):
            piece = stream[position : position + cuts[index % len(cuts)]]
            theirs.sendall(piece)
            position += len(piece)
            index += 1

    writer = threading.Thread(target=write)
    writer.start()
    with Channel(ours) as channel:
        assert [channel.recv(deadline=soon()) for _ in payloads] == payloads
    writer.join()
    theirs.close()


# --- codec and channel together, with a worker-like peer ------------------------------------------------------

WORKER = """\
from securehost._isolation.channel import Channel
from securehost._isolation.codec import Audit, Call, InvokeHandle, decode_host_frame, encode_reply
from securehost._isolation.codec import encode_worker_frame
channel = Channel(sock)
table = {}
def register(func):
    table[len(table) + 1] = func
    return len(table)
while True:
    frame = decode_host_frame(channel.recv())
    channel.send(encode_worker_frame(Audit("call", {"id": frame.id})))
    if isinstance(frame, Call):
        value = {"sum": sum(frame.kwargs["xs"]), "tool": lambda x: x * 2}
    else:
        value = table[frame.handle](*frame.args)
    channel.send(encode_reply(frame.id, value, register_callable=register))
"""


def test_call_and_invoke_a_handle_through_a_worker_like_peer(peers: list[Peer]) -> None:
    channel = spawn(peers, WORKER, isolated=False).channel
    ids = RequestIds()

    def call(frame_for_id: Callable[[int], HostFrame]) -> object:
        request = ids.issue()
        channel.send(encode_host_frame(frame_for_id(request)), deadline=soon())
        assert decode_worker_frame(channel.recv(deadline=soon()), handle_factory=int) == Audit("call", {"id": request})
        reply = decode_worker_frame(channel.recv(deadline=soon()), handle_factory=lambda h: ("handle", h))
        assert isinstance(reply, Result)
        ids.accept(reply.id)
        return reply.value

    assert call(lambda i: Call(i, "hook", {"xs": [1, 2, 3]})) == {"sum": 6, "tool": ("handle", 1)}
    assert call(lambda i: InvokeHandle(i, 1, [21], {})) == 42


# --- request ids -----------------------------------------------------------------------------------------------


def test_request_ids_pair_each_reply_with_its_request() -> None:
    ids = RequestIds()
    first = ids.issue()
    assert (first, ids.outstanding) == (1, 1)
    with pytest.raises(RuntimeError, match="request 1 is still outstanding"):
        ids.issue()
    ids.accept(first)
    assert ids.outstanding is None
    with pytest.raises(ProtocolViolationError, match="no request is outstanding"):
        ids.accept(first)  # replayed
    second = ids.issue()
    assert second == 2
    with pytest.raises(ProtocolViolationError, match="replied to request 1 but request 2 is outstanding"):
        ids.accept(first)  # stale
    with pytest.raises(ProtocolViolationError, match="request 3 but request 2"):
        ids.accept(3)  # not issued yet
    ids.accept(second)
    third = ids.issue()
    ids.abandon()  # its worker timed out and was killed
    with pytest.raises(ProtocolViolationError, match="no request is outstanding"):
        ids.accept(third)


@given(replies=st.lists(st.integers(0, 50), max_size=60))
def test_only_the_outstanding_id_is_ever_accepted(replies: list[int]) -> None:
    ids = RequestIds()
    issued: list[int] = []
    for reply in replies:
        if ids.outstanding is None:
            issued.append(ids.issue())
        expected = ids.outstanding
        if reply == expected:
            ids.accept(reply)
        else:
            with pytest.raises(ProtocolViolationError):
                ids.accept(reply)
            assert ids.outstanding == expected
    assert issued == list(range(1, len(issued) + 1))
