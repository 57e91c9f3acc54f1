"""The DNS prober against a real (tiny) DNS server on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import fakedns
import pytest

from headless_auditor import probe
from headless_auditor.core import records
from headless_auditor.core.records import Answer, Outcome, Question, RecordType
from headless_auditor.probe import transport

Z = "ns.svc.cluster.local."
BIG = [f"10.0.0.{i}" for i in range(1, 41)]  # 40 A records: ~700 bytes, more than 512


def q(name: str, rdtype: RecordType = RecordType.A) -> Question:
    return Question(name, rdtype)


def answer(*recs: str) -> Answer:
    return Answer.of(set(recs))


def make_zone() -> fakedns.Zone:
    zone = (
        fakedns.Zone()
        .add(f"web-0.nginx.{Z}", "A", "10.244.1.5")
        .add(f"Web-1.NGINX.{Z}", "A", "10.244.1.6")
        .add(f"nginx.{Z}", "A", "10.244.1.5", "10.244.1.6")
        .add(f"nginx.{Z}", "AAAA", "fd00:0:0:0:0:0:0:5", "FD00::6")
        .add(
            f"_web._tcp.nginx.{Z}",
            "SRV",
            f"0 50 80 WEB-0.Nginx.{Z}",
            f"0 50 80 web-1.nginx.{Z}",
        )
        .add(f"big.{Z}", "A", *BIG)
        .add(f"alias.{Z}", "CNAME", f"web-0.nginx.{Z}")
        .fail(f"syncing.{Z}", dns.rcode.SERVFAIL)
        .fail(f"policy.{Z}", dns.rcode.REFUSED)
        .fail(f"odd.{Z}", dns.rcode.NOTIMP)
    )
    zone.silent.add(f"silent.{Z}")
    return zone


@pytest.fixture
async def server() -> AsyncIterator[fakedns.FakeDNSServer]:
    async with fakedns.FakeDNSServer(make_zone()) as running:
        yield running


def at(running: fakedns.FakeDNSServer, role: str = "replica") -> records.DNSServer:
    return records.DNSServer(running.host, running.port, role)


MakeProber = Callable[..., probe.DnsPythonProber]


@pytest.fixture
async def make_prober() -> AsyncIterator[MakeProber]:
    made: list[probe.DnsPythonProber] = []

    def make(
        on_query: probe.QueryObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> probe.DnsPythonProber:
        options.setdefault("timeout", 1.0)
        settings = probe.ProbeSettings(**options)
        prober = probe.DnsPythonProber(settings, on_query, clock=clock)
        made.append(prober)
        return prober

    yield make
    for prober in made:
        await prober.aclose()


# --- what servers say becomes distinct outcomes --------------------------------------------------

ANSWERS = [
    pytest.param(q(f"web-0.nginx.{Z}"), answer("10.244.1.5"), id="A"),
    pytest.param(q(f"nginx.{Z}"), answer("10.244.1.5", "10.244.1.6"), id="A-set"),
    pytest.param(
        q(f"nginx.{Z}", RecordType.AAAA), answer("fd00::5", "fd00::6"), id="AAAA-compressed"
    ),
    pytest.param(
        q(f"_web._tcp.nginx.{Z}", RecordType.SRV),
        answer(f"0 50 80 web-0.nginx.{Z}", f"0 50 80 web-1.nginx.{Z}"),
        id="SRV-lower-case-targets-no-glue",
    ),
    pytest.param(q(f"web-1.nginx.{Z}"), answer("10.244.1.6"), id="owner-in-other-case"),
    pytest.param(q(f"WEB-0.Nginx.{Z}"), answer("10.244.1.5"), id="question-in-other-case"),
    pytest.param(q(f"nginx.{Z}", RecordType.SRV), records.NODATA, id="NODATA"),
    pytest.param(q(f"alias.{Z}"), records.NODATA, id="CNAME-is-not-followed"),
    pytest.param(q(f"nobody.{Z}"), records.NXDOMAIN, id="NXDOMAIN"),
    pytest.param(q(f"syncing.{Z}"), Answer(Outcome.SERVFAIL), id="SERVFAIL"),
    pytest.param(q(f"policy.{Z}"), Answer(Outcome.REFUSED), id="REFUSED"),
    pytest.param(q(f"odd.{Z}"), Answer(Outcome.ERROR), id="other-rcode-is-ERROR"),
]


@pytest.mark.parametrize(("question", "expected"), ANSWERS)
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_each_response_becomes_its_answer(server, make_prober, transport, question, expected):
    prober = make_prober(transport=transport)

    answers = await prober.ask(at(server), [question])

    assert answers == {question: expected}
    assert server.stats.transports() == {transport}


async def test_many_questions_in_one_ask(server, make_prober):
    questions = [param.values[0] for param in ANSWERS]
    expected = {param.values[0]: param.values[1] for param in ANSWERS}

    answers = await make_prober().ask(at(server), questions + questions[:3])

    assert answers == expected
    assert list(answers) == questions  # one entry per distinct question, in the order given
    assert len(server.stats.queries) == len(questions)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_an_ipv6_server_is_asked_too(make_prober, transport):
    """Runs everywhere CI runs: the project's machines have ::1 (no skip hides a missing one)."""
    async with fakedns.FakeDNSServer(make_zone(), host="::1", honour_edns=False) as running:
        answers = await make_prober(transport=transport).ask(
            at(running), [q(f"web-0.nginx.{Z}"), q(f"big.{Z}")]
        )

    assert answers == {q(f"web-0.nginx.{Z}"): answer("10.244.1.5"), q(f"big.{Z}"): answer(*BIG)}


