"""Paths, the echoed payload and the constants the benchmark's modules share."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
PROBE = REPO / "tests" / "peers" / "probe_server.py"
DOCS = REPO / "docs" / "benchmarks.md"
PYTHON = sys.executable
KUBEMCP = Path(PYTHON).parent / "kubemcp"

TEXT = "kubemcp benchmark payload " + "x" * 38  # 64 bytes echoed by every call
CALL_TIMEOUT = 30.0  # seconds one call may take before the run fails

# Targets from the benchmark issue (reported, not asserted).
MAX_ADDED_P50_MS = 0.9  # (b) p50 over (a) p50
MIN_THROUGHPUT_RATIO = 2.2  # (b) over (d), calls/s with the concurrent workers
FORWARDER_SHARE = 0.85  # (b) over the bare forwarder (e), calls/s with the concurrent workers (what 2.2x meant)
MAX_PER_CALL_RATIO = 1.10

PER_CALL_BLOCK = 5  # sequential calls per round for (c) and the spawn baseline
PER_CALL_CONCURRENT_BLOCK = 20  # concurrent calls per round for them


class BenchError(RuntimeError):
    pass
