"""Atomic file writes: a reader (a file watcher, another process) sees the old file or the new one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_text(path: Path, text: str, *, mode: int | None = None, folder_mode: int | None = None) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`.

    With `mode` the file is created with those permissions (it never exists with wider ones).
    """
    path.parent.mkdir(parents=True, exist_ok=True, **({"mode": folder_mode} if folder_mode is not None else {}))
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(tmp, flags, 0o666 if mode is None else mode)  # the umask applies without `mode`
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
