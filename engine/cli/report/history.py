"""The drill history: every drill in the journal with its recovery time against the objective, as a
JSON-ready document and as one self-contained HTML page with an inline SVG chart (no script, nothing
loaded from anywhere).

Each drill's numbers come from its report document (``engine.cli.report.collect``), so the chart and a
drill's own report never disagree. A drill that did not recover (a probe failed, a step failed) has no
recovery time: the chart marks it failed at the foot of its column.
"""

from __future__ import annotations

from typing import Any

from adapters.shared.secret import redact, redact_data
from engine.cli.report.collect import collect
from engine.cli.report.html import _e, _when, page
from engine.model.durations import format_duration

PASS, FAIL = "#2f9e44", "#e03131"


def drill_history(store, *, limit: int = 50, schedule: str | None = None) -> dict:
    """The latest ``limit`` drills (of one ``schedule``, if given), oldest first."""
    rows = [r for r in store.runs(limit=limit, kind="drill")]
    drills = []
    for row in reversed(rows):
        document = collect(store, row["run_id"])
        if schedule is not None and document.get("schedule") != schedule:
            continue
        rto = document.get("rto") or {}
        drills.append({
            "run_id": document["run_id"], "runbook": document["runbook"], "schedule": document.get("schedule"),
            "started_at": document["started_at"], "status": document["status"],
            "verdict": document.get("verdict"), "passed": bool(document.get("passed")),
            "recovered_s": rto.get("recovered_s"), "target_s": rto.get("target_s"), "met": rto.get("met"),
            "unverified": rto.get("unverified") or [],
            "left_behind": len((document.get("cleanup") or {}).get("left_behind") or []),
        })
    passed = sum(d["passed"] for d in drills)
    return redact_data({"drills": drills, "passed": passed, "failed": len(drills) - passed,
                        "trend": "".join("P" if d["passed"] else "F" for d in drills)})


def _nice_top(value: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400):
        if value <= step * 5:
            return step * 5
    return value


