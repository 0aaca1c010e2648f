"""The HTML report in a real browser: headless Chromium renders it (screenshot) and its DOM still has the
SVG timeline with a bar per step. Skipped where no Chromium is installed (`apt-get install chromium`)."""

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
