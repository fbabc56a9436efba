"""Repeated log lines are capped per period; the next one after a quiet spell says how many were left out."""

from __future__ import annotations

import logging

import pytest
from kubemcp.logs import RepeatLimit


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("test", logging.WARNING, __file__, 1, message, args, None)


def test_a_repeated_message_passes_a_burst_then_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("kubemcp.logs.time.monotonic", lambda: now[0])
    limit = RepeatLimit(burst=3, period=10)
    passed = [limit.filter(_record("accept() failed: %s", n)) for n in range(1000)]
    assert passed.count(True) == 3
    assert limit.filter(_record("another message"))  # other messages are not held back
    now[0] += 10
    summary = _record("accept() failed: %s", "again")
    assert limit.filter(summary)
    assert "997 more like this in the last 10s were not logged" in summary.getMessage()
