"""The interface: :class:`Prober`, the one thing the audit needs from DNS, and :func:`ask_all`.

**Failures are answers.** A timeout, a closed port or a SERVFAIL is a fact about one server, to be
reported as such (DNSConsistent goes Unknown, never False, on a probe failure). So ``ask`` never
raises for what a server does: every question gets an :class:`~records.Answer`, and one dead
server cannot hide what the others say.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Callable, Iterable

from headless_auditor.core import records

QueryObserver = Callable[[records.DNSServer, records.Question, records.Outcome, float], None]
"""Called once per question sent: server, question, final outcome and the seconds it took (all
attempts and any TCP fallback included). For metrics: must be cheap and must not raise."""


class Prober(typing.Protocol):
    """Something that asks one DNS server a batch of questions."""

    async def ask(
        self, server: records.DNSServer, questions: Iterable[records.Question]
    ) -> dict[records.Question, records.Answer]:
        """Every distinct question with the server's answer; failures are answers too."""
        ...


async def ask_all(
    prober: Prober,
    servers: Iterable[records.DNSServer],
    questions: Iterable[records.Question],
) -> dict[records.DNSServer, dict[records.Question, records.Answer]]:
    """Ask every server every question, all servers at once."""
    unique_servers = list(dict.fromkeys(servers))
    unique_questions = list(dict.fromkeys(questions))
    answers = await asyncio.gather(
        *(prober.ask(server, unique_questions) for server in unique_servers)
    )
    return dict(zip(unique_servers, answers, strict=True))
