"""The prober's in-memory twin, for the tests of whatever consumes answers."""

from __future__ import annotations

from headless_auditor import probe
from headless_auditor.core import records
from headless_auditor.core.records import Answer, Outcome, Question, RecordType

Z = "ns.svc.cluster.local."


def q(name: str, rdtype: RecordType = RecordType.A) -> Question:
    return Question(name, rdtype)


def answer(*recs: str) -> Answer:
    return Answer.of(set(recs))


# --- the in-memory twin -------------------------------------------------------------------------

REPLICA = records.DNSServer("10.96.0.11")
SERVICE = records.DNSServer("10.96.0.10", role="service")
WEB0 = q(f"web-0.nginx.{Z}")
WEB1 = q(f"web-1.nginx.{Z}")


async def test_the_twin_answers_from_its_table_else_the_default():
    twin = probe.InMemoryProber({REPLICA: {WEB0: answer("10.244.1.5")}})

    assert await twin.ask(REPLICA, [WEB0, WEB1, WEB0]) == {
        WEB0: answer("10.244.1.5"),
        WEB1: records.NXDOMAIN,
    }
    assert await probe.InMemoryProber(default=records.NODATA).ask(SERVICE, [WEB0]) == {
        WEB0: records.NODATA
    }
    assert twin.asked == [(REPLICA, (WEB0, WEB1, WEB0))]


async def test_the_twin_plays_a_dead_server():
    twin = probe.InMemoryProber(
        {REPLICA: {WEB0: answer("10.244.1.5")}, SERVICE: {WEB0: answer("10.244.1.5")}},
        failures={SERVICE: Outcome.TIMEOUT},
    )

    answers = await probe.ask_all(twin, [REPLICA, SERVICE], [WEB0])

    assert answers == {
        REPLICA: {WEB0: answer("10.244.1.5")},
        SERVICE: {WEB0: Answer(Outcome.TIMEOUT)},
    }
    assert [server for server, _questions in twin.asked] == [REPLICA, SERVICE]