async def test_a_question_that_cannot_be_encoded_is_an_error(server, make_prober):
    question = q("x" * 64 + f".{Z}")

    assert await make_prober().ask(at(server), [question]) == {question: Answer(Outcome.ERROR)}
    assert server.stats.queries == []


# --- truncation ---------------------------------------------------------------------------------


async def test_the_fake_server_truncates_like_coredns(server):
    """Guards the tests below: without EDNS the 40 records do not come over UDP."""
    plain = dns.message.make_query(f"big.{Z}", "A")
    response = await dns.asyncquery.udp(plain, "127.0.0.1", timeout=2, port=server.port)

    assert response.flags & dns.flags.TC
    assert 0 < len(response.answer[0]) < 40


async def test_a_large_answer_fits_the_edns_buffer(server, make_prober):
    prober = make_prober()

    answers = await prober.ask(at(server), [q(f"big.{Z}")])

    assert answers[q(f"big.{Z}")] == answer(*BIG)
    assert server.stats.queries == [("udp", f"big.{Z}", "A")]
    assert prober.queries_issued == 1


@pytest.mark.parametrize(
    ("honour_edns", "edns_payload"),
    [
        pytest.param(False, 4096, id="server-ignores-edns"),
        pytest.param(True, 512, id="small-buffer"),
    ],
)
async def test_a_truncated_answer_is_asked_again_over_tcp(make_prober, honour_edns, edns_payload):
    async with fakedns.FakeDNSServer(make_zone(), honour_edns=honour_edns) as running:
        prober = make_prober(edns_payload=edns_payload)

        answers = await prober.ask(at(running), [q(f"big.{Z}"), q(f"web-0.nginx.{Z}")])

        assert answers[q(f"big.{Z}")] == answer(*BIG)
        assert answers[q(f"web-0.nginx.{Z}")] == answer("10.244.1.5")
        assert running.stats.count(f"big.{Z}", "udp") == 1
        assert running.stats.count(f"big.{Z}", "tcp") == 1
        assert running.stats.count(f"web-0.nginx.{Z}", "tcp") == 0
        assert prober.queries_issued == 3


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 2])
async def test_a_silent_name_times_out_after_bounded_retries(server, make_prober, retries):
    prober = make_prober(timeout=0.05, retries=retries)

    answers = await prober.ask(at(server), [q(f"silent.{Z}")])

    assert answers == {q(f"silent.{Z}"): Answer(Outcome.TIMEOUT)}
    assert server.stats.count(f"silent.{Z}") == 1 + retries
    assert prober.queries_issued == 1 + retries


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_closed_port_is_unreachable(make_prober, transport):
    dead = records.DNSServer("127.0.0.1", fakedns.closed_port())
    questions = [q(f"web-{i}.nginx.{Z}") for i in range(20)]

    answers = await make_prober(transport=transport, give_up_after=None).ask(dead, questions)

    assert answers == dict.fromkeys(questions, Answer(Outcome.UNREACHABLE))


