"""Issue acceptance: ``headless-auditor check`` catches a wrong replica and a dead one.

Both tests run extra CoreDNS processes of their own (tests/e2e/extra_coredns.py) next to the two
shared replicas, which they never touch: a replica serving a stale address for one name must make
the audit Inconsistent, and a replica that stops answering must make it Unknown (exit code 2),
never Inconsistent.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e import checkcli, dnsquery, extra_coredns, workloads
from tests.e2e import cluster as cl

STALE_IP = "10.99.99.99"
StartCoreDNS = Callable[..., extra_coredns.ExtraCoreDNS]


def start_web(cluster: cl.Cluster, namespace: str) -> dict[str, str]:
    cluster.apply(workloads.nginx_web(), namespace)
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)
    return cl.pod_ips(cluster, namespace, ["web-0", "web-1"])


def test_wrong_answer_is_caught(
    cluster: cl.Cluster, namespace: str, extra_dns: StartCoreDNS
) -> None:
    ips = start_web(cluster, namespace)
    web_0 = f"web-0.nginx.{namespace}.svc.{cluster.domain}."
    stale = extra_dns("127.0.10.3", hosts={web_0: STALE_IP})
    assert dnsquery.ask(stale.server, web_0) == dnsquery.Reply("NOERROR", frozenset({STALE_IP}))
    servers = [*cluster.dns_servers, stale.server]

    result = checkcli.settled(cluster, namespace, dns_servers=servers)

    assert result.exit_code == 1, str(result)
    assert result.document is not None
    assert result.document["exitCode"] == 1
    assert sorted(result.document["servers"]) == sorted(servers)
    row = result.service("nginx")
    dns = row["dns"]
    assert dns["state"] == "Inconsistent", dns["summary"]
    assert row["valid"] is True  # the configuration is fine; DNS is not
    assert checkcli.codes(row) == []
    assert dns["expectedRecords"] == 8
    diff = {"server": stale.server, "name": web_0, "type": "A"}
    assert dns["missing"] == [{**diff, "record": ips["web-0"]}]
    assert dns["unexpected"] == [{**diff, "record": STALE_IP}]
    assert dns["outcomeMismatches"] == []
    assert dns["failures"] == []
    # One question answered differently; the two healthy replicas agree with each other.
    assert len(dns["disagreements"]) == 1
    disagreement = dns["disagreements"][0]
    assert (disagreement["name"], disagreement["type"]) == (web_0, "A")
    healthy = {"outcome": "ANSWER", "records": [ips["web-0"]]}
    assert disagreement["answers"] == {
        **{server: healthy for server in cluster.dns_servers},
        stale.server: {"outcome": "ANSWER", "records": [STALE_IP]},
    }
    assert stale.server in dns["summary"]
    for server in cluster.dns_servers:
        assert server not in dns["summary"]


def test_stopped_replica_makes_the_audit_unknown(
    cluster: cl.Cluster, namespace: str, extra_dns: StartCoreDNS
) -> None:
    start_web(cluster, namespace)
    extra = extra_dns("127.0.10.4")
    servers = [*cluster.dns_servers, extra.server]

    before = checkcli.settled(cluster, namespace, dns_servers=servers)

    checkcli.assert_consistent(before.service("nginx"), 8, servers)
    assert before.exit_code == 0, str(before)

    extra.stop()
    assert not extra.running

    after = checkcli.run(cluster, namespace, dns_servers=servers)

    assert after.exit_code == 2, str(after)
    assert after.document is not None
    assert after.document["exitCode"] == 2
    row = after.service("nginx")
    dns = row["dns"]
    assert dns["state"] == "Unknown", dns["summary"]
    assert (dns["missing"], dns["unexpected"], dns["outcomeMismatches"]) == ([], [], [])
    assert dns["disagreements"] == []
    failures = dns["failures"]
    # Every question (nginx A/AAAA/SRV, web-0/web-1 A, _web._tcp SRV) to the stopped replica only.
    questions = checkcli.expected_records(cluster, namespace, "nginx")
    assert len(questions) == 6
    assert len(failures) == len(questions)
    assert {f["server"] for f in failures} == {extra.server}
    assert {f["reason"] for f in failures} <= {"UNREACHABLE", "TIMEOUT"}
    assert row["valid"] is True
