"""The command line as operators use it: exit codes, JSON documents, no tracebacks, no secrets."""

from __future__ import annotations

import json

from tests.conftest import CHANGE_IP, SUBNET_FAILOVER, VPN_KEY, json_out, run_cli


def fake_args(estate_file, tmp_path, simulation=None) -> list[str]:
    return ["--estate", str(estate_file(simulation)), "--state", str(tmp_path / "cli-state.db")]


def test_validate_ok_and_json(tmp_path, estate_file):
    """A good runbook validates with exit 0 and the JSON shape of the contract."""
    result = run_cli("validate", str(SUBNET_FAILOVER), *fake_args(estate_file, tmp_path), "--output", "json")
    assert result.returncode == 0, result.stderr
    assert json_out(result) == {"valid": True, "errors": [], "warnings": []}


def test_validate_bad_runbook_exits_2_with_every_error(tmp_path, estate_file):
    """A broken runbook exits 2 with each error's code, file, line and step, and no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUBNET_FAILOVER.read_text().replace("asr.commit", "asr.comit").replace(
        "ip: 192.168.1.11,", "ip: 192.168.1.300,"))
    result = run_cli("validate", str(bad), *fake_args(estate_file, tmp_path), "--output", "json")
    assert result.returncode == 2
    document = json_out(result)
    assert document["valid"] is False
    by_code = {e["code"]: e for e in document["errors"]}
    assert set(by_code) == {"RB007", "RB008"}
    assert by_code["RB007"]["step"] == "commit-app-subnet" and by_code["RB007"]["line"]
    assert by_code["RB008"]["step"] == "keep-ip-app02" and by_code["RB008"]["file"] == str(bad)
    assert "Traceback" not in result.stderr


def test_validate_text_names_file_line_and_fix(tmp_path, estate_file):
    """In text mode each error is one readable line with where, what and how to fix."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUBNET_FAILOVER.read_text().replace("needs: [move-prefix-off-onprem]\n    with: {name: recovery",
                                                       "needs: [move-prefix-of-onprem]\n    with: {name: recovery"))
    result = run_cli("validate", str(bad), *fake_args(estate_file, tmp_path))
    assert result.returncode == 2
    assert f"{bad}:" in result.stderr and "RB005" in result.stderr and "did you mean move-prefix-off-onprem" in result.stderr
    assert "nothing was executed" in result.stderr


def test_missing_secret_and_bad_param_exit_2(tmp_path, estate_file):
    """An unset secret and a value outside the enum are input errors, named with their fix."""
    result = run_cli("validate", str(SUBNET_FAILOVER), *fake_args(estate_file, tmp_path), "--param",
                     "failover_type=sideways", "-o", "json", env={"WOODGROVE_VPN_KEY": ""})
    assert result.returncode == 2
    assert {e["code"] for e in json_out(result)["errors"]} == {"PA003", "PA005"}


def test_usage_error_exits_2(tmp_path):
    """An unknown option is a usage error (exit 2)."""
    result = run_cli("run", str(SUBNET_FAILOVER), "--no-such-option")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_run_json_then_unchanged_and_ledger(tmp_path, estate_file):
    """run prints the contract's JSON; a second run is all unchanged and the ledger does not grow."""
    args = fake_args(estate_file, tmp_path)
    first = run_cli("run", str(SUBNET_FAILOVER), *args, "-o", "json")
    assert first.returncode == 0, first.stderr
    document = json_out(first)
    assert document["status"] == "succeeded" and document["runbook"] == "woodgrove-subnet-failover"
    for key in ("run_id", "started_at", "finished_at", "steps"):
        assert document[key]
    assert {"id", "uses", "status", "attempts", "started_at", "finished_at", "error"} <= set(document["steps"][0])
    ledger = json_out(run_cli("fake", "ledger", *args))
    second = run_cli("run", str(SUBNET_FAILOVER), *args, "-o", "json")
    assert {s["status"] for s in json_out(second)["steps"]} == {"unchanged"}
    assert json_out(run_cli("fake", "ledger", *args)) == ledger
    for output in (first.stdout, first.stderr, second.stderr, json.dumps(ledger)):
        assert VPN_KEY not in output


