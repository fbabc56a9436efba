"""A server's requests to its client during a call (sampling, elicitation, roots) over every transport
the gateway serves, and what a client that cannot answer them gets.

`test_feature_parity` compares the outcomes with the servers themselves over streamable HTTP; this
module covers stdio and the legacy HTTP+SSE transport, per-session servers, and clients that did not
declare a capability.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import feature_checks as fc
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from support import KUBEMCP, TESTS, GatewayProcess, isolated_env, write_catalog

pytestmark = pytest.mark.anyio

FEATURES = TESTS / "peers" / "feature_server.py"
ANSWERED = {
    "summarize": {"error": False, "structured": {"result": "test-model: echo: tell me about otters"}},
    "workspace": {"error": False, "structured": {"result": ["file:///work/project", "file:///work/docs"]}},
    "order": {
        "error": False,
        "structured": {"action": "accept", "order": {"size": "medium", "quantity": 2, "gift": False, "note": "none"}},
    },
}
ARGUMENTS: dict[str, dict[str, Any]] = {"summarize": {"topic": "otters"}}


def entry(**extra: Any) -> dict[str, Any]:
    return {"description": "features", "process": {"command": [sys.executable, str(FEATURES)]}, **extra}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("client-requests")
    path = write_catalog(
        root / "catalog.yaml",
        {
            "percall": entry(),
            "longlived": entry(longLived=True),
            "persession": entry(kubernetes={"lifecycle": "perSession"}),
        },
    )
    return path, isolated_env(root)


@pytest.fixture(scope="module")
def sse_gateway(catalog: tuple[Path, dict[str, str]]) -> Iterator[GatewayProcess]:
    path, env = catalog
    with GatewayProcess(
        ["--transport", "sse", "--port", "0", "--catalog", str(path)], path.parent / "sse.log", env
    ) as gw:
        yield gw


@pytest.fixture(scope="module")
def http_gateway(catalog: tuple[Path, dict[str, str]]) -> Iterator[GatewayProcess]:
    path, env = catalog
    args = ["--transport", "streaming", "--port", "0", "--catalog", str(path)]
    with GatewayProcess(args, path.parent / "http.log", env) as gw:
        yield gw


def over_stdio(catalog: Path, env: dict[str, str]) -> fc.Connect:
    params = StdioServerParameters(
        command=str(KUBEMCP), args=["gateway", "run", "--catalog", str(catalog), "--no-watch"], env=env
    )

    def connect(**options: Any) -> Any:
        return Client(params, **options)

    return connect


def over_sse(gateway: GatewayProcess) -> fc.Connect:
    def connect(**options: Any) -> Any:
        return gateway.client(**options)

    return connect


@pytest.mark.parametrize("server", ["percall", "longlived", "persession"])
async def test_questions_reach_a_stdio_client(catalog: tuple[Path, dict[str, str]], server: str) -> None:
    path, env = catalog
    target = fc.Target("stdio", over_stdio(path, {**env, "PATH": "/usr/bin:/bin"}))
    for tool, expected in ANSWERED.items():
        outcome = await fc.call(target, f"{server}__{tool}", ARGUMENTS.get(tool))
        assert outcome["result"] == expected, (server, tool)


@pytest.mark.parametrize("server", ["percall", "longlived", "persession"])
async def test_questions_reach_an_sse_client(sse_gateway: GatewayProcess, server: str) -> None:
    target = fc.Target("sse", over_sse(sse_gateway))
    for tool, expected in ANSWERED.items():
        outcome = await fc.call(target, f"{server}__{tool}", ARGUMENTS.get(tool))
        assert outcome["result"] == expected, (server, tool)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_per_session_server_asks_its_own_session(http_gateway: GatewayProcess, mode: str) -> None:
    target = fc.Target("http", lambda **options: http_gateway.client(**options), mode)
    for tool, expected in ANSWERED.items():
        outcome = await fc.call(target, f"persession__{tool}", ARGUMENTS.get(tool))
        assert outcome["result"] == expected, tool


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("server", ["percall", "longlived"])
async def test_a_client_without_the_capability_gets_an_error_not_a_hang(
    http_gateway: GatewayProcess, server: str, mode: str
) -> None:
    """A per-call server is told the client cannot sample, and says so itself (-32021, as it would
    directly); a long-lived one, told the gateway can, asks and gets -32601 from the gateway."""
    target = fc.Target("http", lambda **options: http_gateway.client(**options), mode)
    with anyio.fail_after(30):
        outcome = await fc.call(target, f"{server}__summarize", {"topic": "x"}, capabilities={"sampling": False})
    assert outcome["asked"] == []
    if server == "percall":
        assert outcome["result"] == {"mcp_error": -32021}
    else:
        assert outcome["result"] == {"mcp_error": -32601}  # the server passes the gateway's answer on
