"""Authorization per principal: the policy file, what each caller lists, refused calls, the listing cache."""

from __future__ import annotations

import logging
from pathlib import Path

import mcp_types as types
import pytest
from kubemcp.backend.hooks import CallHooks
from kubemcp.errors import FileFormatError, FileFormatErrors
from kubemcp.files.authz_policy import ALLOW_ALL_TEXT, load_policy
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.principal import ANONYMOUS, LOCAL, Principal, acting_as
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.model.spec import ServerSpec
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from memory_runtime import MemoryRuntime
from support import write_catalog

pytestmark = pytest.mark.anyio

ALICE = Principal("token", "alice")
BOB = Principal("token", "bob")
DEV = Principal("jwt", "user-7", groups=frozenset({"dev"}), scopes=frozenset({"mcp.read"}))

POLICY = """\
rules:
  - principals: [token:alice]
    allow: ["one:*", "two:greet"]
  - principals: [group:dev, token:bob]
    allow: [two]
    deny: ["two:secret_*", "two:file:///private/*"]
"""


def offering_server(spec: ServerSpec, instance: int) -> MCPServer:
    server = MCPServer(spec.name)

    @server.tool()
    def greet(name: str) -> str:
        """Say hello."""
        return f"hello {name} from {spec.name}"

    @server.tool()
    def secret_plans() -> str:
        """Something not everyone may call."""
        return "plans"

    @server.prompt()
    def hello() -> str:
        """A prompt."""
        return "hello"

    @server.resource("file:///public/readme")
    def readme() -> str:
        return "public"

    @server.resource("file:///private/keys")
    def keys() -> str:
        return "private"

    return server


def _gateway(tmp_path: Path, policy: str | None) -> tuple[Gateway, MemoryRuntime]:
    catalog = write_catalog(tmp_path / "catalog.yaml", {"one": {"image": "x/one"}, "two": {"image": "x/two"}})
    values: dict[str, object] = {"catalogs": [catalog], "watch": False, "cache_dir": tmp_path / "cache"}
    if policy is not None:
        (tmp_path / "authz.yaml").write_text(policy)
        values["authz"] = tmp_path / "authz.yaml"
    runtime = MemoryRuntime(offering_server)
    return Gateway(GatewaySettings.model_validate(values), runtime), runtime


async def _names(gateway: Gateway, principal: Principal) -> dict[str, set[str]]:
    with acting_as(principal):
        listing = await gateway.listing(full=True)
    return {
        "tools": {tool.name for tool in listing.tools},
        "prompts": {prompt.name for prompt in listing.prompts},
        "resources": {str(resource.uri) for resource in listing.resources},
    }


async def test_each_principal_lists_only_what_it_may_use(tmp_path: Path) -> None:
    gateway, runtime = _gateway(tmp_path, POLICY)
    async with gateway.running():
        alice = await _names(gateway, ALICE)
        assert alice["tools"] == {"one__greet", "one__secret_plans", "two__greet"}
        assert alice["prompts"] == {"one__hello"}
        assert alice["resources"] == {"file:///public/readme", "file:///private/keys"}  # one's (first) resources
        for dev in (DEV, BOB):
            seen = await _names(gateway, dev)
            assert seen["tools"] == {"two__greet"}  # served names do not depend on who asks
            assert seen["prompts"] == {"two__hello"}
            assert seen["resources"] == set()  # the URIs are served by `one`, which `dev` may not use
        assert await _names(gateway, Principal("token", "mallory")) == {
            "tools": set(),
            "prompts": set(),
            "resources": set(),
        }
        assert await _names(gateway, ANONYMOUS) == {"tools": set(), "prompts": set(), "resources": set()}
        everything = await _names(gateway, LOCAL)  # the stdio transport's caller is trusted
        assert len(everything["tools"]) == 4
    assert runtime.started == 2  # discovery once per server, whoever listed


