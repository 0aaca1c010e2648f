"""A run's report (``engine.cli.report.collect``) as Markdown, to paste into a ticket: escaped for
tables the Markdown way (backslashes, never HTML entities, which a ticket would show as they are),
redacted again here."""

from __future__ import annotations

import json
from typing import Any

from adapters.shared.secret import redact, redact_data
from engine.cli.report.html import change_line, status_of
from engine.model.durations import format_duration


def _md(value: Any) -> str:
    """Text for a Markdown table cell, on one line: pipes, backticks and the characters that would
    start HTML escaped with a backslash (``->`` stays ``->``)."""
    if value is None:
        return "—"
    if not isinstance(value, str):
        value = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
    value = value.replace("\\", "\\\\")
    for char in "|`<":
        value = value.replace(char, "\\" + char)
    return " ".join(value.split())


def render_markdown(document: dict) -> str:
    """The report as Markdown, to paste into a ticket."""
    document = redact_data(document)
    who = document.get("who") or {}
    lines = [f"# {_md(document.get('runbook'))}: {_md(document.get('headline'))}", ""]
    if document.get("kind") == "drill" and document.get("verdict"):
        passed = document["verdict"] == "passed"
        why = "recovery worked, within the target, and nothing was left behind" if passed else document["verdict"]
        lines += [f"**Verdict: {'✅ PASSED' if passed else '❌ FAILED'}** — {_md(why)}", ""]
    else:
        lines += [f"**Status: {_md(document.get('status'))}**", ""]
    lines += [
        "| | |", "|---|---|",
        f"| run | {_md(document.get('run_id'))} |",
        f"| runbook | {_md(document.get('runbook'))} ({_md(document.get('kind'))}) |",
        f"| mode | {_md(document.get('mode'))}, {_md(document.get('adapter'))}: {_md(document.get('target'))} |",
        f"| started | {_md(document.get('started_at'))} |",
        f"| finished | {_md(document.get('finished_at'))} |",
        f"| duration | {_md(format_duration(document.get('duration_s')))} |",
        f"| who | {_md(who.get('operator'))} on {_md(who.get('host'))} |",
        "",
        "## Steps", "",
        "| # | step | kind | status | start | took | attempts/retries | changes | errors / notes |",
        "|---:|---|---|---|---:|---:|---:|---|---|",
    ]
    for index, step in enumerate(document["steps"], 1):
        changes = "; ".join(_md(change_line(c)) for c in step["changes"]) or _md(step["summary"])
        notes = "; ".join(_md(e) for e in step["errors"])
        if step.get("reason"):
            notes = (notes + "; " if notes else "") + _md(step["reason"])
        if step["jobs"]:
            notes = (notes + "; " if notes else "") + "jobs: " + ", ".join(_md(j["job_id"]) for j in step["jobs"])
        lines.append(f"| {index} | {_md(step['id'])} | {_md(step['kind'])} | {_md(status_of(step))} | "
                     f"{_md(format_duration(step.get('start_s')))} | {_md(format_duration(step.get('duration_s')))} | "
                     f"{step['attempts']}/{step['retries']} | {changes} | {notes or '—'} |")
    if document.get("legs"):
        lines += ["", "## Legs", "", "| leg | step | VMs | start | took |", "|---|---|---:|---:|---:|"]
        lines += [f"| {_md(leg['leg'])} | {_md(leg['step'])} | {leg['vms']} | {_md(format_duration(leg['start_s']))} | "
                  f"{_md(format_duration(leg['duration_s']))} |" for leg in document["legs"]]
    if document.get("recovery_points"):
        lines += ["", "## Recovery points", "", "| VM | step | point | consistency | data-loss window |",
                  "|---|---|---|---|---:|"]
        lines += [f"| {_md(p['vm'])} | {_md(p['step'])} | {_md(p['time'])} | {_md(p['type'])} | "
                  f"{_md(format_duration(p['data_loss_s']))} |" for p in document["recovery_points"]]
    lines += ["", "## Recovery time", ""]
    rto = document.get("rto")
    if rto:
        lines += ["| milestone | since start | against target |", "|---|---:|---|"]
        for row in rto["rows"]:
            within = row.get("within_target")
            lines.append(f"| {_md(row['milestone'])} ({_md(row['what'])}) | {_md(format_duration(row['seconds']))} | "
                         f"{'—' if within is None else ('within' if within else '**over**')} |")
        met = rto.get("met")
        lines.append(f"| **target** | {_md(format_duration(rto.get('target_s')))} | "
                     f"{'no target' if met is None else ('met' if met else '**missed**')} |")
        if rto.get("items"):
            lines += ["", "| VM | failed over by | since start |", "|---|---|---:|"]
            lines += [f"| {_md(i.get('item'))} | {_md(i.get('step'))} | {_md(format_duration(i.get('failed_over_s')))} |"
                      for i in rto["items"]]
    else:
        lines.append("No recovery time was measured.")
    lines += ["", "## Cleanup", ""]
    cleanup = document.get("cleanup") or {}
    if not cleanup.get("performed"):
        lines.append("Nothing needed undoing." if document.get("kind") == "drill" else "No compensation ran.")
    else:
        lines.append(f"{_md(cleanup.get('kind'))}: " + ("complete, nothing left behind." if cleanup.get("complete")
                                                         else "**INCOMPLETE: changes were left behind.**"))
        lines.append("")
        lines += [f"- undone: {_md(u['step'])}: {_md(u['detail'])}" for u in cleanup.get("undone", [])]
        lines += [f"- **left behind** by {_md(u['step'])}: {_md(u['detail'])}" for u in cleanup.get("left_behind", [])]
    lines += ["", f"_Generated {_md(document.get('generated_at'))} from the failover journal._", ""]
    return redact("\n".join(lines))

