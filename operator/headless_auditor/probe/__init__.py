"""Ask DNS servers questions and reduce what they say to :class:`records.Answer` facts.

One interface, :class:`Prober`, with a real implementation (:class:`DnsPythonProber`) and an
in-memory twin (:class:`InMemoryProber`) for the tests of everything that consumes answers.

Why it is built this way:

- **Failures are answers.** A timeout, a closed port or a SERVFAIL is a fact about one server, to be
  reported as such (DNSConsistent goes Unknown, never False, on a probe failure). So ``ask`` never
  raises for what a server does: every question gets an :class:`Answer`, and one dead server
  cannot hide what the others say.
- **UDP with a large EDNS buffer, TCP when truncated.** A headless Service with more than ~29 ready
  endpoints does not fit a 512-byte UDP answer; CoreDNS then sets TC and shows a random subset.
  Queries advertise a 4096-byte EDNS0 payload (so CoreDNS rarely truncates) and are repeated over
  TCP when TC is set anyway, so the audit always compares whole sets. UDP stays the default because
  a sweep asks tens of thousands of questions and a TCP connection per question costs several
  times more; ``transport="tcp"`` is there for networks that drop UDP.
- **One connected UDP socket per server, many queries in flight.** Responses are matched to
  queries by id *and* question, so a late answer to a timed-out query is dropped, never taken for
  another. A connected socket also receives ICMP port-unreachable, so a closed port is UNREACHABLE
  at once rather than after the timeouts.
- **A narrow reader, checked against dnspython.** Queries are built once per question (dnspython
  encodes the name) and cached; only the id changes per send. Responses are read by
  :func:`answer_from_wire`, which decodes only the header, the question and the answer records.
  Building and parsing whole messages with dnspython (``make_query``, ``dns.asyncquery``) cost
  10-50x more per message: ~1,200 queries/s on the 2-core build machine, against 5,300-7,300/s
  for whole steady sweeps of 28,000 questions now (docs/benchmarks.md). The tests check the reader
  against dnspython's parser on generated responses, and feed it mangled bytes.
- **Runs, not a task per question.** Over UDP the questions of one ``ask`` go out in runs as
  long as the free slots allow, and each run waits once for its replies: no task, timer or lock per
  question (they were a third of the prober's CPU in a 28,000-question sweep; docs/benchmarks.md).
- **Bounded everything.** One window of slots bounds the queries in flight per prober, across
  servers; each attempt has a timeout; only timeouts are retried, a fixed number of times (an rcode
  is an answer). When every attempt timed out, one TCP connect tells a closed port (UNREACHABLE;
  some networks drop the ICMP error) from a silent server (TIMEOUT). After ``give_up_after``
  consecutive TIMEOUT/UNREACHABLE outcomes from one server, its questions get that outcome unsent
  for ``give_up_for`` seconds (then are sent again): a dead replica costs a round of timeouts now
  and then, not one per question, and does not hold the slots the live servers need.
- **Names are followed exactly.** Only records owned by the asked name (case-insensitively) and of
  the asked type count; a CNAME (NODATA for the asked type) and the additional section (SRV target
  addresses) are ignored, because the audit compares exactly what CoreDNS serves for each name.
  Extended rcodes in the OPT record are not read: they concern EDNS versions, TSIG and cookies,
  none of which these queries use.

One prober belongs to one event loop (its slots and sockets do); ``aclose`` it when done.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import ipaddress
import logging
import random
import re
import socket
import struct
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype

from headless_auditor.core import records

logger = logging.getLogger(__name__)

QueryObserver = Callable[[records.DNSServer, records.Question, records.Outcome, float], None]
"""Called once per question sent: server, question, final outcome and the seconds it took (all
attempts and any TCP fallback included). For metrics: must be cheap and must not raise."""

_DOWN = frozenset({records.Outcome.TIMEOUT, records.Outcome.UNREACHABLE})
_ERROR = records.Answer(records.Outcome.ERROR)

_RCODE_OUTCOMES: Mapping[int, records.Outcome] = {
    dns.rcode.NXDOMAIN: records.Outcome.NXDOMAIN,
    dns.rcode.SERVFAIL: records.Outcome.SERVFAIL,
    dns.rcode.REFUSED: records.Outcome.REFUSED,
}

_RDTYPES: Mapping[records.RecordType, dns.rdatatype.RdataType] = {
    records.RecordType.A: dns.rdatatype.A,
    records.RecordType.AAAA: dns.rdatatype.AAAA,
    records.RecordType.SRV: dns.rdatatype.SRV,
}


class Prober(typing.Protocol):
    """Something that asks one DNS server a batch of questions."""

    async def ask(
        self, server: records.DNSServer, questions: Iterable[records.Question]
    ) -> dict[records.Question, records.Answer]:
        """Every distinct question with the server's answer; failures are answers too."""
        ...


