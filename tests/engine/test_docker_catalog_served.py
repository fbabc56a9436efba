"""The Docker-format fixture catalog served by a real gateway through a real Docker engine: image-only
entries run as containers with Docker's isolation defaults, POCI tools run once per call, and
nothing is left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from engine_support import docker
from mcp.shared.exceptions import MCPError
from support import tool_value, until

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "docker"
TOKEN = "ghp_" + "engine7c21"


def _server_containers(host: str) -> list[str]:
    listed = docker(host, "ps", "-aq", "--filter", "label=kubemcp.dev/managed-by=kubemcp")
    return listed.stdout.split()


def _files(tmp_path: Path, docker_host: str, peer: str) -> dict[str, str]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "hello.txt").write_text("hi")
    config = tmp_path / "config.yaml"
    config.write_text(f"files:\n  paths: [{work}]\nGitHub_Official:\n  toolsets: repos\n")
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"github.personal_access_token={TOKEN}\n")
    return {
        "config": str(config),
        "secrets": str(secrets),
        "work": str(work),
    }


async def test_image_entries_run_as_isolated_containers(
    gateway_process: Any, tmp_path: Path, docker_host: str, peer: str
) -> None:
    files = _files(tmp_path, docker_host, peer)
    gateway = gateway_process(
        "--catalog", str(FIXTURES / "catalog-v3.yaml"), "--registry", str(FIXTURES / "registry.yaml"),
        "--config", files["config"], "--secrets", files["secrets"], "--container-network", "host",
        # The server's environment is read back, secret included, to prove what reached it: scanning would
        # (rightly) block that result. Secret scanning has its own tests.
        "--secret-scan", "off",
        env={"DOCKER_HOST": docker_host},
    )  # fmt: skip
    async with gateway.client() as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        # `files` lists its tools by name only: the container was asked; its prefix is Docker's `prefix`.
        assert {"fs__ls", "fs__write", "fs__whoami", "fs__env", "shout", "fail"} <= names
        who = tool_value(await client.call_tool("fs__whoami", {}))
        assert (who["uid"], who["gid"]) == (1000, 1000)  # `user` from config's default via `or:`
        assert who["argv"] == [files["work"]]  # `{{files.paths|volume-target|into}}`
        assert tool_value(await client.call_tool("fs__ls", {"path": files["work"]})) == ["hello.txt"]
        denied = await client.call_tool("fs__write", {"path": f"{files['work']}/new.txt", "text": "x"})
        assert denied.is_error  # a host path without a mode is mounted read-only
        assert tool_value(await client.call_tool("fs__interfaces", {})) == ["lo"]  # disableNetwork
        # GitHub.Official: capitals and dots, secrets, optional and defaulted templates, $VAR, extraHosts.
        env = tool_value(await client.call_tool("github-official__env", {}))
        assert env["GITHUB_PERSONAL_ACCESS_TOKEN"] == TOKEN
        assert env["GITHUB_AUTH"] == f"Bearer {TOKEN}"
        assert env["GITHUB_TOOLSETS"] == "repos"
        assert "GITHUB_HOST" not in env
        interfaces = tool_value(await client.call_tool("github-official__interfaces", {}))
        assert len(interfaces) > 1  # not disableNetwork: the network the gateway was told to use
        hosts = json.loads(tool_value(await client.call_tool("github-official__hosts", {})))
        assert "127.0.0.2\tgithub.internal" in hosts
        shouted = await client.call_tool("shout", {"text": "quiet please"})
        assert tool_value(shouted) == "QUIET PLEASE\n"
        failed = await client.call_tool("fail", {})
        assert failed.is_error
    gateway.stop()
    assert await until(lambda: _server_containers(docker_host) == [], 20)


async def test_without_an_engine_container_servers_fail_alone(gateway_process: Any, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    probe = {"process": {"command": ["python3", "-c", "import sys"]}, "image": "x/y"}
    catalog.write_text(
        json.dumps(
            {
                "version": 3,
                "registry": {
                    "boxed": {"image": "kubemcp/docker-peer:test", "tools": [{"name": "whoami", "description": "w"}]},
                    "plain": probe | {"tools": [{"name": "noop", "description": "n"}]},
                },
            }
        )
    )
    gateway = gateway_process(
        "--catalog", str(catalog), env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    )  # fmt: skip
    async with gateway.client() as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == {"whoami", "noop"}
        with pytest.raises(MCPError, match=r"server 'boxed': it runs as a container and the container engine"):
            await client.call_tool("whoami", {})


async def test_a_dead_gateway_leaves_no_container(
    gateway_process: Any, tmp_path: Path, docker_host: str, peer: str
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        json.dumps(
            {
                "version": 3,
                "registry": {
                    "kept": {"image": peer, "longLived": True, "tools": [{"name": "whoami", "description": "w"}]}
                },
            }
        )
    )
    gateway = gateway_process("--catalog", str(catalog), env={"DOCKER_HOST": docker_host})
    async with gateway.client() as client:
        tool_value(await client.call_tool("whoami", {}))
    assert len(_server_containers(docker_host)) == 1  # the long-lived one
    assert gateway.process is not None
    os.kill(gateway.process.pid, 9)
    gateway.process.wait()
    # Its attach stream closed, so the server's stdin did: it exits and is removed on its own.
    assert await until(lambda: _server_containers(docker_host) == [], 20)


async def test_a_gateway_start_removes_containers_dead_gateways_left(
    gateway_process: Any, tmp_path: Path, docker_host: str, peer: str
) -> None:
    import socket

    labels = ["kubemcp.dev/managed-by=kubemcp", "kubemcp.dev/gateway-pid=999999999",
              f"kubemcp.dev/gateway-host={socket.gethostname()}"]  # fmt: skip
    left = docker(docker_host, "create", *(f"--label={label}" for label in labels), peer).stdout.strip()
    assert left in "\n".join(docker(docker_host, "ps", "-aq", "--no-trunc").stdout.split())
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        json.dumps({"version": 3, "registry": {"peer": {"image": peer, "allowHosts": ["a.example:443"]}}})
    )
    gateway = gateway_process("--catalog", str(catalog), env={"DOCKER_HOST": docker_host})
    assert await until(lambda: left not in docker(docker_host, "ps", "-aq", "--no-trunc").stdout, 20)
    async with gateway.client() as client:
        await client.list_tools()
    assert "allowHosts is enforced in a cluster" in gateway.log  # said, not silently dropped
