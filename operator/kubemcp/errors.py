"""The exception tree. Every error kubemcp raises on purpose is a `KubemcpError`."""

from __future__ import annotations


class KubemcpError(Exception):
    """Base of every error kubemcp raises on purpose."""


class FileFormatError(KubemcpError):
    """A file could not be loaded: names the file, the line and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = path if line is None else f"{path}:{line}"
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{what} {message}")


class FileFormatErrors(KubemcpError):
    """Several problems found in one load; each is a `FileFormatError`."""

    def __init__(self, errors: list[FileFormatError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class SettingsError(KubemcpError):
    """Command-line options or environment settings that do not fit together."""


class SecretStoreError(KubemcpError):
    """The secret store could not be read or written."""


class ServerError(KubemcpError):
    """A backend MCP server failed; the message names the server."""

    def __init__(self, server: str, message: str) -> None:
        self.server = server
        super().__init__(f"server {server!r}: {message}")


class ServerUnavailableError(ServerError):
    """The server could not be started or could not finish its handshake."""


class ServerCrashedError(ServerError):
    """The server's process or connection ended while a request was open."""


class ServerTimeoutError(ServerError):
    """The server did not answer a request within the call timeout (`--call-timeout`)."""


class ServerSaturatedError(ServerError):
    """No instance of the server could be started in time: the gateway's or the server's limit of
    concurrent per-call instances is reached and the wait queue is full or took too long."""
