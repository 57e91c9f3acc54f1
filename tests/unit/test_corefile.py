"""Corefile parsing: zones, TTL, plugin options, cache, and the grace window derived from them."""

from __future__ import annotations

import builders
import pytest

from headless_auditor.core import corefile


def test_kubeadm_corefile_with_cache_exceptions() -> None:
    options = corefile.parse_corefile(builders.KUBEADM_COREFILE)
    assert options.zones == ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")
    assert options.cluster_zone == "cluster.local"
    assert options.ttl == 30
    assert not options.endpoint_pod_names
    assert options.fallthrough == ("in-addr.arpa.", "ip6.arpa.")
    assert options.cache == corefile.CacheOptions(
        zones=(".",),
        success_ttl=30,
        denial_ttl=30,
        success_disabled=("cluster.local.",),
        denial_disabled=("cluster.local.",),
    )
    assert options.warnings == ()
    assert corefile.positive_cache_seconds(options) == 0
    assert corefile.negative_cache_seconds(options) == 0
    assert corefile.grace_seconds(options) == corefile.PROPAGATION_SLACK_SECONDS


def test_old_kubeadm_corefile_caches_cluster_answers_for_30_seconds() -> None:
    options = corefile.parse_corefile(builders.OLD_KUBEADM_COREFILE)
    assert options.cache == corefile.CacheOptions(zones=(".",), success_ttl=30, denial_ttl=30)
    assert corefile.positive_cache_seconds(options) == 30
    assert corefile.negative_cache_seconds(options) == 30
    assert corefile.grace_seconds(options, slack=2.0) == 32.0


def test_dns_rules_sample_one_line_cache_block_is_read_like_coredns() -> None:
    """``;`` is not a separator: only ``disable success`` takes effect, and we warn."""
    text = """
.:53 {
    errors
    health { lameduck 5s }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf { max_concurrent 1000 }
    cache 30 { disable success cluster.local; disable denial cluster.local }   # newer kubeadm
    loop
    reload
    loadbalance
}
"""
    options = corefile.parse_corefile(text)
    assert options.ttl == 30
    assert options.cache is not None
    assert "cluster.local." in options.cache.success_disabled
    assert options.cache.denial_disabled == ()
    assert corefile.positive_cache_seconds(options) == 0
    assert corefile.negative_cache_seconds(options) == 30
    assert len(options.warnings) == 1
    assert "';' does not separate options" in options.warnings[0]
    assert "line 13" in options.warnings[0]


@pytest.mark.parametrize(
    ("text", "positive", "negative"),
    [
        pytest.param(".:53 {\n kubernetes cluster.local\n}\n", 0, 0, id="no-cache"),
        pytest.param(".:53 {\n kubernetes cluster.local\n cache\n}\n", 5, 5, id="cache-defaults"),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 600\n }\n cache\n}\n",
            600,
            300,
            id="negative-soa-capped-at-300",
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 0\n }\n cache 30\n}\n",
            5,
            5,
            id="ttl-0-still-cached-for-min-ttl",
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 30\n }\n"
            " cache 300 {\n success 9984 10\n denial 9984 20 1\n }\n}\n",
            10,
            20,
            id="success-denial-ttls",
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 2\n }\n"
            " cache 300 {\n success 9984 300 0\n denial 9984 300 0\n }\n}\n",
            2,
            2,
            id="min-ttl-zero",
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 30\n }\n cache 30 example.org\n}\n",
            0,
            0,
            id="cache-for-other-zone",
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 30\n }\n"
            " cache 30 {\n disable denial\n }\n}\n",
            30,
            0,
            id="disable-denial-everywhere",
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 30\n }\n"
            " cache 30 {\n disable success svc.cluster.local\n }\n}\n",
            30,
            30,
            id="partial-disable-still-caches-part",
        ),
        pytest.param(
            "cluster.local:53 {\n kubernetes\n}\n.:53 {\n forward . 8.8.8.8\n cache 30\n}\n",
            0,
            0,
            id="cache-in-another-server-block",
        ),
    ],
)
def test_cache_seconds(text: str, positive: int, negative: int) -> None:
    options = corefile.parse_corefile(text)
    assert corefile.positive_cache_seconds(options) == positive
    assert corefile.negative_cache_seconds(options) == negative
    assert corefile.grace_seconds(options, slack=1.5) == 1.5 + max(positive, negative)


