"""Readiness checks for a person: one check's findings and drift, and the trend of checks."""

from __future__ import annotations


def check_text(document: dict) -> str:
    head = (f"{document['runbook']} on {document['adapter']}: "
            + ("READY" if document["ready"] else f"NOT READY ({len(document['findings'])} finding(s), "
                                                   f"{document['new']} new)"))
    lines = [head]
    if document.get("previous"):
        lines.append(f"compared with check {document['previous']}")
    for finding in document["findings"]:
        mark = "new" if finding["status"] == "new" else f"since {finding['since']}"
        lines.append(f"  {finding['code']}  {finding['resource']}  ({mark})")
        lines.append(f"      {finding['message']}")
        for change in finding["changed"]:
            lines.append(f"      changed: {change['before'] or '(none)'} -> {change['after'] or '(gone)'}")
        lines.append(f"      fix: {finding['fix']}")
    for gone in document.get("resolved", []):
        lines.append(f"  resolved  {gone['code']}  {gone['resource']}")
    if document.get("changes"):
        lines.append("changed since the previous check:")
        lines += [f"  {c['resource']}: {c['before'] or '(none)'} -> {c['after'] or '(gone)'}" for c in document["changes"]]
    return "\n".join(lines)


def trend_row(document: dict) -> dict:
    return {"check_id": document["check_id"], "runbook": document["runbook"], "adapter": document["adapter"],
            "at": document.get("at_utc"), "ready": document["ready"], "findings": len(document["findings"]),
            "new": document.get("new", 0), "resolved": len(document.get("resolved", [])),
            "codes": sorted({f["code"] for f in document["findings"]}), "schedule": document.get("schedule")}


def trend_document(documents: list[dict]) -> dict:
    """`history --checks -o json`: the checks, newest first, and the ready/not-ready trend."""
    rows = [trend_row(d) for d in documents]
    return {"checks": rows, "trend": "".join("R" if r["ready"] else "N" for r in reversed(rows)),
            "ready": sum(r["ready"] for r in rows), "not_ready": sum(not r["ready"] for r in rows)}


def trend_text(documents: list[dict]) -> str:
    rows = [trend_row(d) for d in documents]
    if not rows:
        return "no checks in the journal (run `failover check RUNBOOK`)"
    lines = [f"{'check':<24} {'at':<26} {'runbook':<28} {'verdict':<10} findings  new  resolved  codes"]
    for r in rows:
        lines.append(f"{r['check_id']:<24} {str(r['at'])[:25]:<26} {r['runbook']:<28} "
                     f"{'ready' if r['ready'] else 'NOT READY':<10} {r['findings']:>8} {r['new']:>4} {r['resolved']:>9}  "
                     + ", ".join(r["codes"]))
    trend = "".join("R" if r["ready"] else "N" for r in reversed(rows))
    return "\n".join(lines) + f"\n\ntrend (oldest → newest): {trend}"


def latest_checks(documents: list[dict]) -> list[dict]:
    """The newest check of each runbook on each adapter (``documents`` newest first), for the drill
    history: is each drilled runbook still ready today?"""
    latest: dict[tuple[str, str], dict] = {}
    for document in documents:
        latest.setdefault((document["runbook"], document["adapter"]), trend_row(document))
    return list(latest.values())


def readiness_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    lines = ["", "", "readiness (the latest check of each runbook):"]
    lines += [f"  {r['runbook']:<28} {r['adapter']:<6} {'ready' if r['ready'] else 'NOT READY':<10} {r['at']}  "
              + ", ".join(r["codes"]) for r in rows]
    return "\n".join(lines)
