"""Length-prefixed frames over a connected stream socket (a ``socketpair``) between the host and a plugin worker.

A frame is a 4-byte big-endian length followed by that many payload bytes (1 to ``max_frame``). The receiver checks
the length before it reads or allocates the body, so a hostile peer cannot make it buffer more than ``max_frame``.
Every blocking step waits with ``poll`` against one absolute ``time.monotonic()`` deadline per call, so a peer that
drips one byte at a time runs into the deadline instead of resetting a per-read timeout.

After any error (a timeout, a violation, the peer gone) the channel is unusable: the stream may be cut in the middle
of a frame, and the supervisor kills the worker anyway. Later calls raise :class:`ChannelClosedError`.

Thread safety: a channel assumes one sending thread and one receiving thread at a time (they may differ); the
supervisor's per-worker lock serialises calls. :class:`RequestIds` pairs each reply with the one outstanding request.
Linux and other POSIX systems only (``select.poll``).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from typing import Final, TypeVar

from securehost.exceptions import ProtocolViolationError, WorkerCrashedError, WorkerTimeoutError

__all__ = ["DEFAULT_MAX_FRAME", "HEADER_SIZE", "Channel", "ChannelClosedError", "RequestIds"]

DEFAULT_MAX_FRAME: Final = 16 * 1024 * 1024
HEADER_SIZE: Final = 4
_HEADER: Final = struct.Struct(">I")
_BUFFER_SIZE: Final = 64 * 1024  # frames that fit are read into one preallocated buffer, often in one recv
_JOIN_LIMIT: Final = 64 * 1024  # payloads up to this size are sent as one joined copy in one send
_E = TypeVar("_E", bound=Exception)
_DONTWAIT: Final = socket.MSG_DONTWAIT
_monotonic: Final = time.monotonic


class _Timeout(Exception):  # noqa: N818 - internal signal, never escapes
    """The deadline passed while waiting to read (raised inside :meth:`Channel._read`, turned into its error)."""


class ChannelClosedError(WorkerCrashedError):
    """The peer closed its end, the connection failed, or the channel is unusable after an earlier error."""


class Channel:
    """Frames over a connected stream socket, with a size limit and deadlines.

    Args:
        sock: a connected ``SOCK_STREAM`` socket; the channel owns it (puts it in blocking mode; calls that must not
            block pass ``MSG_DONTWAIT``) and closes it.
        max_frame: the largest payload accepted or sent, in bytes (at most 2**32 - 1).

    Raises:
        ValueError: ``max_frame`` is out of range.
    """

    def __init__(self, sock: socket.socket, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if not 0 < max_frame < 2**32:
            raise ValueError(f"max_frame must be between 1 and 2**32 - 1 bytes, not {max_frame}")
        sock.settimeout(None)  # blocking; each call that must not block passes MSG_DONTWAIT
        self._sock = sock
        self.max_frame = max_frame
        self._buffer = bytearray(_BUFFER_SIZE)
        self._view = memoryview(self._buffer)
        self._start = 0  # unread bytes are self._buffer[self._start:self._end]
        self._end = 0
        self._readable = select.poll()
        self._readable.register(sock, select.POLLIN)
        self._writable = select.poll()
        self._writable.register(sock, select.POLLOUT)
        self._broken: str | None = None

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        return self._sock.fileno()

    def close(self) -> None:
        """Close the socket (waking a ``recv`` blocked in another thread); idempotent.

        Later calls raise :class:`ChannelClosedError`.
        """
        self._broken = self._broken or "the channel was closed"
        with contextlib.suppress(OSError):  # already closed, or never connected
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- sending -----------------------------------------------------------------------------------------------

    def send(self, data: bytes, *, deadline: float | None = None) -> None:
        """Send one frame; blocks until the peer has room for all of it or ``deadline`` passes.

        Args:
            data: the payload, 1 to ``max_frame`` bytes.
            deadline: absolute ``time.monotonic()`` value; ``None`` waits for ever.

        Raises:
            ValueError: ``data`` is empty or longer than ``max_frame`` (the caller's mistake).
            WorkerTimeoutError: the peer did not take the whole frame before ``deadline``.
            ChannelClosedError: the peer is gone or the channel is unusable.
        """
        if self._broken is not None:
            raise self._unusable()
        size = len(data)
        if not 0 < size <= self.max_frame:
            raise ValueError(f"a frame must have 1 to {self.max_frame} bytes, not {size}")
        if size > _JOIN_LIMIT:
            self._send_parts([_HEADER.pack(size), data], deadline)
            return
        frame = _HEADER.pack(size) + data
        try:
            sent = self._sock.send(frame, _DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise self._fail(ChannelClosedError(f"the channel failed while sending: {exc}")) from exc
        if sent < len(frame):
            self._send_parts([memoryview(frame)[sent:]], deadline)

    def _send_parts(self, parts: list[bytes | memoryview], deadline: float | None) -> None:
        while True:
            try:
                if len(parts) == 1:
                    count = self._sock.send(parts[0], _DONTWAIT)
                else:
                    count = self._sock.sendmsg(parts, (), _DONTWAIT)
            except BlockingIOError:
                count = 0
            except OSError as exc:
                raise self._fail(ChannelClosedError(f"the channel failed while sending: {exc}")) from exc
            while parts and count >= len(parts[0]):
                count -= len(parts[0])
                del parts[0]
            if not parts:
                return
            parts[0] = memoryview(parts[0])[count:]
            self._wait(self._writable, deadline, "take the whole frame")

    # --- receiving ---------------------------------------------------------------------------------------------

    def recv(self, *, deadline: float | None = None) -> bytes:
        """Receive one frame.

        Args:
            deadline: absolute ``time.monotonic()`` value by which the whole frame must have arrived; ``None``
                waits for ever.

        Raises:
            ProtocolViolationError: the announced length is 0 or above ``max_frame`` (raised before the body is read).
            WorkerTimeoutError: the frame was not complete at ``deadline``.
            ChannelClosedError: the peer closed the channel (between frames or inside one) or it is unusable.
        """
        if self._broken is not None:
            raise self._unusable()
        start = self._start
        if self._end - start < HEADER_SIZE:  # the usual case: nothing buffered, one read brings the whole frame
            if start:
                self._compact()
                start = 0
            self._fill(HEADER_SIZE, deadline)
        (size,) = _HEADER.unpack_from(self._buffer, start)
        if not 0 < size <= self.max_frame:
            message = f"the peer announced a frame of {size} bytes; frames have 1 to {self.max_frame}"
            raise self._fail(ProtocolViolationError(message))
        stop = start + HEADER_SIZE + size
        if stop > self._end:
            if HEADER_SIZE + size > _BUFFER_SIZE:
                return self._recv_large(size, deadline)
            if stop > _BUFFER_SIZE:  # the frame fits the buffer, but not behind the frames read before it
                self._compact()
                stop -= start
                start = 0
            self._fill(stop, deadline)
        data = bytes(self._view[start + HEADER_SIZE : stop])
        if stop < self._end:  # pipelined frames stay where they are; the next recv starts at the next one
            self._start = stop
        else:
            self._start = self._end = 0
        return data

    def _compact(self) -> None:
        """Move the unread bytes to the front of the buffer (a copy: the ranges may overlap)."""
        start, end = self._start, self._end
        self._buffer[: end - start] = bytes(self._view[start:end])
        self._start, self._end = 0, end - start

    def _fill(self, stop: int, deadline: float | None) -> None:
        """Read until the buffer holds ``stop`` bytes (one read, usually)."""
        while self._end < stop:
            end = self._end
            self._end = end + self._read(self._view[end:] if end else self._view, deadline, inside=end > 0)

    def _recv_large(self, size: int, deadline: float | None) -> bytes:
        body = bytearray(size)
        have = self._end - self._start - HEADER_SIZE  # the frame is larger than the buffer: all of it is the frame's
        body[:have] = self._view[self._start + HEADER_SIZE : self._end]
        self._start = self._end = 0
        view = memoryview(body)
        while have < size:
            have += self._read(view[have:], deadline, inside=True)
        return bytes(body)

    def _read(self, target: memoryview, deadline: float | None, *, inside: bool) -> int:
        """Read what has arrived into ``target``, waiting for it at most until ``deadline``; never 0 bytes.

        Without a deadline: one blocking system call. With one: ``poll``, then a read that cannot block. (Trying the
        read before the ``poll`` saves no time even when both processes share a core, measured, and costs an
        exception whenever the peer is not done yet.)
        """
        try:
            if deadline is None:
                count = self._sock.recv_into(target)
            else:
                while True:
                    remaining = deadline - _monotonic()
                    if remaining <= 0:
                        raise _Timeout
                    self._readable.poll(int(remaining * 1000) + 1)
                    try:
                        count = self._sock.recv_into(target, 0, _DONTWAIT)
                        break
                    except BlockingIOError:
                        continue
        except _Timeout:
            raise self._fail(WorkerTimeoutError("the peer did not deliver a frame before the deadline")) from None
        except OSError as exc:
            raise self._fail(ChannelClosedError(f"the channel failed while receiving: {exc}")) from exc
        if count:
            return count
        where = "inside a frame" if inside else "between frames"
        raise self._fail(ChannelClosedError(f"the peer closed the channel {where}"))

    # --- waiting and errors ------------------------------------------------------------------------------------

    def _wait(self, poller: select.poll, deadline: float | None, what: str) -> None:
        """Wait until ``poller`` reports the socket ready (or hung up), or raise once ``deadline`` has passed."""
        if deadline is None:
            poller.poll()
            return
        remaining = deadline - _monotonic()
        if remaining <= 0:
            raise self._fail(WorkerTimeoutError(f"the peer did not {what} before the deadline"))
        poller.poll(int(remaining * 1000) + 1)

    def _fail(self, error: _E) -> _E:
        self._broken = self._broken or f"{type(error).__name__}: {error}"
        return error

    def _unusable(self) -> ChannelClosedError:
        return ChannelClosedError(f"the channel is unusable after an earlier error ({self._broken})")


class RequestIds:
    """Issues increasing request ids and accepts only the reply to the one outstanding request.

    A reply whose id is not the outstanding one is replayed, stale or unsolicited: a protocol violation.
    """

    __slots__ = ("_last", "_outstanding")

    def __init__(self) -> None:
        self._last = 0
        self._outstanding: int | None = None

    @property
    def outstanding(self) -> int | None:
        """The id awaiting its reply, or ``None``."""
        return self._outstanding

    def issue(self) -> int:
        """Return the id for a new request (1, 2, 3...) and make it the outstanding one.

        Raises:
            RuntimeError: another request is still outstanding (accept its reply or abandon it first).
        """
        if self._outstanding is not None:
            raise RuntimeError(f"request {self._outstanding} is still outstanding; accept its reply or abandon it")
        self._last += 1
        self._outstanding = self._last
        return self._last

    def accept(self, reply_id: int) -> None:
        """Check that ``reply_id`` answers the outstanding request, which is then settled.

        Raises:
            ProtocolViolationError: no request is outstanding, or ``reply_id`` is another (replayed or stale) one.
        """
        if self._outstanding is None:
            raise ProtocolViolationError(
                f"the worker replied to request {reply_id} but no request is outstanding (a replayed or unsolicited "
                "reply)"
            )
        if reply_id != self._outstanding:
            raise ProtocolViolationError(
                f"the worker replied to request {reply_id} but request {self._outstanding} is outstanding (a replayed "
                "or stale reply)"
            )
        self._outstanding = None

    def abandon(self) -> None:
        """Forget the outstanding request (its worker was killed); a late reply to it is then rejected."""
        self._outstanding = None
