"""DNS facts shared by the expectation, the prober and the verdict.

A question is a (name, type) pair; an answer is what a DNS server says to it, reduced to the facts
the audit compares: the outcome and the *set* of records (CoreDNS's ``loadbalance`` shuffles order,
so order never matters). Records are kept in their canonical presentation form so that expected
and observed answers compare with plain set operations:

- A: ``10.244.1.5``; AAAA: the compressed form, ``fd00::5``;
- SRV: ``<priority> <weight> <port> <target>`` with the target lower-case and fully qualified,
  e.g. ``0 50 80 web-0.nginx.default.svc.cluster.local.``.

Names are lower-case and fully qualified (trailing dot).
"""

from __future__ import annotations

import dataclasses
import enum


class RecordType(enum.StrEnum):
    """The record types the audit asks for."""

    A = "A"
    AAAA = "AAAA"
    SRV = "SRV"


class Outcome(enum.StrEnum):
    """What a server said to one question; every member is a distinct fact."""

    ANSWER = "ANSWER"
    """NOERROR with at least one record of the asked type."""
    NODATA = "NODATA"
    """NOERROR without records of the asked type: the name exists."""
    NXDOMAIN = "NXDOMAIN"
    """The name does not exist."""
    SERVFAIL = "SERVFAIL"
    """The server failed (CoreDNS says this before it has synced with the API server)."""
    REFUSED = "REFUSED"
    """The server refused the query (the name is outside its zones, or policy)."""
    TIMEOUT = "TIMEOUT"
    """No answer within the timeout, after the retries."""
    UNREACHABLE = "UNREACHABLE"
    """The connection failed (nothing listening, network error)."""
    ERROR = "ERROR"
    """Any other rcode or a malformed response."""

    @property
    def is_answer(self) -> bool:
        """True for outcomes that are a statement about the name (not a probe failure)."""
        return self in (Outcome.ANSWER, Outcome.NODATA, Outcome.NXDOMAIN)


@dataclasses.dataclass(frozen=True, order=True)
class Question:
    """One DNS question: a fully qualified lower-case name and a record type."""

    name: str
    rdtype: RecordType


@dataclasses.dataclass(frozen=True)
class Answer:
    """The comparable content of one response.

    ``records`` is empty unless ``outcome`` is ANSWER.
    """

    outcome: Outcome
    records: frozenset[str] = frozenset()

    @staticmethod
    def of(records: frozenset[str] | set[str]) -> Answer:
        """An answer with these records, or NODATA when there are none."""
        if records:
            return Answer(Outcome.ANSWER, frozenset(records))
        return Answer(Outcome.NODATA)


NXDOMAIN = Answer(Outcome.NXDOMAIN)
NODATA = Answer(Outcome.NODATA)


@dataclasses.dataclass(frozen=True, order=True)
class DNSServer:
    """A DNS server the audit asks: an address and a port, and the role it plays."""

    host: str
    port: int = 53
    role: str = "replica"
    """``replica`` for one CoreDNS process/pod, ``service`` for the kube-dns Service IP."""

    @property
    def address(self) -> str:
        """``ip:port``, with IPv6 addresses in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
