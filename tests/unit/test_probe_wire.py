"""The wire reader against dnspython's parser, on generated, mangled and broken responses."""

from __future__ import annotations

import io
import ipaddress
import struct

import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.SRV
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headless_auditor import probe
from headless_auditor.core.records import Answer, Outcome, Question, RecordType

Z = "ns.svc.cluster.local."


def q(name: str, rdtype: RecordType = RecordType.A) -> Question:
    return Question(name, rdtype)


# --- the wire reader, against dnspython's parser -------------------------------------------------

QNAME = f"web-0.nginx.{Z}"
RCODES = [
    dns.rcode.NOERROR,
    dns.rcode.NXDOMAIN,
    dns.rcode.SERVFAIL,
    dns.rcode.REFUSED,
    dns.rcode.NOTIMP,
]


def canonical(rdata: dns.rdata.Rdata) -> str:
    if isinstance(rdata, dns.rdtypes.IN.SRV.SRV):
        return f"{rdata.priority} {rdata.weight} {rdata.port} {rdata.target.to_text().lower()}"
    if rdata.rdtype == dns.rdatatype.AAAA:
        return ipaddress.IPv6Address(rdata.to_text()).compressed
    return rdata.to_text()


def dnspython_answer(question: Question, wire: bytes) -> Answer:
    """The reference: the whole message parsed by dnspython, then reduced."""
    message = dns.message.from_wire(wire)
    outcomes = {
        dns.rcode.NOERROR: Outcome.NODATA,
        dns.rcode.NXDOMAIN: Outcome.NXDOMAIN,
        dns.rcode.SERVFAIL: Outcome.SERVFAIL,
        dns.rcode.REFUSED: Outcome.REFUSED,
    }
    if message.rcode() != dns.rcode.NOERROR:
        return Answer(outcomes.get(message.rcode(), Outcome.ERROR))
    qname = dns.name.from_text(question.name)
    rdtype = dns.rdatatype.from_text(question.rdtype)
    found = {
        canonical(rdata)
        for rrset in message.answer
        if rrset.name == qname and rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN
        for rdata in rrset
    }
    return Answer.of(found)


def uncompressed(message: dns.message.Message) -> bytes:
    out = io.BytesIO()
    counts = [
        sum(len(rrset) for rrset in section) for section in (message.answer, message.additional)
    ]
    out.write(struct.pack("!HHHHHH", message.id, message.flags, 1, counts[0], 0, counts[1]))
    question = message.question[0]
    out.write((question.name.to_wire() or b"") + struct.pack("!HH", question.rdtype, 1))
    for rrset in (*message.answer, *message.additional):
        rrset.to_wire(out)
    return out.getvalue()


labels = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True), st.binary(min_size=1, max_size=6)
)
names = st.one_of(
    st.sampled_from([QNAME, QNAME.upper(), f"Web-0.NGINX.{Z}", f"x.{QNAME}", f"nginx.{Z}"]),
    st.lists(labels, min_size=0, max_size=4).map(
        lambda parts: dns.name.Name([*parts, b""]).to_text()
    ),
)


def rdatas_of(rdtype: str) -> st.SearchStrategy[dns.rdata.Rdata]:
    def text(value: str) -> dns.rdata.Rdata:
        return dns.rdata.from_text("IN", rdtype, value)

    if rdtype == "A":
        return st.ip_addresses(v=4).map(lambda ip: text(str(ip)))
    if rdtype == "AAAA":
        return st.ip_addresses(v=6).map(lambda ip: text(ip.exploded))
    if rdtype == "SRV":
        ports = st.integers(0, 65535)
        return st.tuples(ports, ports, ports, names).map(
            lambda srv: text("{} {} {} {}".format(*srv))
        )
    if rdtype == "CNAME":
        return names.map(text)
    return st.just(text('"some text"'))


@st.composite
def rrsets(draw: st.DrawFn, owner: str | None = None, rdtype: str | None = None) -> dns.rrset.RRset:
    rdtype = rdtype or draw(st.sampled_from(["A", "AAAA", "SRV", "CNAME", "TXT"]))
    rdatas = draw(st.lists(rdatas_of(rdtype), min_size=1, max_size=4))
    return dns.rrset.from_rdata_list(owner or draw(names), 30, rdatas)