async def ask_all(
    prober: Prober,
    servers: Iterable[records.DNSServer],
    questions: Iterable[records.Question],
) -> dict[records.DNSServer, dict[records.Question, records.Answer]]:
    """Ask every server every question, all servers at once."""
    unique_servers = list(dict.fromkeys(servers))
    unique_questions = list(dict.fromkeys(questions))
    answers = await asyncio.gather(
        *(prober.ask(server, unique_questions) for server in unique_servers)
    )
    return dict(zip(unique_servers, answers, strict=True))


# --- the real prober --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """How :class:`DnsPythonProber` asks."""

    timeout: float = 2.0
    """Seconds to wait for one response (per attempt, per transport). CoreDNS answers cluster names
    from memory in well under a millisecond; 2 s only lets a loaded node catch up."""
    retries: int = 2
    """Extra attempts after a timeout (UDP may lose packets); rcodes are never retried."""
    max_in_flight: int = 64
    """Queries outstanding at once, across all servers of this prober: enough to hide the round
    trip inside a cluster, few enough not to flood a CoreDNS replica."""
    transport: typing.Literal["udp", "tcp"] = "udp"
    """``udp`` (TCP only when an answer is truncated) or ``tcp`` for every query."""
    edns_payload: int = 4096
    """The UDP payload size advertised with EDNS0: answers up to this size are not truncated."""
    give_up_after: int | None = 16
    """Consecutive TIMEOUT/UNREACHABLE outcomes from one server (any ``ask``) after which its
    questions get that outcome unsent, for ``give_up_for``. ``None`` always sends."""
    give_up_for: float = 10.0
    """Seconds a server stays given up on; then its questions are sent again (and the next failure
    gives up again). Shorter than a sweep period, so a replica that came back is soon seen."""

    def __post_init__(self) -> None:
        _require(self.timeout > 0, "timeout", self.timeout, "must be > 0")
        _require(self.retries >= 0, "retries", self.retries, "must be >= 0")
        _require(self.max_in_flight >= 1, "max_in_flight", self.max_in_flight, "must be >= 1")
        _require(self.transport in ("udp", "tcp"), "transport", self.transport, "udp or tcp")
        _require(512 <= self.edns_payload <= 65535, "edns_payload", self.edns_payload, "512..65535")
        _require(
            self.give_up_after is None or self.give_up_after >= 1,
            "give_up_after",
            self.give_up_after,
            "must be >= 1 or None",
        )
        _require(self.give_up_for >= 0, "give_up_for", self.give_up_for, "must be >= 0")


def _require(condition: bool, field: str, value: object, rule: str) -> None:
    if not condition:
        raise ValueError(f"ProbeSettings.{field}={value!r}: {rule}")


class _MalformedResponseError(Exception):
    """The response cannot be read, or does not answer the query."""


