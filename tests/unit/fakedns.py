"""A tiny DNS server on loopback for the prober's tests: UDP and TCP on one ephemeral port.

It serves a :class:`Zone` built by the test (dnspython renders the answers) and behaves like a
real server where the prober cares: NXDOMAIN / NODATA, failure rcodes, names it never answers,
broken or misdirected responses, and UDP truncation — a UDP answer larger than the client's EDNS
payload (512 bytes without EDNS, or always with ``honour_edns=False``) loses records and carries
TC=1, like CoreDNS, so only a client that advertises a large buffer or falls back to TCP sees the
whole set. It records what it was asked and the most queries it held at once (``latency`` holds
every answer for a while, which makes concurrency observable).

``python tests/unit/fakedns.py PORT`` serves a cluster-shaped demo zone over UDP for benchmarks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import sys
from collections.abc import Iterator

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

UDP_WITHOUT_EDNS = 512


@dataclasses.dataclass
class Zone:
    """Names and their records (presentation form), plus names that misbehave."""

    records: dict[str, dict[str, list[str]]] = dataclasses.field(default_factory=dict)
    """lower-case owner -> record type -> rdata texts."""
    spelling: dict[str, str] = dataclasses.field(default_factory=dict)
    """lower-case owner -> the owner as written: answers keep its case."""
    rcodes: dict[str, dns.rcode.Rcode] = dataclasses.field(default_factory=dict)
    silent: set[str] = dataclasses.field(default_factory=set)
    """Never answered."""
    broken: set[str] = dataclasses.field(default_factory=set)
    """Answered with a response cut short inside the answer section."""
    misdirected: set[str] = dataclasses.field(default_factory=set)
    """Answered with the right id but another question."""

    def add(self, name: str, rdtype: str, *rdatas: str) -> Zone:
        self.spelling[name.lower()] = name
        self.records.setdefault(name.lower(), {}).setdefault(rdtype, []).extend(rdatas)
        return self

    def fail(self, name: str, rcode: dns.rcode.Rcode) -> Zone:
        self.rcodes[name.lower()] = rcode
        return self

    def rrset(self, name: str, rdtype: str) -> dns.rrset.RRset | None:
        rdatas = self.records.get(name.lower(), {}).get(rdtype)
        if not rdatas:
            return None
        owner = self.spelling[name.lower()]
        return dns.rrset.from_text_list(owner, 30, dns.rdataclass.IN, rdtype, rdatas)


def build_response(zone: Zone, query: dns.message.Message) -> dns.message.Message:
    """The complete response (no truncation) the zone gives to ``query``."""
    question = query.question[0]
    qname = question.name.to_text().lower()
    qtype = dns.rdatatype.to_text(question.rdtype)
    response = dns.message.make_response(query)
    if qname in zone.rcodes:
        response.set_rcode(zone.rcodes[qname])
    elif qname not in zone.records:
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif cname := zone.rrset(qname, "CNAME"):
        target = cname[0].target.to_text()
        response.answer.extend(rrset for rrset in (cname, zone.rrset(target, qtype)) if rrset)
    elif answer := zone.rrset(qname, qtype):
        response.answer.append(answer)
        response.additional.extend(_glue(zone, answer))
    return response


def _glue(zone: Zone, answer: dns.rrset.RRset) -> Iterator[dns.rrset.RRset]:
    """The addresses of SRV targets, in the additional section, as CoreDNS sends them."""
    for rdata in answer:
        if answer.rdtype == dns.rdatatype.SRV and (glue := zone.rrset(rdata.target.to_text(), "A")):
            yield glue


def truncated_wire(response: dns.message.Message, limit: int) -> bytes:
    """The response's wire form; over ``limit``, answer records are dropped and TC set."""
    wire = response.to_wire(max_size=65535)
    if len(wire) <= limit:
        return wire
    response.flags |= dns.flags.TC
    response.additional = []
    while response.answer and len(wire) > limit:
        last = response.answer[-1]
        if len(last) > 1:
            response.answer[-1] = dns.rrset.from_rdata_list(last.name, last.ttl, list(last)[:-1])
        else:
            response.answer.pop()
        wire = response.to_wire(max_size=65535)
    return wire


@dataclasses.dataclass
class Stats:
    """What the server saw."""

    queries: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    """(transport, lower-case name, type) of every query received."""
    in_flight: int = 0
    max_in_flight: int = 0

    def count(self, name: str, transport: str | None = None) -> int:
        return sum(
            1
            for seen_transport, seen_name, _type in self.queries
            if seen_name == name.lower() and transport in (None, seen_transport)
        )

    def transports(self) -> set[str]:
        return {transport for transport, _name, _type in self.queries}


