"""Plain synchronous DNS questions to one CoreDNS process, for tests that check CoreDNS itself.

Over TCP so large answers are never truncated; the answer is reduced to (rcode, set of records)
because CoreDNS's ``loadbalance`` shuffles order.
"""

from __future__ import annotations

import dataclasses

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype


@dataclasses.dataclass(frozen=True)
class Reply:
    rcode: str
    records: frozenset[str]

    @property
    def nodata(self) -> bool:
        return self.rcode == "NOERROR" and not self.records


def ask(server: str, name: str, rdtype: str = "A", *, timeout: float = 2.0) -> Reply:
    """Ask ``server`` (``ip:port``) for ``name``/``rdtype`` over TCP."""
    host, _, port = server.rpartition(":")
    query = dns.message.make_query(name, rdtype)
    response = dns.query.tcp(query, host, port=int(port), timeout=timeout)
    wanted = dns.rdatatype.from_text(rdtype)
    records = frozenset(
        rdata.to_text().lower()
        for rrset in response.answer
        if rrset.rdtype == wanted
        for rdata in rrset
    )
    return Reply(dns.rcode.to_text(response.rcode()), records)
