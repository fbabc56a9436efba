"""A pytest plugin for `reliability/cluster_run.py`: each fault test runs KUBEMCP_FAULT_ROUNDS times in one
session (one image build), and each run writes one JSON line (its case, outcome, duration and, when it
failed, the first line of the reason) into the file named by KUBEMCP_FAULT_OUTCOMES."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

OUTCOMES_ENV = "KUBEMCP_FAULT_OUTCOMES"
ROUNDS_ENV = "KUBEMCP_FAULT_ROUNDS"
ROUND_FIXTURE = "fault_round"


@pytest.fixture
def fault_round(request: pytest.FixtureRequest) -> int:
    """Which round of a repeated fault test this is."""
    return int(request.param)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    rounds = int(os.environ.get(ROUNDS_ENV, "1"))
    if rounds > 1 and metafunc.definition.get_closest_marker("fault") is not None:
        metafunc.fixturenames.append(ROUND_FIXTURE)
        metafunc.parametrize(ROUND_FIXTURE, range(1, rounds + 1), indirect=True, ids=lambda n: f"round{n}")


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
