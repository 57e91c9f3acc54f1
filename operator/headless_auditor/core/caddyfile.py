"""A Corefile's server blocks and directives, read the way CoreDNS's Caddyfile lexer reads them.

The tokenizer follows ``coredns/caddy``: tokens are separated by whitespace, ``"..."`` quotes a
token, ``#`` starts a comment anywhere outside quotes, ``{`` and ``}`` open and close blocks, and
a directive's arguments are the tokens on its line. In particular ``;`` is **not** a separator:
``cache 30 { disable success cluster.local; disable denial cluster.local }`` on one line is read
by CoreDNS as a single ``disable success`` with the zones ``cluster.local;``, ``disable``,
``denial``, ``cluster.local`` and ``}`` -- success caching is disabled for the cluster zone but
denial caching is not. We read it the same way (CoreDNS decides what clients get); what the
options mean is :mod:`corefile`'s business.

Not modelled: ``import`` and snippets' contents (a ``(name) { }`` snippet is skipped), and
``{$ENV}`` substitution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence


class CaddyfileError(ValueError):
    """The text is not a Caddyfile CoreDNS would accept; the message says why and where."""


@dataclasses.dataclass(frozen=True)
class Directive:
    """One plugin line of a server block and the tokens of its ``{ }`` block, if any."""

    name: str
    line: int
    args: tuple[str, ...]
    block: tuple[tuple[str, ...], ...]
    """Sub-directives: each is the name followed by the tokens on its line."""


@dataclasses.dataclass(frozen=True)
class ServerBlock:
    """One server block: its keys (the addresses before ``{``) and its directives, in order."""

    keys: tuple[str, ...]
    directives: tuple[Directive, ...]


def server_blocks(text: str) -> tuple[ServerBlock, ...]:
    """Every server block of a Corefile, in order (snippets left out).

    Raises :class:`CaddyfileError` for misplaced braces or a block without address.
    """
    return tuple(_blocks(list(_tokens(text))))


@dataclasses.dataclass(frozen=True)
class _Token:
    text: str
    line: int
    quoted: bool = False

    @property
    def is_open(self) -> bool:
        return self.text == "{" and not self.quoted

    @property
    def is_close(self) -> bool:
        return self.text == "}" and not self.quoted


def _tokens(text: str) -> Iterator[_Token]:
    """Split a Corefile into tokens the way the Caddyfile lexer does."""
    for number, line in enumerate(text.splitlines(), start=1):
        yield from _line_tokens(line, number)


def _line_tokens(line: str, number: int) -> Iterator[_Token]:
    word: list[str] = []
    quoted = False
    for char in line:
        if quoted:
            if char == '"':
                yield _Token("".join(word), number, quoted=True)
                word, quoted = [], False
            else:
                word.append(char)
        elif char.isspace() or char == "#":
            if word:
                yield _Token("".join(word), number)
                word = []
            if char == "#":
                return
        elif char == '"' and not word:
            quoted = True
        else:
            word.append(char)
    if word or quoted:
        yield _Token("".join(word), number, quoted=quoted)


def _blocks(tokens: Sequence[_Token]) -> Iterator[ServerBlock]:
    """Group tokens into server blocks: keys on one line, then ``{ directives }``."""
    i = 0
    while i < len(tokens):
        keys, i = _block_keys(tokens, i)
        if i < len(tokens) and tokens[i].is_open:
            directives, i = _directives(tokens, i + 1, line_of_open=tokens[i].line)
        else:  # a single server block may omit its braces
            directives, i = _directives(tokens, i, line_of_open=None)
        if not keys[0].startswith("("):  # "(name) { }" defines a snippet, not a server
            yield ServerBlock(keys, directives)


def _block_keys(tokens: Sequence[_Token], i: int) -> tuple[tuple[str, ...], int]:
    """A server block's addresses: the tokens up to ``{``, continued past a line by a comma."""
    keys: list[str] = []
    line, continued = tokens[i].line, True
    while i < len(tokens) and not tokens[i].is_open and (tokens[i].line == line or continued):
        continued = tokens[i].text.endswith(",")
        keys.extend(k for k in tokens[i].text.split(",") if k)
        line = tokens[i].line
        i += 1
    if not keys:
        raise CaddyfileError(f"line {line}: a server block needs an address before '{{'")
    return tuple(keys), i


def _directives(
    tokens: Sequence[_Token], i: int, line_of_open: int | None
) -> tuple[tuple[Directive, ...], int]:
    found: list[Directive] = []
    while i < len(tokens):
        if tokens[i].is_close:
            return tuple(found), i + 1
        if tokens[i].is_open:
            raise CaddyfileError(
                f"line {tokens[i].line}: '{{' must follow its directive on one line"
            )
        directive, i = _directive(tokens, i)
        found.append(directive)
    if line_of_open is not None:
        raise CaddyfileError(f"line {line_of_open}: server block is never closed with '}}'")
    return tuple(found), i


def _directive(tokens: Sequence[_Token], i: int) -> tuple[Directive, int]:
    """One directive: the tokens on its line, and a ``{ }`` block opened on that line."""
    head = tokens[i]
    args: list[str] = []
    i += 1
    while i < len(tokens) and tokens[i].line == head.line and not tokens[i].is_open:
        if tokens[i].is_close:
            raise CaddyfileError(f"line {head.line}: unexpected '}}' after {head.text!r}")
        args.append(tokens[i].text)
        i += 1
    block: tuple[tuple[str, ...], ...] = ()
    if i < len(tokens) and tokens[i].is_open and tokens[i].line == head.line:
        end = _matching_close(tokens, i + 1, head)
        block, i = _block_lines(tokens[i + 1 : end]), end + 1
    return Directive(head.text, head.line, tuple(args), block), i


def _matching_close(tokens: Sequence[_Token], i: int, head: _Token) -> int:
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].is_open:
            depth += 1
        elif tokens[j].is_close:
            if depth == 0:
                return j
            depth -= 1
    raise CaddyfileError(f"line {head.line}: the {head.text!r} block is never closed with '}}'")


def _block_lines(tokens: Sequence[_Token]) -> tuple[tuple[str, ...], ...]:
    """A plugin block's options: each is every token on one line, as CoreDNS reads them.

    So ``{ disable success a; disable denial b }`` is one option: ``disable`` with six words.
    """
    lines: dict[int, list[str]] = {}
    for token in tokens:
        lines.setdefault(token.line, []).append(token.text)
    return tuple(tuple(words) for words in lines.values())
