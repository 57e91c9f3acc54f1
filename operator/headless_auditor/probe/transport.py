"""Sockets and slots: the query window, the UDP channel with its runs, and the TCP exchange.

- **One connected UDP socket per server, many queries in flight.** Responses are matched to
  queries by id *and* question, so a late answer to a timed-out query is dropped, never taken for
  another. A connected socket also receives ICMP port-unreachable, so a closed port is UNREACHABLE
  at once rather than after the timeouts.
- **Runs, not a task per question.** The queries of one run go out at once and wait once, for one
  future: no task, timer or lock per query (see :mod:`headless_auditor.probe.prober`).
- **Bounded.** One :class:`Window` of slots bounds the queries in flight per prober, across
  servers. When every attempt over UDP timed out, one TCP connect tells a closed port
  (UNREACHABLE; some networks drop the ICMP error) from a silent server (TIMEOUT).
- **TCP is a fresh connection per query**, for truncated answers or for every query.

Everything here belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
import typing
from collections.abc import Sequence

from headless_auditor.core import records
from headless_auditor.probe.wire import MalformedResponseError, Query, responds_to


class Window:
    """The free query slots of a prober: ``take`` waits for one and takes up to the number asked."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def take(self, most: int) -> int:
        while self.free <= 0:
            woken = asyncio.get_running_loop().create_future()
            self._waiters.append(woken)
            try:
                await woken
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(woken)
                self._wake_next()  # a wake-up it got (and cannot use) goes to the next in line
                raise
        taken = min(most, self.free)
        self.free -= taken
        self._wake_next()  # slots left over are for the next in line
        return taken

    def give(self, count: int) -> None:
        self.free += count
        self._wake_next()

    def _wake_next(self) -> None:
        while self.free > 0 and self._waiters:
            woken = self._waiters.popleft()
            if not woken.done():
                woken.set_result(None)
                return


class _Run:
    """Queries sent together on one socket; ``done`` resolves when each has a reply or an error."""

    __slots__ = ("done", "left", "replies")

    def __init__(self, size: int) -> None:
        self.left = size
        self.replies: dict[int, tuple[bytes | OSError, float]] = {}
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if size == 0:
            self.done.set_result(None)

    def put(self, index: int, reply: bytes | OSError) -> None:
        if index in self.replies:
            return
        self.replies[index] = (reply, time.perf_counter())
        self.left -= 1
        if self.left == 0 and not self.done.done():
            self.done.set_result(None)


class UdpChannel(asyncio.DatagramProtocol):
    """One connected UDP socket to one server; queries in flight are told apart by id."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.closed = False
        self._transport: asyncio.DatagramTransport | None = None
        self._opening: asyncio.Future[None] | None = None
        self._pending: dict[int, tuple[bytes, _Run, int]] = {}
        """Query id -> the question's wire form, the run it was sent in and its index there."""
        self._ids = random.Random()
        self._lost = asyncio.Event()

    async def exchange_many(
        self, queries: Sequence[Query], timeout: float
    ) -> dict[int, tuple[bytes | OSError, float]]:
        """Send every query at once; what came back within ``timeout`` by the query's index: the
        response (raw wire) or the socket's error, and its ``perf_counter`` time of arrival."""
        transport = await self._connected()
        run = _Run(len(queries))
        sent: list[int] = []
        try:
            for index, query in enumerate(queries):
                query_id = self._free_id()
                self._pending[query_id] = (query.question, run, index)
                sent.append(query_id)
                transport.sendto(query_id.to_bytes(2, "big") + query.wire[2:])
            await asyncio.wait([run.done], timeout=timeout)
        finally:
            for query_id in sent:
                waiter = self._pending.get(query_id)
                if waiter is not None and waiter[1] is run:  # not answered: free its id
                    del self._pending[query_id]
        return run.replies

    async def _connected(self) -> asyncio.DatagramTransport:
        """The socket, opened by the first query (the others wait for it)."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opening)
        except OSError:
            self.closed = True  # the prober opens a new channel next time
            raise
        assert self._transport is not None
        return self._transport

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, remote_addr=self.address)

    def _free_id(self) -> int:
        while (query_id := self._ids.getrandbits(16)) in self._pending:
            pass
        return query_id

    async def aclose(self) -> None:
        self.closed = True
        if self._opening is not None:
            await asyncio.wait([self._opening])  # a socket still opening is closed too
        if self._transport is not None:
            self._transport.close()
            await self._lost.wait()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a DatagramTransport (not a subclass of it on every Python version)
        self._transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        query_id = int.from_bytes(data[:2], "big")
        waiter = self._pending.get(query_id)
        if waiter is None or len(data) < 12 or not responds_to(data, waiter[0]):
            return  # late, foreign or stray: the query it answers is no longer waiting
        del self._pending[query_id]
        waiter[1].put(waiter[2], data)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors on a connected socket concern the server, hence every query waiting."""
        error = exc if isinstance(exc, OSError) else OSError(str(exc))
        for _question, run, index in self._pending.values():
            run.put(index, error)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._lost.set()
        self.error_received(exc or ConnectionAbortedError("UDP socket closed"))


async def tcp_exchange(server: records.DNSServer, query: Query, timeout: float) -> bytes:
    """One query on a fresh TCP connection (used for truncated answers, or always)."""
    query_id = random.getrandbits(16)
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            message = query_id.to_bytes(2, "big") + query.wire[2:]
            writer.write(len(message).to_bytes(2, "big") + message)
            length = int.from_bytes(await reader.readexactly(2), "big")
            wire = await reader.readexactly(length)
        finally:
            await _close(writer)
    if len(wire) < 12 or int.from_bytes(wire[:2], "big") != query_id:
        raise MalformedResponseError("TCP response with a foreign id")
    if not responds_to(wire, query.question):
        raise MalformedResponseError("TCP response to another question")
    return wire


async def silent_or_closed(server: records.DNSServer, timeout: float) -> records.Outcome:
    """After timeouts over UDP: a refused TCP connect means nothing listens there."""
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(server.host, server.port)
            await _close(writer)
    except TimeoutError:
        return records.Outcome.TIMEOUT
    except OSError:
        return records.Outcome.UNREACHABLE
    return records.Outcome.TIMEOUT


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
