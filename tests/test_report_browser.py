"""The HTML report in a real browser: headless Chromium renders it (screenshot) and its DOM still has the
SVG timeline with a bar per step; at 1280 px no table overflows, long resource ids and all; the drill history
chart has a column per drill, pass and fail marked. Skipped where no Chromium is installed (`apt-get install chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO, VPN_KEY, json_out, run_cli

DRILL = REPO / "runbooks/woodgrove-drill.yaml"
STEPS = ["test-ip-app01", "test-ip-app02", "test-ip-web01", "test-fail-over-app-subnet", "drill-dns",
         "probe-subnet-up", "probe-app01-ip", "probe-app02-ip", "probe-web01-ip", "probe-drill-dns"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse(binary: str, profile, *args: str) -> subprocess.CompletedProcess:
    # A fresh profile and no background networking: this machine's network is closed, and the page
    # needs none (it must load nothing).
    command = [binary, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-sync",
               "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
               *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture
def report_html(tmp_path, estate_file):
    """The HTML report of a Woodgrove drill, as a file."""
    args = ["--estate", str(estate_file()), "--state", str(tmp_path / "state.db")]
    result = run_cli("drill", str(DRILL), *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    run_id = json_out(result)["run_id"]
    path = tmp_path / f"{run_id}.html"
    written = run_cli("report", run_id, "--format", "html", "--out", str(path))
    assert written.returncode == 0, written.stderr
    return path


def test_chromium_renders_the_report(report_html, tmp_path):
    """Chromium takes a full-size screenshot of the report, and the DOM it builds holds the SVG timeline
    with one bar per step and the verdict."""
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (install it with `apt-get install -y chromium`)")
    screenshot = tmp_path / "report.png"
    shot = browse(binary, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1280,2000",
                  f"file://{report_html}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.exists(), shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000, "the screenshot is (nearly) blank"
    print(f"\nreport screenshot: {screenshot}\nreport page: {report_html}")

    dumped = browse(binary, tmp_path / "profile-dom", "--dump-dom", f"file://{report_html}")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    svg = re.search(r"<svg\b[^>]*class=\"timeline\".*?</svg>", dom, flags=re.S)
    assert svg, "no SVG timeline in the rendered DOM"
    bars = re.findall(r"<rect\b[^>]*class=\"bar [^\"]*\"[^>]*data-step=\"([^\"]+)\"", svg.group(0))
    assert bars == STEPS
    assert "DRILL PASSED" in dom
    assert VPN_KEY not in dom


# The page has no script of its own; the tests add one to a copy, to measure the layout Chromium made.
MEASURE = """<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const tables = [...document.querySelectorAll("table")].map(t => ({
    cls: t.className, right: Math.round(t.getBoundingClientRect().right), scroll: t.scrollWidth,
    client: t.clientWidth}));
  const wide = [...document.querySelectorAll("td, th, dd")].filter(c => c.scrollWidth > c.clientWidth + 1)
    .map(c => c.textContent.slice(0, 60));
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({width, page: document.documentElement.scrollWidth, tables, wide});
  document.body.appendChild(out);
});
</script>"""


def measured(binary: str, profile, page) -> dict:
    import json

    probe = page.with_name(page.stem + "-measured.html")
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dumped = browse(binary, profile, "--window-size=1280,1600", "--dump-dom", f"file://{probe}")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', dumped.stdout, flags=re.S)
    assert found, "the layout was not measured"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))


def test_no_table_overflows_at_1280px_even_with_long_resource_ids(tmp_path, estate_file):
    """A report whose changes, jobs and errors carry full Azure resource ids (long, unbroken) keeps every
    table within the page at 1280 px: cells wrap, nothing scrolls sideways."""
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (install it with `apt-get install -y chromium`)")
    from engine.cli.report.collect import collect
    from engine.cli.report.html import render_html
    from engine.run.journal import Journal

    args = ["--estate", str(estate_file()), "--state", str(tmp_path / "state.db")]
    run_id = json_out(run_cli("drill", str(DRILL), *args, "-o", "json"))["run_id"]
    store = Journal(tmp_path / "journal.db")
    try:
        document = collect(store, run_id)
    finally:
        store.close()
    long_id = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/woodgrove-dr/providers/"
               "Microsoft.RecoveryServices/vaults/woodgrove-asr-vault/replicationFabrics/woodgrove-hyperv-site/"
               "replicationProtectionContainers/woodgrove-hyperv-site-container/replicationProtectedItems/"
               "app01-0123456789abcdef0123456789abcdef")
    for step in document["steps"]:
        for change in step["changes"]:
            change["resource"] = long_id
        step["errors"] = [f"Conflict: {long_id}{long_id}"]
        for job in step["jobs"]:
            job["job_id"] = long_id
    document["steps"][0]["id"] = "keep-" + "x" * 120
    page = tmp_path / "long.html"
    page.write_text(render_html(document))
    layout = measured(binary, tmp_path / "profile-long", page)
    assert layout["width"] <= 1280 and layout["page"] <= layout["width"], layout
    assert layout["tables"] and all(t["right"] <= layout["width"] and t["scroll"] <= t["client"] + 1
                                    for t in layout["tables"]), layout["tables"]
    assert layout["wide"] == [], layout["wide"]


def test_chromium_draws_the_drill_history_chart(tmp_path, estate_file):
    """The drill history page, in Chromium: the chart's SVG has a column per recovered drill, green for a
    pass, a red cross for a drill whose probe failed, the objective of each, and no table overflows."""
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (install it with `apt-get install -y chromium`)")
    args = ["--estate", str(estate_file()), "--state", str(tmp_path / "state.db")]
    broken = tmp_path / "drill.yaml"
    broken.write_text(DRILL.read_text().replace("{item: web01, ip: 192.168.1.20,", "{item: web01, ip: 192.168.1.99,"))
    assert run_cli("drill", str(DRILL), *args).returncode == 0
    assert run_cli("drill", str(broken), *args).returncode == 1
    assert run_cli("drill", str(DRILL), *args).returncode == 0
    page = tmp_path / "history.html"
    written = run_cli("history", "--drills", "--format", "html", "--out", str(page))
    assert written.returncode == 0, written.stderr

    screenshot = tmp_path / "history.png"
    shot = browse(binary, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1280,1000",
                  f"file://{page}")
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    dumped = browse(binary, tmp_path / "profile-dom", "--dump-dom", f"file://{page}")
    svg = re.search(r"<svg\b[^>]*class=\"history-chart\".*?</svg>", dumped.stdout, flags=re.S)
    assert svg, "no drill history chart in the rendered DOM"
    chart = svg.group(0)
    assert re.findall(r'class="drill (passed|failed)[^"]*"', chart) == ["passed", "failed", "passed"]
    assert len(re.findall(r'<rect class="drill passed"', chart)) == 2
    assert 'class="drill failed not-recovered"' in chart and chart.count('class="objective"') == 3
    assert "2 passed, 1 failed" in dumped.stdout and "PFP" in dumped.stdout
    layout = measured(binary, tmp_path / "profile-measure", page)
    assert layout["page"] <= layout["width"] and all(t["right"] <= layout["width"] for t in layout["tables"]), layout


def test_the_report_prints_on_a4(report_html, tmp_path):
    """Printed (to PDF) by Chromium, the report's pages are A4 (595 x 842 points), as its @page asks."""
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (install it with `apt-get install -y chromium`)")
    pdf = tmp_path / "report.pdf"
    printed = browse(binary, tmp_path / "profile-pdf", f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
                     f"file://{report_html}")
    assert printed.returncode == 0 and pdf.exists(), printed.stderr[-2000:]
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf.read_bytes())
    assert boxes, "no page in the PDF"
    assert all(abs(float(w) - 595) < 2 and abs(float(h) - 842) < 2 for w, h in boxes), boxes