class DnsPythonProber:
    """Asks real DNS servers over UDP (TCP on truncation) or TCP. ``aclose`` it when done.

    ``queries_issued`` counts the DNS messages sent (retries and TCP fallbacks included).
    """

    def __init__(
        self,
        settings: ProbeSettings | None = None,
        on_query: QueryObserver | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or ProbeSettings()
        self.on_query = on_query
        self.clock = clock
        """Monotonic seconds, for giving up on servers (injected by tests)."""
        self.queries_issued = 0
        self._window = _Window(self.settings.max_in_flight)
        self._channels: dict[tuple[str, int], _UdpChannel] = {}
        self._health: dict[tuple[str, int], _ServerHealth] = {}

    async def __aenter__(self) -> DnsPythonProber:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the UDP sockets (the prober stays usable and reopens them when asked)."""
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.aclose()

    async def ask(
        self, server: records.DNSServer, questions: Iterable[records.Question]
    ) -> dict[records.Question, records.Answer]:
        """Every distinct question with the server's answer, at most ``max_in_flight`` at once."""
        pending = list(dict.fromkeys(questions))
        if self.settings.transport == "tcp":
            answers = await self._ask_each(server, pending)
        else:
            answers = await self._ask_batched(server, pending)
        return {question: answers[question] for question in pending}

    def _health_of(self, server: records.DNSServer) -> _ServerHealth:
        return self._health.setdefault((server.host, server.port), _ServerHealth())

    def _observe(
        self,
        server: records.DNSServer,
        question: records.Question,
        answer: records.Answer,
        seconds: float,
        health: _ServerHealth,
    ) -> None:
        health.record(answer.outcome, self.clock(), self.settings)
        if self.on_query is not None:
            self.on_query(server, question, answer.outcome, seconds)

    # UDP: batches. Per question there is no task, no timer and no lock: the questions go out in
    # runs as long as the free slots allow, and each run waits once for its responses. (A task and
    # an ``asyncio.timeout`` per question cost a third of the prober's CPU at 28,000 questions.)

    async def _ask_batched(
        self, server: records.DNSServer, pending: list[records.Question]
    ) -> dict[records.Question, records.Answer]:
        health = self._health_of(server)
        answers: dict[records.Question, records.Answer] = {}
        sent = 0
        while sent < len(pending):
            if (given_up := health.given_up(self.clock())) is not None:
                answers.update(dict.fromkeys(pending[sent:], records.Answer(given_up)))
                break
            taken = await self._window.take(len(pending) - sent)
            run = pending[sent : sent + taken]
            sent += taken
            try:
                results = await self._resolve_run(server, run)
            finally:
                self._window.give(taken)
            for question, (answer, seconds) in zip(run, results, strict=True):
                answers[question] = answer
                self._observe(server, question, answer, seconds, health)
        return answers

    async def _resolve_run(
        self, server: records.DNSServer, run: list[records.Question]
    ) -> list[tuple[records.Answer, float]]:
        """Each question's answer and the seconds it took (attempts and TCP fallback included)."""
        started = time.perf_counter()
        results: list[tuple[records.Answer, float]] = [(_ERROR, 0.0)] * len(run)
        waiting: dict[int, _Query] = {}  # index in ``run`` -> its query, until it has its answer
        for index, question in enumerate(run):
            try:
                waiting[index] = _query_for(
                    question.name, question.rdtype, self.settings.edns_payload
                )
            except dns.exception.DNSException as error:
                logger.debug("Cannot ask %s: %r", question, error)
        for _attempt in range(1 + self.settings.retries):
            if not waiting:
                return results
            indexes = list(waiting)
            try:
                replies = await self._channel(server).exchange_many(
                    [waiting[i] for i in indexes], self.settings.timeout
                )
            except OSError as error:  # the socket could not be opened or used
                logger.debug("DNS %s unreachable: %r", server.address, error)
                spent = time.perf_counter() - started
                for i in indexes:
                    results[i] = (records.Answer(records.Outcome.UNREACHABLE), spent)
                return results
            self.queries_issued += len(indexes)
            for position, i in enumerate(indexes):
                if (reply := replies.get(position)) is None:
                    continue  # no response within the timeout: asked again
                read = await self._read_reply(server, run[i], waiting[i], *reply)
                if read is not None:
                    results[i] = (read[0], read[1] - started)
                    del waiting[i]
        if waiting:
            outcome = await self._silent_or_closed(server)
            spent = time.perf_counter() - started
            for i in waiting:
                results[i] = (records.Answer(outcome), spent)
        return results

    async def _read_reply(
        self,
        server: records.DNSServer,
        question: records.Question,
        query: _Query,
        reply: bytes | OSError,
        at: float,
    ) -> tuple[records.Answer, float] | None:
        """The answer in a UDP reply and when it came, or None to ask again (a TCP timeout)."""
        try:
            if isinstance(reply, OSError):
                raise reply
            if reply[2] & _TC:
                self.queries_issued += 1
                reply = await _tcp_exchange(server, query, self.settings.timeout)
                at = time.perf_counter()
            return _read_answer(query, reply), at
        except TimeoutError:  # an OSError: must come first
            return None
        except OSError as error:
            logger.debug("DNS %s unreachable for %s: %r", server.address, question, error)
            return records.Answer(records.Outcome.UNREACHABLE), at
        except (_MalformedResponseError, EOFError) as error:
            logger.debug("DNS %s bad response for %s: %r", server.address, question, error)
            return records.Answer(records.Outcome.ERROR), at

    # TCP: a connection per question, so a task per question (each holds one slot).

    async def _ask_each(
        self, server: records.DNSServer, pending: list[records.Question]
    ) -> dict[records.Question, records.Answer]:
        answers: dict[records.Question, records.Answer] = {}
        queue = iter(pending)

        async def work() -> None:
            for question in queue:
                answers[question] = await self._ask_one(server, question)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.settings.max_in_flight, len(pending))):
                group.create_task(work())
        return answers

    async def _ask_one(
        self, server: records.DNSServer, question: records.Question
    ) -> records.Answer:
        health = self._health_of(server)
        await self._window.take(1)
        try:
            if (given_up := health.given_up(self.clock())) is not None:
                return records.Answer(given_up)
            started = time.perf_counter()
            answer = await self._resolve_tcp(server, question)
        finally:
            self._window.give(1)
        self._observe(server, question, answer, time.perf_counter() - started, health)
        return answer

    async def _resolve_tcp(
        self, server: records.DNSServer, question: records.Question
    ) -> records.Answer:
        try:
            query = _query_for(question.name, question.rdtype, self.settings.edns_payload)
        except dns.exception.DNSException as error:
            logger.debug("Cannot ask %s: %r", question, error)
            return _ERROR
        for _attempt in range(1 + self.settings.retries):
            self.queries_issued += 1
            try:
                return _read_answer(
                    query, await _tcp_exchange(server, query, self.settings.timeout)
                )
            except TimeoutError:  # an OSError: must come first
                continue
            except OSError as error:
                logger.debug("DNS %s unreachable for %s: %r", server.address, question, error)
                return records.Answer(records.Outcome.UNREACHABLE)
            except (_MalformedResponseError, EOFError) as error:
                logger.debug("DNS %s bad response for %s: %r", server.address, question, error)
                return _ERROR
        return records.Answer(records.Outcome.TIMEOUT)

    def _channel(self, server: records.DNSServer) -> _UdpChannel:
        key = (server.host, server.port)
        channel = self._channels.get(key)
        if channel is None or channel.closed:
            channel = self._channels[key] = _UdpChannel(server.host, server.port)
        return channel

    async def _silent_or_closed(self, server: records.DNSServer) -> records.Outcome:
        """After timeouts over UDP: a refused TCP connect means nothing listens there."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                _reader, writer = await asyncio.open_connection(server.host, server.port)
                await _close(writer)
        except TimeoutError:
            return records.Outcome.TIMEOUT
        except OSError:
            return records.Outcome.UNREACHABLE
        return records.Outcome.TIMEOUT


@dataclasses.dataclass
class _ServerHealth:
    """A circuit breaker: consecutive down-looking outcomes of one server address."""

    streak: int = 0
    down: records.Outcome | None = None
    """The outcome given without asking, until ``retry_at`` (monotonic seconds)."""
    retry_at: float = 0.0

    def given_up(self, now: float) -> records.Outcome | None:
        """The outcome to give without asking, or None to ask."""
        return self.down if self.down is not None and now < self.retry_at else None

    def record(self, outcome: records.Outcome, now: float, settings: ProbeSettings) -> None:
        if outcome not in _DOWN:
            self.streak, self.down = 0, None
            return
        self.streak += 1
        if settings.give_up_after is not None and self.streak >= settings.give_up_after:
            self.down, self.retry_at = outcome, now + settings.give_up_for


# --- transports -------------------------------------------------------------------------------

_TC = 0x02  # in the third header byte
_QR = 0x80  # in the third header byte


class _Window:
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


class _UdpChannel(asyncio.DatagramProtocol):
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
        self, queries: Sequence[_Query], timeout: float
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
        if waiter is None or len(data) < 12 or not _answers(data, waiter[0]):
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


async def _tcp_exchange(server: records.DNSServer, query: _Query, timeout: float) -> bytes:
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
        raise _MalformedResponseError("TCP response with a foreign id")
    if not _answers(wire, query.question):
        raise _MalformedResponseError("TCP response to another question")
    return wire


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def _answers(wire: bytes, question: bytes) -> bool:
    """Whether a message (id already matched) is a response to the query with this question."""
    if not wire[2] & _QR or (wire[2] >> 3) & 0xF != 0:
        return False
    qdcount = int.from_bytes(wire[4:6], "big")
    if qdcount == 0:
        return wire[3] & 0xF != 0  # an error (e.g. FORMERR) may come without the question
    return qdcount == 1 and wire[12 : 12 + len(question)].lower() == question


# --- reading responses ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Query:
    """A question ready to send: its wire form (id to be replaced) and what a response must echo."""

    wire: bytes
    question: bytes
    """The question section, lower-case, as the response must repeat it."""
    labels: tuple[bytes, ...]
    """The name's labels, lower-case, root label excluded."""
    rdtype: int


