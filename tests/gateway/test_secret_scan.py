"""Secret scanning: known secret values in every spelling, common token formats, block and redact."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mcp_types as types
import pytest
from kubemcp.backend.hooks import CallHooks
from kubemcp.gateway.core import Gateway
from kubemcp.gateway.secret_scan import KNOWN, Finding, SecretScanner
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.masking import SecretValues
from kubemcp.model.spec import ServerSpec
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from memory_runtime import MemoryRuntime
from support import write_catalog

# Token-shaped samples are put together at run time, so no file holds anything that looks like a credential.
SAMPLES = {
    "GitHub token": "ghp_" + "A1b2C3d4" * 5,
    "GitHub fine-grained token": "github_pat_" + "11ABCDEFG0" * 4,
    "GitLab token": "glpat-" + "x9Y8z7W6v5U4t3S2r1Q0",
    "AWS access key": "AKIA" + "IOSFODNN7EXAMPLE",
    "AWS secret key": "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
    "Slack token": "xoxb-" + "1234567890-abcdefghij",
    "Slack webhook": "https://hooks.slack.com/services/" + "T00000000/B00000000/" + "X" * 24,
    "Google API key": "AIza" + "SyA1234567890abcdefghijklmnopqrstuv",
    "Stripe key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "private key": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "JSON Web Token": "eyJhbGciOiJSUzI1NiJ9" + ".eyJzdWIiOiJhZGEiLCJleHAiOjF9" + ".c2lnbmF0dXJlc2lnbmF0dXJlMTIz",
}
KIND = {"GitHub fine-grained token": "GitHub token"}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_common_token_formats_are_found_where_they_are(name: str) -> None:
    scanner = SecretScanner("block", SecretValues())
    arguments = {"title": "notes", "body": [f"see {SAMPLES[name]} here"]}
    assert scanner.scan(arguments, "arguments") == [Finding(KIND.get(name, name), "arguments.body[0]")]


@pytest.mark.parametrize(
    "text",
    [
        "the ghost_town of glpat and AKIA",
        "550e8400-e29b-41d4-a716-446655440000",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "eyJ is how base64 JSON starts",
        "-----BEGIN PUBLIC KEY-----",
        "xoxb-",
    ],
)
def test_ordinary_text_is_not_a_finding(text: str) -> None:
    assert SecretScanner("block", SecretValues()).scan({"text": text}, "arguments") == []


SECRET = 'pa"ss\\wörd-' + "7c1e"


@pytest.mark.parametrize(
    "spelled",
    [
        SECRET,
        json.dumps({"token": SECRET}),  # JSON-escaped quote, backslash, \u00f6
        json.dumps({"token": SECRET}, ensure_ascii=False),
        json.dumps(json.dumps({"token": SECRET})),  # a JSON document quoted in another one
        repr({"token": SECRET}),
    ],
)
def test_known_values_are_found_in_every_spelling(spelled: str) -> None:
    known = SecretValues()
    known.add([SECRET, "short"])
    scanner = SecretScanner("block", known)
    assert scanner.scan({"content": [{"type": "text", "text": spelled}]}, "result") == [
        Finding(KNOWN, "result.content[0].text")
    ]
    assert scanner.scan({"text": "a short word"}, "result") == []  # too short to scan for


def test_keys_are_scanned_and_never_shown() -> None:
    scanner = SecretScanner("redact", SecretValues())
    token = SAMPLES["GitHub token"]
    arguments = {"plain_key": {token: "value"}}
    assert scanner.scan(arguments, "arguments") == [Finding("GitHub token", "arguments.plain_key.<key>")]
    assert scanner.redact(arguments, "arguments") == (
        {"plain_key": {"***": "value"}},
        [Finding("GitHub token", "arguments.plain_key.<key>")],
    )


def test_base64_payloads_are_not_scanned() -> None:
    scanner = SecretScanner("block", SecretValues())
    image = {"type": "image", "data": SAMPLES["GitHub token"], "mimeType": "image/png"}
    blob = {"type": "resource", "resource": {"uri": "x:/y", "blob": SAMPLES["Stripe key"]}}
    assert scanner.scan({"content": [image, blob]}, "result") == []


def test_redact_replaces_each_finding() -> None:
    known = SecretValues()
    known.add([SECRET])
    scanner = SecretScanner("redact", known)
    text = f"token {SAMPLES['GitHub token']} and {json.dumps(SECRET)}"
    redacted, found = scanner.redact({"text": text, "n": 3}, "arguments")
    assert redacted == {"text": 'token *** and "***"', "n": 3}
    assert {finding.kind for finding in found} == {"GitHub token", KNOWN}


# -- in the gateway ---------------------------------------------------------------------------

STORE_SECRET = "store-s3cret-" + "b4d9e2"


def echo_server(spec: ServerSpec, instance: int) -> MCPServer:
    server = MCPServer(spec.name)

    @server.tool()
    def echo(text: str) -> str:
        """Echo text back."""
        return text

    @server.tool()
    def leak() -> str:
        """Return the server's own secret."""
        return f"my token is {spec.secret_env['TOKEN']}"

    @server.prompt()
    def leaky() -> str:
        """A prompt holding a secret."""
        return f"use {SAMPLES['Slack token']}"

    return server


