"""The gateway's side toward servers: MCP client sessions with server instances that a runtime starts,
per call, resident (long-lived, per session) or warm; used by the gateway and by the operator's
discovery alike."""
