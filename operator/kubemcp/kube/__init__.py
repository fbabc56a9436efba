"""Kubernetes: the API client (the only module that talks to the API server), Pods, the runtime."""
