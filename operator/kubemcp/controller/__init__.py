"""The kubemcp operator: reconciles MCPCatalogs, MCPServers and MCPGateways (kopf handlers, level-based)."""
