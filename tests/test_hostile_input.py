"""Hostile input: every YAML file goes through one loader that takes plain data only, and every refusal is
an exit 2 naming file:line:column, without a traceback and with nothing executed."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from adapters.shared import yamlsource
from adapters.shared.yamlsource import SourceError, parse
from engine.model.loader import load_runbook, load_runbook_text
from engine.model.params import convert
from engine.model.problems import InvalidInput
from engine.model.runbook import Parameter
from tests.conftest import SUBNET_FAILOVER, WOODGROVE, json_out, run_cli

GOOD = SUBNET_FAILOVER.read_text()


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["lol0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"lol{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * width) + "]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text,line,column,says", [
    ("a: &a [1, *a]\n", 1, 11, "recursive alias"),
    ("a: &m {self: *m}\n", 1, 14, "recursive alias"),
    ("a: !!python/object/apply:os.system ['echo x']\n", 1, 4, "!!python/object/apply:os.system is not allowed"),
    ("a: 1\nb: !!binary aGk=\n", 2, 4, "!!binary is not allowed"),
    ("a: !!timestamp 2024-13-45\n", 1, 4, "!!timestamp is not allowed"),
    ("a: !custom x\n", 1, 4, "!custom is not allowed"),
    ("base: &b {x: 1}\nc: {<<: *b, y: 2}\n", 2, 5, "merge keys (<<) are not allowed"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", 1, 4 + yamlsource.MAX_DEPTH - 1, "nested more than"),
    ("a:\n  b: " + "9" * 5000 + "\n", 2, 6, "number"),
    ("a: 1.0e+999\n", 1, 4, "not a finite number"),
    ("a: .nan\n", 1, 4, "not a finite number"),
    ("a: b\x07c\n", 1, 5, "U+0007"),
    ("? [1, 2]\n: x\n", 1, 3, "a key must be plain text"),
    ("a: " + "x" * (yamlsource.MAX_SCALAR + 1) + "\n", 1, 4, "longer than"),
    ("a: [1, 2\n", 2, 1, "not valid YAML"),
    ("a: *nowhere\n", 1, 4, "found undefined alias 'nowhere'"),
    ("a: &x 1\nb: &x 2\n", 2, 4, "found duplicate anchor 'x'"),
    ("a: 1\n---\nb: 2\n", 2, 1, "expected a single document"),
    ("k: &k <<\n*k : 2\n", 2, 1, "merge keys (<<) are not allowed"),  # named where the alias is written
    ("k: &k [1]\n*k : 2\n", 2, 1, "a key must be plain text"),
], ids=["recursive-list", "recursive-map", "python-tag", "binary", "timestamp-tag", "custom-tag", "merge-key",
        "deep", "huge-int", "inf", "nan", "control-char", "collection-key", "huge-scalar", "syntax",
        "undefined-alias", "duplicate-anchor", "two-documents", "merge-key-by-alias", "collection-key-by-alias"])
def test_the_loader_refuses_what_is_not_plain_data_with_line_and_column(text, line, column, says):
    with pytest.raises(SourceError) as refused:
        parse(text, "f.yaml")
    assert (refused.value.line, refused.value.column) == (line, column)
    assert says in refused.value.message


def test_plain_data_reads_as_json_would_hold_it():
    """Dates stay text, keys are the words written, and `!!str` (harmless) is kept."""
    source = parse("when: 2024-13-45\non: 1\nyes: no\nn: !!str 12\nx: 1.5\n", "f.yaml")
    assert source.data == {"when": "2024-13-45", "on": 1, "yes": False, "n": "12", "x": 1.5}
    assert (source.line_of(("n",)), source.column_of(("n",))) == (4, 1)


def test_an_alias_bomb_is_refused_quickly_in_little_memory():
    """A billion laughs (9 levels of 9 aliases) is refused after a bounded expansion."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SourceError, match="aliases expand to more than"):
            parse(alias_bomb(), "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 20 * 1024 * 1024


def test_aliases_within_the_bounds_still_work():
    source = parse("ip: &ip 10.0.0.4\na: {x: *ip}\nb: {x: *ip}\n", "f.yaml")
    assert source.data == {"ip": "10.0.0.4", "a": {"x": "10.0.0.4"}, "b": {"x": "10.0.0.4"}}
    nested = parse("base: &b {net: [10.0.0.0/24, {ip: 1}]}\nuse:\n  - *b\n  - *b\n", "f.yaml")
    assert nested.data["use"] == [nested.data["base"]] * 2 and nested.data["use"][0] is not nested.data["use"][1]
    assert nested.line_of(("use", 1, "net", 1, "ip")) == 1  # where the value is written, through the alias
    assert nested.line_of(("use", 1)) == 4


def test_invalid_utf8_names_the_line_and_column(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.encode() + "name2: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidInput) as refused:
        load_runbook(path)
    (problem,) = refused.value.problems
    assert problem.code == "RB001" and problem.line == GOOD.count("\n") + 1 and problem.column == 11
    assert "not UTF-8" in problem.message


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text(GOOD)
    with pytest.raises(SourceError, match="larger than"):
        yamlsource.load(path)


@pytest.mark.parametrize("name", ['""', '"   "', '" padded"', '"bell\\x07"'])
def test_a_runbook_name_an_operator_cannot_type_is_refused(name):
    with pytest.raises(InvalidInput) as refused:
        load_runbook_text(GOOD.replace("name: woodgrove-subnet-failover", f"name: {name}"), "r.yaml")
    assert [(p.code, p.line, p.column) for p in refused.value.problems] == [("RB003", 9, 1)]
    assert "name" in refused.value.problems[0].message


def test_a_parameter_name_that_cannot_be_typed_is_refused():
    with pytest.raises(InvalidInput, match="parameter name 'failover type'"):
        load_runbook_text(GOOD.replace("  failover_type:\n", "  failover type:\n"), "r.yaml")


def test_a_step_that_needs_a_vault_and_has_none_is_refused():
    with pytest.raises(InvalidInput) as refused:
        load_runbook_text(GOOD.replace("  vault: woodgrove-asr-vault\n", ""), "r.yaml")
    problems = refused.value.problems
    assert problems and {p.code for p in problems} == {"RB016"}
    assert {p.step for p in problems} >= {"keep-ip-app01", "fail-over-app-subnet"}
    assert all(p.line and p.column for p in problems)


def test_a_list_parameter_is_read_by_the_same_loader():
    with pytest.raises(ValueError, match="not allowed"):
        convert("[!!python/name:os.system x]", Parameter(type="list"))
    assert convert("[a, 1]", Parameter(type="list")) == ["a", 1]


@pytest.mark.parametrize("what", ["runbook", "estate", "settings"])
def test_every_yaml_input_refused_on_the_command_line_with_file_line_column(what, tmp_path):
    """A tag in a runbook, an estate or the settings: exit 2, file:line:column, no traceback."""
    hostile = "x: !!python/object/apply:os.system ['touch pwned']\n"
    bad = tmp_path / f"{what}.yaml"
    runbook, estate, config = SUBNET_FAILOVER, WOODGROVE, None
    if what == "runbook":
        bad.write_text(GOOD + hostile)
        runbook, line = bad, GOOD.count("\n") + 1
    elif what == "estate":
        bad.write_text(WOODGROVE.read_text() + hostile)
        estate, line = bad, WOODGROVE.read_text().count("\n") + 1
    else:
        bad.write_text("adapter: fake\n" + hostile)
        config, line = bad, 2
    args = ["validate", str(runbook), "--estate", str(estate), "--state", str(tmp_path / "state.db")]
    args += ["--config", str(config)] if config else []
    text = run_cli(*args)
    assert text.returncode == 2, text.stderr
    assert f"{bad}:{line}:4" in text.stderr and "is not allowed" in text.stderr
    assert "Traceback" not in text.stderr and not (tmp_path / "pwned").exists()
    document = json_out(run_cli(*args, "-o", "json"))
    (error,) = document["errors"]
    assert (error["file"], error["line"], error["column"]) == (str(bad), line, 4)


def test_a_value_written_as_a_resource_id_must_be_a_whole_one():
    broken = "/subscriptions/x/resourceGroups/y"
    with pytest.raises(InvalidInput) as refused:
        load_runbook_text(GOOD.replace("network: recovery-vnet, subnet: app, ip: 192.168.1.10",
                                       f"network: {broken}, subnet: app, ip: 192.168.1.10"), "r.yaml")
    assert [(p.code, p.step) for p in refused.value.problems] == [("RB008", "keep-ip-app01")]
    with pytest.raises(InvalidInput, match="target.vault: .* is not an Azure resource ID"):
        load_runbook_text(GOOD.replace("vault: woodgrove-asr-vault", f"vault: {broken}"), "r.yaml")
