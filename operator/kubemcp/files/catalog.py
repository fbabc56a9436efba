"""Catalog files in Docker's MCP Toolkit format (versions 2 and 3; the version is not checked, as in
Docker): a set of named entries. What an entry says lives in `kubemcp.model.entry`; this module
reads and merges catalog files.

Two kinds of problems, kept apart:
- malformed input (bad YAML, a field of the wrong type): the file is not loaded, and every
  problem names file, line and field;
- an entry kubemcp cannot honour (a name it cannot serve, an unknown template function, an OAuth
  flow): that entry is refused with a message naming the field, the rest of the file loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kubemcp.errors import FileFormatError, FileFormatErrors
from kubemcp.files._located import LocatedDocument, parse_yaml, validate
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.names import server_name_for
from kubemcp.validation import problems as pydantic_problems


class CatalogFile(BaseModel):
    # Docker's catalogs carry presentation fields that kubemcp does not use.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: int | str | None = None
    name: str = "catalog"
    display_name: str | None = Field(default=None, alias="displayName")
    registry: dict[str, Any] = Field(default_factory=dict)

    @field_validator("registry", mode="before")
    @classmethod
    def _null_registry(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("name", mode="before")
    @classmethod
    def _text_name(cls, value: Any) -> Any:
        return "catalog" if value is None else str(value)


class Refused(BaseModel):
    """An entry kubemcp cannot serve, and why (each message names file, line and field)."""

    catalog_name: str
    problems: list[str]
    source: CatalogSource


class Catalog(BaseModel):
    """Several catalog files merged: later files win, entry by entry (by kubemcp name)."""

    entries: dict[str, CatalogEntry] = Field(default_factory=dict)
    sources: dict[str, CatalogSource] = Field(default_factory=dict)
    names: list[str] = Field(default_factory=list)
    catalog_names: dict[str, str] = Field(default_factory=dict)  # kubemcp name -> the name as written
    refused: dict[str, Refused] = Field(default_factory=dict)

    def resolve(self, name: str) -> str | None:
        """The kubemcp name for a name written either way (Docker's spelling or kubemcp's)."""
        if name in self.entries or name in self.refused:
            return name
        try:
            mapped = server_name_for(name)
        except ValueError:
            return None
        return mapped if mapped in self.entries or mapped in self.refused else None


class LoadedFile(BaseModel):
    name: str
    display_name: str | None = None
    entries: dict[str, CatalogEntry] = Field(default_factory=dict)
    catalog_names: dict[str, str] = Field(default_factory=dict)
    lines: dict[str, int | None] = Field(default_factory=dict)
    refused: dict[str, tuple[str, list[str], int | None]] = Field(default_factory=dict)


def _entry(
    document: LocatedDocument, written: str, data: Any
) -> tuple[CatalogEntry | None, list[str], list[FileFormatError]]:
    """(entry, refusals, malformations) of one entry."""
    here = ("registry", written)
    try:
        entry = CatalogEntry.model_validate({} if data is None else data)
    except ValidationError as exc:
        return None, [], [document.error((*here, *loc), message) for loc, message in pydantic_problems(exc)]
    refusals = [str(document.error((*here, *loc), message)) for loc, message in entry.check()]
    return entry, refusals, []


def load_catalog_file(path: Path) -> tuple[LoadedFile, LocatedDocument]:
    """One file: malformed input raises `FileFormatError(s)`; refused entries are returned with it."""
    document = parse_yaml(path)
    top = validate(document, CatalogFile, empty={})
    loaded = LoadedFile(name=top.name, display_name=top.display_name)
    malformed: list[FileFormatError] = []
    for written, data in top.registry.items():
        written = str(written)
        line = document.line_of(("registry", written))
        try:
            name = server_name_for(written)
        except ValueError as exc:
            loaded.refused[written] = (written, [str(document.error(("registry", written), str(exc)))], line)
            continue
        if name in loaded.entries or name in loaded.refused:
            first = loaded.catalog_names.get(name) or loaded.refused[name][0]
            message = f"{written!r} and {first!r} are both served as {name!r}; this one is refused"
            loaded.refused[f"{name}#{written}"] = (written, [str(document.error(("registry", written), message))], line)
            continue
        entry, refusals, problems = _entry(document, written, data)
        malformed += problems
        if refusals:
            loaded.refused[name] = (written, refusals, line)
        elif entry is not None:
            loaded.entries[name] = entry
            loaded.lines[name] = line
            if written != name:
                loaded.catalog_names[name] = written
    if len(malformed) == 1:
        raise malformed[0]
    if malformed:
        raise FileFormatErrors(malformed)
    return loaded, document


def load_catalogs(paths: list[Path]) -> Catalog:
    """Load and merge catalog files in order; all malformations of all files are reported together."""
    merged = Catalog()
    problems: list[FileFormatError] = []
    for path in paths:
        try:
            loaded, _ = load_catalog_file(path)
        except FileFormatError as exc:
            problems.append(exc)
            continue
        except FileFormatErrors as exc:
            problems.extend(exc.errors)
            continue
        merged.names.append(loaded.name)
        directory = str(path.resolve().parent)
        for name, entry in loaded.entries.items():
            merged.entries[name] = entry
            merged.refused.pop(name, None)
            merged.sources[name] = CatalogSource(path=str(path), line=loaded.lines.get(name), directory=directory)
            merged.catalog_names.pop(name, None)
            if name in loaded.catalog_names:
                merged.catalog_names[name] = loaded.catalog_names[name]
        for name, (written, reasons, line) in loaded.refused.items():
            source = CatalogSource(path=str(path), line=line, directory=directory)
            merged.refused[name] = Refused(catalog_name=written, problems=reasons, source=source)
            if name in merged.entries:  # a later file's refused entry replaces an earlier good one
                del merged.entries[name]
                merged.sources.pop(name, None)
                merged.catalog_names.pop(name, None)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise FileFormatErrors(problems)
    return merged