@pytest.mark.parametrize(
    ("text", "zones", "ttl"),
    [
        pytest.param(
            ".:53 {\n kubernetes cluster.local\n}\n", ("cluster.local.",), 5, id="ttl-default"
        ),
        pytest.param(
            "# the whole file\n.:53 { # opening\n  kubernetes   CLUSTER.local # zone\n"
            "  # ttl 99 is commented out\n}\n",
            ("cluster.local.",),
            5,
            id="comments-and-case",
        ),
        pytest.param(
            "cluster.local:53 {\n kubernetes {\n ttl 7\n }\n}\n",
            ("cluster.local.",),
            7,
            id="zones-from-keys",
        ),
        pytest.param(
            "dns://k8s.example:53 {\n kubernetes\n}\n", ("k8s.example.",), 5, id="transport-prefix"
        ),
        pytest.param(
            ".:53 {\n kubernetes in-addr.arpa my.zone { ttl 11 }\n}\n",
            ("in-addr.arpa.", "my.zone."),
            11,
            id="one-line-block-reverse-first",
        ),
        pytest.param(
            ".:53\nkubernetes cluster.local {\n ttl 9\n}\n",
            ("cluster.local.",),
            9,
            id="server-block-without-braces",
        ),
        pytest.param(
            '.:53 {\n kubernetes "cluster.local" {\n ttl "12"\n }\n}\n',
            ("cluster.local.",),
            12,
            id="quoted",
        ),
    ],
)
def test_zones_and_ttl(text: str, zones: tuple[str, ...], ttl: int) -> None:
    options = corefile.parse_corefile(text)
    assert options.zones == zones
    assert options.ttl == ttl


def test_cluster_zone_skips_reverse_zones() -> None:
    options = corefile.parse_corefile(".:53 {\n kubernetes ip6.arpa in-addr.arpa corp.example\n}\n")
    assert options.cluster_zone == "corp.example"


def test_kubernetes_options_that_change_answers() -> None:
    options = corefile.parse_corefile(
        ".:53 {\n kubernetes cluster.local {\n  endpoint_pod_names\n  noendpoints\n"
        "  namespaces default prod\n  fallthrough\n }\n}\n"
    )
    assert options.endpoint_pod_names
    assert options.noendpoints
    assert options.namespaces == frozenset({"default", "prod"})
    assert options.exposes("prod")
    assert not options.exposes("kube-system")
    assert options.fallthrough == (".",)
    assert any("fallthrough" in w for w in options.warnings)


def test_snippets_are_not_server_blocks() -> None:
    text = "(common) {\n errors\n}\n.:53 {\n import common\n kubernetes cluster.local\n}\n"
    assert corefile.parse_corefile(text).cluster_zone == "cluster.local"


def test_first_of_several_kubernetes_blocks_is_used_with_a_warning() -> None:
    text = "a.local:53 {\n kubernetes\n}\nb.local:53 {\n kubernetes\n}\n"
    options = corefile.parse_corefile(text)
    assert options.cluster_zone == "a.local"
    assert any("2 server blocks" in w for w in options.warnings)


def test_defaults_match_coredns() -> None:
    options = corefile.CorefileOptions()
    assert options.cluster_zone == "cluster.local"
    assert options.ttl == 5
    assert corefile.grace_seconds(options) == corefile.PROPAGATION_SLACK_SECONDS


def test_corefile_without_kubernetes_plugin_is_a_typed_error() -> None:
    with pytest.raises(corefile.NoKubernetesPluginError, match="no 'kubernetes' plugin"):
        corefile.parse_corefile(".:53 {\n forward . 8.8.8.8\n cache 30\n}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl x\n }\n}\n", "must be a number", id="ttl-nan"
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 3601\n }\n}\n", "0..3600", id="ttl-too-big"
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl\n }\n}\n", "missing", id="ttl-missing"
        ),
        pytest.param(".:53 {\n kubernetes cluster.local\n cache 0\n}\n", ">= 1", id="cache-ttl-0"),
        pytest.param(".:53 {\n kubernetes cluster.local\n", "never closed", id="unclosed-block"),
        pytest.param(
            ".:53 {\n kubernetes cluster.local {\n ttl 5\n}\n", "never closed", id="unclosed-plugin"
        ),
        pytest.param(".:53 {\n kubernetes in-addr.arpa\n}\n", "non-reverse", id="only-reverse"),
        pytest.param(
            ".:53 {\n kubernetes cluster.local\n cache {\n disable sometimes\n }\n}\n",
            "success|denial",
            id="bad-disable",
        ),
        pytest.param(
            ".:53 {\n kubernetes cluster.local\n {\n }\n}\n",
            "must follow its directive",
            id="brace-alone",
        ),
    ],
)
def test_invalid_corefiles_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(corefile.CorefileError, match=message):
        corefile.parse_corefile(text)