_QUERY_HEADER = struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 1)  # id 0, RD, 1 question, 1 OPT


@functools.lru_cache(maxsize=1 << 16)
def _query_for(name: str, rdtype: records.RecordType, payload: int) -> _Query:
    """The query for one question, built once: only the id changes per send.

    dnspython encodes the name (validation, escapes); the fixed parts are packed here, because a
    whole ``dns.message.make_query`` costs ten times more and is needed for every new question.
    """
    qname = dns.name.from_text(name)
    question = (qname.to_wire() or b"") + struct.pack("!HH", _RDTYPES[rdtype], 1)
    edns0 = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, payload, 0, 0)
    return _Query(
        wire=_QUERY_HEADER + question + edns0,
        question=question.lower(),
        labels=tuple(label.lower() for label in qname.labels[:-1]),
        rdtype=_RDTYPES[rdtype],
    )


def answer_from_wire(question: records.Question, wire: bytes) -> records.Answer:
    """The comparable facts of a response (wire format) to ``question``; ERROR if unreadable.

    Only the header, the question and the answer section are read: the authority and additional
    sections, and extended rcodes, never change what the audit compares.
    """
    try:
        return _read_answer(_query_for(question.name, question.rdtype, 4096), wire)
    except _MalformedResponseError:
        return records.Answer(records.Outcome.ERROR)