async def test_silence_over_udp_with_tcp_refused_is_unreachable(make_prober):
    """When ICMP errors are dropped, the TCP connect tells a closed port from a slow server."""
    zone = fakedns.Zone()
    zone.silent.add(f"web-0.nginx.{Z}")
    async with fakedns.FakeDNSServer(zone, tcp=False) as udp_only:
        answers = await make_prober(timeout=0.2, retries=0).ask(
            at(udp_only), [q(f"web-0.nginx.{Z}")]
        )

    assert answers == {q(f"web-0.nginx.{Z}"): Answer(Outcome.UNREACHABLE)}


async def test_a_cut_response_is_an_error(make_prober):
    zone = make_zone()
    zone.broken.add(f"nginx.{Z}")
    async with fakedns.FakeDNSServer(zone) as running:
        for transport in ("udp", "tcp"):
            prober = make_prober(transport=transport)
            answers = await prober.ask(at(running), [q(f"nginx.{Z}")])
            assert answers == {q(f"nginx.{Z}"): Answer(Outcome.ERROR)}


async def test_a_response_to_another_question_is_never_taken(make_prober):
    zone = make_zone()
    zone.misdirected.add(f"nginx.{Z}")
    async with fakedns.FakeDNSServer(zone) as running:
        udp = await make_prober(timeout=0.05, retries=0).ask(at(running), [q(f"nginx.{Z}")])
        tcp = await make_prober(transport="tcp").ask(at(running), [q(f"nginx.{Z}")])

    assert udp == {q(f"nginx.{Z}"): Answer(Outcome.TIMEOUT)}  # dropped, the real one never came
    assert tcp == {q(f"nginx.{Z}"): Answer(Outcome.ERROR)}


def silent_zone(questions: list[Question]) -> fakedns.Zone:
    zone = fakedns.Zone()
    zone.silent.update(question.name for question in questions)
    return zone


@pytest.mark.parametrize(("later", "sent_later"), [(59.0, 0), (61.0, 1)])
async def test_a_silent_server_is_given_up_on_for_a_while(make_prober, later, sent_later):
    questions = [q(f"web-{i}.nginx.{Z}") for i in range(10)]
    seen: list[Outcome] = []
    now = [1000.0]
    async with fakedns.FakeDNSServer(silent_zone(questions)) as silent:
        prober = make_prober(
            lambda _server, _question, outcome, _seconds: seen.append(outcome),
            clock=lambda: now[0],
            timeout=0.05,
            retries=0,
            max_in_flight=1,
            give_up_after=3,
            give_up_for=60.0,
        )
        first = await prober.ask(at(silent), questions)
        sent_first = len(silent.stats.queries)
        now[0] += later
        again = await prober.ask(at(silent, "service"), questions[:5])  # the same address

    assert first == dict.fromkeys(questions, Answer(Outcome.TIMEOUT))
    assert again == dict.fromkeys(questions[:5], Answer(Outcome.TIMEOUT))
    assert sent_first == 3
    assert len(silent.stats.queries) == 3 + sent_later  # one failure after the pause: given up
    assert seen == [Outcome.TIMEOUT] * (3 + sent_later)  # only questions really sent are observed


async def test_an_answer_ends_the_failure_streak(make_prober):
    silent = [q(f"silent-{i}.{Z}") for i in range(3)]
    zone = silent_zone(silent).add(f"web-0.nginx.{Z}", "A", "10.244.1.5")
    alive = q(f"web-0.nginx.{Z}")
    async with fakedns.FakeDNSServer(zone) as flaky:
        prober = make_prober(timeout=0.05, retries=0, max_in_flight=1, give_up_after=2)
        answers = await prober.ask(at(flaky), [silent[0], alive, silent[1], silent[2], alive])

    assert answers == {
        **dict.fromkeys(silent, Answer(Outcome.TIMEOUT)),
        alive: answer("10.244.1.5"),
    }
    assert flaky.stats.count(silent[2].name) == 1  # the streak reached 2 only with it


