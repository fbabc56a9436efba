"""A warm per-call instance against the long-lived path, embedded runtime (local processes), in one run.

Run: `make bench` (with the other benchmarks; alone: `.venv/bin/python bench/warm_local_bench.py`);
`--help` lists the options. The code is bench/gatewaybench/warm_local.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # after bench/ and site-packages: only `bench.gatewaybench` is looked up here

from bench.gatewaybench.warm_local import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