async def test_a_refused_call_is_a_clear_error_and_is_logged_without_arguments(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway, runtime = _gateway(tmp_path, POLICY)
    async with gateway.running():
        with acting_as(ALICE):
            allowed = await gateway.call_tool("two__greet", {"name": "ada"}, CallHooks())
            assert allowed.structured_content == {"result": "hello ada from two"}
            started = runtime.started
            with caplog.at_level(logging.WARNING), pytest.raises(MCPError) as refused:
                await gateway.call_tool("two__secret_plans", {"name": "argument-value-x"}, CallHooks())
        assert refused.value.code == types.INVALID_PARAMS
        assert refused.value.message == "tool 'two__secret_plans' is not allowed for token:alice"
        assert refused.value.data == {"reason": "forbidden", "principal": "token:alice"}
        assert runtime.started == started  # the server never ran
        assert "denied tool two__secret_plans (two/secret_plans) to token:alice" in caplog.text
        assert "argument-value-x" not in caplog.text
        with acting_as(BOB):
            with pytest.raises(MCPError, match="prompt 'one__hello' is not allowed for token:bob"):
                await gateway.get_prompt("one__hello", None, CallHooks())
            with pytest.raises(MCPError, match="resource 'file:///private/keys' is not allowed"):
                await gateway.read_resource("file:///private/keys", CallHooks())
        with acting_as(ALICE):
            read = await gateway.read_resource("file:///private/keys", CallHooks())
        contents = read.contents[0]
        assert isinstance(contents, types.TextResourceContents)
        assert contents.text == "private"


async def test_views_are_kept_per_set_of_matching_rules(tmp_path: Path) -> None:
    gateway, _ = _gateway(tmp_path, POLICY)
    async with gateway.running():
        served = await gateway.served_listing(full=True)
        with acting_as(DEV):
            first = await gateway.listing(full=True)
        with acting_as(BOB):
            second = await gateway.listing(full=True)
        assert first is second  # bob and the dev group match the same rule: one view
        with acting_as(ALICE):
            assert await gateway.listing(full=True) is not first
        assert len(served.views) == 2


async def test_without_a_policy_everyone_may_use_everything(tmp_path: Path) -> None:
    gateway, _ = _gateway(tmp_path, None)
    async with gateway.running():
        with acting_as(ANONYMOUS):
            assert await gateway.listing(full=True) is await gateway.served_listing(full=True)
            result = await gateway.call_tool("one__secret_plans", {}, CallHooks())
    assert not result.is_error


async def test_default_allow_makes_the_rules_a_deny_list(tmp_path: Path) -> None:
    gateway, _ = _gateway(tmp_path, "default: allow\nrules:\n  - principals: ['*']\n    deny: ['*:secret_*']\n")
    async with gateway.running():
        assert (await _names(gateway, ANONYMOUS))["tools"] == {"one__greet", "two__greet"}


async def test_policy_reload_applies_good_versions_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    gateway, _ = _gateway(tmp_path, POLICY)
    async with gateway.running():
        assert (await _names(gateway, BOB))["tools"] == {"two__greet"}
        (tmp_path / "authz.yaml").write_text("rules:\n  - principals: [token:bob]\n    allow: ['one:greet']\n")
        assert gateway.access.reload() is True
        assert (await _names(gateway, BOB))["tools"] == {"one__greet"}
        (tmp_path / "authz.yaml").write_text("rules:\n  - principals: [bob]\n")
        assert gateway.access.reload() is False
        assert (await _names(gateway, BOB))["tools"] == {"one__greet"}


def test_configmap_without_a_policy_means_everyone_may_use_everything(tmp_path: Path) -> None:
    (tmp_path / "authz.yaml").write_text(ALLOW_ALL_TEXT)
    policy = load_policy(tmp_path / "authz.yaml")
    assert policy.default == "allow"
    assert policy.rules == []


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("rules:\n  - principals: [alice]\n", 2, "rules[0].principals[0]", "not a principal selector"),
        ("rules:\n  - principals: [token:a]\n    allow: [':x']\n", 3, "rules[0].allow[0]", "not an item pattern"),
        ("rules:\n  - principals: []\n", 2, "rules[0].principals", "at least 1"),
        ("default: maybe\n", 1, "default", "'allow' or 'deny'"),
        ("rules:\n  - principals: [token:a]\n    permit: [x]\n", 3, "rules[0].permit", "Extra inputs"),
    ],
)
def test_policy_errors_name_the_line_and_field(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    path = tmp_path / "authz.yaml"
    path.write_text(text)
    with pytest.raises((FileFormatError, FileFormatErrors)) as caught:
        load_policy(path)
    error = caught.value.errors[0] if isinstance(caught.value, FileFormatErrors) else caught.value
    assert isinstance(error, FileFormatError)
    assert (error.line, error.field) == (line, field)
    assert message in error.message