def test_dry_run_changes_nothing(tmp_path, estate_file):
    """--dry-run simulates the whole runbook on a copy: the fake's state and ledger stay as they were."""
    args = fake_args(estate_file, tmp_path)
    before = run_cli("fake", "show", *args).stdout
    result = run_cli("run", str(SUBNET_FAILOVER), *args, "--dry-run", "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert document["dry_run"] is True and document["status"] == "succeeded"
    assert run_cli("fake", "show", *args).stdout == before
    assert json_out(run_cli("fake", "ledger", *args)) == []


def test_failed_run_exits_1_and_preflight_refuses_first(tmp_path, estate_file):
    """Once the app tier has failed over elsewhere, the subnet failover's preflight refuses it (exit 2,
    nothing run); forced past the preflight, the run fails (exit 1) naming the step and Azure's message."""
    args = fake_args(estate_file, tmp_path)
    assert run_cli("run", str(CHANGE_IP), *args).returncode == 0  # the app tier now lives in 172.16.2.0/24
    ledger = json_out(run_cli("fake", "ledger", *args))
    refused = run_cli("run", str(SUBNET_FAILOVER), *args, "-o", "json")
    assert refused.returncode == 2 and json_out(refused)["errors"]
    assert json_out(run_cli("fake", "ledger", *args)) == ledger
    result = run_cli("run", str(SUBNET_FAILOVER), *args, "--no-preflight", "-o", "json")
    assert result.returncode == 1
    failed = [s for s in json_out(result)["steps"] if s["status"] == "failed"]
    assert failed and failed[0]["error"]


def test_plan_shows_changes_in_order_and_writes_nothing(tmp_path, estate_file):
    """plan lists each step's diff in order, ends with the verdict, and leaves the ledger empty."""
    args = fake_args(estate_file, tmp_path)
    result = run_cli("plan", str(SUBNET_FAILOVER), *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert [s["id"] for s in document["steps"]][:3] == ["keep-ip-app01", "keep-ip-app02", "keep-ip-web01"]
    prefix_step = next(s for s in document["steps"] if s["id"] == "move-prefix-off-onprem")
    assert prefix_step["action"] == "update"
    (change,) = prefix_step["changes"]
    assert change["before"] == ["192.168.0.0/16"] and "192.168.2.0/23" in change["after"]
    assert {s["action"] for s in document["steps"]} >= {"update", "trigger", "create"}
    assert json_out(run_cli("fake", "ledger", *args)) == []
    text = run_cli("plan", str(SUBNET_FAILOVER), *args)
    assert "would succeed" in text.stdout and "192.168.0.0/16" in text.stdout


def test_schema_is_json_schema_with_every_kind():
    """failover schema prints a JSON Schema that knows every step kind."""
    result = run_cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "asr.failover" in schema["$defs"]["Step"]["properties"]["uses"]["enum"]


def test_fake_reset_starts_over(tmp_path, estate_file):
    """fake reset brings the live state back to the estate file and empties the ledger."""
    args = fake_args(estate_file, tmp_path)
    pristine = run_cli("fake", "show", *args).stdout
    run_cli("run", str(SUBNET_FAILOVER), *args)
    assert run_cli("fake", "show", *args).stdout != pristine
    assert run_cli("fake", "reset", *args).returncode == 0
    assert run_cli("fake", "show", *args).stdout == pristine
    assert json_out(run_cli("fake", "ledger", *args)) == []


def test_text_to_a_pipe_is_what_rich_writes_there():
    """Not to a terminal, a command's text skips rich's layout and must still be the same characters."""
    import io

    from rich.console import Console

    from engine.cli.session import print_text

    text = ("[bold]plan[/] of \\[web-01]\n  ~ ip: 10.0.0.4 -> 192.168.1.4 :warning:\n"
            "\tindented\x07 [red]would fail:[/] \x1b[31mquoted escape\x1b[0m\r\n" + "x" * 300)
    as_rich, as_plain = io.StringIO(), io.StringIO()
    Console(file=as_rich, highlight=False, soft_wrap=True).print(text)
    pipe = Console(file=as_plain, highlight=False, soft_wrap=True)
    assert not pipe.is_terminal and pipe.color_system is None
    print_text(pipe, text)
    assert as_plain.getvalue() == as_rich.getvalue()
    assert "[bold]" not in as_plain.getvalue() and "[web-01]" in as_plain.getvalue()


def _plan_document(**change) -> dict:
    step = {"id": "set-ip-web01", "uses": "asr.set_target_ip", "action": "update", "status": "succeeded",
            "changes": [{"resource": "protected item web01", "field": "recovery_ip", "before": None, **change}],
            "error": None, "reason": None}
    return {"runbook": "demo", "adapter": "fake", "would_succeed": True, "steps": [step], "gates": [],
            "errors": [], "warnings": []}


def test_plan_text_shows_the_estates_values_as_they_are():
    """A value that looks like rich markup (or an emoji code) is shown as it is, on a terminal and to a pipe."""
    import io

    from rich.console import Console

    from engine.cli.session import print_text
    from engine.cli.views.text import plan_text

    value = "[bold]10.0.0.4[/] \\[x] :warning:"
    document = _plan_document(after=value)
    as_rich, as_plain = io.StringIO(), io.StringIO()
    print_text(Console(file=as_rich, highlight=False, soft_wrap=True, force_terminal=True, color_system=None),
               plan_text(document))
    print_text(Console(file=as_plain, highlight=False, soft_wrap=True), plan_text(document))
    assert f"recovery_ip: - -> {value}\n" in as_plain.getvalue()
    assert as_rich.getvalue() == as_plain.getvalue()
    assert as_plain.getvalue().endswith("1 of 1 steps would change something; the runbook would succeed.\n")


def test_plan_text_masks_a_secret_in_it():
    """Styled text holding a secret is printed with the secret masked, on a terminal and to a pipe."""
    import io

    from rich.console import Console

    from adapters.shared.secret import MASK, Secret
    from engine.cli.session import print_text
    from engine.cli.views.text import plan_text

    canary = Secret("canary-plan-text-7f3a9c").reveal()
    for terminal in (False, True):
        out = io.StringIO()
        console = Console(file=out, highlight=False, soft_wrap=True, force_terminal=terminal or None)
        print_text(console, plan_text(_plan_document(after=f"key {canary}")))
        assert canary not in out.getvalue() and f"key {MASK}" in out.getvalue()
