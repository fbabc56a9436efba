"""`authz.yaml`: which servers, tools, prompts and resources each principal may list and use.

```yaml
default: deny                  # what no rule allows (default: deny); `allow` makes the rules a deny list
rules:
  - principals: [token:alice, group:dev, scope:mcp.read]
    allow: ["dice:*", "notes:search_notes"]
    deny: ["notes:delete_*"]
```

A principal is named by a selector: `token:NAME` (a bearer token's name), `sub:SUBJECT` (an OAuth
token's subject), `group:NAME` (in its groups claim), `scope:NAME` (in its scopes), `anonymous`
(HTTP callers of a gateway run with `--allow-unauthenticated`) or `*` (everyone). An item is named
`SERVER:NAME`, where NAME is a tool's or prompt's name on its server or a resource's URI (or URI
template); both parts take shell-style wildcards, and `SERVER` alone means `SERVER:*`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kubemcp.files._located import parse_yaml, validate

SELECTOR = re.compile(r"^(\*|anonymous|(token|sub|group|scope):\S.*)$")


def _selector(value: str) -> str:
    if not SELECTOR.match(value):
        raise ValueError(
            f"{value!r} is not a principal selector: use token:NAME, sub:SUBJECT, group:NAME, scope:NAME, "
            "anonymous or *"
        )
    return value


def _pattern(value: str) -> str:
    server, sep, name = value.partition(":")
    if not server.strip() or (sep and not name):
        raise ValueError(f"{value!r} is not an item pattern: use SERVER:NAME, SERVER:* or SERVER")
    return value if sep else f"{value}:*"


Selector = Annotated[str, AfterValidator(_selector)]
Pattern = Annotated[str, AfterValidator(_pattern)]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    principals: list[Selector] = Field(min_length=1)
    allow: list[Pattern] = Field(default_factory=list)
    deny: list[Pattern] = Field(default_factory=list)


class AuthzPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: Literal["allow", "deny"] = "deny"
    rules: list[Rule] = Field(default_factory=list)


ALLOW_ALL_TEXT = "# no authorization policy: every authenticated caller may use everything\ndefault: allow\n"


def load_policy(path: Path) -> AuthzPolicy:
    """Load and check a policy file; errors name the file, the line and the field."""
    return validate(parse_yaml(path), AuthzPolicy, empty={})
