"""What the gateway tells about itself: Prometheus metrics, OpenTelemetry spans, instance start phases.

A low layer, so the runtimes and the backend record into it without knowing who reads it.
"""
