"""Ask DNS servers questions and reduce what they say to :class:`records.Answer` facts.

One interface, :class:`Prober`, with a real implementation (:class:`DnsPythonProber`) and an
in-memory twin (:class:`InMemoryProber`) for the tests of everything that consumes answers.
Failures are answers: ``ask`` never raises for what a server does.

Modules, one job each (the design notes are in their docstrings):

- ``base``: the interface, :class:`Prober`, :func:`ask_all` and :data:`QueryObserver`;
- ``settings``: :class:`ProbeSettings` and their checks;
- ``prober``: :class:`DnsPythonProber`, UDP in runs with TCP on truncation, or TCP only;
- ``transport``: the slots, the UDP channel and its runs, the TCP exchange;
- ``breaker``: giving up on a server for a while after consecutive timeouts;
- ``wire``: the queries and the response reader (:func:`answer_from_wire`), pure;
- ``memory``: :class:`InMemoryProber`.
"""

from headless_auditor.probe.base import Prober, QueryObserver, ask_all
from headless_auditor.probe.memory import InMemoryProber
from headless_auditor.probe.prober import DnsPythonProber
from headless_auditor.probe.settings import ProbeSettings
from headless_auditor.probe.wire import answer_from_wire

__all__ = [
    "DnsPythonProber",
    "InMemoryProber",
    "ProbeSettings",
    "Prober",
    "QueryObserver",
    "answer_from_wire",
    "ask_all",
]
