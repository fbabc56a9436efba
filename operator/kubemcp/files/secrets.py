"""The local secret store: a `NAME=value` file readable by its owner only (0600).

Secret names follow Docker's catalogs (`github.personal_access_token`); a catalog entry maps each
name it needs to the environment variable its server reads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from kubemcp.errors import FileFormatError, SecretStoreError

SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_name(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise SecretStoreError(f"secret name {name!r} must be letters, digits, '.', '_' or '-'")
    return name


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=value` from the command line."""
    name, sep, value = text.partition("=")
    if not sep:
        raise SecretStoreError("expected NAME=value")
    return check_name(name.strip()), value


def read_secrets(path: Path) -> dict[str, str]:
    """Read a secrets file; a missing file is an empty store. Values never appear in errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SecretStoreError(f"cannot read secret store {path}: {exc.strerror or exc}") from exc
    secrets: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not sep or not SECRET_NAME.match(name):
            raise FileFormatError(str(path), number, None, "expected NAME=value (the line's value is not shown)")
        secrets[name] = _unquote(value.strip())
    return secrets


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def write_secrets(path: Path, secrets: dict[str, str]) -> None:
    """Write the store atomically with mode 0600 (its folder 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for name in sorted(secrets):
                value = secrets[name].replace("\n", "\\n")
                handle.write(f"{name}={value}\n")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SecretStoreError(f"cannot write secret store {path}: {exc.strerror or exc}") from exc
