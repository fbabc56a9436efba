"""The fast part of the reliability suite (`make reliability` runs all of it at full scale and writes
docs/reliability.md): bad HTTP and stdio input, stalled clients and backend faults, at small counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.run import run_suite
from reliability.settings import QUICK

pytestmark = pytest.mark.anyio

CASES = ["http-input", "stdio-input", "slow-clients", "faults"]


async def test_quick_reliability_cases_meet_their_targets(tmp_path: Path) -> None:
    rows = await run_suite(QUICK, CASES, tmp_path)
    assert {row.case.split(":")[0] for row in rows} >= {"bad HTTP input (streamable HTTP)", "bad stdio input"}
    missed = {row.case: (row.figures(), row.problems) for row in rows if not row.met}
    assert not missed, missed
