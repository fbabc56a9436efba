"""tools/call latency and throughput of kubemcp against its baselines, all local processes on loopback.

Run: `make bench` (= `.venv/bin/python bench/gateway_bench.py`); `--quick` is a short smoke run;
`--help` lists the configurations and options. The benchmark lives in the package bench/gatewaybench/.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # after bench/ and site-packages: only `bench.gatewaybench` is looked up here

from bench.gatewaybench.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
