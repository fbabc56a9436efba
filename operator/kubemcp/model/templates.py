"""Docker MCP Toolkit templates: `{{server.key}}` with pipes, and `$VAR` expansion.

What a template means, as Docker's gateway reads it:

- `{{a.b.c}}` looks the dotted path up in the scope (this server's configuration, under its name
  with dots written as `_`). An unset value is empty, never an error: an `env` entry whose value
  comes out empty is left out, so optional values simply disappear (required ones are enforced by
  the entry's `config` JSON schema instead).
- A term that is the whole expression keeps its type: a list stays a list, so
  `{{fs.paths|volume|into}}` in `command` or `volumes` becomes one item per path.
- Pipes, applied left to right: `volume` (`p` -> `p:p`, Windows drives turned into `/C/...` on the
  target side), `volume-target` (just that target), `into` (always a list), `first`, `last`,
  `or:DEFAULT` (`or:[a,b]` for a list), `mount_as:/target[:ro]` (`value:/target[:ro]`, or nothing
  when unset).
- `$VAR` / `${VAR}` in commands and plain `env` values expand from the server's own variables
  (its secrets first, then its `env`), as a POSIX shell would; unknown names are empty.

kubemcp adds `{{python}}` (the running interpreter) and `{{catalog_dir}}` (the catalog's folder)
for its `process:` form. A pipe kubemcp does not know is reported by `problems()` so the entry is
refused with a message instead of the pipe being ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

TERM = re.compile(r"\{\{(.*?)\}\}")
PIPES = ("volume", "volume-target", "into", "first", "last")
PARAMETERISED = ("or:", "mount_as:")
_DRIVE = re.compile(r"^([A-Za-z]):[\\/]")
_UNC = re.compile(r"^\\\\[^\\]+\\[^\\]+")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")
_SPECIAL = set("*#$@!?-0123456789")

Value = Any


def problems(expression: str) -> list[str]:
    """What kubemcp cannot honour in one expression (an unknown pipe), one message each."""
    found = []
    for match in TERM.finditer(expression):
        _, *pipes = match.group(1).split("|")
        for pipe in pipes:
            name = pipe.strip()
            if name in PIPES or name.startswith(PARAMETERISED):
                continue
            found.append(f"unknown template function {name!r} in {match.group(0)!r}")
    return found


def text(value: Value) -> str:
    """A value as Docker's templates print it: empty for unset, `true`/`false`, numbers plainly."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + " ".join(text(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def dig(path: str, scope: Mapping[str, Any]) -> Value:
    current: Any = scope
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part.strip())
    return "" if current is None else current


def _linux_path(path: str) -> str:
    slashed = path.replace("\\", "/")
    return _DRIVE.sub(lambda m: f"/{m.group(1)}/", slashed)


def _windows(path: str) -> bool:
    return bool(_DRIVE.match(path) and "\\" in path[:3]) or bool(_UNC.match(path))


def _volume(value: Value) -> str:
    source = text(value)
    if not source:
        return ""
    return f"{source}:{_linux_path(source) if _windows(source) else source}"


def _volume_target(value: Value) -> str:
    path = text(value)
    return _linux_path(path) if _windows(path) else path


def _each(value: Value, function: Callable[[Value], str]) -> Value:
    return [function(item) for item in value] if isinstance(value, list) else function(value)


def _or(value: Value, default: str) -> Value:
    if isinstance(value, list):
        if value:
            return value
        if default.startswith("[") and default.endswith("]"):
            inner = default[1:-1]
            return inner.split(",") if inner else []
        return default
    return default if value is None or value == "" else text(value)


def _mount_as(value: Value, target: str) -> str:
    if isinstance(value, list):
        if not value:
            return ""
        value = value[0]
    if value is None or value == "":
        return ""
    return f"{text(value)}:{target.strip()}"


def _apply(value: Value, pipe: str) -> Value:
    name = pipe.strip()
    if name == "volume":
        return _each(value, _volume)
    if name == "volume-target":
        return _each(value, _volume_target)
    if name == "into":
        return [text(item) for item in value] if isinstance(value, list) else [text(value)]
    if name in ("first", "last"):
        if isinstance(value, list):
            return text(value[0 if name == "first" else -1]) if value else ""
        return text(value)
    if pipe.startswith("or:"):
        return _or(value, pipe.partition(":")[2])
    if pipe.startswith("mount_as:"):
        return _mount_as(value, pipe.partition(":")[2])
    return value  # refused at load time (see `problems`)


def _term(inner: str, scope: Mapping[str, Any]) -> Value:
    path, *pipes = inner.split("|")
    value = dig(path.strip(), scope)
    for pipe in pipes:
        value = _apply(value, pipe)
    return value


def evaluate(expression: str, scope: Mapping[str, Any]) -> Value:
    """One expression: a single term keeps its type (a list stays a list); otherwise a string."""
    whole = TERM.fullmatch(expression)
    if whole is not None and "}}" not in whole.group(1):
        return _term(whole.group(1), scope)
    return TERM.sub(lambda match: text(_term(match.group(1), scope)), expression)


def evaluate_list(expressions: Iterable[str], scope: Mapping[str, Any]) -> list[str]:
    """Several expressions (a command, volumes): a list-valued one becomes several items."""
    result: list[str] = []
    for expression in expressions:
        value = evaluate(expression, scope)
        if isinstance(value, list):
            result.extend(text(item) for item in value)
        else:
            result.append(text(value))
    return result


def has_template(value: str) -> bool:
    return "{{" in value and "}}" in value


def expand_variables(value: str, lookup: Callable[[str], str]) -> str:
    """`$NAME`, `${NAME}` and `$<special>` replaced by `lookup(NAME)`, as POSIX shells and Go's
    `os.Expand` do; a `$` followed by anything else stays as it is, a bad `${` is dropped."""
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char != "$" or index + 1 >= len(value):
            out.append(char)
            index += 1
            continue
        rest = value[index + 1 :]
        if rest[0] == "{":
            close = rest.find("}")
            if close == -1:
                index += 2  # "${" without a closing brace is dropped
                continue
            name = rest[1:close]
            if name:
                out.append(lookup(name))
            index += close + 2
            continue
        if rest[0] in _SPECIAL:
            out.append(lookup(rest[0]))
            index += 2
            continue
        length = 0
        while length < len(rest) and _NAME_CHAR.match(rest[length]):
            length += 1
        if length == 0:
            out.append("$")
            index += 1
            continue
        out.append(lookup(rest[:length]))
        index += 1 + length
    return "".join(out)


def expand_from(value: str, env: Mapping[str, str]) -> str:
    return expand_variables(value, lambda name: env.get(name, ""))
