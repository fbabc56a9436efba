"""Fixtures for the cluster tests: ``cluster``, ``api_client``, ``namespace`` (see plugin.py)."""

from .plugin import api_client, cluster, namespace, pytest_collection_modifyitems, pytest_configure

__all__ = ["api_client", "cluster", "namespace", "pytest_collection_modifyitems", "pytest_configure"]
