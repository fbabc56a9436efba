"""Mounts under a folder: list them, take them down."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def mounts_under(prefix: Path) -> list[str]:
    out = []
    pre = str(prefix).rstrip("/")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == pre or mp.startswith(pre + "/"):
                out.append(mp)
    return out


def unmount_all(prefix: Path) -> None:
    for _ in range(5):
        mps = mounts_under(prefix)
        if not mps:
            return
        for mp in sorted(set(mps), key=len, reverse=True):
            r = subprocess.run(["umount", mp], capture_output=True)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True)


def is_mountpoint(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)
