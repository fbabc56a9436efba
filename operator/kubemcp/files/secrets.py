"""The local secret store: a `NAME=value` file readable by its owner only (0600).

Secret names follow Docker's catalogs (`github.personal_access_token`); a catalog entry maps each
name it needs to the environment variable its server reads.

The file stays readable by people and compatible with `NAME=value` lines written by hand (`#`
comments, `export NAME=value`, `'single'` and `"double"` quotes). Every value round-trips exactly:
a value that a plain line cannot hold as it is (line breaks of any kind, other control or invisible
characters, quotes at its start, spaces at its ends) is written double-quoted with JSON's escapes,
`NAME="line one\\nline two"`. Lines end at `\\n` only: a carriage return or a Unicode line separator
inside a value can never start another entry. A value must be valid UTF-8 without NUL characters
(servers receive secrets as environment variables, which cannot hold a NUL).

Every value read is added to `kubemcp.masking.known_secrets`, so it is masked in logs from then on.
"""

from __future__ import annotations

import json
from pathlib import Path

from kubemcp.atomic import write_text
from kubemcp.errors import FileFormatError, SecretStoreError
from kubemcp.files._located import read_text
from kubemcp.masking import known_secrets
from kubemcp.model.names import SECRET_NAME, check_secret_name


def value_problem(value: str) -> str | None:
    """Why `value` cannot be a secret value, or None. The value itself is never part of the answer."""
    if "\x00" in value:
        return "contains a NUL character, which an environment variable cannot hold"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def check_secret_value(name: str, value: str) -> str:
    problem = value_problem(value)
    if problem is not None:
        raise SecretStoreError(f"the value of {name!r} {problem}")
    return value


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=value` from the command line: the value is taken exactly as given."""
    name, sep, value = text.partition("=")
    if not sep:
        raise SecretStoreError("expected NAME=value")
    name = check_secret_name(name.strip())
    return name, check_secret_value(name, value)


def read_secrets(path: Path) -> dict[str, str]:
    """Read a secrets file; a missing file is an empty store. Values never appear in errors."""
    if not path.exists():
        return {}
    text = read_text(path, show_columns=False)  # not UTF-8: an error naming the line, never the bytes
    secrets = parse_env_lines(text, str(path))
    known_secrets.add(secrets.values())
    return secrets


def parse_env_lines(text: str, where: str) -> dict[str, str]:
    """`NAME=value` lines (see the module's description); errors name the line, never the value."""
    secrets: dict[str, str] = {}
    first: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not sep or not SECRET_NAME.match(name):
            raise FileFormatError(where, number, None, "expected NAME=value (the line's value is not shown)")
        if name in first:
            raise FileFormatError(where, number, None, f"{name} is set twice (first at line {first[name]})")
        first[name] = number
        secrets[name] = _decode(value.strip(), where, number, name)
    return secrets


def _decode(value: str, where: str, number: int, name: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = value[1:-1]  # a hand-written "C:\path": taken as it is, as before
        if not isinstance(decoded, str):
            decoded = value[1:-1]
        value = decoded
    elif len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1]
    problem = value_problem(value)
    if problem is not None:
        raise FileFormatError(where, number, name, f"the value {problem}")
    return value


def _needs_quotes(value: str) -> bool:
    return not value.isprintable() or value != value.strip() or value[:1] in {'"', "'"}


def _quoted(value: str) -> str:
    return '"' + "".join(ch if ch.isprintable() and ch not in '"\\' else json.dumps(ch)[1:-1] for ch in value) + '"'


def format_line(name: str, value: str) -> str:
    """One store line for `name`: plain when the value allows it, double-quoted with escapes otherwise."""
    check_secret_value(name, value)
    return f"{name}={_quoted(value) if _needs_quotes(value) else value}\n"


def write_secrets(path: Path, secrets: dict[str, str]) -> None:
    """Write the store atomically with mode 0600 (its folder 0700)."""
    text = "".join(format_line(name, secrets[name]) for name in sorted(secrets))
    try:
        write_text(path, text, mode=0o600, folder_mode=0o700)
    except OSError as exc:
        raise SecretStoreError(f"cannot write secret store {path}: {exc.strerror or exc}") from exc
