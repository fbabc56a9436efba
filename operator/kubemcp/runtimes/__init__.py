"""Runtimes: how a server instance is started and reached. Each implements `model.runtime.Runtime`:
local processes (the embedded default) and Kubernetes Pods."""
