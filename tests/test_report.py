"""Run reports: `failover report RUN_ID` reads a run back from the journal and shows it as one
self-contained HTML page, as JSON, or as Markdown for a ticket, without ever showing a secret."""

from __future__ import annotations

import json
import re
import sqlite3
from html.parser import HTMLParser

import pytest

from tests.conftest import REPO, SUBNET_FAILOVER, VPN_KEY, json_out, run_cli

DRILL = REPO / "runbooks/woodgrove-drill.yaml"
DRILL_STEPS = ["test-ip-app01", "test-ip-app02", "test-ip-web01", "test-fail-over-app-subnet", "drill-dns",
               "probe-subnet-up", "probe-app01-ip", "probe-app02-ip", "probe-web01-ip", "probe-drill-dns"]
UNDONE = {"test-ip-app01", "test-ip-app02", "test-ip-web01", "test-fail-over-app-subnet", "drill-dns"}


def places(tmp_path, estate_file) -> list[str]:
    return ["--estate", str(estate_file()), "--state", str(tmp_path / "state.db")]


def drill(tmp_path, estate_file, runbook=DRILL, expect=0) -> str:
    """Run the drill as an operator does; return its run id."""
    result = run_cli("drill", str(runbook), *places(tmp_path, estate_file), "-o", "json")
    assert result.returncode == expect, result.stderr
    return json_out(result)["run_id"]


def report(*args: str):
    return run_cli("report", *args)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


@pytest.fixture
def passed_drill(tmp_path, estate_file) -> str:
    return drill(tmp_path, estate_file)