_HEADER = struct.Struct("!HHHHHH")
_RECORD = struct.Struct("!HHIH")
_SRV = struct.Struct("!HHH")
_CLASS_IN = 1
_POINTER_TO_QUESTION = b"\xc0\x0c"  # a compressed name pointing at the question's name


def _read_answer(query: _Query, wire: bytes) -> records.Answer:
    try:
        if len(wire) < _HEADER.size:
            raise _MalformedResponseError("shorter than a header")
        rcode = wire[3] & 0xF
        if rcode != 0:
            return records.Answer(_RCODE_OUTCOMES.get(rcode, records.Outcome.ERROR))
        found = set(_answer_records(query, wire))
    except (IndexError, struct.error, ValueError, dns.exception.DNSException) as error:
        raise _MalformedResponseError(repr(error)) from error
    return records.Answer.of(found)


def _answer_records(query: _Query, wire: bytes) -> Iterator[str]:
    """The canonical text of each answer record of the asked name and type."""
    _id, _flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(wire)
    offset = _HEADER.size + len(query.question)
    if qdcount != 1 or wire[_HEADER.size : offset].lower() != query.question:
        raise _MalformedResponseError("not a response to this question")
    for _ in range(ancount):
        owned, offset = _owned(query, wire, offset)
        rdtype, rdclass, _ttl, rdlength = _RECORD.unpack_from(wire, offset)
        start = offset + _RECORD.size
        offset = start + rdlength
        if offset > len(wire):
            raise _MalformedResponseError("record data beyond the message")
        if owned and rdtype == query.rdtype and rdclass == _CLASS_IN:
            yield _record_text(rdtype, wire, start, rdlength)


