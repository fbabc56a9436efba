"""When the gateway's files changed, and which states of them are not worth loading.

A file saved in place (truncated, then written: Python's `write_text`, a shell's `>`, many editors)
is, for a moment, empty: a reload that reads it then would serve an empty catalog (or drop every
secret, every setting) until the next poll sees the new bytes. So:

- a watched file that is empty now but had content at the last load is taken as a save in progress,
  and nothing is loaded until it changes again (to empty a file on purpose, leave a comment in it);
- a file that changed while the files were being read may have been read half-written: that load is
  dropped, and the change it overlapped is loaded at the next poll.

A file's stamp is its inode, modification time and size (size -1: missing), so a file replaced by a
rename (a ConfigMap mount, an editor's atomic save) is seen even when time and size are the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

Stamp = tuple[tuple[str, int, int, int], ...]

MISSING = -1


def stamp(paths: Iterable[Path]) -> Stamp:
    """The stamps of `paths`, in order."""
    found = []
    for path in paths:
        try:
            stat = path.stat()
            found.append((str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size))
        except OSError:
            found.append((str(path), 0, 0, MISSING))
    return tuple(found)


def emptied(loaded: Stamp, now: Stamp) -> list[str]:
    """The files that are empty now but had content when `loaded` was taken: saves in progress."""
    before = {path: size for path, _, _, size in loaded}
    return [path for path, _, _, size in now if size == 0 and before.get(path, 0) > 0]