def test_json_report_of_a_passed_drill(passed_drill):
    """The JSON report has the run, the verdict, every step in order with its times, changes, jobs and
    compensation, the recovery-time table against the 15-minute target, and a complete cleanup."""
    result = report(passed_drill, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert document["run_id"] == passed_drill and document["runbook"] == "woodgrove-drill"
    assert document["kind"] == "drill" and document["mode"] == "live" and document["adapter"] == "fake"
    assert document["status"] == "succeeded" and document["verdict"] == "passed" and document["passed"] is True
    assert document["who"]["operator"] and document["started_at"] and document["finished_at"]
    assert document["duration_s"] > 0
    steps = {s["id"]: s for s in document["steps"]}
    assert [s["id"] for s in document["steps"]] == DRILL_STEPS
    for step in document["steps"]:
        assert 0 <= step["start_s"] <= step["end_s"] <= document["timeline"]["end_s"], step
        assert step["attempts"] >= 1 and step["retries"] >= 0 and step["errors"] == []
    app01 = steps["test-ip-app01"]
    assert app01["status"] == "compensated" and app01["outcome"] == "succeeded"
    assert {"resource": "protected item app01", "field": "test_ip", "before": None, "after": "192.168.1.10"} \
        in app01["changes"]
    assert app01["summary"] == "3 changes to protected item app01"
    failover = steps["test-fail-over-app-subnet"]
    assert {j["target"] for j in failover["jobs"]} == {"app01", "app02", "web01"}
    assert all(j["operation"] == "TestFailover" for j in failover["jobs"])
    assert {o["operation"] for o in failover["operations"] if o["during"] == "cleanup"} == {"start_test_failover_cleanup"}
    assert steps["probe-web01-ip"]["outputs"]["found"]["ip"] == "192.168.1.20"
    assert steps["probe-web01-ip"]["status"] == "succeeded" and steps["probe-web01-ip"]["compensation"] is None
    rto = document["rto"]
    assert rto["target_s"] == 900 and rto["met"] is True and 0 < rto["recovered_s"] <= 900
    assert [r["milestone"] for r in rto["rows"]] == ["failed over", "network ready", "verified", "recovered"]
    assert {i["item"] for i in rto["items"]} == {"app01", "app02", "web01"}
    cleanup = document["cleanup"]
    assert cleanup["kind"] == "drill cleanup" and cleanup["complete"] is True and cleanup["left_behind"] == []
    assert {u["step"] for u in cleanup["undone"]} == UNDONE
    assert document["timeline"]["cleanup"]["start_s"] <= document["timeline"]["cleanup"]["end_s"]
    assert VPN_KEY not in result.stdout + result.stderr


def test_html_report_is_one_self_contained_page(passed_drill, tmp_path):
    """The HTML report (default format, written with -o) opens with the verdict, draws one SVG bar per
    step coloured by status on a labelled time axis, and loads nothing from anywhere."""
    out = tmp_path / "out" / "report.html"
    result = report(passed_drill, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and str(out) in result.stderr
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|@import|url\(", html, flags=re.I)
    page = parse(html)
    text = " ".join(page.text)
    # the verdict comes before everything else
    first = next(attrs for tag, attrs in page.tags if tag == "section")
    assert first.get("id") == "verdict" and "pass" in first["class"]
    assert text.index("DRILL PASSED") < text.index("Timeline") < text.index("Steps")
    # one bar per step, in order, coloured by its status
    bars = [attrs for tag, attrs in page.tags if tag == "rect" and "bar" in attrs.get("class", "").split()]
    assert [b["data-step"] for b in bars] == DRILL_STEPS
    assert {b["data-step"] for b in bars if b["data-status"] == "compensated"} == UNDONE
    assert len({b["fill"] for b in bars}) == 2 and all(float(b["width"]) > 0 for b in bars)
    assert sum(1 for tag, _ in page.tags if tag == "svg") == 1
    assert "seconds since the run began" in text and "0s" in text and "recovered" in text
    assert "Recovery time" in text and "target met" in text and "15m" in text
    assert "Cleanup" in text and "complete" in text and "A record drill-web01 removed" in text
    assert "test_ip" in text and "192.168.1.10" in text and "TestFailover" in text
    assert VPN_KEY not in html + result.stderr


def test_markdown_report_for_a_ticket(passed_drill):
    """The Markdown report has the verdict, a table row per step, the recovery-time table and the cleanup."""
    result = report(passed_drill, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    markdown = result.stdout
    assert markdown.startswith("# woodgrove-drill: drill passed")
    assert "**Verdict: ✅ PASSED**" in markdown
    rows = [line for line in markdown.splitlines() if re.match(r"\| \d+ \| ", line)]
    assert [row.split(" | ")[1] for row in rows] == DRILL_STEPS
    assert "succeeded → compensated" in rows[0] and "test_ip: ∅ → 192.168.1.10" in rows[0]
    assert "## Recovery time" in markdown and "| **target** | 15m00s | met |" in markdown
    assert "drill cleanup: complete, nothing left behind." in markdown
    assert markdown.count("- undone: ") == len(UNDONE)
    assert VPN_KEY not in markdown + result.stderr


def test_failed_drill_report_says_why(tmp_path, estate_file):
    """A drill whose probe finds the wrong IP: the report says FAILED, which probe and what it found."""
    broken = tmp_path / "drill.yaml"
    broken.write_text(DRILL.read_text().replace("{item: web01, ip: 192.168.1.20,", "{item: web01, ip: 192.168.1.99,"))
    run_id = drill(tmp_path, estate_file, broken, expect=1)
    document = json_out(report(run_id, "-f", "json"))
    assert document["passed"] is False and document["verdict"].startswith("failed: steps failed: probe-web01-ip")
    probe = next(s for s in document["steps"] if s["id"] == "probe-web01-ip")
    assert probe["status"] == "failed" and "expected 192.168.1.99" in probe["errors"][0]
    assert document["summary"]["errors"] == 1 and document["cleanup"]["complete"] is True
    html = report(run_id).stdout
    page = parse(html)
    first = next(attrs for tag, attrs in page.tags if tag == "section")
    assert "fail" in first["class"].split() and "DRILL FAILED" in html
    bar = next(a for t, a in page.tags if t == "rect" and a.get("data-step") == "probe-web01-ip")
    assert bar["data-status"] == "failed" and bar["fill"] == "#e03131"
    assert "expected 192.168.1.99" in html
    assert "❌ FAILED" in report(run_id, "-f", "markdown").stdout


def test_left_behind_is_shown(tmp_path, estate_file, monkeypatch):
    """A change the drill could not undo is listed as left behind, in red, and the cleanup is incomplete."""
    run_id = drill(tmp_path, estate_file)
    with sqlite3.connect(tmp_path / "journal.db") as db:  # as if compensating drill-dns had failed
        db.execute("UPDATE steps SET status='succeeded', reason=? WHERE run_id=? AND step_id='drill-dns'",
                   ("not undone: compensation failed: zone is locked", run_id))
    document = json_out(report(run_id, "-f", "json"))
    assert document["cleanup"]["complete"] is False
    assert document["cleanup"]["left_behind"][0]["step"] == "drill-dns"
    assert "zone is locked" in document["cleanup"]["left_behind"][0]["detail"]
    html = report(run_id).stdout
    assert "Left behind" in html and "INCOMPLETE" in html and "zone is locked" in html
    assert "**left behind** by drill-dns" in report(run_id, "-f", "markdown").stdout


def test_unknown_run_id_exits_2(tmp_path):
    """A run id the journal does not have: exit 2, saying so, nothing on stdout."""
    for fmt in ("html", "json", "markdown"):
        result = report("r20990101-000000-000000", "--format", fmt)
        assert result.returncode == 2
        assert "no run r20990101-000000-000000 in the journal" in result.stderr and result.stdout == ""
    bad = report("r20990101-000000-000000", "--format", "pdf")
    assert bad.returncode == 2 and "pdf" in bad.stderr


def test_report_of_a_run_with_a_secret_parameter_never_shows_it(tmp_path, estate_file):
    """The subnet failover takes the VPN shared key; no format of its report contains it."""
    result = run_cli("run", str(SUBNET_FAILOVER), *places(tmp_path, estate_file), "-o", "json")
    assert result.returncode == 0, result.stderr
    run_id = json_out(result)["run_id"]
    outputs = [report(run_id, "--format", fmt) for fmt in ("html", "json", "markdown")]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    for output in outputs:
        assert VPN_KEY not in output.stdout + output.stderr
    document = json.loads(outputs[1].stdout)
    assert document["kind"] == "run" and document["verdict"] is None and document["parameters"]["vpn_shared_key"] == "***"
    assert document["cleanup"]["performed"] is False
    assert "RUN SUCCEEDED" in outputs[0].stdout


def test_collect_redacts_a_secret_that_reached_the_journal(tmp_path, estate_file):
    """Even a secret written to the journal by accident is redacted from the document and both renderings."""
    from adapters.shared.secret import Secret
    from engine.cli.report.collect import collect
    from engine.cli.report.html import render_html
    from engine.cli.report.markdown import render_markdown
    from engine.run.journal import Journal

    run_id = drill(tmp_path, estate_file)
    Secret(VPN_KEY)  # known to this process, as in the process that ran the drill
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.execute("UPDATE steps SET error=? WHERE run_id=? AND step_id='drill-dns'", (f"key {VPN_KEY} <b>", run_id))
        db.execute("UPDATE runs SET parameters=? WHERE run_id=?", (json.dumps({"key": VPN_KEY}), run_id))
    store = Journal(tmp_path / "journal.db")
    try:
        document = collect(store, run_id)
    finally:
        store.close()
    assert VPN_KEY not in json.dumps(document)
    assert next(s for s in document["steps"] if s["id"] == "drill-dns")["error"] == "key *** <b>"
    html = render_html(document)
    assert VPN_KEY not in html + render_markdown(document)
    assert "key *** &lt;b&gt;" in html and "key *** <b>" not in html


def test_every_text_is_escaped(tmp_path, estate_file):
    """Markup in a step's id, error or change cannot inject anything into the page."""
    from engine.cli.report.collect import collect
    from engine.cli.report.html import render_html
    from engine.cli.report.markdown import render_markdown
    from engine.run.journal import Journal

    run_id = drill(tmp_path, estate_file)
    store = Journal(tmp_path / "journal.db")
    try:
        document = collect(store, run_id)
    finally:
        store.close()
    evil = '<script>alert("x")</script>'
    step = document["steps"][0]
    step["id"] = evil
    step["errors"] = [evil]
    step["changes"][0]["after"] = evil
    document["runbook"] = evil
    html = render_html(document)
    assert "<script" not in html and "&lt;script&gt;" in html
    markdown = render_markdown(document)  # escaped the Markdown way: a backslash, never an HTML entity
    assert re.search(r"(?<!\\)<script", markdown) is None and "\\<script>" in markdown
    assert "&lt;" not in markdown and "&gt;" not in markdown


def test_report_of_a_real_run_carries_each_steps_engine_overhead(tmp_path, estate_file):
    """The engine's own time in each step and the adapter requests it sent are journaled, so a report
    read back from the journal (another process) has a number for every step that ran, in the JSON and
    in the HTML's engine-overhead column."""
    result = run_cli("run", str(SUBNET_FAILOVER), *places(tmp_path, estate_file), "-o", "json")
    assert result.returncode == 0, result.stderr
    run_id = json_out(result)["run_id"]
    document = json_out(report(run_id, "--format", "json"))
    executed = [s for s in document["steps"] if s["attempts"] >= 1]
    assert [s["id"] for s in executed] == [s["id"] for s in document["steps"]]  # every step of the runbook ran
    for step in executed:
        overhead = step["overhead_ms"]
        assert isinstance(overhead, int | float) and not isinstance(overhead, bool) and overhead >= 0, step
        # the part of it the step's thread computed: at most the step's whole time
        assert isinstance(step["cpu_ms"], int | float) and 0 <= step["cpu_ms"] <= step["duration_s"] * 1000 + 1, step
        calls = step["calls"]
        assert set(calls) == {"read", "write"} and all(isinstance(n, int) and n >= 0 for n in calls.values()), step
        assert calls["read"] + calls["write"] >= 1, step
    assert document["summary"]["overhead_ms"] == pytest.approx(sum(s["overhead_ms"] for s in executed), abs=0.01)
    assert document["summary"]["calls"]["write"] >= 1
    page = parse(report(run_id).stdout)
    text = " ".join(page.text)
    assert "engine overhead" in text
    cells = [a for t, a in page.tags if t == "td" and "overhead" in a.get("class", "").split()]
    assert len(cells) == len(document["steps"])
    assert len(re.findall(r"\d+\.\d ms", text)) >= len(executed)


def test_journal_written_before_overhead_was_recorded_is_migrated(tmp_path):
    """A journal whose steps table predates the overhead and calls columns gains them when opened, and its
    steps read back with no overhead (unknown), not an error."""
    from engine.run.journal import Journal

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE steps (
                run_id TEXT NOT NULL, step_id TEXT NOT NULL, position INTEGER NOT NULL, uses TEXT NOT NULL,
                status TEXT NOT NULL, attempts INTEGER NOT NULL, retries INTEGER NOT NULL,
                started_at REAL, finished_at REAL, duration_s REAL, error TEXT, reason TEXT, action TEXT,
                changes TEXT NOT NULL, outputs TEXT NOT NULL, jobs TEXT NOT NULL, undo TEXT NOT NULL DEFAULT '{}',
                PRIMARY KEY (run_id, step_id));
            INSERT INTO steps VALUES ('r1', 's1', 0, 'dns.record', 'succeeded', 1, 0, 1.0, 2.0, 1.0, NULL, NULL,
                                      'none', '[]', '{}', '[]', '{}');
        """)
    store = Journal(path)
    try:
        columns = {row[1] for row in store._db.execute("PRAGMA table_info(steps)")}
        assert {"overhead_ms", "calls", "cpu_ms"} <= columns
        from engine.run.journal import _record

        record = _record(store._db.execute("SELECT * FROM steps WHERE step_id='s1'").fetchone())
        assert record.overhead_ms is None and record.cpu_ms is None and record.calls == {}
    finally:
        store.close()