async def test_a_dead_server_does_not_hide_the_others(server, make_prober):
    dead = records.DNSServer("127.0.0.1", fakedns.closed_port())
    questions = [q(f"web-0.nginx.{Z}"), q(f"nobody.{Z}")]

    answers = await probe.ask_all(make_prober(), [at(server), dead], questions)

    assert answers == {
        at(server): {questions[0]: answer("10.244.1.5"), questions[1]: records.NXDOMAIN},
        dead: dict.fromkeys(questions, Answer(Outcome.UNREACHABLE)),
    }


# --- bounds, observation, lifecycle -------------------------------------------------------------


async def test_the_concurrency_bound_holds_across_servers(make_prober):
    questions = [q(f"web-{i}.nginx.{Z}") for i in range(40)]
    async with fakedns.FakeDNSServer(make_zone(), latency=0.05) as slow:
        prober = make_prober(max_in_flight=8)
        servers = [at(slow, "replica"), at(slow, "service")]  # two servers, one socket address

        answers = await probe.ask_all(prober, servers, questions)

    assert slow.stats.max_in_flight == 8
    assert len(slow.stats.queries) == 80
    assert all(len(per_server) == 40 for per_server in answers.values())


async def test_the_observer_sees_every_question_sent(server, make_prober):
    seen: list[tuple[records.DNSServer, Question, Outcome, float]] = []
    # the timeout must let real answers through on a loaded machine: they share the ask
    prober = make_prober(lambda *call: seen.append(call), timeout=0.25, retries=1)
    questions = [q(f"web-0.nginx.{Z}"), q(f"nobody.{Z}"), q(f"silent.{Z}"), q(f"big.{Z}")]

    await prober.ask(at(server), questions)

    outcomes = {question: outcome for _server, question, outcome, _seconds in seen}
    assert outcomes == {
        questions[0]: Outcome.ANSWER,
        questions[1]: Outcome.NXDOMAIN,
        questions[2]: Outcome.TIMEOUT,
        questions[3]: Outcome.ANSWER,
    }
    assert all(
        observed_server == at(server) and 0 <= seconds < 5 for observed_server, *_, seconds in seen
    )
    assert prober.queries_issued == 5  # the silent name was sent twice


async def test_questions_sent_together_are_timed_each_by_its_own_reply(server, make_prober):
    seen: dict[Question, float] = {}
    prober = make_prober(
        lambda _s, question, _o, seconds: seen.update({question: seconds}), timeout=0.3, retries=1
    )
    fast, silent = q(f"web-0.nginx.{Z}"), q(f"silent.{Z}")

    await prober.ask(at(server), [silent, fast])  # one run: both go out at once

    assert seen[fast] < 0.3
    assert seen[silent] >= 2 * 0.3


async def test_a_cancelled_wait_for_slots_loses_none():
    window = transport.Window(2)
    assert await window.take(5) == 2
    waiting = [asyncio.create_task(window.take(1)) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()
    window.give(2)
    got = await asyncio.gather(*waiting[1:])
    assert got == [1, 1]
    assert waiting[0].cancelled()
    window.give(2)
    assert await window.take(5) == 2  # all slots came back


async def test_a_closed_prober_reopens_when_asked_again(server, make_prober):
    prober = make_prober()
    first = await prober.ask(at(server), [q(f"web-0.nginx.{Z}")])
    await prober.aclose()

    assert await prober.ask(at(server), [q(f"web-0.nginx.{Z}")]) == first


async def test_nothing_asked_nothing_sent(server, make_prober):
    assert await make_prober().ask(at(server), []) == {}
    assert await probe.ask_all(make_prober(), [], [q(f"web-0.nginx.{Z}")]) == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", 0),
        ("retries", -1),
        ("max_in_flight", 0),
        ("transport", "quic"),
        ("edns_payload", 100),
        ("give_up_after", 0),
        ("give_up_for", -1),
    ],
)
def test_settings_name_the_bad_value(field, value):
    with pytest.raises(ValueError, match=f"ProbeSettings.{field}={value!r}"):
        probe.ProbeSettings(**{field: value})
