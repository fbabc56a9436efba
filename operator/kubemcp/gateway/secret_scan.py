"""Secret scanning of what crosses the gateway: tool and prompt arguments, and the results of tools,
prompts and resource reads.

Two kinds of finding:
- a value the gateway knows is secret (from the secret store or the bearer tokens), in any of the
  spellings `kubemcp.masking.forms` knows (raw, JSON- and repr-escaped); values shorter than
  `MIN_KNOWN_LENGTH` characters are masked in logs but not scanned for (too many false alarms);
- a well-known token format: GitHub, GitLab, AWS, Slack, Google API keys, Stripe live keys,
  private key blocks and signed JWTs.

Binary payloads (base64 image, audio and blob data) are not scanned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from kubemcp.masking import MASK, SecretValues, forms, known_secrets

Mode = Literal["block", "redact", "off"]
MIN_KNOWN_LENGTH = 8
KNOWN = "a secret value the gateway holds"


@dataclass(frozen=True)
class TokenFormat:
    kind: str
    anchors: tuple[str, ...]  # one of them is in every match: a cheap test before the expression runs
    pattern: re.Pattern[str]


def _format(kind: str, anchors: tuple[str, ...], pattern: str) -> TokenFormat:
    return TokenFormat(kind, anchors, re.compile(pattern))


TOKEN_FORMATS = (
    _format(
        "GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
    ),
    _format(
        "GitLab token",
        ("glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "glcbt-", "glimt-", "glft-", "gloas-"),
        r"\bgl(?:pat|dt|rt|ptt|soat|cbt|imt|ft|oas)-[A-Za-z0-9_\-]{20,}",
    ),
    _format("AWS access key", ("AKIA", "ASIA", "ABIA", "ACCA"), r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    _format(
        "AWS secret key",
        ("ecret", "ECRET"),
        r"(?i:aws_?secret_?access_?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
    ),
    _format("Slack token", ("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    _format(
        "Slack webhook",
        ("hooks.slack.com",),
        r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,}",
    ),
    _format("Google API key", ("AIza",), r"\bAIza[0-9A-Za-z_\-]{35}"),
    _format("Stripe key", ("k_live_",), r"\b[sr]k_live_[0-9A-Za-z]{24,}"),
    _format(
        "private key",
        ("PRIVATE KEY",),
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]{0,16384}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?",
    ),
    _format("JSON Web Token", ("eyJ",), r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}"),
)
_BINARY_TYPES = {"image", "audio"}


_ANCHORS = re.compile("|".join(re.escape(anchor) for found in TOKEN_FORMATS for anchor in found.anchors))
SHORT_TEXT = 4096  # below this, one regular expression per check is cheaper than a substring test per literal


def _formats_in(text: str) -> list[TokenFormat]:
    if len(text) <= SHORT_TEXT and _ANCHORS.search(text) is None:
        return []
    return [found for found in TOKEN_FORMATS if any(anchor in text for anchor in found.anchors)]


@dataclass(frozen=True)
class Finding:
    kind: str  # what was found: a token format's name, or `KNOWN`
    where: str  # where: `arguments.body`, `content[0].text`


def describe(findings: list[Finding]) -> str:
    """`GitHub token at arguments.body; ...` (never the value)."""
    return "; ".join(f"{finding.kind} at {finding.where}" for finding in findings)


class SecretScanner:
    def __init__(self, mode: Mode, known: SecretValues = known_secrets) -> None:
        self.mode = mode
        self.known = known
        self._values: frozenset[str] | None = None
        self._spellings: tuple[str, ...] = ()
        self._any_spelling: re.Pattern[str] | None = None

    def _known_spellings(self) -> tuple[str, ...]:
        values = self.known.values
        if values is not self._values:
            spellings = {form for value in values if len(value) >= MIN_KNOWN_LENGTH for form in forms(value)}
            self._spellings = tuple(sorted(spellings, key=len, reverse=True))
            self._any_spelling = re.compile("|".join(map(re.escape, self._spellings))) if spellings else None
            self._values = values
        return self._spellings

    def _holds_known(self, text: str, spellings: tuple[str, ...]) -> bool:
        if not spellings:
            return False
        if len(text) <= SHORT_TEXT and self._any_spelling is not None:
            return self._any_spelling.search(text) is not None
        return any(spelling in text for spelling in spellings)

    def _kinds(self, text: str, spellings: tuple[str, ...]) -> list[str]:
        if len(text) < MIN_KNOWN_LENGTH:  # shorter than any value scanned for and any token format
            return []
        kinds = [KNOWN] if self._holds_known(text, spellings) else []
        for candidate in _formats_in(text):
            kinds.extend(candidate.kind for _ in candidate.pattern.finditer(text))
        return kinds

    def scan(self, data: Any, where: str) -> list[Finding]:
        """Every finding in `data` (JSON-like: dicts, lists, strings; keys included)."""
        spellings = self._known_spellings()
        found: list[Finding] = []
        for text, at in _strings(data, where, self._key_check(spellings)):
            found.extend(Finding(kind, at) for kind in self._kinds(text, spellings))
        return found

    def redact(self, data: Any, where: str) -> tuple[Any, list[Finding]]:
        """`data` with every finding replaced by `***`, and the findings."""
        found: list[Finding] = []
        spellings = self._known_spellings()

        def visit(text: str, at: str) -> str:
            for spelling in spellings:
                if spelling in text:
                    text = text.replace(spelling, MASK)
                    if not found or found[-1] != Finding(KNOWN, at):
                        found.append(Finding(KNOWN, at))
            for candidate in _formats_in(text):
                text, count = candidate.pattern.subn(MASK, text)
                found.extend([Finding(candidate.kind, at)] * count)
            return text

        return _walk(data, where, visit, self._key_check(spellings)), found

    def _key_check(self, spellings: tuple[str, ...]) -> KeyShown:
        """Whether a mapping key may be shown in a finding's place: not when it holds a secret itself."""
        seen: dict[str, bool] = {}

        def shown(key: str) -> bool:
            if key not in seen:
                seen[key] = not self._kinds(key, spellings)
            return seen[key]

        return shown


