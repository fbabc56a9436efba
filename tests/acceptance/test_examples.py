"""The example servers behind the gateway, as the README runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support import REPO

pytestmark = pytest.mark.anyio
EXAMPLES = REPO / "examples"


async def test_dice_and_notes_keep_working_per_call(gateway_process: Any, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"notes": {"db_path": str(tmp_path / "notes.db")}}))
    gateway = gateway_process(
        "--catalog", str(EXAMPLES / "catalog.yaml"), "--config", str(config), "--servers", "dice,notes"
    )
    async with gateway.client() as client:
        rolled = await client.call_tool("roll_notation", {"notation": "3d6+2"})
        assert isinstance(rolled.structured_content, dict)
        rolls = rolled.structured_content["rolls"]
        assert len(rolls) == 3
        assert all(1 <= r <= 6 for r in rolls)
        assert rolled.structured_content["total"] == sum(rolls) + 2
        bad = await client.call_tool("roll_notation", {"notation": "lots of dice"})
        assert bad.is_error
        added = await client.call_tool("add_note", {"title": "gateway", "body": "per-call servers keep state on disk"})
        assert isinstance(added.structured_content, dict)
        found = await client.call_tool("search_notes", {"query": "state"})  # a new process reads the same file
        assert isinstance(found.structured_content, dict)
        assert [n["title"] for n in found.structured_content["result"]] == ["gateway"]
        note = await client.read_resource(f"notes://{added.structured_content['id']}")
        assert "per-call servers keep state" in str(note.contents[0])
        rules = await client.read_resource("dice://rules")
        assert "NdS+M" in str(rules.contents[0])
    assert (tmp_path / "notes.db").is_file()
