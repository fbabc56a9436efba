"""What the gateway tells about its calls: the audit trail, metrics, spans, recent calls and the status page."""
