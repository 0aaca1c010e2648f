"""A check as JUnit XML, for CI systems: one test case per readiness check, failed with its findings."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from engine.check.findings import CODES

PLAN = "plan"  # the runbook's plan against the estate (docs/rules.md codes)


def junit_xml(document: dict) -> str:
    cases: dict[str, list[dict]] = {code: [] for code in CODES}
    cases[PLAN] = []
    for finding in document["findings"]:
        cases[finding["code"] if finding["code"] in CODES else PLAN].append(finding)
    failures = sum(1 for found in cases.values() if found)
    suite = ET.Element("testsuite", name=f"readiness {document['runbook']}", tests=str(len(cases)),
                       failures=str(failures), errors="0", time=str(document.get("duration_s", 0)),
                       timestamp=document.get("at_utc", ""))
    for code, found in cases.items():
        title = CODES.get(code, "the runbook's plan holds against the live estate")
        case = ET.SubElement(suite, "testcase", classname=f"failover.check.{document['runbook']}",
                             name=f"{code}: {title}" if code in CODES else f"plan: {title}")
        if found:
            failure = ET.SubElement(case, "failure", message=f"{len(found)} finding(s)", type=code)
            failure.text = "\n".join(f"{f['code']} {f['resource']} ({f['status']}): {f['message']} Fix: {f['fix']}"
                                     for f in found)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
