"""The command line as a new operator meets it: every command answers -o json with one document on
stdout, errors are one paragraph with a next step and the documented exit code (never a traceback),
schedules fail loudly for cron and CI, estates Azure could not hold are refused with their line, the
README's commands work outside make, and progress in logs says what happened and when."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, SUBNET_FAILOVER, VPN_KEY, WOODGROVE, json_out, run_cli

DRILL = REPO / "runbooks/woodgrove-drill.yaml"
JUNIT_XSD = REPO / "tests/fixtures/junit/junit.xsd"
APPROVAL = """\
version: 1
name: approve-then-dns
target: {subscription: 00000000-0000-0000-0000-000000000000, resource_group: woodgrove-dr, vault: woodgrove-asr-vault}
steps:
  - {id: go, uses: approval, with: {message: Approve the DNS change}}
  - {id: dns, uses: dns.record, needs: [go], with: {zone: woodgrove.example, name: drill-x, ip: 192.168.1.20}}
"""


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]


def one_document(result):
    """stdout is one JSON document and nothing else."""
    no_traceback(result)
    return json.loads(result.stdout)


@pytest.fixture
def place(tmp_path, estate_file):
    """A settings file of its own: a fast fake estate, its state, the journal and reports in tmp_path, and a
    drill scheduled every minute, so that it is due now."""
    settings = tmp_path / "settings" / "failover.yaml"
    settings.parent.mkdir()
    settings.write_text(yaml.safe_dump({
        "adapter": "fake",
        "fake": {"estate": str(estate_file()), "state": str(tmp_path / "state.db")},
        "journal": str(tmp_path / "journal.db"), "reports": "../reports",
        "drills": [{"name": "every-minute", "runbook": str(DRILL), "cron": "* * * * *"}],
    }))
    env = {"FAILOVER_CONFIG": str(settings), "FAILOVER_JOURNAL": str(tmp_path / "journal.db")}
    return settings, env


def test_every_command_speaks_json(tmp_path, place):
    """Each command with -o json prints one JSON document on stdout, whatever its outcome."""
    settings, env = place
    approval = tmp_path / "approval.yaml"
    approval.write_text(APPROVAL)

    def cli(*args, expect=0):
        result = run_cli(*args, "-o", "json", env=env)
        assert result.returncode == expect, (args, result.stderr[-3000:])
        return one_document(result)

    seen = {}
    seen["fake reset"] = cli("fake", "reset")
    assert seen["fake reset"]["reset"] is True
    seen["validate"] = cli("validate", str(SUBNET_FAILOVER))
    seen["plan"] = cli("plan", str(SUBNET_FAILOVER))
    seen["run --dry-run"] = cli("run", str(SUBNET_FAILOVER), "--dry-run")
    seen["run"] = cli("run", str(SUBNET_FAILOVER))
    run_id = seen["run"]["run_id"]
    seen["status RUN"] = cli("status", run_id)
    seen["status"] = cli("status")
    seen["history"] = cli("history")
    seen["report"] = cli("report", run_id)
    assert seen["report"]["run_id"] == run_id and seen["report"]["report_version"] == 1
    seen["report --out"] = cli("report", run_id, "--format", "markdown", "--out", str(tmp_path / "r.md"))
    assert Path(seen["report --out"]["file"]).read_text().startswith("# ")
    seen["fake show"] = cli("fake", "show")
    seen["fake ledger"] = cli("fake", "ledger")
    seen["schema"] = cli("schema")
    seen["fake reset again"] = cli("fake", "reset")
    seen["drill"] = cli("drill", str(DRILL), "--junit", str(tmp_path / "drill.xml"))
    seen["history --drills"] = cli("history", "--drills")
    assert seen["history --drills"]["runs"][0]["verdict"] == "passed"
    seen["schedule list"] = cli("schedule", "list")
    assert seen["schedule list"]["paths_relative_to"] == str(settings.parent)
    seen["paused run"] = cli("run", str(approval), expect=4)
    seen["approve --no-resume"] = cli("approve", seen["paused run"]["run_id"], "go", "--no-resume")
    seen["resume"] = cli("resume", seen["paused run"]["run_id"])
    assert seen["resume"]["status"] == "succeeded"
    seen["approve (not paused)"] = cli("approve", seen["paused run"]["run_id"], "go", expect=2)
    seen["snapshot without --azure"] = cli("snapshot", str(SUBNET_FAILOVER), expect=2)
    seen["invalid runbook"] = cli("validate", str(tmp_path / "missing.yaml"), expect=2)
    # the drill history's slot for this minute is taken by the drill above only if it carried the schedule's
    # name; schedule run starts its own
    seen["schedule run"] = cli("schedule", "run", "--once")
    assert seen["schedule run"]["exit_code"] == 0 and seen["schedule run"]["drills"][0]["verdict"] == "passed"
    assert all(isinstance(document, dict | list) for document in seen.values())
    assert VPN_KEY not in json.dumps(seen)


def test_report_o_takes_a_format_or_a_file_never_a_file_named_json(tmp_path, place):
    """-o json prints the report's JSON as every command's -o json does; any other value names the file to
    write, its format from the suffix (`report RUN -o FILE`); no file named `json` ever appears."""
    _, env = place
    folder = tmp_path / "work"
    folder.mkdir()
    missing = run_cli("report", "r20990101-000000-000000", "-o", str(folder / "page.html"), env=env)
    assert missing.returncode == 2 and "RUN001" in missing.stderr
    no_traceback(missing)
    assert not (folder / "page.html").exists()
    run_id = one_document(run_cli("run", str(REPO / "runbooks/woodgrove-subnet-failover.yaml"), "-o", "json",
                                  env=env))["run_id"]
    written = run_cli("report", run_id, "-o", str(folder / "page.md"), env=env, cwd=folder)
    assert written.returncode == 0, written.stderr
    assert (folder / "page.md").read_text().startswith("# ")
    as_json = run_cli("report", run_id, "-o", "json", env=env, cwd=folder)
    assert one_document(as_json)["run_id"] == run_id
    assert sorted(p.name for p in folder.iterdir()) == ["page.md"]


def azure_settings(tmp_path) -> dict:
    """Settings on real Azure with a credential that cannot sign in here (no `az` on PATH)."""
    settings = tmp_path / "azure.yaml"
    settings.write_text(yaml.safe_dump({"adapter": "azure", "journal": str(tmp_path / "journal.db"),
                                        "azure": {"credential": "azure_cli"}}))
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    return {"FAILOVER_CONFIG": str(settings), "PATH": f"{empty}{os.pathsep}{Path(sys.executable).parent}"}


def test_a_failed_sign_in_is_one_paragraph_with_the_next_step(tmp_path):
    env = azure_settings(tmp_path)
    result = run_cli("plan", str(SUBNET_FAILOVER), env=env)
    assert result.returncode == 1, result.stderr
    no_traceback(result)
    message = result.stderr.strip()
    assert message.startswith("failed: ") and "signing in to Azure failed" in message and "az login" in message
    assert "AzureCliCredential" not in message.split("failed: ", 1)[1].split(". Next:")[1]  # said once
    assert len([line for line in message.splitlines() if line.strip()]) == 1
    as_json = run_cli("plan", str(SUBNET_FAILOVER), "-o", "json", env=env)
    assert as_json.returncode == 1
    error = one_document(as_json)["error"]
    assert error["code"] == "AuthenticationFailed" and "az login" in error["next_step"]
    verbose = run_cli("plan", str(SUBNET_FAILOVER), "-v", env=env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr  # -v shows it


def test_a_run_on_azure_without_yes_and_without_a_terminal_is_refused_before_signing_in(tmp_path):
    env = azure_settings(tmp_path)
    result = run_cli("run", str(SUBNET_FAILOVER), env=env)
    assert result.returncode == 3, result.stderr
    assert "--yes" in result.stderr and "sign" not in result.stderr
    no_traceback(result)
    assert one_document(run_cli("run", str(SUBNET_FAILOVER), "-o", "json", env=env))["status"] == "refused"


def test_azure_errors_name_the_cause_and_the_next_step():
    from adapters.azure.errors import access_denied, sign_in_failed
    from adapters.shared.errors import AccessDenied, SignInFailed

    denied = access_denied(
        "The client 'ops@woodgrove.example' with object id '1' does not have authorization to perform action "
        "'Microsoft.Network/connections/write' over scope '/subscriptions/0/resourceGroups/woodgrove-dr' or the "
        "scope is invalid.", code="AuthorizationFailed", status=403, operation="connections.create")
    assert isinstance(denied, AccessDenied) and denied.action == "Microsoft.Network/connections/write"
    assert "Microsoft.Network/connections/write at /subscriptions/0/resourceGroups/woodgrove-dr" in denied.hint
    chain = ("DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
             "Attempted credentials:\n\tEnvironmentCredential: unavailable.\n\tAzureCliCredential: not found\n")
    failed = sign_in_failed(chain, "vaults.get")
    assert isinstance(failed, SignInFailed) and "\n" not in failed.message
    assert "(tried EnvironmentCredential, AzureCliCredential)" in failed.message and "az login" in failed.hint


# --- schedules -------------------------------------------------------------------------------------


def validate_junit(path: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(path))


def test_a_scheduled_drill_that_cannot_run_fails_the_scheduler_with_its_reason(tmp_path, estate_file):
    """The runbook's path is relative to the settings file; a drill whose runbook is not there makes
    `schedule run --once` exit non-zero, saying which file, and the JUnit file has the drill in error."""
    settings = tmp_path / "ops" / "failover.yaml"
    settings.parent.mkdir()
    settings.write_text(yaml.safe_dump({
        "fake": {"estate": str(estate_file()), "state": str(tmp_path / "state.db")},
        "journal": "journal.db", "reports": "reports",
        "drills": [{"name": "monthly", "runbook": "runbooks/woodgrove-drill.yaml", "cron": "* * * * *"}],
    }))
    env = {"FAILOVER_CONFIG": str(settings)}
    listed = one_document(run_cli("schedule", "list", "-o", "json", env=env))
    drill = listed["drills"][0]
    assert drill["runbook"] == str(settings.parent / "runbooks/woodgrove-drill.yaml")
    assert drill["runbook_exists"] is False
    text = run_cli("schedule", "list", env=env)
    assert "(no such file)" in text.stdout and f"relative to {settings.parent}/" in text.stdout
    junit = tmp_path / "drills.xml"
    result = run_cli("schedule", "run", "--once", "--junit", str(junit), env=env)
    no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "monthly: INVALID" in result.stdout and str(settings.parent / "runbooks/woodgrove-drill.yaml") in result.stdout
    validate_junit(junit)
    root = __import__("xml.etree.ElementTree", fromlist=["parse"]).parse(junit).getroot()
    assert root.get("errors") == "1" and root.find("testsuite").get("name") == "monthly"


def test_drill_junit_has_each_step_and_check_and_validates(tmp_path, estate_file):
    import xml.etree.ElementTree as ET

    broken = tmp_path / "drill.yaml"
    broken.write_text(DRILL.read_text().replace("{item: web01, ip: 192.168.1.20,", "{item: web01, ip: 192.168.1.99,"))
    junit = tmp_path / "drill.xml"
    args = ["--estate", str(estate_file()), "--state", str(tmp_path / "state.db")]
    result = run_cli("drill", str(broken), *args, "--junit", str(junit))
    assert result.returncode == 1
    validate_junit(junit)
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert {"probe-web01-ip", "recovery time within the target", "cleanup left nothing behind"} <= set(cases)
    assert cases["probe-web01-ip"].find("failure") is not None
    assert "not verified" in cases["recovery time within the target"].find("failure").get("message")
    assert cases["cleanup left nothing behind"].find("failure") is None
    assert cases["probe-app01-ip"].find("failure") is None


# --- estates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "line_of", "words"), [
    (("address_prefixes: [192.168.1.0/24, 10.10.0.0/24]", "address_prefixes: [192.168.1.0/24, 192.168.0.0/16]"),
     "address_prefixes: [192.168.1.0/24, 192.168.0.0/16]", "overlaps 192.168.1.0/24"),
    (("subnets: {app: 192.168.1.0/24, data: 192.168.2.0/24}", "subnets: {app: 192.168.1.0/24, data: 10.1.0.0/24}"),
     "subnets: {app: 192.168.1.0/24, data: 10.1.0.0/24}", "lies outside the address space"),
    (("edge-nva: {vnet: woodgrove-vnet, subnet: services, ip: 172.16.2.4}",
      "edge-nva: {vnet: woodgrove-vnet, subnet: services, ip: 172.16.2.4}\n"
      "  edge-nva-2: {vnet: woodgrove-vnet, subnet: services, ip: 172.16.2.4}"),
     "edge-nva-2:", "is also given to virtual machine edge-nva"),
    (("edge-nva: {vnet: woodgrove-vnet, subnet: services, ip: 172.16.2.4}",
      "edge-nva: {vnet: woodgrove-vnet, subnet: services, ip: 172.16.2.255}"),
     "edge-nva:", "reserves"),
])
def test_the_fake_refuses_an_estate_azure_could_not_hold(tmp_path, change, line_of, words):
    text = WOODGROVE.read_text()
    assert change[0] in text
    estate = tmp_path / "estate.yaml"
    estate.write_text(text.replace(change[0], change[1]))
    line = next(i for i, row in enumerate(estate.read_text().splitlines(), 1) if line_of in row)
    result = run_cli("validate", str(SUBNET_FAILOVER), "--estate", str(estate), "--state", str(tmp_path / "s.db"),
                     "-o", "json")
    assert result.returncode == 2
    errors = one_document(result)["errors"]
    assert any(words in e["message"] and e["file"] == str(estate) and e["line"] == line for e in errors), errors


def test_a_missing_estate_file_is_named_as_such(tmp_path):
    result = run_cli("validate", str(SUBNET_FAILOVER), "--estate", str(tmp_path / "nope.yaml"), "-o", "json")
    assert result.returncode == 2
    (error,) = one_document(result)["errors"]
    assert error["code"] == "ES002" and "no estate file" in error["message"] and "docs/estates.md" in error["fix"]


def test_docs_estates_describes_every_field():
    from pydantic import BaseModel

    from adapters.shared.estate import Estate

    doc = (REPO / "docs/estates.md").read_text()
    missing, seen = [], set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            if not re.search(rf"`(\w+\.)?{re.escape(info.alias or name)}`", doc):
                missing.append(f"{model.__name__}.{name}")
            for inner in _models(info.annotation):
                walk(inner)

    walk(Estate)
    assert not missing, f"docs/estates.md does not mention: {missing}"


def _models(annotation) -> list:
    from typing import get_args

    from pydantic import BaseModel

    found = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in get_args(annotation):
        found += _models(arg)
    return found


# --- the README, outside make ----------------------------------------------------------------------


def test_the_readme_commands_run_outside_make(tmp_path):
    """Without WOODGROVE_VPN_KEY in the environment (only the Makefile ever set it), the rehearsal runs,
    twice, on the estate's stand-in key; on Azure the stand-in is never used."""
    env = {k: v for k, v in os.environ.items() if k != "WOODGROVE_VPN_KEY"}
    env.update(FAILOVER_FAKE_STATE=str(tmp_path / "state.db"), FAILOVER_JOURNAL=str(tmp_path / "journal.db"))

    def cli(*args):
        import subprocess

        return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=300)

    assert cli("fake", "reset").returncode == 0
    commands = re.findall(r"^\.venv/bin/failover (.+?)\s+#", (REPO / "README.md").read_text(), flags=re.M)
    assert commands and commands[0].startswith("run runbooks/woodgrove-subnet-failover.yaml")
    first = cli("run", "runbooks/woodgrove-subnet-failover.yaml", "-o", "json")
    assert first.returncode == 0, first.stderr[-2000:]
    for command in commands:
        result = cli(*command.split(), "-o", "json")
        assert result.returncode == 0, (command, result.stderr[-2000:])
        json.loads(result.stdout)
    again = json.loads(cli("run", "runbooks/woodgrove-subnet-failover.yaml", "-o", "json").stdout)
    assert {s["status"] for s in again["steps"]} == {"unchanged"}
    assert "rehearsal-only-shared-key" not in first.stdout + first.stderr
    drill = re.search(r"^\.venv/bin/failover (drill .+)$", (REPO / "README.md").read_text(), flags=re.M).group(1)
    drill = drill.replace("reports/", f"{tmp_path}/reports/")
    assert cli("fake", "reset").returncode == 0
    drilled = cli(*drill.split())
    assert drilled.returncode == 0, drilled.stderr[-2000:]
    assert (tmp_path / "reports/drill.xml").is_file()
    azure = cli("validate", "runbooks/woodgrove-subnet-failover.yaml", "--azure", "-o", "json")
    assert azure.returncode == 2 and "PA005" in {e["code"] for e in json.loads(azure.stdout)["errors"]}


