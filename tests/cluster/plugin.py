"""pytest fixtures and hooks for tests that need the real cluster.

Loaded by ``tests/cluster/conftest.py``; other test folders can load it with
``pytest_plugins = ["cluster.plugin"]`` in the root conftest.

Cluster tests run when ``CI=true`` or ``KUBEMCP_CLUSTER=1`` (and then fail if
the cluster cannot start); otherwise they are skipped with a hint.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import harness
from . import settings as S
from .waiting import holds_for, holds_for_async, wait_for

__all__ = ["holds_for", "holds_for_async", "wait_for"]

ENABLE_HINT = "cluster tests are off; enable them with: KUBEMCP_CLUSTER=1 pytest tests/cluster"
HERE = Path(__file__).resolve().parent


def cluster_enabled() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("KUBEMCP_CLUSTER") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: needs the real Kubernetes cluster (tests/cluster)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    enabled = cluster_enabled()
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents and item.get_closest_marker("cluster") is None:
            item.add_marker(pytest.mark.cluster)
        if not enabled and item.get_closest_marker("cluster") is not None:
            item.add_marker(pytest.mark.skip(reason=ENABLE_HINT))


def _owner_path() -> Path:
    return S.STATE / "owner"


@pytest.fixture(scope="session")
def cluster() -> Iterator[harness.Cluster]:
    """The running cluster (started if needed). Torn down at the end of the session
    only if this session started it, no other session uses it, and KUBEMCP_CLUSTER_KEEP != 1."""
    if not cluster_enabled():
        pytest.skip(ENABLE_HINT)
    harness.register_user()  # before up(): no other session may tear it down under us
    try:
        c = harness.up()
        if not c.reused:
            _owner_path().write_text(f"pytest {os.getpid()}\n")
        harness.apply_crds(c)
    except Exception as e:
        harness.unregister_user()
        pytest.fail(f"the test cluster could not start: {e}", pytrace=False)
    yield c
    others = harness.unregister_user()
    keep = os.environ.get("KUBEMCP_CLUSTER_KEEP") == "1"
    try:
        started_by_tests = _owner_path().read_text().startswith("pytest")
    except OSError:
        started_by_tests = False
    if keep and started_by_tests:
        _owner_path().write_text("kept\n")  # later sessions treat it as already up
    elif started_by_tests and not others:
        harness.down(force=True)


@pytest.fixture(scope="session")
def api_client(cluster: harness.Cluster) -> Iterator[Any]:
    """kubernetes-python ApiClient with admin credentials."""
    client: Any = cluster.api_client()
    yield client
    client.close()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40].strip("-") or "test"


@pytest.fixture
def namespace(cluster: harness.Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, enforcing the restricted Pod Security profile; deleted afterwards."""
    name = f"t-{_slug(request.node.name)}-{os.urandom(3).hex()}"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "kubemcp.test/temporary": "true",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }
    status, resp = cluster.request("POST", "/api/v1/namespaces", body)
    if status != 201:
        raise RuntimeError(f"creating namespace {name}: HTTP {status} {json.dumps(resp)}")
    wait_for(
        lambda: cluster.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")[0] == 200,
        30,
        f"default service account in {name}",
    )
    yield name
    cluster.request("DELETE", f"/api/v1/namespaces/{name}")
