"""Where things are, and how many of each case to try (the full run and the quick one CI runs)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "reliability.md"
KUBEMCP = Path(sys.executable).parent / "kubemcp"


@dataclass(frozen=True)
class Scale:
    """Counts per case. Every loop in the suite has one of these bounds, or a time cap, or both."""

    name: str
    random_edits: int  # random byte edits of the files while the gateway runs (besides the fixed corpus)
    long_lived_sessions: int  # concurrent client sessions calling a long-lived server
    per_call_sessions: int  # concurrent client sessions calling a per-call server
    flood_sessions: int  # initializes without DELETE
    slow_headers: int  # connections that never finish their request head
    partial_bodies: int  # requests that never finish their body
    hold_seconds: float  # how long the slow connections are held open by the client
    fd_limit_connections: int  # idle connections against a gateway limited to 1,024 open files
    stopping_rounds: int  # repetitions of each stopping case
    fault_rounds: int  # repetitions of each backend fault
    case_timeout: float  # seconds any one case may take before it is reported as failed


FULL = Scale(  # sized to finish within about 30 minutes on a shared 2-CPU machine
    name="full",
    random_edits=60,
    long_lived_sessions=1000,
    per_call_sessions=200,
    flood_sessions=2000,
    slow_headers=200,
    partial_bodies=50,
    hold_seconds=40,
    fd_limit_connections=1100,
    stopping_rounds=1,
    fault_rounds=2,
    case_timeout=900,
)

QUICK = Scale(
    name="quick",
    random_edits=10,
    long_lived_sessions=20,
    per_call_sessions=10,
    flood_sessions=300,
    slow_headers=20,
    partial_bodies=5,
    hold_seconds=4,
    fd_limit_connections=0,
    stopping_rounds=1,
    fault_rounds=1,
    case_timeout=240,
)
