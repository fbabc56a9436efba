"""Start, find and stop the cluster's processes by PID.

Every process the harness starts is recorded in ``<state>/pids/<name>.pid`` as
``<pid> <start-time>``; the start time (field 22 of /proc/<pid>/stat) guards
against a PID that was reused by an unrelated process after a crash.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import settings


def _pid_dir() -> Path:
    return settings.STATE / "pids"


def log_dir() -> Path:
    return settings.STATE / "logs"


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat[stat.rindex(")") + 2 :].split()[0]
    return state not in ("Z", "X")


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    netns: bool = True,
    netns_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Start ``argv`` in its own session and record its PID; inside a network namespace
    if ``netns`` (``netns_path``, by default the cluster's: node 1's)."""
    log_dir().mkdir(parents=True, exist_ok=True)
    _pid_dir().mkdir(parents=True, exist_ok=True)
    if netns:
        # nsenter execs the command: the PID stays the same. `ip netns exec`
        # is not used because it remounts /sys and hides the cgroup mounts.
        argv = [settings.NSENTER, f"--net={netns_path or settings.NETNS_PATH}", "--", *argv]
    with open(log_dir() / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env if env is not None else _clean_env(),
            close_fds=True,
        )
    st = None
    for _ in range(50):
        st = start_time(proc.pid)
        if st:
            break
        time.sleep(0.01)
    (_pid_dir() / f"{name}.pid").write_text(f"{proc.pid} {st or ''}\n")
    # Long-running: the harness reaps these itself (reap()), so Popen must not
    # warn about a child that is "still running" when it is garbage collected.
    proc.returncode = 0
    _own.add(proc.pid)
    return proc.pid


_own: set[int] = set()


def _clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    path = env.get("PATH", "/usr/local/sbin:/usr/local/bin").split(":")
    # The node agents call iptables, ipset and ip from the system folders.
    env["PATH"] = ":".join([*path, *(d for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin") if d not in path)])
    # Nothing in the cluster may use a proxy outside it.
    return env


def recorded() -> dict[str, int]:
    """Recorded processes that are still the same live process: name -> pid."""
    out: dict[str, int] = {}
    d = _pid_dir()
    if not d.is_dir():
        return out
    for f in sorted(d.glob("*.pid")):
        try:
            pid_s, _, st = f.read_text().strip().partition(" ")
            pid = int(pid_s)
        except (OSError, ValueError):
            continue
        if alive(pid) and (not st or start_time(pid) == st):
            out[f.stem] = pid
    return out


def reap() -> None:
    """Collect exit statuses of children this process started (no zombies left behind)."""
    for pid in list(_own):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _own.discard(pid)


def stop_pids(pids: Iterable[int], timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
    """Signal each PID, wait up to ``timeout``, then SIGKILL what is left.

    Returns True when every process exited before it had to be killed."""
    pids = [p for p in pids if alive(p)]
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap()
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    for p in pids:
        if alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        reap()
        time.sleep(0.05)
    return False


def stop(name: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
    """Stop a recorded process; True if it was not running or exited on ``sig``."""
    pid = recorded().get(name)
    clean = stop_pids([pid], timeout, sig) if pid is not None else True
    (_pid_dir() / f"{name}.pid").unlink(missing_ok=True)
    return clean


def pids_in_netns(ns_path: Path) -> list[int]:
    """PIDs of processes whose network namespace is the one at ``ns_path``."""
    try:
        st = os.stat(ns_path)
    except OSError:
        return []
    target = (st.st_dev, st.st_ino)
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            s = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue
        if (s.st_dev, s.st_ino) == target and int(entry.name) != os.getpid():
            out.append(int(entry.name))
    return out


def pids_with_cmdline(needle: str) -> list[int]:
    """PIDs whose command line contains ``needle`` (a path unique to this cluster)."""
    out = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            out.append(int(entry.name))
    return out


def log_tail(name: str, lines: int = 30) -> str:
    f = log_dir() / f"{name}.log"
    try:
        data = f.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(data[-lines:])
