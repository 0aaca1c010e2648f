"""``${{ params.NAME }}`` and ``${{ steps.ID.outputs.NAME }}``: the only expressions a runbook has.

Nothing is evaluated: an expression is a reference, found and checked at load time and replaced at
run time. A value that is one whole expression takes the referenced value as it is (a list stays a
list, a secret stays a secret); an expression inside longer text is interpolated as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adapters.shared.secret import Secret

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
_PARAM = re.compile(r"^params\.([A-Za-z_][A-Za-z0-9_]*)$")
_OUTPUT = re.compile(r"^steps\.([a-z0-9][a-z0-9_-]*)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class Reference:
    path: tuple  # where in the step's `with` the expression stands
    text: str  # the expression as written
    kind: str  # "param", "output" or "invalid"
    name: str = ""  # parameter or output name
    step: str = ""  # for outputs: the step id
    whole: bool = False  # the value is this expression and nothing else


def parse(text: str, path: tuple = ()) -> Iterator[Reference]:
    if "${{" not in text:  # most strings hold no expression
        return
    whole = bool(EXPRESSION.fullmatch(text.strip()))
    for match in EXPRESSION.finditer(text):
        inner = match.group(1).strip()
        if m := _PARAM.match(inner):
            yield Reference(path, match.group(0), "param", name=m.group(1), whole=whole)
        elif m := _OUTPUT.match(inner):
            yield Reference(path, match.group(0), "output", name=m.group(2), step=m.group(1), whole=whole)
        else:
            yield Reference(path, match.group(0), "invalid", whole=whole)


def references(value: Any, path: tuple = ()) -> Iterator[Reference]:
    """Every expression in a nested value, with its path."""
    if isinstance(value, str):
        yield from parse(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, path + (index,))


class Unresolved(Exception):
    def __init__(self, reference: str, why: str):
        super().__init__(f"{reference}: {why}")


def resolve(value: Any, params: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> Any:
    """Replace every expression in ``value`` with what it references."""
    if isinstance(value, dict):
        return {key: resolve(item, params, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, params, outputs) for item in value]
    if not isinstance(value, str) or "${{" not in value:
        return value
    refs = list(parse(value))
    if len(refs) == 1 and refs[0].whole:
        return _lookup(refs[0], params, outputs)

    def text_of(match: re.Match) -> str:
        (ref,) = list(parse(match.group(0)))
        found = _lookup(ref, params, outputs)
        if isinstance(found, Secret):
            raise Unresolved(ref.text, "a secret cannot be interpolated into text")
        return str(found)

    return EXPRESSION.sub(text_of, value)


def _lookup(ref: Reference, params: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> Any:
    if ref.kind == "param":
        if ref.name not in params:
            raise Unresolved(ref.text, f"no parameter named {ref.name}")
        return params[ref.name]
    if ref.kind == "output":
        if ref.step not in outputs:
            raise Unresolved(ref.text, f"step {ref.step} has no outputs (it did not run)")
        if ref.name not in outputs[ref.step]:
            raise Unresolved(ref.text, f"step {ref.step} has no output {ref.name}")
        return outputs[ref.step][ref.name]
    raise Unresolved(ref.text, "only ${{ params.NAME }} and ${{ steps.ID.outputs.NAME }} are expressions")
