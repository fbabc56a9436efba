"""`make reliability`: run every case at full scale and write docs/reliability.md.

.venv/bin/python reliability/run.py [--quick] [--cases NAME,...] [--docs PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for folder in (REPO, REPO / "tests"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))

import anyio  # noqa: E402
import anyio.to_thread  # noqa: E402

from reliability.cases import faults, files, flood, inputs, load, slow, stopping  # noqa: E402
from reliability.figures import Row  # noqa: E402
from reliability.report import END, START, SUBSET_END, SUBSET_START, render, write  # noqa: E402
from reliability.settings import DOCS, FULL, QUICK, Scale  # noqa: E402

Case = Callable[[Path, Scale], Awaitable[list[Row]]]


async def _thread(function: Callable[[Path, Scale], list[Row]], root: Path, scale: Scale) -> list[Row]:
    return await anyio.to_thread.run_sync(function, root, scale)


def cases(scale: Scale) -> dict[str, Case]:
    found: dict[str, Case] = {  # in this order: the quick, telling ones first
        "http-input": lambda root, s: inputs.http_inputs(root, "streaming"),
        "sse-input": lambda root, s: inputs.http_inputs(root, "sse"),
        "stdio-input": lambda root, s: anyio.to_thread.run_sync(inputs.stdio_inputs, root),
        "faults": faults.backend_faults,
        "slow-clients": slow.stalled_requests,
        "flood": flood.session_flood,
        "long-lived-load": load.long_lived,
        "per-call-load": load.per_call,
        "stopping": stopping.stopping,
        "fd-limit": slow.descriptor_flood,
        "files": files.live_edits,
        "start-up": lambda root, s: _thread(files.start_up_errors, root, s),
    }
    if not scale.fd_limit_connections:
        del found["fd-limit"]
    return found


def _leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups: what actually went wrong."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def progress(text: str) -> None:
    print(f"[reliability {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def run_suite(
    scale: Scale,
    only: Sequence[str] = (),
    root: Path | None = None,
    after_case: Callable[[list[Row], list[str]], None] | None = None,
) -> list[Row]:
    """Run the cases (all, or those named) one after the other; a case that fails to finish within
    the scale's time cap is reported as one failed row. `after_case` gets the rows so far and the
    names of the cases still to run, after each case."""
    rows: list[Row] = []
    selected = {name: case for name, case in cases(scale).items() if not only or name in only}
    with tempfile.TemporaryDirectory(prefix="kubemcp-reliability-") as temporary:
        base = root or Path(temporary)
        for number, (name, case) in enumerate(selected.items(), start=1):
            progress(f"{name} ...")
            started = time.monotonic()
            try:
                with anyio.fail_after(scale.case_timeout):
                    found = await case(base / name, scale)
            except Exception as exc:  # a broken case is a failed row, the others still run
                traceback.print_exc()
                leaf = _leaf(exc)
                problem = f"{type(leaf).__name__}: {str(leaf)[:300]}"
                found = [Row(name, "the case completes", tried=1, problems=[problem])]
            for row in found:
                progress(f"  {row.case}: {row.passed}/{row.tried} passed; {row.figures()}")
                for problem in row.problems:
                    progress(f"    {problem}")
            progress(f"{name} took {time.monotonic() - started:.0f} s")
            rows += found
            if after_case is not None:
                after_case(rows, list(selected)[number:])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts (what CI runs); docs not written")
    parser.add_argument("--cases", default="", help="run only these cases (comma-separated)")
    parser.add_argument(
        "--docs",
        type=Path,
        help=f"write the table here (default for the full run: {DOCS}); with --cases, in a section of its own",
    )
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    only = [name.strip() for name in args.cases.split(",") if name.strip()]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    docs = args.docs or (None if args.quick or only else DOCS)

    def write_docs(rows: list[Row], pending: list[str]) -> None:
        # After every case, so that a run stopped midway still leaves what it measured. A run of some
        # cases (`--cases`, `--docs` given) has its own section, beside the last full run's table.
        if docs is not None:
            load = (load_before, os.getloadavg()[0])
            section = render(rows, scale, time.monotonic() - started, load, pending, only)
            write(docs, section, *((SUBSET_START, SUBSET_END) if only else (START, END)))

    rows = anyio.run(run_suite, scale, only, None, write_docs)
    if docs is not None:
        progress(f"wrote {docs}")
    missed = [row.case for row in rows if not row.met]
    progress(
        f"{len(rows) - len(missed)} of {len(rows)} rows met their target" + (f"; missed: {missed}" if missed else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
