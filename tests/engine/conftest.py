"""The container engine for these tests: one dockerd per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from engine_support import engine, peer_image


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    with engine() as host:
        yield host


@pytest.fixture(scope="session")
def peer(docker_host: str) -> str:
    return peer_image(docker_host)
