"""Load a runbook: YAML, schema, step kinds and their arguments, ``needs`` and expressions.

Every problem is collected (not just the first), each with file, line and step, and nothing runs
while one remains.
"""

from __future__ import annotations

import difflib
import graphlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.shared import ids
from adapters.shared.yamlsource import Source, SourceError, load, parse
from engine import collector, kinds
from engine.model import expressions
from engine.model.problems import WARNING, InvalidInput, Problem
from engine.model.runbook import Runbook, Step


@dataclass
class LoadedRunbook:
    runbook: Runbook
    source: Source
    problems: list[Problem] = field(default_factory=list)
    # step id -> its arguments, validated here once, for the steps whose `with` holds no expression
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> str:
        return self.source.file

    def line(self, path: tuple) -> int | None:
        return self.source.line_of(path)

    def step_line(self, step_id: str, *path) -> int | None:
        return self.line(("steps", self.runbook.position(step_id)) + tuple(path))

    def step_column(self, step_id: str, *path) -> int | None:
        return self.source.column_of(("steps", self.runbook.position(step_id)) + tuple(path))

    def ancestors(self, step_id: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.runbook.step(step_id).needs)
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.runbook.step(current).needs)
        return seen


@collector.paused()
def load_runbook(path: Path | str) -> LoadedRunbook:
    """Load and check a runbook file; raise ``InvalidInput`` with every error found."""
    try:
        source = load(path)
    except SourceError as exc:
        raise InvalidInput([_unreadable(exc)]) from None
    return check(source)


@collector.paused()
def load_runbook_text(text: str, file: str = "<runbook>") -> LoadedRunbook:
    try:
        source = parse(text, file)
    except SourceError as exc:
        raise InvalidInput([_unreadable(exc)]) from None
    return check(source)


def _unreadable(exc: SourceError) -> Problem:
    return Problem("RB001", exc.message, file=exc.file, line=exc.line, column=exc.column,
                   fix="fix the file at that line and column" if exc.line else "give a readable UTF-8 YAML file")


def check(source: Source) -> LoadedRunbook:
    problems = [
        Problem("RB002", f"key {path[-1]!r} appears twice", file=source.file, line=line,
                column=source.column_of(path), step=_step_id_at(source, path), fix="keep one of them")
        for path, line in source.duplicates
    ]
    if not isinstance(source.data, dict):
        problems.append(Problem("RB003", "the runbook must be a YAML mapping with version, name, target and steps",
                                file=source.file, line=1, fix="start from an example in runbooks/"))
        raise InvalidInput(problems)
    try:
        runbook = Runbook.model_validate(source.data)
    except ValidationError as exc:
        problems += [_schema_problem(source, error) for error in exc.errors()]
        raise InvalidInput(problems) from None
    loaded = LoadedRunbook(runbook, source)
    problems += _check_graph(loaded)
    if not any(p.code in ("RB004", "RB005", "RB006") for p in problems):
        problems += _check_steps(loaded)
    problems += _unused_parameters(loaded)
    loaded.problems = problems
    if any(p.severity != WARNING for p in problems):
        raise InvalidInput(problems)
    return loaded


def _schema_problem(source: Source, error: dict) -> Problem:
    loc = tuple(error["loc"])
    where = ".".join(str(part) for part in loc) or "the runbook"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        fix = f"add `{loc[-1]}`"
    elif error["type"] == "extra_forbidden":
        fix = f"remove `{loc[-1]}` (not part of the runbook format; see `failover schema`)"
    else:
        fix = "see docs/runbook-format.md"
    return Problem("RB003", f"{where}: {message}", file=source.file, line=source.line_of(loc),
                   column=source.column_of(loc), step=_step_id_at(source, loc), fix=fix)


def _step_id_at(source: Source, loc: tuple) -> str | None:
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        try:
            step = source.data["steps"][loc[1]]
            step_id = step.get("id") if isinstance(step, dict) else None
            return step_id if isinstance(step_id, str) else None
        except (KeyError, IndexError, TypeError):
            return None
    return None


def _problem(loaded: LoadedRunbook, code: str, step: Step, message: str, fix: str, *path) -> Problem:
    return Problem(code, message, file=loaded.file, line=loaded.step_line(step.id, *path),
                   column=loaded.step_column(step.id, *path), step=step.id, fix=fix)


