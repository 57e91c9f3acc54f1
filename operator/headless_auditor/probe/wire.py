"""DNS messages on the wire: the queries the prober sends and a narrow reader of the responses.

Pure: no I/O, no clock, nothing but dnspython and :mod:`records`.

- **A narrow reader, checked against dnspython.** Queries are built once per question (dnspython
  encodes the name) and cached; only the id changes per send. Responses are read by
  :func:`answer_from_wire`, which decodes only the header, the question and the answer records.
  Building and parsing whole messages with dnspython (``make_query``, ``dns.asyncquery``) cost
  10-50x more per message: ~1,200 queries/s on the 2-core build machine, against 5,300-7,300/s
  for whole steady sweeps of 28,000 questions now (docs/benchmarks.md). The tests check the reader
  against dnspython's parser on generated responses, and feed it mangled bytes.
- **UDP with a large EDNS buffer.** Every query advertises an EDNS0 payload (4096 bytes by
  default), so CoreDNS rarely truncates a large answer; :data:`TC` tells the prober when it did.
- **Names are followed exactly.** Only records owned by the asked name (case-insensitively) and of
  the asked type count; a CNAME (NODATA for the asked type) and the additional section (SRV target
  addresses) are ignored, because the audit compares exactly what CoreDNS serves for each name.
  Extended rcodes in the OPT record are not read: they concern EDNS versions, TSIG and cookies,
  none of which these queries use.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
import socket
import struct
from collections.abc import Iterator, Mapping

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype

from headless_auditor.core import records

TC = 0x02
"""The truncation flag, in the third header byte."""
_QR = 0x80  # the response flag, in the third header byte

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


class MalformedResponseError(Exception):
    """The response cannot be read, or does not answer the query."""


# --- writing queries --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    """A question ready to send: its wire form (id to be replaced) and what a response must echo."""

    wire: bytes
    question: bytes
    """The question section, lower-case, as the response must repeat it."""
    labels: tuple[bytes, ...]
    """The name's labels, lower-case, root label excluded."""
    rdtype: int


_QUERY_HEADER = struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 1)  # id 0, RD, 1 question, 1 OPT


@functools.lru_cache(maxsize=1 << 16)
def query_for(name: str, rdtype: records.RecordType, payload: int) -> Query:
    """The query for one question, built once: only the id changes per send.

    dnspython encodes the name (validation, escapes); the fixed parts are packed here, because a
    whole ``dns.message.make_query`` costs ten times more and is needed for every new question.
    Raises :class:`dns.exception.DNSException` for a name that cannot be encoded.
    """
    qname = dns.name.from_text(name)
    question = (qname.to_wire() or b"") + struct.pack("!HH", _RDTYPES[rdtype], 1)
    edns0 = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, payload, 0, 0)
    return Query(
        wire=_QUERY_HEADER + question + edns0,
        question=question.lower(),
        labels=tuple(label.lower() for label in qname.labels[:-1]),
        rdtype=_RDTYPES[rdtype],
    )


# --- reading responses ------------------------------------------------------------------------


def responds_to(wire: bytes, question: bytes) -> bool:
    """Whether a message (id already matched) is a response to the query with this question."""
    if not wire[2] & _QR or (wire[2] >> 3) & 0xF != 0:
        return False
    qdcount = int.from_bytes(wire[4:6], "big")
    if qdcount == 0:
        return wire[3] & 0xF != 0  # an error (e.g. FORMERR) may come without the question
    return qdcount == 1 and wire[12 : 12 + len(question)].lower() == question


def answer_from_wire(question: records.Question, wire: bytes) -> records.Answer:
    """The comparable facts of a response (wire format) to ``question``; ERROR if unreadable.

    Only the header, the question and the answer section are read: the authority and additional
    sections, and extended rcodes, never change what the audit compares.
    """
    try:
        return read_answer(query_for(question.name, question.rdtype, 4096), wire)
    except MalformedResponseError:
        return records.Answer(records.Outcome.ERROR)


_HEADER = struct.Struct("!HHHHHH")
_RECORD = struct.Struct("!HHIH")
_SRV = struct.Struct("!HHH")
_CLASS_IN = 1
_POINTER_TO_QUESTION = b"\xc0\x0c"  # a compressed name pointing at the question's name


def read_answer(query: Query, wire: bytes) -> records.Answer:
    """The answer in a response to ``query``; raises :class:`MalformedResponseError`."""
    try:
        if len(wire) < _HEADER.size:
            raise MalformedResponseError("shorter than a header")
        rcode = wire[3] & 0xF
        if rcode != 0:
            return records.Answer(_RCODE_OUTCOMES.get(rcode, records.Outcome.ERROR))
        found = set(_answer_records(query, wire))
    except (IndexError, struct.error, ValueError, dns.exception.DNSException) as error:
        raise MalformedResponseError(repr(error)) from error
    return records.Answer.of(found)


def _answer_records(query: Query, wire: bytes) -> Iterator[str]:
    """The canonical text of each answer record of the asked name and type."""
    _id, _flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(wire)
    offset = _HEADER.size + len(query.question)
    if qdcount != 1 or wire[_HEADER.size : offset].lower() != query.question:
        raise MalformedResponseError("not a response to this question")
    for _ in range(ancount):
        owned, offset = _owned(query, wire, offset)
        rdtype, rdclass, _ttl, rdlength = _RECORD.unpack_from(wire, offset)
        start = offset + _RECORD.size
        offset = start + rdlength
        if offset > len(wire):
            raise MalformedResponseError("record data beyond the message")
        if owned and rdtype == query.rdtype and rdclass == _CLASS_IN:
            yield _record_text(rdtype, wire, start, rdlength)


def _owned(query: Query, wire: bytes, offset: int) -> tuple[bool, int]:
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
            raise MalformedResponseError("bad label or name too long")
        labels.append(wire[offset + 1 : offset + 1 + length])
        offset += 1 + length
    raise MalformedResponseError("name too long or a compression loop")


def _record_text(rdtype: int, wire: bytes, offset: int, rdlength: int) -> str:
    """The canonical presentation form of one A, AAAA or SRV record (see ``records``)."""
    data = wire[offset : offset + rdlength]
    if rdtype == dns.rdatatype.A:
        if rdlength != 4:
            raise MalformedResponseError("an A record of other than 4 octets")
        return socket.inet_ntoa(data)  # the dotted quad, as ipaddress writes it, 5x cheaper
    if rdtype == dns.rdatatype.AAAA:
        return ipaddress.IPv6Address(data).compressed
    if rdlength < _SRV.size + 1:
        raise MalformedResponseError("short SRV record")
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
