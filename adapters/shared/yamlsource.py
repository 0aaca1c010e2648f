"""YAML with line numbers: the plain data plus a map from each path to the line it starts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

STR = "tag:yaml.org,2002:str"


@dataclass
class Source:
    file: str
    data: object
    lines: dict[tuple, int] = field(default_factory=dict)
    duplicates: list[tuple[tuple, int]] = field(default_factory=list)

    def line_of(self, path: tuple) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


class SourceError(Exception):
    def __init__(self, file: str, line: int | None, message: str):
        super().__init__(message)
        self.file, self.line, self.message = file, line, message


def load(path: Path | str) -> Source:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    return parse(text, str(path))


def parse(text: str, file: str) -> Source:
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml when present
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SourceError(file, line, f"not valid YAML: {problem}") from None
    source = Source(file=file, data=None)
    if node is None:
        return source
    source.data = _build(node, (), source, yaml.constructor.SafeConstructor())
    return source


def _build(node: yaml.Node, path: tuple, source: Source, constructor):
    source.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, constructor) if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in result:
                source.duplicates.append((path + (key,), key_node.start_mark.line + 1))
            source.lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, path + (key,), source, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, path + (i,), source, constructor) for i, child in enumerate(node.value)]
    return _scalar(node, constructor)


def _scalar(node: yaml.Node, constructor):
    if node.tag == STR:  # most scalars: the text as written, without the constructor's dispatch
        return node.value
    return constructor.construct_object(node, deep=True)
