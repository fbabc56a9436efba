"""Dice roller: an example MCP server (stdio) with a tool, a prompt and a resource."""

from __future__ import annotations

import os
import random
import re

from mcp.server.mcpserver import MCPServer

server = MCPServer("dice", version="1.0.0")
NOTATION = re.compile(r"^\s*(\d{0,3})d(\d{1,4})\s*([+-]\s*\d{1,5})?\s*$")


@server.tool()
def roll(sides: int = 6, count: int = 1) -> dict[str, object]:
    """Roll `count` dice with `sides` sides each."""
    if not 1 <= count <= 100 or not 2 <= sides <= 1000:
        raise ValueError("count must be 1..100 and sides 2..1000")
    rolls = [random.randint(1, sides) for _ in range(count)]
    return {"rolls": rolls, "total": sum(rolls), "pid": os.getpid()}


@server.tool()
def roll_notation(notation: str) -> dict[str, object]:
    """Roll dice written as NdS+M, for example '2d20+3'."""
    match = NOTATION.match(notation)
    if match is None:
        raise ValueError(f"not dice notation: {notation!r} (try '2d20+3')")
    count = int(match.group(1) or 1)
    sides = int(match.group(2))
    modifier = int((match.group(3) or "0").replace(" ", ""))
    result = roll(sides, count)
    total = int(str(result["total"])) + modifier
    return {**result, "modifier": modifier, "total": total}


@server.prompt()
def initiative(character: str) -> str:
    """Ask for an initiative roll for a character."""
    return f"Roll initiative (1d20) for {character} with the dice tools and announce the result."


@server.resource("dice://rules")
def rules() -> str:
    """How dice notation works."""
    return "NdS+M rolls N dice with S sides and adds M. Example: 2d20+3."


if __name__ == "__main__":
    server.run("stdio")