def _gateway(tmp_path: Path, mode: str) -> Gateway:
    entry = {"image": "x/echo", "secrets": [{"name": "echo.token", "env": "TOKEN"}]}
    catalog = write_catalog(tmp_path / "catalog.yaml", {"echo": entry})
    (tmp_path / "secrets.env").write_text(f"echo.token={STORE_SECRET}\n")
    settings = GatewaySettings.model_validate(
        {
            "catalogs": [catalog],
            "secrets": tmp_path / "secrets.env",
            "watch": False,
            "cache_dir": tmp_path / "cache",
            "secret_scan": mode,
        }
    )
    return Gateway(settings, MemoryRuntime(echo_server))


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.anyio
async def test_block_is_the_default_and_logs_without_the_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert GatewaySettings.model_fields["secret_scan"].default == "block"
    gateway = _gateway(tmp_path, "block")
    token = SAMPLES["GitHub token"]
    async with gateway.running():
        with caplog.at_level(logging.WARNING), pytest.raises(MCPError) as refused:
            await gateway.call_tool("echo", {"text": f"please store {token}"}, CallHooks())
        assert refused.value.code == types.INVALID_PARAMS
        assert refused.value.data == {"reason": "secret_detected", "found": ["GitHub token"]}
        assert "GitHub token at arguments.text" in refused.value.message
        # A server's own secret coming back in its result (a tool that prints its env) is withheld.
        leaked = await gateway.call_tool("leak", {}, CallHooks())
        assert leaked.is_error
        assert STORE_SECRET not in leaked.model_dump_json()
        assert "withheld" in _text(leaked)
        with pytest.raises(MCPError) as withheld:
            await gateway.get_prompt("leaky", None, CallHooks())
        assert withheld.value.code == types.INTERNAL_ERROR
        assert "Slack token" in withheld.value.message
        fine = await gateway.call_tool("echo", {"text": "nothing to see"}, CallHooks())
        assert _text(fine) == "nothing to see"
    assert "blocked tool echo" in caplog.text
    assert "withheld tool leak result" in caplog.text
    for value in (token, STORE_SECRET, SAMPLES["Slack token"]):
        assert value not in caplog.text


@pytest.mark.anyio
async def test_redact_passes_calls_with_the_secrets_replaced(tmp_path: Path) -> None:
    gateway = _gateway(tmp_path, "redact")
    async with gateway.running():
        echoed = await gateway.call_tool("echo", {"text": f"key {SAMPLES['AWS access key']}"}, CallHooks())
        assert _text(echoed) == "key ***"  # the server received the redacted argument
        leaked = await gateway.call_tool("leak", {}, CallHooks())
        assert not leaked.is_error
        assert _text(leaked) == "my token is ***"


@pytest.mark.anyio
async def test_off_passes_everything(tmp_path: Path) -> None:
    gateway = _gateway(tmp_path, "off")
    async with gateway.running():
        leaked = await gateway.call_tool("leak", {}, CallHooks())
    assert _text(leaked) == f"my token is {STORE_SECRET}"
