"""The local secret store: a `NAME=value` file readable by its owner only (0600).

Secret names follow Docker's catalogs (`github.personal_access_token`); a catalog entry maps each
name it needs to the environment variable its server reads.
"""

from __future__ import annotations

from pathlib import Path

from kubemcp.atomic import write_text
from kubemcp.errors import FileFormatError, SecretStoreError
from kubemcp.files._located import read_text
from kubemcp.model.names import SECRET_NAME, check_secret_name


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=value` from the command line."""
    name, sep, value = text.partition("=")
    if not sep:
        raise SecretStoreError("expected NAME=value")
    return check_secret_name(name.strip()), value


def read_secrets(path: Path) -> dict[str, str]:
    """Read a secrets file; a missing file is an empty store. Values never appear in errors."""
    if not path.exists():
        return {}
    text = read_text(path, show_columns=False)
    secrets: dict[str, str] = {}
    first: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not sep or not SECRET_NAME.match(name):
            raise FileFormatError(str(path), number, None, "expected NAME=value (the line's value is not shown)")
        if "\0" in value:
            raise FileFormatError(str(path), number, None, f"the value of {name} holds a NUL character")
        if name in first:
            raise FileFormatError(str(path), number, None, f"{name} is set twice (first at line {first[name]})")
        first[name] = number
        secrets[name] = _unquote(value.strip())
    return secrets


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def write_secrets(path: Path, secrets: dict[str, str]) -> None:
    """Write the store atomically with mode 0600 (its folder 0700)."""
    text = "".join(f"{name}={secrets[name]}".replace("\n", "\\n") + "\n" for name in sorted(secrets))
    try:
        write_text(path, text, mode=0o600, folder_mode=0o700)
    except OSError as exc:
        raise SecretStoreError(f"cannot write secret store {path}: {exc.strerror or exc}") from exc
