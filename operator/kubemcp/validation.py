"""pydantic validation errors as kubemcp reports them: a location and a message each, never the input.

One home for the format used by file errors (`catalog.yaml:7: field 'a.b[0].c': ...`), CR
conditions (`spec.warmPool: ...`) and command-line settings.
"""

from __future__ import annotations

from pydantic import ValidationError

Location = tuple[str | int, ...]


def _is_union_tag(part: str | int) -> bool:
    # pydantic inserts the chosen type's name for unions/tagged unions, e.g. 'function-after[...]'.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "list[str]", "dict[str,str]"})


def problems(exc: ValidationError) -> list[tuple[Location, str]]:
    """(location, message) of every error, pydantic's union tags left out; input values are never included."""
    found = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(part for part in err["loc"] if not _is_union_tag(part))
        found.append((loc, str(err["msg"])))
    return found


def dotted(loc: Location) -> str:
    """`('registry', 'dice', 'env', 0, 'name')` -> `registry.dice.env[0].name`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def one_line(exc: ValidationError, *, root: str = "") -> str:
    """Every problem on one line: `where: message; where: message` (`root` names an empty location)."""
    return "; ".join(f"{dotted(loc) or root or 'value'}: {message}" for loc, message in problems(exc))