def _check_graph(loaded: LoadedRunbook) -> list[Problem]:
    problems = []
    steps = loaded.runbook.steps
    seen: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.id in seen:
            problems.append(Problem("RB004", f"step id {step.id} is used twice", file=loaded.file,
                                    line=loaded.line(("steps", index, "id")), step=step.id,
                                    fix="give every step its own id"))
        seen.setdefault(step.id, index)
    for step in steps:
        for need in step.needs:
            if need == step.id:
                problems.append(_problem(loaded, "RB005", step, f"step {step.id} needs itself",
                                         "remove it from its own needs", "needs"))
            elif need not in seen:
                close = difflib.get_close_matches(need, list(seen), n=1)
                hint = f"did you mean {close[0]}?" if close else "name an existing step id"
                problems.append(_problem(loaded, "RB005", step, f"needs {need!r}, but no step has that id",
                                         hint, "needs"))
    if problems:
        return problems
    try:
        loaded.runbook.order  # noqa: B018  (worked out here: a cycle is an error)
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        step = loaded.runbook.step(cycle[0])
        problems.append(_problem(loaded, "RB006", step, "the steps' needs form a cycle: " + " -> ".join(cycle),
                                 "remove one of these needs so the steps can run in an order", "needs"))
    return problems


def _check_steps(loaded: LoadedRunbook) -> list[Problem]:
    problems = []
    params = loaded.runbook.parameters
    for step in loaded.runbook.steps:
        if step.uses not in kinds.KINDS:
            close = difflib.get_close_matches(step.uses, list(kinds.KINDS), n=1)
            hint = f"did you mean {close[0]}?" if close else f"use one of: {', '.join(sorted(kinds.KINDS))}"
            problems.append(_problem(loaded, "RB007", step, f"unknown step kind {step.uses!r}", hint, "uses"))
            continue
        kind = kinds.get(step.uses)
        if "vault" in kind.Args.model_fields and not loaded.runbook.target.vault and not step.with_.get("vault"):
            problems.append(_problem(loaded, "RB016", step, f"{step.uses} acts on a vault, and neither the step nor "
                                     "the runbook's target names one", "set `vault:` under target, or in the step's "
                                     "with:", "uses"))
        refs = step.references
        # only an output reference needs the step's ancestors: most steps have none
        ancestors = loaded.ancestors(step.id) if any(r.kind == "output" for r in refs) else set()
        for ref in refs:
            problems += _check_reference(loaded, step, kind, ref, ancestors)
        if isinstance(step.when, str):
            for ref in expressions.parse(step.when):
                if ref.kind != "param" or not ref.whole:
                    problems.append(_problem(loaded, "RB015", step, f"when: {step.when!r} is not a condition",
                                             "write when: \"${{ params.NAME }}\" or when: {param: NAME, equals: VALUE}",
                                             "when"))
                elif ref.name not in params:
                    problems.append(_problem(loaded, "RB015", step, f"when: no parameter named {ref.name}",
                                             f"declare {ref.name} under parameters", "when"))
            if "${{" not in step.when:
                problems.append(_problem(loaded, "RB015", step, f"when: {step.when!r} is not a condition",
                                         "write when: \"${{ params.NAME }}\" or when: {param: NAME, equals: VALUE}",
                                         "when"))
        elif step.when is not None and step.when.param not in params:
            problems.append(_problem(loaded, "RB015", step, f"when: no parameter named {step.when.param}",
                                     f"declare {step.when.param} under parameters", "when"))
        problems += _check_resource_ids(loaded, step, step.with_, ())
        problems += check_arguments(loaded, step, None)
    return problems