# --- reports ---------------------------------------------------------------------------------------


def test_a_report_adds_up(tmp_path, estate_file):
    """One clock: a step's duration is its end minus its start, the run's duration is when it ended, the
    recovery time is the last probe's end; a failed probe leaves recovery unverified and its step's
    intended changes are not counted as made; Markdown has no HTML entity."""
    broken = tmp_path / "drill.yaml"
    broken.write_text(DRILL.read_text().replace("{item: web01, ip: 192.168.1.20,", "{item: web01, ip: 192.168.1.99,"))
    args = ["--estate", str(estate_file()), "--state", str(tmp_path / "state.db")]
    drill = run_cli("drill", str(broken), *args, "-o", "json")
    assert drill.returncode == 1
    run_id = json_out(drill)["run_id"]
    report = one_document(run_cli("report", run_id, "-o", "json"))
    for step in report["steps"]:
        if step["start_s"] is not None and step["end_s"] is not None:
            assert step["duration_s"] == pytest.approx(step["end_s"] - step["start_s"], abs=0.002), step["id"]
    assert report["duration_s"] == report["timeline"]["run_end_s"]
    rto = report["rto"]
    assert rto["recovered_s"] is None and rto["met"] is False and rto["unverified"] == ["probe-web01-ip"]
    assert report["verdict"].startswith("failed") and "probe-web01-ip" in report["verdict"]
    assert report["summary"]["changes"] == sum(len(s["changes"]) for s in report["steps"])
    made = {s["id"] for s in report["steps"] if s["changes"]}
    assert made and all(s["outcome"] in ("succeeded", "unchanged") for s in report["steps"] if s["id"] in made)
    markdown = run_cli("report", run_id, "--format", "markdown").stdout
    assert "&gt;" not in markdown and "&lt;" not in markdown and "&amp;" not in markdown


