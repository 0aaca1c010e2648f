"""Text renderings of results for a person at a terminal (JSON output needs none of this)."""

from __future__ import annotations

import json

from rich.markup import escape
from rich.text import Span, Text

from engine.model.durations import format_duration
from engine.model.loader import LoadedRunbook
from engine.model.problems import WARNING, Problem
from engine.run.records import RunResult

STATUS_STYLE = {
    "succeeded": "green", "unchanged": "cyan", "failed": "bold red", "skipped": "dim", "pending": "dim",
    "running": "yellow", "paused": "magenta", "compensated": "blue", "interrupted": "yellow",
    "cleanup-failed": "bold red",
}


def _value(value) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "-" if value is None else str(value)


def validation_text(loaded: LoadedRunbook, problems: list[Problem]) -> str:
    lines = [f"[green]valid[/]: {loaded.file} ({loaded.runbook.name}, {len(loaded.runbook.steps)} steps)"]
    lines += [f"[yellow]warning[/] {escape(str(p))}" for p in problems if p.severity == WARNING]
    return "\n".join(lines)


PLAN_MARKS = {"none": ("=", "cyan"), "create": ("+", "green"), "delete": ("-", "red"), "update": ("~", "yellow"),
              "trigger": (">", "magenta")}


def plan_text(document: dict) -> Text:
    """The plan as styled text, put together piece by piece: the estate's values and the runbook's names
    are shown as they are, never read as markup, and a 5,000-VM plan's 20,000 lines need no markup
    parsed (docs/performance.md)."""
    text = _Pieces()
    add = text.add
    add(f"Plan for {document['runbook']} (simulated on a copy of the {document['adapter']} estate):\n\n")
    for step in document["steps"]:
        action, status = step["action"], step["status"]
        mark, style = PLAN_MARKS.get(action, (" ", ""))
        add(mark, style)
        add(" ")
        add(step["id"], "bold")
        add(f" ({step['uses']}): {action}")
        if status not in ("succeeded", "unchanged"):
            add("  ")
            add(status, STATUS_STYLE.get(status, ""))
        add("\n")
        for change in step["changes"]:
            add(f"    {change['resource']}  {change['field']}: {_value(change['before'])} -> {_value(change['after'])}\n")
        if step.get("gate"):
            add("    ")
            add("taken as approved here;", "magenta")
            add(f" a real run pauses for {_gate_text(step['gate'])}\n")
        if step["error"]:
            add("    ")
            add("would fail:", "red")
            add(f" {step['error']}\n")
        elif step["reason"] and status == "skipped":
            add("    ")
            add(step["reason"], "dim")
            add("\n")
    for problem in document.get("errors", []) + document.get("warnings", []):
        add(problem["severity"], "red" if problem["severity"] == "error" else "yellow")
        add(f" {problem['code']} {('step ' + problem['step'] + ': ') if problem['step'] else ''}"
            f"{problem['message']} Fix: {problem['fix'] or ''}\n")
    changed = sum(1 for s in document["steps"] if s["action"] != "none")
    add(f"\n{changed} of {len(document['steps'])} steps would change something; the runbook ")
    add(*(("would succeed", "green") if document["would_succeed"] else ("would fail", "red")))
    add(".")
    return text.text()


class _Pieces:
    """Styled text put together from pieces: the characters joined once, a span for each styled piece
    (``Text.append`` checks and copies each piece, 0.16 s of a 5,000-VM plan)."""

    def __init__(self):
        self.pieces: list[str] = []
        self.spans: list[Span] = []
        self.length = 0

    def add(self, piece: str, style: str = "") -> None:
        end = self.length + len(piece)
        if style:
            self.spans.append(Span(self.length, end, style))
        self.pieces.append(piece)
        self.length = end

    def text(self) -> Text:
        return Text("".join(self.pieces), spans=self.spans)