OTHER_CLASS = {  # the asked name and type, in class HS: not an answer
    rdtype: dns.rdata.from_text("HS", rdtype, generic)
    for rdtype, generic in [
        ("A", r"\# 4 0a000001"),
        ("AAAA", r"\# 16 fd000000000000000000000000000001"),
        ("SRV", r"\# 7 00000000005000"),
    ]
}


@st.composite
def responses(draw: st.DrawFn) -> tuple[Question, dns.message.Message, bool]:
    """A question and a response to render (in the test: dnspython shuffles while rendering)."""
    rdtype = draw(st.sampled_from(list(RecordType)))
    asked = draw(st.sampled_from([QNAME, QNAME.upper(), f"wEb-0.nginx.{Z}"]))
    edns = draw(st.sampled_from([False, 0]))
    query = dns.message.make_query(asked, rdtype, use_edns=edns, id=draw(st.integers(0, 65535)))
    response = dns.message.make_response(query)
    response.set_rcode(draw(st.sampled_from(RCODES)) if draw(st.booleans()) else dns.rcode.NOERROR)
    owned = rrsets(owner=draw(st.sampled_from([QNAME, f"WEB-0.nginx.{Z}"])), rdtype=rdtype)
    other_class = st.just(dns.rrset.from_rdata_list(QNAME, 30, [OTHER_CLASS[rdtype]]))
    response.answer = draw(st.lists(st.one_of(owned, rrsets(), other_class), max_size=5))
    response.additional = draw(st.lists(rrsets(), max_size=3))
    return Question(QNAME, rdtype), response, draw(st.booleans())


def render(response: dns.message.Message, compress: bool) -> bytes:
    return response.to_wire() if compress else uncompressed(response)


@settings(max_examples=100, deadline=None)
@given(responses())
def test_the_reader_agrees_with_dnspython(case):
    question, response, compress = case
    wire = render(response, compress)

    assert probe.answer_from_wire(question, wire) == dnspython_answer(question, wire)


@settings(max_examples=100, deadline=None)
@given(responses(), st.data())
def test_mangled_responses_never_raise(case, data):
    question, response, compress = case
    wire = render(response, compress)
    mangled = bytearray(wire[: data.draw(st.integers(0, len(wire)))])
    for _ in range(data.draw(st.integers(0, 4))):
        if mangled:
            mangled[data.draw(st.integers(0, len(mangled) - 1))] = data.draw(st.integers(0, 255))

    result = probe.answer_from_wire(question, bytes(mangled))

    assert isinstance(result, Answer)


HEADER_NOERROR_ONE_ANSWER = struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0)
QUESTION_WIRE = (dns.name.from_text(QNAME).to_wire() or b"") + struct.pack("!HH", 1, 1)
FIRST_ANSWER = 12 + len(QUESTION_WIRE)


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(b"", id="empty"),
        pytest.param(HEADER_NOERROR_ONE_ANSWER[:7], id="short-header"),
        pytest.param(
            HEADER_NOERROR_ONE_ANSWER + QUESTION_WIRE + bytes([0xC0, FIRST_ANSWER]) + b"\x00" * 10,
            id="pointer-loop",
        ),
        pytest.param(
            HEADER_NOERROR_ONE_ANSWER + QUESTION_WIRE + b"\x40" + b"x" * 64, id="reserved-label"
        ),
        pytest.param(
            HEADER_NOERROR_ONE_ANSWER
            + QUESTION_WIRE
            + b"\xc0\x0c"
            + struct.pack("!HHIH", 1, 1, 30, 3)
            + b"\x0a\x00\x00",
            id="A-of-3-bytes",
        ),
        pytest.param(
            HEADER_NOERROR_ONE_ANSWER
            + QUESTION_WIRE
            + b"\xc0\x0c"
            + struct.pack("!HHIH", 1, 1, 30, 4)
            + b"\x0a",
            id="rdata-beyond-end",
        ),
        pytest.param(
            HEADER_NOERROR_ONE_ANSWER
            + QUESTION_WIRE
            + b"".join(bytes([63]) + b"x" * 63 for _ in range(5))
            + b"\x00"
            + struct.pack("!HHIH", 1, 1, 30, 4)
            + b"\x0a\x00\x00\x01",
            id="name-over-255-octets",
        ),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0)
            + (dns.name.from_text("x.").to_wire() or b"")
            + b"\x00\x01\x00\x01",
            id="another-question",
        ),
    ],
)
def test_unreadable_responses_are_errors(wire):
    assert probe.answer_from_wire(q(QNAME), wire) == Answer(Outcome.ERROR)
