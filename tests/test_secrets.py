"""Secrets: redaction that cannot corrupt, short secrets refused, canaries of 8, 16 and 40 characters
(from the environment and from the fake's Key Vault) found nowhere after a run killed with -9 and resumed,
and every file the tool creates private to its owner."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat

import pytest

from adapters.shared.secret import MASK, Secret, redact, redact_data
from engine.run.journal import _dump
from tests import durable
from tests.conftest import SUBNET_FAILOVER, json_out, run_cli
from tests.waiting import until

CANARIES = {8: "Zq7vK2pX", 16: "m3L9xQ2rT8wB4nYe", 40: "Pz8kQ1vR7tX3mN6bW2cJ9hL5dF0gS4aE8yU1iO7q"}


def test_a_secret_is_replaced_as_a_whole_token_never_inside_a_word():
    """With a key that is also the start of names in the estate, those names are left whole."""
    Secret("woodgrov")
    assert redact("woodgrove-gw and woodgrove.example stay") == "woodgrove-gw and woodgrove.example stay"
    assert redact("key woodgrov rejected; key=woodgrov.") == f"key {MASK} rejected; key={MASK}."
    assert redact("xwoodgrov woodgrov_1 woodgrov-2") == "xwoodgrov woodgrov_1 woodgrov-2"
    outputs = {"items": ["woodgrove-app01"], "gateway": "woodgrove-gw"}
    assert json.loads(_dump(outputs)) == outputs  # what a resumed run reads back is what was written


def test_redaction_is_structural_for_secrets_and_secret_fields():
    data = {"shared_key": "anything-at-all", "password": "x", "key": Secret("s3cret-value-1"), "note": None,
            "nested": [{"sharedKey": "other"}], "empty": {"shared_key": None}}
    assert redact_data(data) == {"shared_key": MASK, "password": MASK, "key": MASK, "note": None,
                                 "nested": [{"sharedKey": MASK}], "empty": {"shared_key": None}}


def test_a_short_secret_is_not_remembered_for_scrubbing():
    """A 4-character value would match ordinary words: it is never used to rewrite text."""
    short = Secret("app0")
    assert short.too_short and redact("app0 app01 exists") == "app0 app01 exists"


def test_a_secret_parameter_under_eight_characters_is_refused(tmp_path, estate_file):
    result = run_cli("validate", str(SUBNET_FAILOVER), "--estate", str(estate_file()), "--state",
                     str(tmp_path / "s.db"), "-o", "json", env={"WOODGROVE_VPN_KEY": "s3v3n!x"})
    assert result.returncode == 2
    (error,) = json_out(result)["errors"]
    assert error["code"] == "PA008" and "8 characters" in error["message"] and error["line"]
    assert "s3v3n!x" not in result.stdout + result.stderr


def test_the_fake_keeps_no_bare_hash_of_a_key(tmp_path, estate_file):
    """Two fake states given the same key keep different HMACs (a random key each), and neither the key
    nor its unsalted SHA-256 is in either file."""
    import hashlib

    key = CANARIES[40]
    digests = []
    for number in (1, 2):
        state = tmp_path / f"state-{number}.db"
        result = run_cli("run", str(SUBNET_FAILOVER), "--estate", str(estate_file()), "--state", str(state),
                         "--journal", str(tmp_path / f"j{number}.db"), env={"WOODGROVE_VPN_KEY": key})
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(state) as db:
            (doc,) = db.execute("SELECT doc FROM resources WHERE kind='connection' AND "
                                "json_extract(doc, '$.key_hmac') IS NOT NULL").fetchone()
        digests.append(json.loads(doc)["key_hmac"])
        raw = state.read_bytes()
        assert key.encode() not in raw and hashlib.sha256(key.encode()).hexdigest()[:16].encode() not in raw
    assert digests[0] != digests[1] and all(d.startswith("hmac-sha256:") for d in digests)


def _run(folder, key, *args):
    """``failover ARGS`` with JSON log lines at info level, the canary as the only key it knows."""
    return durable.failover(folder, *args, "--log-format", "json", "--verbose", env={"WOODGROVE_VPN_KEY": key})


def _kill_when_running(process, folder, deadline_s: float = 60.0) -> None:
    """kill -9 once the failover jobs are running (their handles journaled), not at a fixed time."""
    def running() -> bool:
        try:
            with sqlite3.connect(f"file:{folder / 'journal.db'}?mode=ro", uri=True, timeout=5) as db:
                return db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] >= 3
        except sqlite3.OperationalError:  # not created yet, or its tables not yet
            return False

    until(lambda: running() or process.poll() is not None, timeout=deadline_s, every=0.05,
          what="the failover jobs' handles in the journal")
    assert process.poll() is None, "the run finished before the kill; make the jobs longer"
    os.kill(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("length,source", [(8, "keyvault"), (16, "env"), (40, "keyvault")])
def test_canary_secrets_appear_nowhere_and_a_killed_run_resumes_with_its_outputs(length, source, tmp_path):
    key = CANARIES[length]
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    durable.slow_estate(folder)
    runbook = folder / "runbook.yaml"
    text = SUBNET_FAILOVER.read_text()
    if source == "keyvault":
        text = text.replace("from: env:WOODGROVE_VPN_KEY", "from: keyvault:woodgrove-kv/vpn-shared-key")
    runbook.write_text(text)
    said = []

    process = _run(folder, key, "run", str(runbook))
    _kill_when_running(process, folder)
    said += process.communicate(timeout=60)
    left = {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.glob("*.db*")}
    assert {"journal.db", "journal.db-wal", "state.db"} <= set(left)
    assert all(mode == 0o600 for mode in left.values()), left  # the WAL files too, as the kill left them

    run_id = durable.last_run_id(folder)
    resumed = _run(folder, key, "resume", run_id)
    said += resumed.communicate(timeout=120)
    assert resumed.returncode == 0, said[-1][-2000:]
    for what in (["status", run_id, "-o", "json"], ["history", "-o", "json"],
                 ["report", run_id, "--format", "json", "-o", str(folder / "reports/r.json")],
                 ["report", run_id, "--format", "html", "-o", str(folder / "reports/r.html")],
                 ["report", run_id, "--format", "markdown", "-o", str(folder / "reports/r.md")]):
        done = run_cli(*what, "--journal", str(folder / "journal.db"), env={"WOODGROVE_VPN_KEY": key})
        assert done.returncode == 0, done.stderr
        said += [done.stdout, done.stderr]
    said += [json.dumps(durable.fake(folder, "show")), json.dumps(durable.fake(folder, "ledger"))]

    assert any('"event"' in line for line in said[1].splitlines())  # JSON log lines were written
    assert not [i for i, text in enumerate(said) if key in text]
    written = [p for p in folder.rglob("*") if p.is_file()]
    assert not [p.name for p in written if key.encode() in p.read_bytes()]
    with sqlite3.connect(folder / "journal.db") as db:
        outputs = {step: json.loads(value) for step, value in
                   db.execute("SELECT step_id, outputs FROM steps WHERE run_id=?", (run_id,))}
    assert outputs["fail-over-app-subnet"]["items"] == ["app01", "app02", "web01"]
    assert MASK not in json.dumps(outputs)
    document = json_out(run_cli("status", run_id, "-o", "json", "--journal", str(folder / "journal.db")))
    assert document["status"] == "succeeded"
    assert {s["status"] for s in document["steps"]} <= {"succeeded", "unchanged"}


def test_every_file_and_folder_the_tool_creates_is_private(tmp_path, estate_file):
    """drill with reports, fake reset, run and report -o, under umask 022: files 0600, folders 0700."""
    home = tmp_path / "home"
    estate = estate_file()
    state = ["--estate", str(estate), "--state", str(home / "state/fake.db")]
    journal = ["--journal", str(home / "journal/journal.db")]
    old = os.umask(0o022)
    try:
        commands = [["drill", str(durable.REPO / "runbooks/woodgrove-drill.yaml"), *state, *journal,
                     "--report-dir", str(home / "reports/drills"), "-o", "json"],
                    ["fake", "reset", *state],
                    ["run", str(SUBNET_FAILOVER), *state, *journal, "-o", "json"]]
        for command in commands:
            done = run_cli(*command)
            assert done.returncode == 0, done.stderr
        run_id = json.loads(run_cli("history", "-o", "json", *journal).stdout)["runs"][0]["run_id"]
        done = run_cli("report", run_id, "--format", "html", "-o", str(home / "out/report.html"), *journal)
        assert done.returncode == 0, done.stderr
    finally:
        os.umask(old)
    files = [p for p in home.rglob("*") if p.is_file()]
    folders = [home, *(p for p in home.rglob("*") if p.is_dir())]
    assert len(files) >= 5 and {p.suffix for p in files} >= {".db", ".html", ".json"}
    assert {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
            if stat.S_IMODE(p.stat().st_mode) != 0o600} == {}
    assert {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in folders
            if stat.S_IMODE(p.stat().st_mode) != 0o700} == {}
