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
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

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


_CParser = getattr(getattr(yaml, "_yaml", None), "CParser", None)  # libyaml's parser when present: 6x faster


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own parser, where libyaml is missing."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


class _Resolver(yaml.resolver.Resolver):
    """SafeLoader's resolver without timestamps."""

    # YAML 1.1 turns 2024-13-45 into a date (or an error); plain data keeps it as text
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }


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
    source = Source(file=file, data=None)
    parser = None
    try:
        parser = (_CParser or _PyParser)(text)  # PyYAML's own reader checks the characters here
        _Builder(source, parser).build()
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
    finally:
        if parser is not None:
            parser.dispose()
    return source


_AWAITING_KEY = object()
_STARTS = (MappingStartEvent, SequenceStartEvent)
_ENDS = (MappingEndEvent, SequenceEndEvent)


class _Open:
    """A mapping or list being filled: its value, its path, and (a mapping's) the key whose value comes next."""

    __slots__ = ("value", "path", "key", "anchor")

    def __init__(self, value, path: tuple, anchor: str | None):
        self.value, self.path, self.anchor = value, path, anchor
        self.key = _AWAITING_KEY if type(value) is dict else None


class _Builder:
    """The parser's events straight into plain Python values, recording where each path starts: one pass,
    no tree of nodes (a 5,000-VM runbook's 92,000 events in 0.08 s, where PyYAML's composer and a walk
    of its nodes took 0.23 s). An alias replays the events of the value its anchor names."""

    def __init__(self, source: Source, parser):
        self.source, self.parser = source, parser
        self.lines, self.columns = source.lines, source.columns
        self.open: list[_Open] = []
        self.kept: list = []  # the events of every anchored value, for aliases to replay
        self.keeping = 0  # anchored collections open
        self.anchors: dict[str, list] = {}  # name -> [first event's index in kept, index after its last or None]
        self.aliases = 0
        self.expanded = 0  # values made by replaying aliases
        self.resolved: dict[tuple[str, bool], str] = {}  # (plain scalar, implicit) -> its tag
        self.constructor = yaml.constructor.SafeConstructor()
        self.resolver = _Resolver()

    def build(self) -> None:
        parser, get = self.parser, self.parser.get_event
        get()  # the stream starts
        if parser.check_event(StreamEndEvent):
            return
        document = get()
        while not parser.check_event(DocumentEndEvent):
            self.take(get(), aliased=False)
        get()
        if not parser.check_event(StreamEndEvent):
            raise yaml.composer.ComposerError("expected a single document in the stream", document.start_mark,
                                              "but found another document", get().start_mark)

    def take(self, event, aliased: bool) -> None:
        cls = event.__class__
        if not aliased and (self.keeping or (cls is not AliasEvent and getattr(event, "anchor", None))):
            self.kept.append(event)
        if cls is ScalarEvent:
            self._scalar(event, aliased)
        elif cls in _STARTS:
            self._start(event, aliased)
        elif cls in _ENDS:
            closed = self.open.pop()
            if closed.anchor is not None and not aliased:
                self.anchors[closed.anchor][1] = len(self.kept)
                self.keeping -= 1
        elif cls is AliasEvent:
            self._alias(event, aliased)

    def _scalar(self, event, aliased: bool) -> None:
        if event.tag not in _PLAIN_TAGS:
            raise _Refused(event.start_mark, _tag_refused(event.tag))
        if len(event.value) > MAX_SCALAR:
            raise _Refused(event.start_mark, f"a value longer than {MAX_SCALAR} characters")
        if not aliased and event.anchor is not None:
            self._anchor(event, len(self.kept))
        top = self.open[-1] if self.open else None
        if top is not None and top.key is _AWAITING_KEY:
            self._key(top, event, event.start_mark)
        else:
            self._place(self._value(event), event.start_mark, aliased)

    def _start(self, event, aliased: bool) -> None:
        if event.tag not in _PLAIN_TAGS:
            raise _Refused(event.start_mark, _tag_refused(event.tag))
        if self.open and self.open[-1].key is _AWAITING_KEY:
            raise _Refused(event.start_mark, "a key must be plain text, not a list or a mapping")
        if len(self.open) >= MAX_DEPTH:
            raise _Refused(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
        anchor = None
        if not aliased and event.anchor is not None:
            anchor = event.anchor
            self._anchor(event, None)
            self.keeping += 1
        value = {} if event.__class__ is MappingStartEvent else []
        self.open.append(_Open(value, self._place(value, event.start_mark, aliased), anchor))

    def _anchor(self, event, end: int | None) -> None:
        if event.anchor in self.anchors:
            first = self.kept[self.anchors[event.anchor][0]]
            raise yaml.composer.ComposerError(f"found duplicate anchor {event.anchor!r}; first occurrence",
                                              first.start_mark, "second occurrence", event.start_mark)
        self.anchors[event.anchor] = [len(self.kept) - 1, end]

    def _alias(self, event, aliased: bool) -> None:
        if not aliased:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Refused(event.start_mark, f"more than {MAX_ALIASES} aliases (*name): write the values out")
        span = self.anchors.get(event.anchor)
        if span is None:
            raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
        first, end = span
        if end is None:
            raise _Refused(event.start_mark, f"the alias *{event.anchor} is inside the value it names "
                           "(a recursive alias): write the value out")
        top = self.open[-1] if self.open else None
        if top is not None and top.key is _AWAITING_KEY:
            named = self.kept[first]
            if named.__class__ is not ScalarEvent:
                raise _Refused(event.start_mark, "a key must be plain text, not a list or a mapping")
            self._key(top, named, event.start_mark)
            return
        path = () if top is None else top.path + ((len(top.value),) if top.key is None else (top.key,))
        self.lines.setdefault(path, event.start_mark.line + 1)  # the value is named here; its parts, at its anchor
        self.columns.setdefault(path, event.start_mark.column + 1)
        for index in range(first, end):
            self.take(self.kept[index], aliased=True)

    def _key(self, top: _Open, event, mark) -> None:
        key = event.value  # keys are text as written: `on:` and `1:` are the words, not true and 1
        if key == "<<" and event.implicit[0]:
            raise _Refused(mark, "merge keys (<<) are not allowed: write the keys out")
        path = top.path + (key,)
        if key in top.value:
            self.source.duplicates.append((path, mark.line + 1))
        self.lines[path], self.columns[path] = mark.line + 1, mark.column + 1
        top.key = key

    def _place(self, value, mark, aliased: bool) -> tuple:
        """Put ``value`` where the open collection expects its next value; its path."""
        if aliased:
            self.expanded += 1
            if self.expanded > MAX_EXPANDED:
                raise _Refused(mark, f"aliases expand to more than {MAX_EXPANDED} values: write the values out")
        if not self.open:
            path = ()
            self.source.data = value
        else:
            top = self.open[-1]
            if top.key is None:
                path = top.path + (len(top.value),)
                top.value.append(value)
            else:
                path = top.path + (top.key,)
                top.value[top.key] = value
                top.key = _AWAITING_KEY
        self.lines.setdefault(path, mark.line + 1)
        self.columns.setdefault(path, mark.column + 1)
        return path

    def _value(self, event):
        """A scalar's value: text, unless it is a plain number, boolean or null."""
        if event.tag == STR:
            return event.value
        cached = (event.value, event.implicit[0])
        tag = self.resolved.get(cached)
        if tag is None:
            tag = self.resolved[cached] = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag not in (INT, FLOAT, BOOL, NULL):  # text (a stray `<<` or `=` value is text too)
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, yaml.YAMLError):
            raise _Refused(event.start_mark, f"{event.value[:40]!r} is not a number this format can hold") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(event.start_mark, f"{event.value!r} is not a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT <= value < MAX_INT:
            raise _Refused(event.start_mark, f"{event.value[:40]!r} is too large a number")
        return value


def _tag_refused(tag: str) -> str:
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    return (f"the tag {shown} is not allowed: a runbook, estate or settings file holds plain data (text, numbers, "
            "true/false, lists, mappings); remove the tag")