def history_svg(history: dict) -> str:
    """Recovery time per drill (a column, green passed, red failed), the objective of each as a dashed
    mark across its column; a drill without a recovery time is a red cross on the axis."""
    drills = history["drills"]
    width, height, left, right, top, bottom = 1000, 320, 70, 20, 20, 70
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for d in drills for v in (d["recovered_s"], d["target_s"]) if v is not None]
    y_top = _nice_top(max(values, default=60.0) * 1.1)
    slot = plot_w / max(len(drills), 1)
    bar_w = max(min(slot * 0.6, 48.0), 3.0)

    def y(seconds: float) -> float:
        return round(top + plot_h * (1 - min(seconds, y_top) / y_top), 2)

    parts = [f'<svg class="history-chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" style="max-width:100%;height:auto" '
             'font-family="system-ui, sans-serif" font-size="11">',
             "<title>Recovery time of each drill against its objective</title>"]
    for i in range(6):  # the axis: six grid lines
        seconds = y_top * i / 5
        gy = y(seconds)
        parts.append(f'<line x1="{left}" y1="{gy}" x2="{left + plot_w}" y2="{gy}" stroke="#dee2e6"/>')
        parts.append(f'<text x="{left - 6}" y="{gy + 4}" text-anchor="end" fill="#495057">{_when(seconds)}</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2}" transform="rotate(-90 12 {top + plot_h / 2})" '
                 'text-anchor="middle" fill="#495057">recovery time</text>')
    for index, drill in enumerate(drills):
        cx = left + slot * index + slot / 2
        colour = PASS if drill["passed"] else FAIL
        verdict = "passed" if drill["passed"] else "failed"
        tip = (f"{drill['run_id']} {drill['started_at']}: {verdict}; recovery "
               f"{format_duration(drill['recovered_s'])} against {format_duration(drill['target_s'])}"
               + (f"; {drill['verdict']}" if drill["verdict"] and not drill["passed"] else ""))
        if drill["recovered_s"] is not None:
            by = y(drill["recovered_s"])
            parts.append(f'<rect class="drill {verdict}" data-run="{_e(drill["run_id"])}" data-passed='
                         f'"{str(drill["passed"]).lower()}" x="{round(cx - bar_w / 2, 2)}" y="{by}" '
                         f'width="{round(bar_w, 2)}" height="{round(top + plot_h - by, 2)}" fill="{colour}">'
                         f"<title>{_e(tip)}</title></rect>")
        else:
            base = top + plot_h
            parts.append(f'<path class="drill {verdict} not-recovered" data-run="{_e(drill["run_id"])}" '
                         f'data-passed="{str(drill["passed"]).lower()}" d="M{cx - 6} {base - 14} L{cx + 6} {base - 2} '
                         f'M{cx + 6} {base - 14} L{cx - 6} {base - 2}" stroke="{FAIL}" stroke-width="3">'
                         f"<title>{_e(tip)}</title></path>")
        if drill["target_s"] is not None:
            ty = y(drill["target_s"])
            parts.append(f'<line class="objective" x1="{round(cx - slot / 2 + 1, 2)}" y1="{ty}" '
                         f'x2="{round(cx + slot / 2 - 1, 2)}" y2="{ty}" stroke="#c92a2a" stroke-width="2" '
                         f'stroke-dasharray="5 3"><title>objective {_e(format_duration(drill["target_s"]))}'
                         "</title></line>")
        mark = "✔" if drill["passed"] else "✘"
        parts.append(f'<text x="{cx}" y="{top + plot_h + 16}" text-anchor="middle" fill="{colour}" '
                     f'font-weight="700">{mark}</text>')
        if len(drills) <= 24 or index % max(len(drills) // 12, 1) == 0:
            parts.append(f'<text x="{cx}" y="{top + plot_h + 32}" text-anchor="middle" fill="#495057">'
                         f'{_e((drill["started_at"] or "")[:10])}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#868e96"/>')
    legend_y = height - 12
    parts.append(f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{PASS}"/>'
                 f'<text x="{left + 14}" y="{legend_y}">passed</text>'
                 f'<rect x="{left + 70}" y="{legend_y - 9}" width="10" height="10" fill="{FAIL}"/>'
                 f'<text x="{left + 84}" y="{legend_y}">failed (a cross: not recovered)</text>'
                 f'<line x1="{left + 280}" y1="{legend_y - 4}" x2="{left + 310}" y2="{legend_y - 4}" stroke="#c92a2a" '
                 f'stroke-width="2" stroke-dasharray="5 3"/><text x="{left + 316}" y="{legend_y}">objective (rto)</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render_history_html(history: dict, title: str = "Drill history") -> str:
    history = redact_data(history)
    rows = []
    for drill in reversed(history["drills"]):
        verdict = "passed" if drill["passed"] else "failed"
        rows.append(f'<tr class="{verdict}"><td><code>{_e(drill["run_id"])}</code></td><td>{_e(drill["started_at"])}</td>'
                    f"<td>{_e(drill['schedule'] or drill['runbook'])}</td>"
                    f'<td class="num">{_when(drill["recovered_s"])}</td><td class="num">{_when(drill["target_s"])}</td>'
                    f'<td><span class="badge" style="background:{PASS if drill["passed"] else FAIL}">{verdict}</span>'
                    f"{'' if drill['passed'] else ' ' + _e((drill['verdict'] or drill['status']).removeprefix('failed: '))}"
                    "</td></tr>")
    table = ('<table class="drills"><tr><th>run</th><th>started</th><th>drill</th><th>recovery time</th>'
             "<th>objective</th><th>verdict</th></tr>" + "".join(rows) + "</table>")
    summary = (f"{history['passed']} passed, {history['failed']} failed; trend (oldest → newest): "
               f"{history['trend'] or '—'}")
    body = (f'<div class="chart-box">{history_svg(history)}</div>' if history["drills"]
            else '<p class="muted">No drill in the journal yet.</p>')
    return page(title, f"""<h1>{_e(title)}</h1>
<p id="summary">{_e(summary)}</p>
<h2 id="chart">Recovery time against the objective</h2>
{body}
<h2 id="drills">Drills</h2>
{table}
{_readiness_html(history.get("readiness") or [])}
""")


def _readiness_html(rows: list[dict]) -> str:
    """Between the drills: the latest readiness check of each runbook (``failover check``)."""
    if not rows:
        return ""
    cells = []
    for row in rows:
        state = "ready" if row["ready"] else '<b class="not-ready">NOT READY</b>'
        cells.append(f"<tr><td>{_e(row['runbook'])}</td><td>{_e(row['adapter'])}</td><td>{_e(row['at'])}</td>"
                     f"<td>{state}</td><td>{_e(', '.join(row['codes']) or '—')}</td></tr>")
    return ('<h2 id="readiness">Readiness between drills</h2><table class="readiness"><tr><th>runbook</th>'
            "<th>adapter</th><th>checked</th><th>state</th><th>findings</th></tr>" + "".join(cells) + "</table>")


def render_history_markdown(history: dict) -> str:
    from engine.cli.report.markdown import _md

    lines = ["# Drill history", "", f"{history['passed']} passed, {history['failed']} failed; "
             f"trend (oldest → newest): {history['trend'] or '—'}", "",
             "| run | started | drill | recovery time | objective | verdict |", "|---|---|---|---:|---:|---|"]
    for drill in reversed(history["drills"]):
        verdict = "passed" if drill["passed"] else f"**failed**: {_md(drill['verdict'] or drill['status'])}"
        lines.append(f"| {_md(drill['run_id'])} | {_md(drill['started_at'])} | {_md(drill['schedule'] or drill['runbook'])}"
                     f" | {_md(format_duration(drill['recovered_s']))} | {_md(format_duration(drill['target_s']))} "
                     f"| {verdict} |")
    if history.get("readiness"):
        lines += ["", "## Readiness between drills", "", "| runbook | adapter | checked | state | findings |",
                  "|---|---|---|---|---|"]
        lines += [f"| {_md(r['runbook'])} | {_md(r['adapter'])} | {_md(r['at'])} | "
                  f"{'ready' if r['ready'] else '**NOT READY**'} | {_md(', '.join(r['codes']) or '—')} |"
                  for r in history["readiness"]]
    return redact("\n".join(lines) + "\n")


__all__: list[Any] = ["drill_history", "history_svg", "render_history_html", "render_history_markdown"]