def _check_resource_ids(loaded: LoadedRunbook, step: Step, value: Any, path: tuple) -> list[Problem]:
    """A value written as a resource ID (``/subscriptions/...``) must be a whole one."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _check_resource_ids(loaded, step, item, path + (key,))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _check_resource_ids(loaded, step, item, path + (i,))]
    if isinstance(value, str) and ids.is_resource_id(value) and "${{" not in value:
        try:
            ids.parse(value)
        except ValueError as exc:
            return [_problem(loaded, "RB008", step, f"{step.uses}: {'.'.join(map(str, path))}: {exc}",
                             "write the whole ID, or the resource's name alone", "with", *path)]
    return []


def _check_reference(loaded, step, kind, ref, ancestors) -> list[Problem]:
    path = ("with",) + ref.path
    params = loaded.runbook.parameters
    if ref.kind == "invalid":
        return [_problem(loaded, "RB013", step, f"{ref.text} is not an expression this format knows",
                         "use ${{ params.NAME }} or ${{ steps.ID.outputs.NAME }}", *path)]
    if ref.kind == "param":
        if ref.name not in params:
            close = difflib.get_close_matches(ref.name, list(params), n=1)
            return [_problem(loaded, "RB009", step, f"{ref.text}: no parameter named {ref.name}",
                             f"did you mean {close[0]}?" if close else f"declare {ref.name} under parameters",
                             *path)]
        if params[ref.name].type == "secret":
            if not ref.whole:
                return [_problem(loaded, "RB014", step, f"{ref.text} is a secret inside longer text",
                                 "a secret is passed whole, as the entire value of a secret argument", *path)]
            if ref.path[0] not in kind.secret_fields:
                allowed = ", ".join(sorted(kind.secret_fields)) or "no argument"
                return [_problem(loaded, "RB014", step,
                                 f"secret parameter {ref.name} is passed to `{ref.path[0]}`, which is not secret "
                                 f"and may be logged", f"{step.uses} takes secrets in: {allowed}", *path)]
        return []
    if not loaded.runbook.has_step(ref.step):
        return [_problem(loaded, "RB010", step, f"{ref.text}: no step named {ref.step}",
                         "name an existing step id", *path)]
    if ref.step not in ancestors:
        return [_problem(loaded, "RB011", step, f"{ref.text}: uses an output of {ref.step}, which is not in "
                         "this step's needs, so it may not have run yet", f"add {ref.step} to needs", *path)]
    producer = kinds.KINDS.get(loaded.runbook.step(ref.step).uses)
    if producer is not None and ref.name not in producer.outputs:
        return [_problem(loaded, "RB012", step, f"{ref.text}: {producer.name} has no output {ref.name}",
                         f"its outputs are: {', '.join(producer.outputs)}", *path)]
    return []


def check_arguments(loaded: LoadedRunbook, step: Step, params: dict[str, Any] | None) -> list[Problem]:
    """Validate a step's `with` against its kind; values that depend on other steps' outputs (or, when
    ``params`` is None, on parameters) are checked when the step runs."""
    kind = kinds.get(step.uses)
    deferred = [
        ref.path for ref in step.references
        if ref.kind == "output" or params is None or ref.name not in params
    ]
    value = _resolve_known(step.with_, params or {}) if step.references else step.with_
    try:
        arguments = kind.Args.model_validate(value)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            if deferred and (not loc or any(_overlap(loc, path) for path in deferred)):
                continue
            where = ".".join(str(p) for p in loc)
            message = error["msg"].removeprefix("Value error, ")
            text = f"{step.uses}: {where + ': ' if where else ''}{message}"
            fix = _argument_fix(kind, error, loc)
            problems.append(_problem(loaded, "RB008", step, text, fix, "with", *loc))
        return problems
    if not step.references:  # what every run of the step would validate (the arguments are frozen)
        loaded.arguments[step.id] = arguments
    return []


def _argument_fix(kind, error: dict, loc: tuple) -> str:
    if error["type"] == "missing":
        return f"add `{loc[-1]}` under with:"
    if error["type"] == "extra_forbidden":
        return f"{kind.name} takes: {', '.join(kind.Args.model_fields)}"
    return f"see docs/step-kinds.md#{kind.name.replace('.', '')}"


def _overlap(a: tuple, b: tuple) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _resolve_known(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_known(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_known(v, params) for v in value]
    if isinstance(value, str) and "${{" in value:
        refs = list(expressions.parse(value))
        if all(r.kind == "param" and r.name in params for r in refs):
            try:
                return expressions.resolve(value, params, {})
            except expressions.Unresolved:
                return value
    return value


def _unused_parameters(loaded: LoadedRunbook) -> list[Problem]:
    used = set()
    for step in loaded.runbook.steps:
        used |= {r.name for r in step.references if r.kind == "param"}
        if isinstance(step.when, str):
            used |= {r.name for r in expressions.parse(step.when) if r.kind == "param"}
        elif step.when is not None:
            used.add(step.when.param)
    return [
        Problem("RB101", f"parameter {name} is declared but no step uses it", file=loaded.file,
                line=loaded.line(("parameters", name)), fix="remove it, or use it in a step", severity=WARNING)
        for name in loaded.runbook.parameters if name not in used
    ]

