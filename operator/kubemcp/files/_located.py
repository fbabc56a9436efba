"""YAML loading that remembers the line of every value, so errors can name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kubemcp.errors import FileFormatError, FileFormatErrors
from kubemcp.validation import Location, dotted, problems

Model = TypeVar("Model", bound=BaseModel)
PathKey = Location


class LocatedDocument:
    """A parsed YAML document plus the 1-based line of every mapping key and sequence item."""

    def __init__(self, path: str, data: Any, lines: dict[PathKey, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def line_of(self, loc: PathKey) -> int | None:
        """The line of the deepest known prefix of `loc`."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None

    def error(self, loc: Location, message: str) -> FileFormatError:
        return FileFormatError(self.path, self.line_of(loc), dotted(loc) or None, message)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, here: PathKey, lines: dict[PathKey, int]) -> Any:
    lines.setdefault(here, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*here, key if isinstance(key, str | int) else str(key))
            lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(loader, value_node, child, lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*here, index), lines) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_yaml(path: Path, text: str | None = None) -> LocatedDocument:
    """Parse one YAML file; a syntax error becomes a `FileFormatError` with its line."""
    name = str(path)
    try:
        source = path.read_text(encoding="utf-8") if text is None else text
    except OSError as exc:
        raise FileFormatError(name, None, None, f"cannot read file: {exc.strerror or exc}") from exc
    loader = yaml.SafeLoader(source)
    try:
        node = loader.get_single_node()
        lines: dict[PathKey, int] = {}
        data = None if node is None else _construct(loader, node, (), lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise FileFormatError(name, line, None, f"invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise FileFormatError(name, None, None, f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return LocatedDocument(name, data, lines)


def validate(document: LocatedDocument, model: type[Model], *, empty: Any = None) -> Model:
    """Validate a parsed document against `model`; every problem names file, line and field."""
    data = empty if document.data is None else document.data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = [document.error(loc, message) for loc, message in problems(exc)]
        if len(found) == 1:
            raise found[0] from None
        raise FileFormatErrors(found) from None
