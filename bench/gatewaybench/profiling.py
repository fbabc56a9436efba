"""The gateway's profile: cProfile stats read back and grouped by package and by layer."""

from __future__ import annotations

import pstats
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WAIT = "(waiting in epoll)"


def area_of(filename: str, function: str) -> str:
    if filename == "~":  # a builtin or C method: name it after the module that defines it
        if "poll" in function and ("select.epoll" in function or "selectors" in function):
            return WAIT
        owner = re.search(r"of '([\w.]+)' objects", function) or re.search(r"<built-in method ([\w.]+)", function)
        module = owner.group(1).split(".")[0].lstrip("_") if owner else "builtins"
        return f"{module} (C)"
    if "/site-packages/" in filename:
        parts = filename.split("/site-packages/", 1)[1].split("/")
        if parts[0] == "mcp" and len(parts) > 2:  # the SDK's server, client and shared halves apart
            return f"mcp/{parts[1]}"
        return parts[0].removesuffix(".py")
    if "/operator/kubemcp/" in filename:
        return "kubemcp"
    stdlib = re.search(r"/lib/python3\.\d+/([\w]+)", filename)
    if stdlib:
        return f"stdlib {stdlib.group(1)}"
    if filename.startswith("<frozen"):
        return "stdlib (frozen)"
    return filename


PROFILE_GROUPS = (
    ("event loop, tasks and streams (asyncio, anyio)", ("anyio", "stdlib asyncio", "asyncio (C)", "stdlib selectors")),
    ("HTTP serving (uvicorn, h11, starlette)", ("uvicorn", "h11", "starlette", "httptools", "sse_starlette")),
    (
        "MCP SDK and pydantic (validation, serialization)",
        ("mcp/", "mcp_types", "pydantic", "stdlib json", "json (C)"),
    ),
    ("kubemcp", ("kubemcp",)),
)


def profile_groups(profile: Profile) -> list[tuple[str, float]]:
    """Shares of the profiled CPU by layer; builtins and everything else as 'other'."""
    shares = dict.fromkeys([name for name, _ in PROFILE_GROUPS] + ["other (builtins, copy, tracing hooks, ...)"], 0.0)
    for area, seconds in profile.areas:
        group = next((name for name, prefixes in PROFILE_GROUPS if area.startswith(prefixes)), None)
        shares[group or "other (builtins, copy, tracing hooks, ...)"] += seconds / profile.total_seconds
    return list(shares.items())


def short_location(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    for marker in ("/site-packages/", "/operator/", "/lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line} {function}"


@dataclass
class Profile:
    calls: int
    total_seconds: float  # profiled CPU (wait excluded)
    wait_seconds: float
    areas: list[tuple[str, float]]
    functions: list[tuple[str, float, int]]  # by own time
    gateway_functions: list[tuple[str, float, int]]  # kubemcp's own functions, by cumulative time


def read_profile(path: Path, calls: int) -> Profile:
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.__dict__["stats"]
    areas: dict[str, float] = {}
    functions: list[tuple[str, float, int]] = []
    gateway_functions: list[tuple[str, float, int]] = []
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in raw.items():
        area = area_of(filename, function)
        areas[area] = areas.get(area, 0.0) + tottime
        if area != WAIT:
            functions.append((short_location(filename, line, function), tottime, ncalls))
        if area == "kubemcp":
            gateway_functions.append((short_location(filename, line, function), cumtime, ncalls))
    wait = areas.pop(WAIT, 0.0)
    return Profile(
        calls=calls,
        total_seconds=sum(areas.values()),
        wait_seconds=wait,
        areas=sorted(areas.items(), key=lambda item: -item[1]),
        functions=sorted(functions, key=lambda item: -item[1]),
        gateway_functions=sorted(gateway_functions, key=lambda item: -item[1]),
    )
