"""Fixtures shared by the whole suite: an isolated kubemcp home and gateway processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import GatewayProcess


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own KUBEMCP_HOME and cache, so nothing leaks between tests or from the user."""
    home = tmp_path / "kubemcp-home"
    home.mkdir()
    monkeypatch.setenv("KUBEMCP_HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("LOG_LEVEL", "DEBUG", "KUBEMCP_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[Any]:
    started: list[GatewayProcess] = []

    def start(*args: str, transport: str = "streaming", env: dict[str, str] | None = None) -> GatewayProcess:
        log = tmp_path / f"gateway-{len(started)}.log"
        gw = GatewayProcess(["--transport", transport, "--port", "0", *args], log, env)
        started.append(gw)
        return gw.start()

    yield start
    for gw in started:
        gw.stop()


pytest_plugins = ["cluster.plugin"]


@pytest.fixture(scope="session")
def product_images(cluster: Any) -> dict[str, str]:
    """kubemcp, the probe and the example server images, built and loaded into the test node."""
    import product_images as built

    refs = {"kubemcp": built.build_kubemcp(), "probe": built.build_probe()}
    refs.update(built.build_examples())
    return refs
