"""The real prober, :class:`DnsPythonProber`: UDP in runs with TCP on truncation, or TCP only.

- **UDP with a large EDNS buffer, TCP when truncated.** A headless Service with more than ~29 ready
  endpoints does not fit a 512-byte UDP answer; CoreDNS then sets TC and shows a random subset.
  Queries advertise a 4096-byte EDNS0 payload (so CoreDNS rarely truncates) and are repeated over
  TCP when TC is set anyway, so the audit always compares whole sets. UDP stays the default because
  a sweep asks tens of thousands of questions and a TCP connection per question costs several
  times more; ``transport="tcp"`` is there for networks that drop UDP.
- **Runs, not a task per question.** Over UDP the questions of one ``ask`` go out in runs as
  long as the free slots allow, and each run waits once for its replies: no task, timer or lock per
  question (they were a third of the prober's CPU in a 28,000-question sweep; docs/benchmarks.md).
- **Bounded everything.** One window of slots bounds the queries in flight per prober, across
  servers; each attempt has a timeout; only timeouts are retried, a fixed number of times (an rcode
  is an answer). When every attempt timed out, one TCP connect tells a closed port (UNREACHABLE;
  some networks drop the ICMP error) from a silent server (TIMEOUT). A server that keeps timing out
  is given up on for a while (:mod:`headless_auditor.probe.breaker`).

The sockets and slots are in :mod:`headless_auditor.probe.transport`, the wire format in
:mod:`headless_auditor.probe.wire`. One prober belongs to one event loop (its slots and sockets
do); ``aclose`` it when done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import dns.exception

from headless_auditor.core import records
from headless_auditor.probe.base import QueryObserver
from headless_auditor.probe.breaker import ServerHealth
from headless_auditor.probe.settings import ProbeSettings
from headless_auditor.probe.transport import UdpChannel, Window, silent_or_closed, tcp_exchange
from headless_auditor.probe.wire import TC, MalformedResponseError, Query, query_for, read_answer

logger = logging.getLogger("headless_auditor.probe")  # the package's name: one for all its logs

_ERROR = records.Answer(records.Outcome.ERROR)


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
        self._window = Window(self.settings.max_in_flight)
        self._channels: dict[tuple[str, int], UdpChannel] = {}
        self._health: dict[tuple[str, int], ServerHealth] = {}

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

    def _health_of(self, server: records.DNSServer) -> ServerHealth:
        return self._health.setdefault((server.host, server.port), ServerHealth())

    def _observe(
        self,
        server: records.DNSServer,
        question: records.Question,
        answer: records.Answer,
        seconds: float,
        health: ServerHealth,
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
        waiting = _queries_of(run, self.settings.edns_payload)  # until each has its answer
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
            outcome = await silent_or_closed(server, self.settings.timeout)
            spent = time.perf_counter() - started
            for i in waiting:
                results[i] = (records.Answer(outcome), spent)
        return results

    async def _read_reply(
        self,
        server: records.DNSServer,
        question: records.Question,
        query: Query,
        reply: bytes | OSError,
        at: float,
    ) -> tuple[records.Answer, float] | None:
        """The answer in a UDP reply and when it came, or None to ask again (a TCP timeout)."""
        try:
            if isinstance(reply, OSError):
                raise reply
            if reply[2] & TC:
                self.queries_issued += 1
                reply = await tcp_exchange(server, query, self.settings.timeout)
                at = time.perf_counter()
            return read_answer(query, reply), at
        except TimeoutError:  # an OSError: must come first
            return None
        except OSError as error:
            logger.debug("DNS %s unreachable for %s: %r", server.address, question, error)
            return records.Answer(records.Outcome.UNREACHABLE), at
        except (MalformedResponseError, EOFError) as error:
            logger.debug("DNS %s bad response for %s: %r", server.address, question, error)
            return records.Answer(records.Outcome.ERROR), at

    def _channel(self, server: records.DNSServer) -> UdpChannel:
        key = (server.host, server.port)
        channel = self._channels.get(key)
        if channel is None or channel.closed:
            channel = self._channels[key] = UdpChannel(server.host, server.port)
        return channel

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
            query = query_for(question.name, question.rdtype, self.settings.edns_payload)
        except dns.exception.DNSException as error:
            logger.debug("Cannot ask %s: %r", question, error)
            return _ERROR
        for _attempt in range(1 + self.settings.retries):
            self.queries_issued += 1
            try:
                return read_answer(query, await tcp_exchange(server, query, self.settings.timeout))
            except TimeoutError:  # an OSError: must come first
                continue
            except OSError as error:
                logger.debug("DNS %s unreachable for %s: %r", server.address, question, error)
                return records.Answer(records.Outcome.UNREACHABLE)
            except (MalformedResponseError, EOFError) as error:
                logger.debug("DNS %s bad response for %s: %r", server.address, question, error)
                return _ERROR
        return records.Answer(records.Outcome.TIMEOUT)


def _queries_of(run: list[records.Question], payload: int) -> dict[int, Query]:
    """Each question's query by its index in ``run``, built once per run (not per attempt); a
    question that cannot be encoded is left out, unsent, and its answer stays ERROR."""
    queries: dict[int, Query] = {}
    for index, question in enumerate(run):
        try:
            queries[index] = query_for(question.name, question.rdtype, payload)
        except dns.exception.DNSException as error:
            logger.debug("Cannot ask %s: %r", question, error)
    return queries