class FakeDNSServer:
    """Serves a zone over UDP and TCP on a loopback address, one ephemeral port for both."""

    def __init__(
        self,
        zone: Zone,
        *,
        honour_edns: bool = True,
        latency: float = 0.0,
        tcp: bool = True,
        replay: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.zone = zone
        self.host = host
        """127.0.0.1 or ::1: tests never leave loopback."""
        self.honour_edns = honour_edns
        """False: ignore the client's EDNS payload and truncate every UDP answer above 512."""
        self.latency = latency
        """Seconds every answer is held before it is sent."""
        self.tcp = tcp
        """False: nothing listens on the TCP port (connections are refused)."""
        self.replay = replay
        """Benchmarks: answer a byte-identical UDP query (id aside) from a cache, unrecorded."""
        self.stats = Stats()
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self._replies: dict[bytes, bytes] = {}

    async def __aenter__(self) -> FakeDNSServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        for _attempt in range(20):
            self._udp, _protocol = await loop.create_datagram_endpoint(
                lambda: _UDPProtocol(self), local_addr=(self.host, port)
            )
            self.port = self._udp.get_extra_info("sockname")[1]
            if not self.tcp:
                return
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)
            except OSError:  # the TCP port of that number is taken: try another
                self._udp.close()
                continue
            return
        raise RuntimeError("no port free for both UDP and TCP")

    async def close(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
            for writer in self._connections:
                writer.close()
            await asyncio.gather(*self._connections.values(), return_exceptions=True)
            await self._tcp.wait_closed()
        if self._udp is not None:
            self._udp.close()
            await asyncio.sleep(0)  # let the transport finish closing

    def answer_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self._udp is not None
        cached = self._replies.get(data[2:]) if self.replay else None
        if cached is not None:
            self._udp.sendto(data[:2] + cached, addr)
            return
        query = self._parse(data, "udp")
        response = self._respond(query) if query else None
        if query is None or response is None:
            return
        limit = UDP_WITHOUT_EDNS
        if self.honour_edns and query.edns >= 0:
            limit = max(query.payload, UDP_WITHOUT_EDNS)
        if not self.honour_edns:
            response.use_edns(False)
        wire = self._damage(query, truncated_wire(response, limit))
        if self.replay:
            self._replies[data[2:]] = wire[2:]
        self._hold()
        asyncio.get_running_loop().call_later(self.latency, self._send_udp, wire, addr)

    def _send_udp(self, wire: bytes, addr: tuple[str, int]) -> None:
        self._release()
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(wire, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        try:
            while True:
                length = int.from_bytes(await reader.readexactly(2), "big")
                query = self._parse(await reader.readexactly(length), "tcp")
                response = self._respond(query) if query else None
                if query is None or response is None:
                    continue
                wire = self._damage(query, response.to_wire(max_size=65535))
                self._hold()
                await asyncio.sleep(self.latency)
                self._release()
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            del self._connections[writer]
            writer.close()

    def _parse(self, data: bytes, transport: str) -> dns.message.Message | None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        question = query.question[0]
        name = question.name.to_text().lower()
        self.stats.queries.append((transport, name, dns.rdatatype.to_text(question.rdtype)))
        return query

    def _respond(self, query: dns.message.Message) -> dns.message.Message | None:
        name = query.question[0].name.to_text().lower()
        if name in self.zone.silent:
            return None
        response = build_response(self.zone, query)
        if name in self.zone.broken:  # end with the answer section, to be cut inside it
            response.use_edns(False)
            response.additional = []
        return response

    def _damage(self, query: dns.message.Message, wire: bytes) -> bytes:
        name = query.question[0].name.to_text().lower()
        if name in self.zone.broken:
            return wire[:-3]
        if name in self.zone.misdirected:
            other = dns.message.make_query("other.example.", "A", id=query.id)
            response = dns.message.make_response(other)
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        return wire

    def _hold(self) -> None:
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)

    def _release(self) -> None:
        self.stats.in_flight -= 1


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: FakeDNSServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server.answer_udp(data, addr)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens, neither UDP nor TCP (free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def demo_zone(services: int = 1000, pods: int = 10) -> Zone:
    """Cluster-shaped: ``svc-N.ns.svc.cluster.local.`` with pods ``web-P`` and an SRV port."""
    zone = Zone()
    for service in range(services):
        base = f"svc-{service}.ns.svc.cluster.local."
        ips = [f"10.{service // 250}.{service % 250}.{pod}" for pod in range(pods)]
        zone.add(base, "A", *ips)
        for pod, ip in enumerate(ips):
            zone.add(f"web-{pod}.{base}", "A", ip)
        zone.add(f"_http._tcp.{base}", "SRV", *(f"0 10 80 web-{p}.{base}" for p in range(pods)))
    return zone


async def _serve_forever(port: int) -> None:
    server = FakeDNSServer(demo_zone(), tcp=False, replay=True)
    await server.start(port)
    print(f"serving the demo zone on 127.0.0.1:{server.port}/udp", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve_forever(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
