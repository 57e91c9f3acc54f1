"""caddyfile: server blocks and directives, split the way CoreDNS's Caddyfile lexer splits them."""

from __future__ import annotations

import pytest

from headless_auditor.core import caddyfile


def test_blocks_keys_directives_and_plugin_blocks() -> None:
    text = (
        'cluster.local:53, in-addr.arpa {\n errors # a comment\n kubernetes "cluster.local" {\n'
        "  ttl 30\n  pods insecure\n }\n}\n"
    )
    (block,) = caddyfile.server_blocks(text)
    assert block.keys == ("cluster.local:53", "in-addr.arpa")
    errors, kubernetes = block.directives
    assert (errors.name, errors.line, errors.args, errors.block) == ("errors", 2, (), ())
    assert kubernetes.args == ("cluster.local",)
    assert kubernetes.block == (("ttl", "30"), ("pods", "insecure"))


def test_semicolon_does_not_separate_options() -> None:
    text = ".:53 {\n cache 30 { disable success a; disable denial b }\n}\n"
    (block,) = caddyfile.server_blocks(text)
    (cache,) = block.directives
    assert cache.block == (("disable", "success", "a;", "disable", "denial", "b"),)


def test_snippets_are_left_out() -> None:
    text = "(common) {\n errors\n}\n.:53 {\n import common\n}\n"
    assert [b.keys for b in caddyfile.server_blocks(text)] == [(".:53",)]


def test_a_single_block_may_omit_its_braces() -> None:
    (block,) = caddyfile.server_blocks(".:53\nkubernetes cluster.local\n")
    assert [d.name for d in block.directives] == ["kubernetes"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(".:53 {\n errors\n", "line 1: server block is never closed", id="unclosed"),
        pytest.param("{\n errors\n}\n", "needs an address", id="no-address"),
    ],
)
def test_structure_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(caddyfile.CaddyfileError, match=message):
        caddyfile.server_blocks(text)