def _gate_text(gate: dict) -> str:
    """What a real run will wait for at an approval or manual step."""
    what = "the manual work to be done and approved" if gate["uses"] == "manual" else "an approval"
    return f"{what}: {gate['prompt']}" if gate["prompt"] else what


def gates_text(gates: list[dict]) -> list[str]:
    """After a dry run: where the real run will pause, and what lets it go on."""
    if not gates:
        return []
    lines = ["A real run will pause for a person at:"]
    lines += [f"  {gate['step']}: {_gate_text(gate)}" for gate in gates]
    lines.append("Each pauses the run (exit 4) until someone runs `failover approve` with the real run's id and the "
                 "step; the dry run took them as approved.")
    return lines


def run_text(result: RunResult, *, steps: bool = True) -> str:
    """The run's steps (unless a live table already shows them) and a one-line verdict."""
    style = STATUS_STYLE.get(str(result.status), "")
    kind = "dry run" if result.dry_run else "run"
    lines = []
    for record in result.steps if steps else []:
        took = format_duration(record.duration_s) if record.duration_s is not None else ""
        detail = record.error or record.reason or ""
        if not detail and record.changes:
            detail = f"{record.action}: {len(record.changes)} change(s)"
        attempts = f" after {record.attempts} attempts" if record.attempts > 1 else ""
        lines.append(f"  [{STATUS_STYLE.get(str(record.status), '')}]{str(record.status):<11}[/] "
                     f"{record.id:<32} {took:>8}{attempts}  {detail}")
    counts: dict[str, int] = {}
    for record in result.steps:
        counts[str(record.status)] = counts.get(str(record.status), 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    took = format_duration(result.duration_s or 0)
    label = "cleanup" if result.rto is not None else "rollback"
    for entry in result.to_json()["rollback"]:
        lines.append(f"  {label}: {entry['step']}: {'undone' if entry['undone'] else 'NOT undone'}: {entry['detail']}")
    if result.rto is not None:
        rto = result.rto
        measured = "-" if rto["recovered_s"] is None else format_duration(rto["recovered_s"])
        target = "none" if rto["target_s"] is None else format_duration(rto["target_s"])
        lines.append(f"  recovery time: {measured} (target {target}); failed over "
                     f"{format_duration(rto['failed_over_s'] or 0)}, verified {format_duration(rto['verified_s'] or 0)}")
        lines.append(f"  verdict: {result.verdict}")
    if steps:
        lines.append("")
    lines.append(f"{kind} {result.run_id} of {result.runbook} on the {result.adapter} adapter: "
                 f"[{style}]{result.status}[/] in {took} (simulated time) — {summary}")
    return "\n".join(lines)


def history_row(row) -> dict:
    from engine.run.records import iso

    return {"run_id": row["run_id"], "runbook": row["runbook"], "status": row["status"], "kind": row["kind"],
            "adapter": row["adapter"], "dry_run": bool(row["dry_run"]), "operator": row["operator"],
            "host": row["host"], "started_at": iso(row["started_at"]), "finished_at": iso(row["finished_at"]),
            "duration_s": row["duration_s"]}


def history_text(runs: list[dict]) -> str:
    if not runs:
        return "no runs in the journal yet"
    lines = []
    for run in runs:
        took = format_duration(run["duration_s"]) if run["duration_s"] is not None else ""
        style = STATUS_STYLE.get(run["status"], "")
        line = (f"{run['run_id']}  [{style}]{run['status']:<11}[/] {run['runbook']:<32} {took:>8}  "
                f"{run['started_at'] or ''}  {run['operator']}@{run['host']}  {run['adapter']}")
        if "recovered_s" in run:  # a drill: its recovery time against the objective
            recovered = "not recovered" if run["recovered_s"] is None else format_duration(run["recovered_s"])
            target = "" if run.get("target_s") is None else f" / objective {format_duration(run['target_s'])}"
            line += f"  recovery {recovered}{target}"
        lines.append(line)
    return "\n".join(lines)
