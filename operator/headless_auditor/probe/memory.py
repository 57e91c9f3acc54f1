"""The in-memory twin of the real prober, for the tests of whatever consumes answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from headless_auditor.core import records


class InMemoryProber:
    """Answers from a table, for the tests of whatever consumes answers.

    ``answers`` maps server -> question -> answer; a question not in the table gets ``default``.
    A server in ``failures`` answers every question with that outcome (a dead replica). Every
    ``ask`` is recorded in ``asked`` as (server, the questions as given).
    """

    def __init__(
        self,
        answers: Mapping[records.DNSServer, Mapping[records.Question, records.Answer]]
        | None = None,
        *,
        default: records.Answer = records.NXDOMAIN,
        failures: Mapping[records.DNSServer, records.Outcome] | None = None,
    ) -> None:
        self.answers = {server: dict(table) for server, table in (answers or {}).items()}
        self.default = default
        self.failures = dict(failures or {})
        self.asked: list[tuple[records.DNSServer, tuple[records.Question, ...]]] = []

    async def ask(
        self, server: records.DNSServer, questions: Iterable[records.Question]
    ) -> dict[records.Question, records.Answer]:
        """Every distinct question with its answer from the table (or the failure, or default)."""
        asked = tuple(questions)
        self.asked.append((server, asked))
        failure = self.failures.get(server)
        table = self.answers.get(server, {})
        return {
            question: records.Answer(failure)
            if failure is not None
            else table.get(question, self.default)
            for question in dict.fromkeys(asked)
        }
