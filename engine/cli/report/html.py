"""A run's report (``engine.cli.report.collect``) as one self-contained HTML page.

The HTML page has no external resource and needs no JavaScript: inline CSS, an inline SVG Gantt timeline
(one bar per step from its start to its finish, coloured by status, on a time axis in the run's seconds),
the steps with their changes, retries and errors, the recovery-time table, and what was cleaned up or
left behind. Every piece of text from the document is escaped, and the document is redacted again here.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from adapters.shared.secret import redact, redact_data
from engine.model.durations import format_duration

STATUS_COLOURS = {
    "succeeded": "#2f9e44",
    "unchanged": "#94d82d",
    "failed": "#e03131",
    "skipped": "#adb5bd",
    "paused": "#f08c00",
    "running": "#1c7ed6",
    "pending": "#ced4da",
    "compensated": "#7048e8",
}
STATUS_MEANING = {
    "succeeded": "changed what it had to",
    "unchanged": "already as wanted",
    "failed": "failed",
    "skipped": "not run",
    "paused": "waiting for approval",
    "running": "still running",
    "pending": "never started",
    "compensated": "its change was undone",
}
TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
         1800, 3600, 7200, 10800, 21600, 43200, 86400)


def _e(value: Any) -> str:
    """Escaped text for HTML (attributes too); ``None`` as a dash."""
    if value is None:
        return "—"
    if not isinstance(value, str):
        value = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
    return escape(value, quote=True)


def _when(seconds: float | None) -> str:
    """A duration or an offset, escaped."""
    return _e(format_duration(seconds))


def value_text(value: Any) -> str:
    """A change's before/after value, short."""
    if value is None or value == "":
        return "∅"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def change_line(change: dict) -> str:
    return f"{change['resource']} · {change['field']}: {value_text(change['before'])} → {value_text(change['after'])}"


def status_of(step: dict) -> str:
    """The status as shown: ``succeeded → compensated`` when a change was undone."""
    if step["status"] == "compensated" and step.get("outcome") not in (None, "compensated"):
        return f"{step['outcome']} → compensated"
    return step["status"]


# --- the Gantt timeline ---------------------------------------------------------------------------


def _tick(span: float) -> float:
    raw = span / 8 if span > 0 else 1
    return next((t for t in TICKS if t >= raw), TICKS[-1])


