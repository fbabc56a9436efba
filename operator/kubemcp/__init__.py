"""kubemcp: one MCP endpoint over many MCP servers."""

__version__ = "0.1.0"