def test_a_failed_steps_changes_are_intended_not_made(tmp_path, estate_file):
    from engine.cli.report.collect import collect
    from engine.cli.report.html import render_html
    from engine.run.journal import Journal

    estate = estate_file()
    data = yaml.safe_load(estate.read_text())
    data["vaults"]["woodgrove-asr-vault"]["protected_items"]["app01"]["inject"] = {"failover_error": "disk gone"}
    estate.write_text(yaml.safe_dump(data))
    result = run_cli("run", str(SUBNET_FAILOVER), "--estate", str(estate), "--state", str(tmp_path / "s.db"),
                     "--no-preflight", "-o", "json")
    assert result.returncode == 1, result.stderr[-2000:]
    store = Journal(tmp_path / "journal.db")
    try:
        document = collect(store, json_out(result)["run_id"])
    finally:
        store.close()
    failed = next(s for s in document["steps"] if s["status"] == "failed")
    assert failed["changes"] == [] and failed["intended"]
    assert "not confirmed" in failed["summary"]
    assert "not confirmed" in render_html(document)


# --- progress in logs ------------------------------------------------------------------------------


def test_progress_without_a_terminal_says_each_transition_once_with_run_id_time_and_changes(tmp_path, estate_file):
    """A line per step transition (never `running` twice), each with the run id and the time elapsed, every
    change of a step listed, and a heartbeat for a job that runs longer than 30 run seconds."""
    args = ["--estate", str(estate_file({"latency": {"job_ms": 95_000}})), "--state", str(tmp_path / "s.db")]
    result = run_cli("run", str(SUBNET_FAILOVER), *args)
    assert result.returncode == 0, result.stderr[-2000:]
    document = json_out(run_cli("status", "--journal", str(tmp_path / "journal.db"), "-o", "json"))
    assert document == {"runs": []}
    lines = [line for line in result.stderr.splitlines() if line.startswith("[r")]
    run_id = lines[0][1:].split(" ", 1)[0]
    assert all(line.startswith(f"[{run_id} +") for line in lines)
    running = [line.split()[3] for line in lines if line.split()[2] == "running"]
    assert len(running) == len(set(running)) == 9
    move = next(line for line in lines if " succeeded " in line and "keep-ip-app01" in line)
    assert move.count(" -> ") == 6  # all of the step's changes, not the first three
    beats = [line for line in lines if line.split()[2] == "waiting"]
    assert beats and all(re.search(r"ASR job \S+ \(\w+ of \w+\): \w+, \S+ so far", b) or "ASR jobs:" in b
                         for b in beats), beats


def test_history_page_charts_every_drill_against_its_objective(tmp_path, estate_file):
    from engine.cli.report.history import drill_history, render_history_html
    from engine.run.journal import Journal

    args = ["--estate", str(estate_file()), "--state", str(tmp_path / "s.db")]
    broken = tmp_path / "drill.yaml"
    broken.write_text(DRILL.read_text().replace("{item: web01, ip: 192.168.1.20,", "{item: web01, ip: 192.168.1.99,"))
    assert run_cli("drill", str(DRILL), *args).returncode == 0
    assert run_cli("drill", str(broken), *args).returncode == 1
    store = Journal(tmp_path / "journal.db")
    try:
        history = drill_history(store)
    finally:
        store.close()
    assert history["trend"] == "PF"
    page = render_history_html(history)
    assert "<script" not in page and "http" not in page.split("<svg", 1)[1].split("</svg>")[0].replace(
        "http://www.w3.org", "")
    assert page.count('data-passed="true"') == 1 and page.count('data-passed="false"') == 1
    assert page.count('class="objective"') == 2
    out = tmp_path / "history.html"
    written = run_cli("history", "--drills", "--format", "html", "--out", str(out))
    assert written.returncode == 0 and out.read_text().count("<rect class=\"drill") == 1

