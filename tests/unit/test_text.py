"""text: the one format of times and the one message cap our writes use."""

from __future__ import annotations

import datetime

from headless_auditor.core import text


def test_timestamp_is_utc_to_the_second() -> None:
    berlin = datetime.timezone(datetime.timedelta(hours=1))
    moment = datetime.datetime(2026, 5, 1, 13, 0, 59, 999_999, tzinfo=berlin)
    assert text.timestamp(moment) == "2026-05-01T12:00:59Z"


def test_capped_keeps_a_message_at_the_limit_and_marks_a_cut() -> None:
    assert text.capped("x" * text.MESSAGE_LIMIT) == "x" * text.MESSAGE_LIMIT
    cut = text.capped("x" * (text.MESSAGE_LIMIT + 1))
    assert (len(cut), cut[-3:]) == (text.MESSAGE_LIMIT, "...")
    assert text.capped("abcdef", limit=5) == "ab..."