def timeline_svg(document: dict) -> str:
    steps = document["steps"]
    timeline = document.get("timeline") or {}
    rto = document.get("rto") or {}
    recovered = rto.get("recovered_s")
    target = rto.get("target_s")
    end = float(timeline.get("end_s") or 0.0)
    end = max(end, recovered or 0.0)
    if target is not None and target <= end * 1.5:
        end = max(end, target)
    tick = _tick(end)
    axis_end = max(tick, (int(end / tick) + (0 if end % tick == 0 and end > 0 else 1)) * tick)

    label_w, chart_w, right = 230, 860, 40
    top, row_h, bar_h = 46, 26, 16
    height = top + row_h * max(len(steps), 1) + 76  # the bottom axis and a line per annotation
    width = label_w + chart_w + right

    def x(seconds: float) -> float:
        return round(label_w + chart_w * max(seconds, 0.0) / axis_end, 2)

    parts = [f'<svg class="timeline" role="img" width="{width}" '
             f'height="{height}" style="max-width:100%;height:auto" viewBox="0 0 {width} {height}" '
             'font-family="system-ui, sans-serif" font-size="12">',
             f"<title>Timeline of run {_e(document['run_id'])}</title>"]
    cleanup = timeline.get("cleanup")
    if cleanup:
        cx0, cx1 = x(cleanup["start_s"]), x(cleanup["end_s"])
        parts.append(f'<rect class="cleanup-band" x="{cx0}" y="{top - 6}" width="{max(cx1 - cx0, 2)}" '
                     f'height="{row_h * len(steps) + 6}" fill="#f3f0ff"><title>cleanup {format_duration(cleanup["start_s"])}'
                     f' – {format_duration(cleanup["end_s"])}</title></rect>')
    # the time axis: a grid line and a label per tick, on top and at the bottom
    count = int(round(axis_end / tick))
    bottom = top + row_h * len(steps)
    scale = document.get("time_scale")
    simulated = f" (simulated; time scale {_e(scale)})" if scale not in (None, 1, 1.0) else ""
    parts.append(f'<text x="{label_w}" y="14" fill="#495057" font-size="11">seconds since the run began{simulated}</text>')
    for i in range(count + 1):
        seconds = i * tick
        gx = x(seconds)
        parts.append(f'<line class="tick" x1="{gx}" y1="{top - 6}" x2="{gx}" y2="{bottom}" stroke="#dee2e6"/>')
        parts.append(f'<text class="tick-label" x="{gx}" y="{top - 12}" text-anchor="middle" '
                     f'fill="#495057">{_when(seconds)}</text>')
        parts.append(f'<text x="{gx}" y="{bottom + 16}" text-anchor="middle" fill="#495057">{_when(seconds)}</text>')
    parts.append(f'<line x1="{label_w}" y1="{bottom}" x2="{label_w + chart_w}" y2="{bottom}" stroke="#868e96"/>')
    for index, step in enumerate(steps):
        y = top + index * row_h
        if index % 2:
            parts.append(f'<rect x="0" y="{y}" width="{label_w - 6}" height="{row_h}" fill="#f8f9fa"/>')
        label = step["id"] if len(step["id"]) <= 34 else step["id"][:33] + "…"  # the label column's width
        parts.append(f'<text x="{label_w - 10}" y="{y + row_h / 2 + 4}" text-anchor="end" fill="#212529">'
                     f'<title>{_e(step["id"])}</title>{_e(label)}</text>')
        colour = STATUS_COLOURS.get(step["status"], "#868e96")
        start, finish = step.get("start_s"), step.get("end_s")
        tip = (f"{step['id']} ({step['kind']}): {status_of(step)}, {format_duration(start)} → {format_duration(finish)}"
               f", took {format_duration(step.get('duration_s'))}")
        if start is None:
            parts.append(f'<text class="not-started" x="{label_w + 4}" y="{y + row_h / 2 + 4}" fill="#868e96" '
                         f'font-style="italic">{_e(step["status"])}: {_e(step.get("reason") or "not started")}</text>')
            continue
        open_ended = finish is None
        finish = axis_end if open_ended else finish
        bx = x(start)
        bw = max(x(finish) - bx, 2.0)
        dash = ' stroke-dasharray="4 2" stroke="#343a40"' if open_ended else ""
        parts.append(f'<rect class="bar status-{_e(step["status"])}" data-step="{_e(step["id"])}" '
                     f'data-status="{_e(step["status"])}" x="{bx}" y="{y + (row_h - bar_h) / 2}" width="{round(bw, 2)}" '
                     f'height="{bar_h}" rx="3" fill="{colour}"{dash}><title>{_e(tip)}</title></rect>')
        if step.get("retries"):
            parts.append(f'<text x="{round(bx + bw + 4, 2)}" y="{y + row_h / 2 + 4}" fill="#e8590c" '
                         f'font-size="11">{step["retries"]} retr{"y" if step["retries"] == 1 else "ies"}</text>')
        compensation = step.get("compensation")
        if compensation and compensation.get("at_s") is not None:
            mx, my = x(compensation["at_s"]), y + row_h / 2
            fill = "#7048e8" if compensation["undone"] else "#e03131"
            label = "undone" if compensation["undone"] else "NOT undone"
            parts.append(f'<path class="undo-mark" d="M{mx} {my - 7} L{mx + 6} {my} L{mx} {my + 7} L{mx - 6} {my} Z" '
                         f'fill="{fill}" stroke="#fff"><title>{_e(label)} at {format_duration(compensation["at_s"])}: '
                         f'{_e(compensation["detail"])}</title></path>')
    line_y = bottom + 32  # each annotation on its own line under the axis, so that none overlaps another
    for seconds, name, colour in ((recovered, "recovered", "#1971c2"), (target, "RTO target", "#c92a2a")):
        if seconds is not None and seconds <= axis_end:
            lx = x(seconds)
            parts.append(f'<line class="marker" x1="{lx}" y1="{top - 6}" x2="{lx}" y2="{line_y - 10}" '
                         f'stroke="{colour}" stroke-width="2" stroke-dasharray="6 3"/>')
            anchor = "end" if lx > label_w + chart_w * 0.8 else "start"
            parts.append(f'<text x="{lx + (-4 if anchor == "end" else 4)}" y="{line_y}" text-anchor="{anchor}" '
                         f'fill="{colour}" font-weight="600">{_e(name)} {_when(seconds)}</text>')
            line_y += 14
    if cleanup:
        cx0, cx1 = x(cleanup["start_s"]), x(cleanup["end_s"])
        parts.append(f'<line x1="{cx0}" y1="{line_y - 4}" x2="{max(cx1, cx0 + 2)}" y2="{line_y - 4}" stroke="#7048e8" '
                     f'stroke-width="3"/>')
        anchor = "end" if cx1 > label_w + chart_w * 0.8 else "start"
        parts.append(f'<text x="{cx1 if anchor == "end" else cx0}" y="{line_y + 10}" text-anchor="{anchor}" '
                     f'fill="#5f3dc4">cleanup {_when(cleanup["start_s"])} – {_when(cleanup["end_s"])}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(statuses: list[str]) -> str:
    items = []
    for status in STATUS_COLOURS:
        if status in statuses:
            items.append(f'<span class="legend-item"><span class="swatch" style="background:{STATUS_COLOURS[status]}">'
                         f'</span>{_e(status)} <small>({_e(STATUS_MEANING[status])})</small></span>')
    items.append('<span class="legend-item"><span class="swatch diamond"></span>change undone (cleanup)</span>')
    return '<div class="legend">' + "".join(items) + "</div>"


# --- the page -------------------------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529;background:#fff;font-size:14px}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
.verdict{border-radius:8px;padding:16px 20px;margin-bottom:16px;color:#fff}
.verdict.pass{background:#2b8a3e}.verdict.fail{background:#c92a2a}.verdict.other{background:#e67700}
.verdict .big{font-size:26px;font-weight:700;letter-spacing:.02em}
.verdict .why{margin-top:4px;font-size:15px}
dl.meta{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:4px 16px;margin:0}
dl.meta dt{color:#495057;font-weight:600}dl.meta dd{margin:0;word-break:break-all}
.counts span{display:inline-block;margin-right:14px}
table{border-collapse:collapse;width:100%;max-width:100%;margin:6px 0;table-layout:fixed}
th,td{border:1px solid #dee2e6;padding:5px 8px;text-align:left;vertical-align:top;
overflow-wrap:anywhere;word-break:break-word}
code,.resource,dd{overflow-wrap:anywhere;word-break:break-word}
th{background:#f1f3f5}
td.num{text-align:right}
.badge{display:inline-block;border-radius:4px;padding:1px 6px;color:#fff;font-size:12px;white-space:nowrap}
ul.changes{margin:0 0 4px;padding-left:16px}
.resource{font-weight:600}
table.steps{font-size:13px}
table.steps col.n{width:3%}table.steps col.step{width:14%}table.steps col.status{width:9%}
table.steps col.time{width:6%}table.steps col.tries{width:6%}table.steps col.overhead{width:7%}
table.steps col.changes{width:23%}table.steps col.jobs{width:12%}table.steps col.notes{width:16%}
.job{margin-bottom:4px}.job code{font-size:11px}
.badge{white-space:normal}
.error{color:#c92a2a}
.muted{color:#868e96}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f8f9fa;padding:6px;margin:4px 0;white-space:pre-wrap;word-break:break-all;font-size:12px}
.timeline-box{overflow-x:auto;border:1px solid #dee2e6;border-radius:6px;padding:8px}
.legend{margin:8px 0;font-size:12px}
.legend-item{display:inline-block;margin-right:14px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.swatch.diamond{background:#7048e8;transform:rotate(45deg);width:9px;height:9px}
.left{color:#c92a2a;font-weight:600}
footer{margin-top:32px;color:#868e96;font-size:12px}
@page{size:A4;margin:12mm}
@media print{body{font-size:10px}main{max-width:none;padding:0}.timeline-box{overflow:visible;border:none;padding:0}
svg{max-width:100%;height:auto}table.steps{font-size:9px}tr,.verdict{break-inside:avoid}h2{break-after:avoid}
details{display:block}details>*{display:block}.chart-box{overflow:visible}}
"""


def _badge(status: str, text: str | None = None) -> str:
    colour = STATUS_COLOURS.get(status, "#868e96")
    return f'<span class="badge" style="background:{colour}">{_e(text or status)}</span>'


def _verdict_block(document: dict) -> str:
    kind = document.get("kind")
    status = document.get("status")
    verdict = document.get("verdict")
    if kind == "drill" and verdict:
        passed = verdict == "passed"
        css = "pass" if passed else "fail"
        big = "DRILL PASSED" if passed else "DRILL FAILED"
        why = "recovery worked, within the target, and nothing was left behind" if passed else \
            verdict.removeprefix("failed: ")
    else:
        css = {"succeeded": "pass", "failed": "fail"}.get(status, "other")
        big = f"RUN {str(status).upper()}"
        why = document.get("headline") or ""
    return (f'<section class="verdict {css}" id="verdict"><div class="big">{_e(big)}</div>'
            f'<div class="why">{_e(why)}</div></section>')


def _meta(document: dict) -> str:
    who = document.get("who") or {}
    pairs = [
        ("run", document.get("run_id")), ("runbook", document.get("runbook")),
        ("kind", document.get("kind")), ("status", document.get("status")),
        ("mode", f"{document.get('mode')} · {document.get('adapter')}"), ("target", document.get("target")),
        ("started", document.get("started_at")), ("finished", document.get("finished_at")),
        ("duration", format_duration(document.get("duration_s"))),
        ("who", f"{who.get('operator')} on {who.get('host')} (pid {who.get('pid')})"),
    ]
    if document.get("schedule"):
        pairs.append(("schedule", document["schedule"]))
    if document.get("parameters"):
        pairs.append(("parameters", document["parameters"]))
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs)
    return f'<dl class="meta">{body}</dl>'


def _counts(document: dict) -> str:
    summary = document.get("summary") or {}
    by_status = summary.get("by_status") or {}
    parts = [f"<span><b>{_e(summary.get('steps'))}</b> steps</span>"]
    parts += [f"<span>{_badge(s)} {_e(n)}</span>" for s, n in by_status.items()]
    parts += [f"<span><b>{_e(summary.get(k))}</b> {label}</span>" for k, label in
              (("changes", "changes"), ("retries", "retries"), ("errors", "errors"), ("jobs", "ASR jobs"))]
    overhead = summary.get("overhead_ms")
    if overhead is not None:
        parts.append(f"<span><b>{_e(f'{overhead:.1f}')}</b> ms engine overhead</span>")
    return '<p class="counts">' + "".join(parts) + "</p>"


def _changes_html(step: dict) -> str:
    """A step's changes, grouped by resource: field: before → after; a step that did not succeed shows
    what it meant to change, apart, as not confirmed."""
    if not step["changes"] and step.get("intended"):
        fields = "".join(f"<li>{_e(change_line(c))}</li>" for c in step["intended"])
        done = step.get("confirmed_operations") or []
        confirmed = (f'<div class="muted">confirmed by the service: {_e(", ".join(done))}</div>' if done
                     else '<div class="muted">none confirmed by the service</div>')
        return (f'<div class="intended"><span class="muted">{_e(step["summary"])}:</span>'
                f'<ul class="changes">{fields}</ul>{confirmed}</div>')
    if not step["changes"]:
        return f'<span class="muted">{_e(step["summary"])}</span>'
    groups: dict[str, list[dict]] = {}
    for change in step["changes"]:
        groups.setdefault(str(change["resource"]), []).append(change)
    parts = []
    for resource, changes in groups.items():
        fields = "".join(f"<li><code>{_e(c['field'])}</code>: {_e(value_text(c['before']))} → "
                         f"<b>{_e(value_text(c['after']))}</b></li>" for c in changes)
        parts.append(f'<div class="resource">{_e(resource)}</div><ul class="changes">{fields}</ul>')
    return "".join(parts)


def _overhead_html(overhead: float | None, calls: dict | None) -> str:
    """A step's engine overhead, and under it the adapter requests it sent (reads / writes)."""
    if overhead is None:
        return '<span class="muted">—</span>'
    text = _e(f"{overhead:.1f} ms")
    if calls:
        reads, writes = calls.get("read", 0), calls.get("write", 0)
        text += (f'<br><span class="muted">{_e(reads)} read{"s" if reads != 1 else ""}, '
                 f'{_e(writes)} write{"s" if writes != 1 else ""}</span>')
    return text


def _steps_table(document: dict) -> str:
    # engine overhead (journaled with each step it ran); a document from an older journal may not have it
    with_overhead = any(s.get("overhead_ms") is not None for s in document["steps"])
    rows = []
    for index, step in enumerate(document["steps"], 1):
        changes_html = _changes_html(step)
        jobs = "".join(f"<div class=\"job\">{_e(j.get('operation') or 'job')} {_e(j.get('target') or '')}<br>"
                       f"<code>{_e(j['job_id'])}</code></div>" for j in step["jobs"]) or '<span class="muted">—</span>'
        notes = []
        for error in step["errors"]:
            notes.append(f'<div class="error">{_e(error)}</div>')
        if step.get("reason"):
            notes.append(f"<div>{_e(step['reason'])}</div>")
        if step.get("approval"):
            approval = step["approval"]
            notes.append(f"<div>approved by {_e(approval['approved_by'])} at {_e(approval['at'])}"
                         f"{': ' + _e(approval['comment']) if approval.get('comment') else ''}</div>")
        if step.get("outputs"):
            outputs = json.dumps(step["outputs"], indent=1, default=str, sort_keys=True)
            notes.append(f"<details><summary>outputs</summary><pre>{_e(outputs)}</pre></details>")
        if step.get("operations"):
            ops = "\n".join(f"{format_duration(o['at_s'])} {o['during']} {o['operation']} {o['phase']}"
                            f"{' ' + o['detail'] if o.get('detail') else ''}" for o in step["operations"])
            notes.append(f"<details><summary>{len(step['operations'])} operations</summary><pre>{_e(ops)}</pre></details>")
        overhead = step.get("overhead_ms")
        rows.append(
            f'<tr id="step-{_e(step["id"])}"><td class="num">{index}</td><td><b>{_e(step["id"])}</b><br>'
            f'<code>{_e(step["kind"])}</code></td><td>{_badge(step["status"], status_of(step))}</td>'
            f'<td class="num">{_when(step.get("start_s"))}</td><td class="num">{_when(step.get("duration_s"))}</td>'
            f'<td class="num">{_e(step["attempts"])} / {_e(step["retries"])}</td>'
            + (f'<td class="num overhead">{_overhead_html(overhead, step.get("calls"))}</td>'
               if with_overhead else "") +
            f'<td class="changes">{changes_html}</td><td class="jobs">{jobs}</td>'
            f'<td class="notes">{"".join(notes) or "<span class=muted>—</span>"}</td></tr>')
    head = ("<tr><th>#</th><th>step</th><th>status</th><th>start</th><th>took</th><th>attempts / retries</th>"
            + ("<th>engine overhead</th>" if with_overhead else "")
            + "<th>changes</th><th>ASR jobs</th><th>errors, notes, outputs</th></tr>")
    columns = ["n", "step", "status", "time", "time", "tries"] + (["overhead"] if with_overhead else []) + [
        "changes", "jobs", "notes"]
    colgroup = "<colgroup>" + "".join(f'<col class="{c}">' for c in columns) + "</colgroup>"
    return f'<table class="steps">{colgroup}{head}{"".join(rows)}</table>'


def _rto_table(document: dict) -> str:
    rto = document.get("rto")
    if not rto:
        return ('<p class="muted">No recovery time was measured: the run has no target (rto) and no recovery '
                'step finished.</p>')
    target = rto.get("target_s")
    met = rto.get("met")
    verdict = "no target set" if met is None else ("target met" if met else "target MISSED")
    rows = []
    for row in rto["rows"]:
        within = row.get("within_target")
        mark = "—" if within is None else ("within target" if within else "over target")
        cls = ' class="error"' if within is False else ""
        rows.append(f"<tr><td>{_e(row['milestone'])}</td><td>{_e(row['what'])}</td>"
                    f'<td class="num">{_when(row["seconds"])}</td><td{cls}>{_e(mark)}</td></tr>')
    rows.append(f'<tr><th>target (rto)</th><th></th><th class="num">{_when(target)}</th><th>{_e(verdict)}</th></tr>')
    table = ("<table class=\"rto\"><tr><th>milestone</th><th>meaning</th><th>since start</th><th>against target</th></tr>"
             + "".join(rows) + "</table>")
    if rto.get("items"):
        items = "".join(f"<tr><td>{_e(i.get('item'))}</td><td>{_e(i.get('step'))}</td>"
                        f'<td class="num">{_when(i.get("failed_over_s"))}</td></tr>' for i in rto["items"])
        table += ("<h3>Per VM</h3><table class=\"rto-items\"><tr><th>VM</th><th>failed over by</th><th>since start</th></tr>"
                  + items + "</table>")
    return f'<p class="muted">{_e(rto.get("source"))}; seconds in the run\'s own time.</p>{table}'


def _cleanup_section(document: dict) -> str:
    cleanup = document.get("cleanup") or {}
    if not cleanup.get("performed"):
        if document.get("kind") == "drill":
            return '<p>The drill changed nothing that needed undoing.</p>'
        return '<p class="muted">No compensation ran: the run\'s changes stand, as intended for a real failover.</p>'
    parts = [f"<p>{_e(cleanup.get('kind') or 'cleanup')}: "
             + ("<b>complete</b>, nothing left behind.</p>" if cleanup.get("complete")
                else '<span class="left">INCOMPLETE: changes were left behind.</span></p>')]
    if cleanup.get("undone"):
        rows = "".join(f"<tr><td>{_e(u['step'])}</td><td><code>{_e(u['kind'])}</code></td><td>{_e(u['detail'])}</td>"
                       f'<td class="num">{_when(u.get("at_s"))}</td></tr>' for u in cleanup["undone"])
        parts.append("<h3>Undone</h3><table class=\"undone\"><tr><th>step</th><th>kind</th><th>what was undone</th>"
                     f"<th>at</th></tr>{rows}</table>")
    if cleanup.get("left_behind"):
        rows = "".join(f"<tr><td>{_e(u['step'])}</td><td><code>{_e(u['kind'])}</code></td>"
                       f"<td class=\"error\">{_e(u['detail'])}</td></tr>" for u in cleanup["left_behind"])
        parts.append("<h3 class=\"left\">Left behind</h3><table class=\"left-behind\"><tr><th>step</th><th>kind</th>"
                     f"<th>why</th></tr>{rows}</table>")
    return "".join(parts)


def _legs_section(document: dict) -> str:
    """The legs of a failover and of the way back, and the recovery point each VM took (when there are)."""
    parts = []
    if document.get("legs"):
        rows = "".join(f"<tr><td>{_e(leg['leg'])}</td><td>{_e(leg['step'])}</td><td>{leg['vms']}</td>"
                       f"<td>{_e(format_duration(leg['start_s']))}</td><td>{_e(format_duration(leg['duration_s']))}</td>"
                       "</tr>" for leg in document["legs"])
        parts.append("<h2 id=\"legs\">Legs</h2><table class=\"legs\"><tr><th>leg</th><th>step</th><th>VMs</th>"
                     f"<th>start</th><th>took</th></tr>{rows}</table>")
    if document.get("recovery_points"):
        rows = "".join(f"<tr><td>{_e(p['vm'])}</td><td>{_e(p['step'])}</td><td>{_e(p['time'])}</td>"
                       f"<td>{_e(p['type'])}</td><td>{_e(format_duration(p['data_loss_s']))}</td></tr>"
                       for p in document["recovery_points"])
        parts.append("<h2 id=\"points\">Recovery points</h2><table class=\"points\"><tr><th>VM</th><th>step</th>"
                     f"<th>point</th><th>consistency</th><th>data-loss window</th></tr>{rows}</table>")
    return "".join(parts)


def page(title: str, main: str) -> str:
    """One self-contained page: the house's head and style around ``main``, redacted."""
    return redact(f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
{main}</main>
</body>
</html>
""")


def render_html(document: dict) -> str:
    """The report as one self-contained HTML page (no external resource, no script)."""
    document = redact_data(document)
    title = f"{document.get('runbook')} · {document.get('headline') or document.get('status')} · {document.get('run_id')}"
    statuses = sorted({s["status"] for s in document["steps"]})
    return page(title, f"""{_verdict_block(document)}
<h1>{_e(document.get('runbook'))} <span class="muted">{_e(document.get('kind'))} {_e(document.get('run_id'))}</span></h1>
{_meta(document)}
{_counts(document)}
<h2 id="timeline">Timeline</h2>
<div class="timeline-box">
{timeline_svg(document)}
</div>
{_legend(statuses)}
<h2 id="steps">Steps</h2>
{_steps_table(document)}
{_legs_section(document)}
<h2 id="rto">Recovery time</h2>
{_rto_table(document)}
<h2 id="cleanup">Cleanup</h2>
{_cleanup_section(document)}
<footer>Report {_e(document.get('report_version'))} generated {_e(document.get('generated_at'))} from the journal ·
runbook {_e(document.get('runbook_path'))} sha256 {_e(document.get('runbook_sha256'))}</footer>
""")
