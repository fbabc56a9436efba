"""The gateway: one MCP endpoint over many backend MCP servers."""
