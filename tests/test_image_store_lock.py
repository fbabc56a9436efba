"""The shared image store's lock: another process cannot take it while a build holds it, and it is
re-entrant within the process that holds it (a build inside a held prune does not deadlock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cluster import buildah
from cluster import settings as S

# Another process trying the same lock without waiting: exits 0 when it got it, 1 when it is held.
TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(1)
sys.exit(0)
"""


def other_process_gets_it(lock: Path) -> bool:
    return subprocess.run([sys.executable, "-c", TRY, str(lock)], timeout=60).returncode == 0


def test_the_store_is_held_against_other_processes_and_reentrant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(S, "CACHE", tmp_path)
    lock = tmp_path / "buildah" / ".kubemcp-lock"
    with buildah.exclusive():
        assert not other_process_gets_it(lock)
        with buildah.exclusive():  # re-entrant: a nested holder does not wait for itself
            assert not other_process_gets_it(lock)
        assert not other_process_gets_it(lock), "released by the inner holder"
    assert other_process_gets_it(lock)
