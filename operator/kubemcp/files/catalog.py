"""The catalog file format, compatible with Docker's MCP Toolkit (`version: 2`): a set of named entries.

What an entry says lives in `kubemcp.model.entry`; this module reads and merges catalog files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kubemcp.errors import FileFormatError, FileFormatErrors
from kubemcp.files._located import LocatedDocument, parse_yaml, validate
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.names import check_server_name


class CatalogFile(BaseModel):
    # Docker's catalogs carry presentation fields that kubemcp does not use.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: Literal[2] = 2
    name: str = "catalog"
    display_name: str | None = Field(default=None, alias="displayName")
    registry: dict[str, CatalogEntry] = Field(default_factory=dict)

    @field_validator("registry")
    @classmethod
    def _names(cls, value: dict[str, CatalogEntry]) -> dict[str, CatalogEntry]:
        for name in value:
            check_server_name(name)
        return value


class Catalog(BaseModel):
    """Several catalog files merged: later files win, entry by entry."""

    entries: dict[str, CatalogEntry] = Field(default_factory=dict)
    sources: dict[str, CatalogSource] = Field(default_factory=dict)
    names: list[str] = Field(default_factory=list)


def load_catalog_file(path: Path) -> tuple[CatalogFile, LocatedDocument]:
    document = parse_yaml(path)
    return validate(document, CatalogFile, empty={}), document


def load_catalogs(paths: list[Path]) -> Catalog:
    """Load and merge catalog files in order; all problems of all files are reported together."""
    merged = Catalog()
    problems: list[FileFormatError] = []
    for path in paths:
        try:
            parsed, document = load_catalog_file(path)
        except FileFormatError as exc:
            problems.append(exc)
            continue
        except FileFormatErrors as exc:
            problems.extend(exc.errors)
            continue
        merged.names.append(parsed.name)
        directory = str(path.resolve().parent)
        for name, entry in parsed.registry.items():
            merged.entries[name] = entry
            merged.sources[name] = CatalogSource(
                path=str(path), line=document.line_of(("registry", name)), directory=directory
            )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise FileFormatErrors(problems)
    return merged
