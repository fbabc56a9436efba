"""Bearer tokens for the gateway's HTTP transports, by name: the name is the principal a token stands for.

Two forms, either or both:
- a tokens file, `NAME=token` lines (the secret store's syntax), mode 0600; locally
  `$KUBEMCP_HOME/tokens.env`, created with a random `default` token when the gateway needs one;
- a tokens folder, one file per token: the file's name is the principal, its content the token.
  A Kubernetes Secret mounted as a volume has this form (the kubelet's `..data` links are skipped).

A token is an RFC 6750 `b64token` of at least 16 characters. Token values are added to
`kubemcp.masking.known_secrets` when read, so they are masked in logs and scanned for in results.
"""

from __future__ import annotations

import re
import secrets
import stat
from pathlib import Path

from kubemcp.atomic import write_text
from kubemcp.errors import FileFormatError, KubemcpError
from kubemcp.files.secrets import parse_env_lines
from kubemcp.masking import known_secrets
from kubemcp.model.names import SECRET_NAME

DEFAULT_TOKEN_NAME = "default"  # noqa: S105 - a name, not a token
MIN_TOKEN_LENGTH = 16
TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")  # RFC 6750 b64token
TOKEN_NAME_RULE = "letters, digits, '.', '_' or '-', starting with a letter or digit"  # noqa: S105


class TokenStoreError(KubemcpError):
    """The tokens file or folder cannot be read or written."""


def check_token_name(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise TokenStoreError(f"token name {name!r} must be {TOKEN_NAME_RULE}")
    return name


def token_problem(token: str) -> str | None:
    """Why `token` cannot be a bearer token, or None; never includes the token."""
    if not TOKEN.match(token):
        return "is not a bearer token (letters, digits and '-._~+/', then optional '=')"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"is too short (at least {MIN_TOKEN_LENGTH} characters)"
    return None


def new_token() -> str:
    """A random token: 256 bits, URL-safe base64."""
    return secrets.token_urlsafe(32)


def read_tokens_file(path: Path) -> dict[str, str]:
    """A tokens file's tokens by name; a missing file has none. Errors name the line, never the token."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenStoreError(f"cannot read tokens file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    tokens = parse_env_lines(text, str(path))
    for name, token in tokens.items():
        problem = token_problem(token)
        if problem is not None:
            raise FileFormatError(str(path), None, name, f"the token {problem}")
    known_secrets.add(tokens.values())
    return tokens


def read_tokens_dir(folder: Path) -> dict[str, str]:
    """One token per file (a mounted Kubernetes Secret); a missing folder has none."""
    tokens: dict[str, str] = {}
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise TokenStoreError(f"cannot read tokens folder {folder}: {exc.strerror or exc}") from exc
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file():
            continue
        name = entry.name
        if not SECRET_NAME.match(name):
            raise TokenStoreError(f"{entry}: the file name is the token's name and must be {TOKEN_NAME_RULE}")
        try:
            token = entry.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenStoreError(f"cannot read token file {entry}: {getattr(exc, 'strerror', None) or exc}") from exc
        problem = token_problem(token)
        if problem is not None:
            raise TokenStoreError(f"{entry}: the token {problem}")
        tokens[name] = token
    known_secrets.add(tokens.values())
    return tokens


def write_tokens_file(path: Path, tokens: dict[str, str]) -> None:
    """Write the tokens file atomically with mode 0600 (its folder 0700)."""
    for name, token in tokens.items():
        check_token_name(name)
        problem = token_problem(token)
        if problem is not None:
            raise TokenStoreError(f"the token for {name!r} {problem}")
    text = "".join(f"{name}={tokens[name]}\n" for name in sorted(tokens))
    try:
        write_text(path, text, mode=0o600, folder_mode=0o700)
    except OSError as exc:
        raise TokenStoreError(f"cannot write tokens file {path}: {exc.strerror or exc}") from exc


def ensure_default_token(path: Path) -> bool:
    """Give a tokens file a random `default` token when it holds none; True when one was created."""
    if read_tokens_file(path):
        return False
    write_tokens_file(path, {DEFAULT_TOKEN_NAME: new_token()})
    return True


def readable_by_others(path: Path) -> bool:
    """Whether anyone but the owner may read the file (it should be 0600)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