def _owned(query: _Query, wire: bytes, offset: int) -> tuple[bool, int]:
    """Whether the record at ``offset`` belongs to the asked name, and where its type starts."""
    if wire[offset : offset + 2] == _POINTER_TO_QUESTION:  # the usual case, and the cheap one
        return True, offset + 2
    labels, offset = _read_name(wire, offset)
    return tuple(label.lower() for label in labels) == query.labels, offset


def _read_name(wire: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """The labels of the (possibly compressed) name at ``offset`` and the offset after it."""
    labels: list[bytes] = []
    end = -1
    size = 1  # octets of the uncompressed name, root label included: 255 at most
    for _step in range(256):
        length = wire[offset]
        if length == 0:
            return tuple(labels), end if end >= 0 else offset + 1
        if length >= 0xC0:
            end = offset + 2 if end < 0 else end
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            continue
        size += 1 + length
        if length > 63 or size > 255 or offset + 1 + length > len(wire):
            raise _MalformedResponseError("bad label or name too long")
        labels.append(wire[offset + 1 : offset + 1 + length])
        offset += 1 + length
    raise _MalformedResponseError("name too long or a compression loop")


def _record_text(rdtype: int, wire: bytes, offset: int, rdlength: int) -> str:
    """The canonical presentation form of one A, AAAA or SRV record (see ``records``)."""
    data = wire[offset : offset + rdlength]
    if rdtype == dns.rdatatype.A:
        if rdlength != 4:
            raise _MalformedResponseError("an A record of other than 4 octets")
        return socket.inet_ntoa(data)  # the dotted quad, as ipaddress writes it, 5x cheaper
    if rdtype == dns.rdatatype.AAAA:
        return ipaddress.IPv6Address(data).compressed
    if rdlength < _SRV.size + 1:
        raise _MalformedResponseError("short SRV record")
    priority, weight, port = _SRV.unpack_from(wire, offset)
    target, _end = _read_name(wire, offset + _SRV.size)
    return f"{priority} {weight} {port} {_name_text(target)}"


_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_-]+")


@functools.lru_cache(maxsize=65536)  # SRV targets: the same pod names, sweep after sweep
def _name_text(labels: tuple[bytes, ...]) -> str:
    """Lower-case, fully qualified text; dnspython escapes the rare unusual label."""
    if all(_PLAIN_LABEL.fullmatch(label) for label in labels):
        return "".join(label.decode("ascii").lower() + "." for label in labels) or "."
    return dns.name.Name((*labels, b"")).to_text().lower()


# --- the in-memory twin -----------------------------------------------------------------------


class InMemoryProber:
    """Answers from a table, for the tests of whatever consumes answers.

    ``answers`` maps server -> question -> answer; a question not in the table gets ``default``.
    A server in ``failures`` answers every question with that outcome (a dead replica). Every
    ``ask`` is recorded in ``asked`` as (server, the questions as given).
    """

    def __init__(
        self,
        answers: Mapping[records.DNSServer, Mapping[records.Question, records.Answer]]
        | None = None,
        *,
        default: records.Answer = records.NXDOMAIN,
        failures: Mapping[records.DNSServer, records.Outcome] | None = None,
    ) -> None:
        self.answers = {server: dict(table) for server, table in (answers or {}).items()}
        self.default = default
        self.failures = dict(failures or {})
        self.asked: list[tuple[records.DNSServer, tuple[records.Question, ...]]] = []

    async def ask(
        self, server: records.DNSServer, questions: Iterable[records.Question]
    ) -> dict[records.Question, records.Answer]:
        """Every distinct question with its answer from the table (or the failure, or default)."""
        asked = tuple(questions)
        self.asked.append((server, asked))
        failure = self.failures.get(server)
        table = self.answers.get(server, {})
        return {
            question: records.Answer(failure)
            if failure is not None
            else table.get(question, self.default)
            for question in dict.fromkeys(asked)
        }