KeyShown = Callable[[str], bool]


def _child(where: str, key: Any, shown: KeyShown) -> str:
    """Where a mapping's value is; a key holding a secret is not shown."""
    name = str(key) if not isinstance(key, str) or shown(key) else "<key>"
    return f"{where}.{name}" if where else name


def _scanned(data: dict[Any, Any]) -> Iterator[tuple[Any, Any, bool]]:
    """(key, value, whether to scan the value) for a mapping: base64 payloads are not scanned."""
    binary = data.get("type") in _BINARY_TYPES
    for key, value in data.items():
        yield key, value, not (key == "blob" or (binary and key == "data"))


def _strings(data: Any, where: str, shown: KeyShown) -> Iterator[tuple[str, str]]:
    """Every string in JSON-like `data`, keys included, with where it is."""
    if isinstance(data, str):
        yield data, where
    elif isinstance(data, dict):
        for key, value, scanned in _scanned(data):
            here = _child(where, key, shown)
            if isinstance(key, str):
                yield key, here
            if scanned:
                yield from _strings(value, here, shown)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _strings(item, f"{where}[{index}]", shown)


def _walk(data: Any, where: str, visit: Callable[[str, str], str], shown: KeyShown) -> Any:
    if isinstance(data, str):
        return visit(data, where)
    if isinstance(data, dict):
        walked: dict[Any, Any] = {}
        for key, value, scanned in _scanned(data):
            here = _child(where, key, shown)
            walked[visit(key, here) if isinstance(key, str) else key] = (
                _walk(value, here, visit, shown) if scanned else value
            )
        return walked
    if isinstance(data, list):
        return [_walk(item, f"{where}[{index}]", visit, shown) for index, item in enumerate(data)]
    return data
