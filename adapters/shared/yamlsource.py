"""The one loader of every YAML file the tool reads (runbooks, estates, settings, ``--param`` lists):
plain data with the line and column each path starts on.

Plain data means what JSON can say: mappings with text keys, lists, text, finite numbers, booleans and
null. Tags (``!!python/object``, ``!!binary``, ``!custom``), merge keys (``<<``) and recursive aliases are
refused; aliases are bounded in number and in what they expand to, nesting in depth, the file in size and
each value in length; dates stay text. Every refusal is a ``SourceError`` naming the line and column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"
TIMESTAMP = "tag:yaml.org,2002:timestamp"

MAX_BYTES = 16 * 1024 * 1024  # a 5,000-VM runbook is under 1 MB
MAX_DEPTH = 64  # nested mappings and lists
MAX_ALIASES = 100
MAX_EXPANDED = 10_000  # values copied through aliases, in all
MAX_SCALAR = 64 * 1024  # characters in one value
MAX_INT = 2**63
_PLAIN_TAGS = frozenset({None, "!", STR})


@dataclass
class Source:
    file: str
    data: object
    lines: dict[tuple, int] = field(default_factory=dict)
    columns: dict[tuple, int] = field(default_factory=dict)
    duplicates: list[tuple[tuple, int]] = field(default_factory=list)

    def line_of(self, path: tuple) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        found = self._nearest(tuple(path))
        return self.lines.get(found) if found is not None else None

    def column_of(self, path: tuple) -> int | None:
        """The column of ``path`` or of its nearest ancestor that has one (the same one ``line_of`` finds)."""
        found = self._nearest(tuple(path))
        return self.columns.get(found) if found is not None else None

    def _nearest(self, path: tuple) -> tuple | None:
        while path:
            if path in self.lines:
                return path
            path = path[:-1]
        return () if () in self.lines else None


class SourceError(Exception):
    def __init__(self, file: str, line: int | None, message: str, column: int | None = None):
        super().__init__(message)
        self.file, self.line, self.message, self.column = file, line, message, column


class _Refused(Exception):
    def __init__(self, mark, message: str):
        super().__init__(message)
        self.mark, self.message = mark, message


_Parser = getattr(getattr(yaml, "_yaml", None), "CParser", None)  # libyaml's parser when present: 6x faster
# SafeLoader's parts but its constructor (values are built by _Builder), with libyaml's parser if present
_PARTS = ((yaml.composer.Composer, _Parser) if _Parser is not None
          else (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer))


class PlainLoader(*_PARTS, yaml.resolver.Resolver):
    """PyYAML's composer, refusing tags, recursive aliases and deep nesting and counting aliases, over
    libyaml's parser (or PyYAML's own) and SafeLoader's resolver without timestamps."""

    # YAML 1.1 turns 2024-13-45 into a date (or an error); plain data keeps it as text
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream):
        if _Parser is not None:
            _Parser.__init__(self, stream)
        else:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._open_anchors: list[str] = []
        self._aliases = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if event.__class__ is ScalarEvent and event.tag in _PLAIN_TAGS:  # most nodes: nothing to check
            return super().compose_node(parent, index)
        if isinstance(event, AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(event.start_mark, f"more than {MAX_ALIASES} aliases (*name): write the values out")
            if event.anchor in self._open_anchors:
                raise _Refused(event.start_mark, f"the alias *{event.anchor} is inside the value it names "
                               "(a recursive alias): write the value out")
            return super().compose_node(parent, index)
        tag = getattr(event, "tag", None)
        if isinstance(event, ScalarEvent | CollectionStartEvent) and tag not in _PLAIN_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise _Refused(event.start_mark, f"the tag {shown} is not allowed: a runbook, estate or settings file "
                           "holds plain data (text, numbers, true/false, lists, mappings); remove the tag")
        if len(self._open_anchors) >= MAX_DEPTH:
            raise _Refused(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
        self._open_anchors.append(getattr(event, "anchor", None) or "")
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.pop()


def load(path: Path | str) -> Source:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SourceError(str(path), None, f"cannot read the file: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise SourceError(str(path), None, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise SourceError(str(path), line, f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot start or continue a "
                          "character; save the file as UTF-8", column) from None
    return parse(text, str(path))


def parse(text: str, file: str) -> Source:
    if len(text) > MAX_BYTES:
        raise SourceError(file, None, f"the text is larger than {MAX_BYTES // (1024 * 1024)} MB")
    loader = None
    try:
        loader = PlainLoader(text)  # PyYAML's own reader checks the characters here
        node = loader.get_single_node()
    except _Refused as exc:
        raise SourceError(file, exc.mark.line + 1, exc.message, exc.mark.column + 1) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        character = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "\0")
        raise SourceError(file, line, f"not valid YAML: the character U+{character:04X} is not allowed here "
                          "(control characters must be escaped inside double quotes)", column) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = "; ".join(filter(None, [getattr(exc, "context", None), getattr(exc, "problem", None)])) or str(exc)
        raise SourceError(file, mark.line + 1 if mark else None, f"not valid YAML: {problem}",
                          mark.column + 1 if mark else None) from None
    except RecursionError:  # a composer limit we do not expect to reach: MAX_DEPTH comes first
        raise SourceError(file, None, f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        if loader is not None:
            loader.dispose()
    source = Source(file=file, data=None)
    if node is None:
        return source
    try:
        source.data = _Builder(source, yaml.constructor.SafeConstructor()).build(node, ())
    except _Refused as exc:
        raise SourceError(file, exc.mark.line + 1, exc.message, exc.mark.column + 1) from None
    return source


class _Builder:
    """Nodes into plain Python values, recording where each path starts."""

    def __init__(self, source: Source, constructor):
        self.source, self.constructor = source, constructor
        self.seen: set[int] = set()
        self.expanded = 0

    def build(self, node: yaml.Node, path: tuple, aliased: bool = False):
        if id(node) in self.seen and not isinstance(node, yaml.ScalarNode):
            aliased = True  # a second visit: the node is named again by an alias
        self.seen.add(id(node))
        if aliased:
            self.expanded += 1
            if self.expanded > MAX_EXPANDED:
                raise _Refused(node.start_mark, f"aliases expand to more than {MAX_EXPANDED} values: write the "
                               "values out")
        mark = node.start_mark
        self.source.lines.setdefault(path, mark.line + 1)
        self.source.columns.setdefault(path, mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict = {}
            for key_node, value_node in node.value:
                key = self._key(key_node)
                if key in result:
                    self.source.duplicates.append((path + (key,), key_node.start_mark.line + 1))
                self.source.lines[path + (key,)] = key_node.start_mark.line + 1
                self.source.columns[path + (key,)] = key_node.start_mark.column + 1
                result[key] = self.build(value_node, path + (key,), aliased)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,), aliased) for i, child in enumerate(node.value)]
        return self._scalar(node)

    def _key(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise _Refused(node.start_mark, "a key must be plain text, not a list or a mapping")
        if node.tag == MERGE:
            raise _Refused(node.start_mark, "merge keys (<<) are not allowed: write the keys out")
        self._length(node)
        return node.value  # keys are text as written: `on:` and `1:` are the words, not true and 1

    def _length(self, node: yaml.ScalarNode) -> None:
        if len(node.value) > MAX_SCALAR:
            raise _Refused(node.start_mark, f"a value longer than {MAX_SCALAR} characters")

    def _scalar(self, node: yaml.ScalarNode):
        self._length(node)
        if node.tag not in (INT, FLOAT, BOOL, NULL):  # text (a stray `<<` or `=` value is text too)
            return node.value
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, yaml.YAMLError):
            raise _Refused(node.start_mark, f"{node.value[:40]!r} is not a number this format can hold") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(node.start_mark, f"{node.value!r} is not a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT <= value < MAX_INT:
            raise _Refused(node.start_mark, f"{node.value[:40]!r} is too large a number")
        return value
