"""The gateway's security decisions on requests, in one place `core.Gateway` calls into:

- who may connect over HTTP (`authentication`, applied by `auth_http.BearerAuth` in front of the app);
- what the caller may see and use (`authz`): listings are filtered, other calls refused with
  JSON-RPC error -32602 (`data.reason` = `forbidden`), and logged with the principal, never arguments;
- what may cross the gateway (`secret_scan`): tool and prompt arguments and every result. With
  `block` (the default) arguments holding a secret are refused with -32602 (`data.reason` =
  `secret_detected`), a tool result holding one is replaced by an error result, a prompt or resource
  holding one by error -32603; with `redact` the secret is replaced by `***` and the call goes on.
  Each finding is logged without the value.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from pathlib import Path
from typing import Any, TypeVar

import mcp_types as types
from mcp.shared.exceptions import MCPError

from kubemcp.errors import FileFormatError, FileFormatErrors
from kubemcp.files.authz_policy import load_policy
from kubemcp.gateway.auth_http import Authentication
from kubemcp.gateway.auth_setup import authentication_for
from kubemcp.gateway.authz import AccessPolicy
from kubemcp.gateway.listing import Listing
from kubemcp.gateway.principal import Principal, current_principal
from kubemcp.gateway.secret_scan import SecretScanner, describe
from kubemcp.gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)

ResultT = TypeVar("ResultT", bound=types.Result)


class SecretWithheld(MCPError):
    """A result held a secret and was not passed on."""


def _stamp(path: Path | None) -> Hashable:
    if path is None:
        return None
    try:
        found = path.stat()
    except OSError:
        return (0, 0, 0)
    return (found.st_ino, found.st_mtime_ns, found.st_size)


class Access:
    def __init__(self, settings: GatewaySettings) -> None:
        self.policy_file = settings.authz
        self.policy = AccessPolicy(load_policy(self.policy_file) if self.policy_file is not None else None)
        self._policy_stamp = _stamp(self.policy_file)
        self.scanner = SecretScanner(settings.secret_scan)
        self.authentication: Authentication | None = authentication_for(settings)
        if self.policy_file is not None:
            logger.info("authorization policy %s: %d rules", self.policy_file, self.policy.rule_count)
        if settings.secret_scan != "block":  # noqa: S105 - a mode, not a password
            logger.warning("secret scanning: %s", settings.secret_scan)

    # -- reloading ---------------------------------------------------------------------------

    def stamp(self) -> Hashable:
        auth = self.authentication.stamp() if self.authentication is not None else None
        return (_stamp(self.policy_file), auth)

    def reload(self) -> bool:
        """Reload what changed; True when what callers may see changed (the policy)."""
        if self.authentication is not None:
            self.authentication.reload()
        stamp = _stamp(self.policy_file)
        if self.policy_file is None or stamp == self._policy_stamp:
            return False
        self._policy_stamp = stamp
        try:
            policy = load_policy(self.policy_file)
        except (FileFormatError, FileFormatErrors) as exc:
            logger.error("not reloading the authorization policy, keeping the current one:\n%s", exc)
            return False
        self.policy = AccessPolicy(policy)
        logger.info("authorization policy %s reloaded: %d rules", self.policy_file, len(policy.rules))
        return True

    # -- authorization -----------------------------------------------------------------------

    def view(self, listing: Listing) -> Listing:
        return self.policy.view(listing, current_principal())

    def admit(self, what: str, public: str, server: str, name: str) -> Principal:
        """The caller, when it may use `server`'s `name`; otherwise a logged -32602 error."""
        principal = current_principal()
        if not self.policy.allows(principal, server, name):
            logger.warning("denied %s %s (%s/%s) to %s", what, public, server, name, principal)
            raise MCPError(
                types.INVALID_PARAMS,
                f"{what} {public!r} is not allowed for {principal}",
                {"reason": "forbidden", "principal": str(principal)},
            )
        return principal

    # -- secret scanning ---------------------------------------------------------------------

    def screen_arguments(self, what: str, public: str, arguments: Any, principal: Principal) -> Any:
        """`arguments` as they may go to the server: unchanged, redacted, or refused."""
        if self.scanner.mode == "off" or not arguments:
            return arguments
        if self.scanner.mode == "redact":
            redacted, found = self.scanner.redact(arguments, "arguments")
            if found:
                logger.warning("redacted from %s %s arguments (%s): %s", what, public, principal, describe(found))
            return redacted
        found = self.scanner.scan(arguments, "arguments")
        if not found:
            return arguments
        logger.warning("blocked %s %s for %s: its arguments hold %s", what, public, principal, describe(found))
        raise MCPError(
            types.INVALID_PARAMS,
            f"{what} {public!r} was not called: its arguments hold a secret ({describe(found)})",
            {"reason": "secret_detected", "found": sorted({finding.kind for finding in found})},
        )

    def screen_result(self, what: str, public: str, result: ResultT, principal: Principal) -> ResultT:
        """`result` as it may go to the client: unchanged, redacted, or withheld."""
        if self.scanner.mode == "off":
            return result
        data = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        if self.scanner.mode == "redact":
            redacted, found = self.scanner.redact(data, "result")
            if not found:
                return result
            logger.warning("redacted from %s %s result (%s): %s", what, public, principal, describe(found))
            return type(result).model_validate(redacted)
        found = self.scanner.scan(data, "result")
        if not found:
            return result
        logger.warning("withheld %s %s result from %s: it holds %s", what, public, principal, describe(found))
        raise SecretWithheld(
            types.INTERNAL_ERROR,
            f"the result of {what} {public!r} was withheld: it holds a secret ({describe(found)})",
            {"reason": "secret_detected", "found": sorted({finding.kind for finding in found})},
        )

    def screen_tool_result(
        self, public: str, result: types.CallToolResult, principal: Principal
    ) -> types.CallToolResult:
        """A tool result holding a secret becomes an error result saying so (the model can read why)."""
        try:
            return self.screen_result("tool", public, result, principal)
        except SecretWithheld as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=exc.error.message)], is_error=True)
