"""Fixtures the chart tests share: the helm binary, and the chart installed on the test cluster with the
locally built images, watching only the test's namespace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster import settings
from cluster_client import RELEASE
from support import CHART


@pytest.fixture(scope="module")
def helm() -> Path:
    path = settings.helm_path()
    if not path.is_file():
        pytest.fail(f"helm is missing at {path}: run 'bash tests/cluster/setup.sh'")
    return path


@pytest.fixture
def chart_release(cluster: Any, namespace: str, product_images: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """`chart_release(action, *values)` runs `helm install` or `helm upgrade` of the release with the dev
    images and `--set` each of `values`, waiting for it; the release is uninstalled at the end."""
    values = [
        "image.repository=kubemcp/kubemcp", "image.tag=dev", "image.pullPolicy=Never",
        "servers.imagePullPolicy=Never", f"operator.watchNamespaces={{{namespace}}}",
    ]  # fmt: skip

    def run(action: str, *extra: str) -> Any:
        args = [action, RELEASE, str(CHART), "-n", namespace, "--wait", "--timeout", "240s"]
        for value in [*values, *extra]:
            args += ["--set", value]
        return cluster.helm(*args)

    yield run
    cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", check=False)
