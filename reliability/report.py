"""docs/reliability.md: the measured table, what was run, and what missed its target and why."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from .figures import Row
from .settings import REPO, Scale

START = "<!-- reliability:start -->"
END = "<!-- reliability:end -->"
# A run of some cases only (`--cases`): its own table, beside the last full run's.
SUBSET_START = "<!-- reliability-subset:start -->"
SUBSET_END = "<!-- reliability-subset:end -->"


def _git() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _versions() -> str:
    names = ["kubemcp", "mcp", "uvicorn", "starlette", "anyio", "httpx2"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def render(
    rows: list[Row],
    scale: Scale,
    seconds: float,
    load: tuple[float, float],
    pending: list[str] | None = None,
    only: list[str] | None = None,
) -> str:
    """The section of one run: of every case, or (`only`) of the cases named, in their own section."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if only:
        what = f"reliability/run.py --cases {','.join(only)}` (these cases only, at the {scale.name} scale)"
    else:
        what = f"reliability/run.py` (`make reliability`, the {scale.name} run)"
    lines = [
        SUBSET_START if only else START,
        f"Measured {now} by `.venv/bin/python {what} in {seconds / 60:.1f} min, at git {_git()}.",
        "",
        f"- Machine: {os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()}; Python "
        f"{platform.python_version()}; {_versions()}. Load average (1 min) {load[0]:.1f} at start and "
        f"{load[1]:.1f} at end: the machine is shared, other work was running.",
        "- Every case runs a real `kubemcp gateway run` process on loopback with its default settings unless "
        "the case says otherwise, driven by the mcp SDK client, raw HTTP or raw sockets; backends are "
        "`tests/peers/probe_server.py` (mcp SDK, stdio). RSS and fds are the gateway's (before → peak); "
        "leftovers are processes the gateway started that still ran after it stopped.",
        "",
        "| Case | Target | Tried | Passed | Failed | Figures | Met |",
        "|---|---|---:|---:|---:|---|:---:|",
    ]
    for row in rows:
        met = "yes" if row.met else "**no**"
        lines.append(
            f"| {row.case} | {row.target} | {row.tried} | {row.passed} | {row.failed} | {row.figures()} | {met} |"
        )
    missed = [row for row in rows if not row.met]
    if pending:
        lines += ["", f"Cases not (yet) run when this was written: {', '.join(pending)}."]
    lines += [
        "",
        ("#### Targets missed" if only else "### Targets missed") if missed else "All targets were met in this run.",
    ]
    for row in missed:
        reasons = "; ".join(row.problems) or "see the figures"
        lines.append(f"- {row.case}: {row.failed} of {row.tried} failed ({reasons}).")
    lines.append(SUBSET_END if only else END)
    return "\n".join(lines) + "\n"


HEADER = """# Reliability

What the gateway does under load, faults and bad input, measured. The part between the markers
below is written by `reliability/run.py` (`make reliability`); run it again to refresh the numbers.
The regular test suite runs its fast part at small counts (`tests/acceptance/test_reliability_quick.py`).

"""


def write(path: Path, section: str, start: str = START, end: str = END) -> None:
    """Replace the section between `start` and `end` in `path`, or add it at the end."""
    text = path.read_text() if path.exists() else HEADER
    if start in text and end in text:
        before, _, rest = text.partition(start)
        _, _, after = rest.partition(end)
        text = before + section.rstrip("\n") + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
