"""tools/list latency of one gateway over many servers (50 x 20 and 200 x 20 tools), none started.

Run: `make bench` (with the tools/call benchmark; alone: `.venv/bin/python bench/listing_bench.py`);
`--help` lists the options. The code is bench/gatewaybench/listing.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # after bench/ and site-packages: only `bench.gatewaybench` is looked up here

from bench.gatewaybench.listing import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
