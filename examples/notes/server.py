"""Notes: an example MCP server (stdio) keeping state in a SQLite database between runs.

The database file comes from NOTES_DB (set it in the catalog from config.yaml); each per-call
process opens it, so notes survive the process.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server = MCPServer("notes", version="1.0.0")


def _path() -> Path:
    return Path(os.environ.get("NOTES_DB") or Path.home() / ".kubemcp" / "notes.db")


@contextmanager
def _db() -> Iterator[sqlite3.Connection]:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT)")
        with conn:
            yield conn
    finally:
        conn.close()


@server.tool()
def add_note(title: str, body: str = "") -> dict[str, object]:
    """Store a note; returns its id."""
    with _db() as conn:
        cursor = conn.execute("INSERT INTO notes (title, body) VALUES (?, ?)", (title, body))
        return {"id": cursor.lastrowid, "title": title}


@server.tool()
def search_notes(query: str = "") -> list[dict[str, object]]:
    """Notes whose title or body contains `query` (all notes when empty)."""
    pattern = f"%{query}%"
    with _db() as conn:
        rows = conn.execute(
            "SELECT id, title, body FROM notes WHERE title LIKE ? OR body LIKE ? ORDER BY id", (pattern, pattern)
        ).fetchall()
    return [{"id": row[0], "title": row[1], "body": row[2]} for row in rows]


@server.tool()
def delete_note(note_id: int) -> bool:
    """Delete a note by id; returns whether it existed."""
    with _db() as conn:
        return conn.execute("DELETE FROM notes WHERE id = ?", (note_id,)).rowcount > 0


@server.resource("notes://{note_id}")
def note(note_id: str) -> str:
    """One note's text."""
    with _db() as conn:
        row = conn.execute("SELECT title, body FROM notes WHERE id = ?", (int(note_id),)).fetchone()
    if row is None:
        raise ValueError(f"no note {note_id}")
    return f"# {row[0]}\n\n{row[1] or ''}"


if __name__ == "__main__":
    server.run("stdio")
