"""A pytest plugin for `reliability/cluster_run.py`: one JSON line per fault test run (its case, outcome,
duration and, when it failed, the first line of the reason) into the file named by KUBEMCP_FAULT_OUTCOMES."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

OUTCOMES_ENV = "KUBEMCP_FAULT_OUTCOMES"


def _case(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("fault")
    return str(marker.args[0]) if marker is not None and marker.args else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    case, target = _case(item), os.environ.get(OUTCOMES_ENV)
    if case is None or target is None:
        return None
    if report.when == "call" or (report.when == "setup" and not report.passed):
        reason = ""
        if report.failed:
            reason = str(report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash") else "")  # type: ignore[union-attr]
        record = {
            "case": case,
            "test": item.nodeid,
            "outcome": report.outcome,
            "seconds": round(report.duration, 2),
            "reason": reason.splitlines()[0][:300] if reason else "",
        }
        with Path(target).open("a") as out:
            out.write(json.dumps(record) + "\n")
    return None
