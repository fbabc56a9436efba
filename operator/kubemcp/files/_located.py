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


# YAML aliases can make a few lines expand into billions of values ("billion laughs"), and an alias
# to its own ancestor into an endless structure: aliases may repeat at most ALIAS_EXPANSION times the
# document's own values (beyond a small allowance), and nesting is bounded.
ALIAS_EXPANSION = 10
ALIAS_ALLOWANCE = 10_000
MAX_DEPTH = 200


def read_text(path: Path, *, show_columns: bool = True) -> str:
    """A file's text, strictly UTF-8: any read or decoding problem is a `FileFormatError` naming the
    line (and column, unless `show_columns` is off, e.g. for secrets); the offending bytes are never shown."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(name, None, None, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        where = f", column {column}" if show_columns else ""
        raise FileFormatError(
            name, line, None, f"not UTF-8 text (a byte that is not UTF-8 at line {line}{where})"
        ) from None


class _Builder:
    """Builds plain Python data from a YAML node tree, recording lines; rejects what would not load
    safely: duplicate keys, unhashable keys, structures that expand too far or contain themselves."""

    def __init__(self, loader: yaml.SafeLoader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.lines: dict[PathKey, int] = {}
        self.count = 0
        self.distinct: set[int] = set()
        self.ancestors: set[int] = set()

    def fail(self, node: yaml.Node, loc: PathKey, message: str) -> FileFormatError:
        return FileFormatError(self.path, node.start_mark.line + 1, dotted(loc) or None, message)

    def scalar(self, node: yaml.Node, loc: PathKey) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            # PyYAML lets some bad scalars through its own checks, e.g. the date 2025-13-01.
            raise self.fail(node, loc, f"invalid value: {exc}") from None

    def build(self, node: yaml.Node, here: PathKey) -> Any:
        self.count += 1
        self.distinct.add(id(node))
        if self.count > ALIAS_ALLOWANCE and self.count > ALIAS_EXPANSION * len(self.distinct):
            raise self.fail(node, here, f"aliases expand the document more than {ALIAS_EXPANSION}-fold")
        if len(here) > MAX_DEPTH:
            raise self.fail(node, (), f"values are nested more than {MAX_DEPTH} levels deep")
        self.lines.setdefault(here, node.start_mark.line + 1)
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self.scalar(node, here)
        if id(node) in self.ancestors:
            raise self.fail(node, here, "an alias refers to a value that contains it")
        self.ancestors.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*here, index)) for index, item in enumerate(node.value)]
            return self.mapping(node, here)
        finally:
            self.ancestors.discard(id(node))

    def mapping(self, node: yaml.MappingNode, here: PathKey) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, here, "a mapping key must be a plain value, not a list or mapping")
            key = self.scalar(key_node, here)
            try:
                seen = first_line.get(key)
            except TypeError:
                raise self.fail(key_node, here, "a mapping key must be a plain value") from None
            child = (*here, key if isinstance(key, str | int) else str(key))
            line = key_node.start_mark.line + 1
            if seen is not None:
                raise self.fail(key_node, child, f"duplicate key {key!r} (first at line {seen})")
            first_line[key] = line
            self.lines[child] = line
            result[key] = self.build(value_node, child)
        return result


def parse_yaml(path: Path, text: str | None = None) -> LocatedDocument:
    """Parse one YAML file; any problem with its bytes or syntax becomes a `FileFormatError` with its line."""
    name = str(path)
    source = read_text(path) if text is None else text
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(source)
        node = loader.get_single_node()
        builder = _Builder(loader, name)
        data = None if node is None else builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise FileFormatError(name, line, None, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:
        line = source.count("\n", 0, exc.position) + 1
        raise FileFormatError(
            name, line, None, f"invalid YAML: control character #x{exc.character:04x} is not allowed in YAML"
        ) from None
    except yaml.YAMLError as exc:
        raise FileFormatError(name, None, None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise FileFormatError(name, None, None, "invalid YAML: values are nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return LocatedDocument(name, data, builder.lines)


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
