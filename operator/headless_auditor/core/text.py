"""How our writes format times and messages for the Kubernetes API (pure)."""

from __future__ import annotations

import datetime

MESSAGE_LIMIT = 1024
"""Longest message we write into a condition or an Event. metav1.Condition allows 32768
characters and an Event more; a shorter message stays readable in ``kubectl``."""


def timestamp(moment: datetime.datetime) -> str:
    """``2026-05-01T12:00:00Z``: the second-resolution UTC form the API uses for times."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capped(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """``message``, cut to ``limit`` characters with ``...`` at the end when it was longer."""
    return message if len(message) <= limit else message[: limit - 3] + "..."
