"""`python -m kubemcp.controller [options]`: the same as `kubemcp operator [options]`."""

from __future__ import annotations

import sys

from kubemcp.cli import main

if __name__ == "__main__":
    sys.exit(main(["operator", *sys.argv[1:]]))
