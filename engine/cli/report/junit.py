"""Drills and readiness checks as JUnit XML, the test-report format CI systems read (Jenkins, GitLab,
Azure Pipelines, GitHub actions that publish test results).

A readiness check is one ``<testsuite>`` with a test case per readiness code and one for the runbook's
plan against the estate, failed with its findings.

One ``<testsuite>`` per drill, named after the drill (its schedule name, else its runbook); one
``<testcase>`` per step, and two for the drill's own checks: the recovery time against the runbook's
``rto`` and the cleanup. A failed step or check is a ``<failure>``; a step that did not run is
``<skipped>``; a drill that could not run at all (its runbook invalid, its target locked) is one test
case with an ``<error>`` saying why. Times are the run's own seconds. Text passes through secret
redaction like every other output.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from adapters.shared.secret import redact

NOT_RUN = ("skipped", "pending")


def _seconds(value) -> str:
    return f"{float(value or 0.0):.3f}"


def _case(suite: ET.Element, classname: str, name: str, seconds=None) -> ET.Element:
    return ET.SubElement(suite, "testcase", {"classname": classname, "name": name, "time": _seconds(seconds)})


def _mark(case: ET.Element, tag: str, message: str, kind: str, text: str | None = None) -> None:
    element = ET.SubElement(case, tag, {"message": redact(message)[:1000], "type": kind})
    element.text = redact(text or message)


def drill_suite(document: dict, name: str | None = None) -> ET.Element:
    """A drill's (or a run's) report document, from ``engine.cli.report.collect``, as a test suite."""
    name = name or document.get("schedule") or document["runbook"]
    suite = ET.Element("testsuite", {"name": name, "timestamp": (document.get("started_at") or "")[:19],
                                     "hostname": (document.get("who") or {}).get("host") or socket.gethostname(),
                                     "time": _seconds(document.get("duration_s"))})
    properties = ET.SubElement(suite, "properties")
    for key in ("run_id", "runbook", "kind", "mode", "adapter", "target", "verdict"):
        ET.SubElement(properties, "property", {"name": key, "value": redact(str(document.get(key) or ""))})
    classname = f"failover.{document['runbook']}"
    for step in document["steps"]:
        case = _case(suite, classname, step["id"], step.get("duration_s"))
        outcome = step.get("outcome") or step["status"]
        if outcome == "failed":
            _mark(case, "failure", step.get("error") or "failed", step["kind"], "\n".join(step.get("errors") or []))
        elif outcome in NOT_RUN:
            ET.SubElement(case, "skipped", {"message": redact(step.get("reason") or outcome)})
    rto = document.get("rto")
    if document.get("kind") == "drill" or rto:
        case = _case(suite, f"{classname}.checks", "recovery time within the target")
        if rto is None or rto.get("met") is None:
            ET.SubElement(case, "skipped", {"message": "no recovery time target (rto) or nothing recovered"})
        elif not rto["met"]:
            why = (f"not verified: {', '.join(rto['unverified'])} did not pass" if rto.get("unverified") else
                   f"recovered in {rto.get('recovered_s')}s, target {rto.get('target_s')}s")
            _mark(case, "failure", why, "rto")
    if document.get("kind") == "drill":
        cleanup = document.get("cleanup") or {}
        case = _case(suite, f"{classname}.checks", "cleanup left nothing behind")
        if cleanup.get("left_behind"):
            text = "\n".join(f"{e['step']}: {e['detail']}" for e in cleanup["left_behind"])
            _mark(case, "failure", f"{len(cleanup['left_behind'])} change(s) left behind", "cleanup", text)
    _count(suite)
    return suite


def check_suite(document: dict) -> ET.Element:
    """A readiness check's document (``failover check -o json``) as a test suite."""
    from engine.check.findings import CODES

    found: dict[str, list[dict]] = {code: [] for code in (*CODES, "plan")}
    for finding in document["findings"]:
        found[finding["code"] if finding["code"] in CODES else "plan"].append(finding)
    suite = ET.Element("testsuite", {"name": f"readiness {document['runbook']}", "hostname": socket.gethostname(),
                                     "timestamp": (document.get("at_utc") or "")[:19],
                                     "time": _seconds(document.get("duration_s"))})
    for code, findings in found.items():
        title = CODES.get(code, "the runbook's plan holds against the live estate")
        case = _case(suite, f"failover.check.{document['runbook']}", f"{code}: {title}")
        if findings:
            text = "\n".join(f"{f['code']} {f['resource']} ({f['status']}): {f['message']} Fix: {f['fix']}"
                             for f in findings)
            _mark(case, "failure", f"{len(findings)} finding(s)", code, text)
    _count(suite)
    return suite


def not_run_suite(name: str, reason: str, *, kind: str = "not run") -> ET.Element:
    """A drill that did not run: one test case, in error, with the reason."""
    suite = ET.Element("testsuite", {"name": name, "timestamp": "", "hostname": socket.gethostname(), "time": "0.000"})
    ET.SubElement(suite, "properties")
    case = _case(suite, f"failover.{name}", "drill ran")
    _mark(case, "error", reason, kind)
    _count(suite)
    return suite


def _count(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    if not suite.get("timestamp"):
        del suite.attrib["timestamp"]


def document_of(suites: list[ET.Element]) -> ET.Element:
    root = ET.Element("testsuites", {"name": "failover drills"})
    for index, suite in enumerate(suites):
        suite.set("id", str(index))
        root.append(suite)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.set("time", _seconds(sum(float(s.get("time", "0")) for s in suites)))
    return root


def write(suites: list[ET.Element], path: Path) -> None:
    root = document_of(suites)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")


def read_suites(path: Path) -> list[ET.Element]:
    """The suites of a JUnit file written by ``write`` (a drill's, gathered by the scheduler)."""
    root = ET.parse(path).getroot()
    return list(root.iter("testsuite"))
