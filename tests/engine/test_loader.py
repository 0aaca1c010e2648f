"""The loader: every problem in a runbook at once, each with file, line, step and a fix."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from engine.model.loader import load_runbook, load_runbook_text
from engine.model.problems import InvalidInput

HEADER = """\
version: 1
name: t
target: {subscription: s, resource_group: rg, vault: v}
"""


def problems_of(text: str):
    with pytest.raises(InvalidInput) as caught:
        load_runbook_text(HEADER + textwrap.dedent(text), "t.yaml")
    return caught.value.problems


def codes(problems) -> set[str]:
    return {p.code for p in problems}


def test_woodgrove_runbooks_load_clean(repo_root):
    """The bundled runbooks load without a single problem or warning."""
    for path in sorted((repo_root / "runbooks").glob("*.yaml")):
        loaded = load_runbook(path)
        assert loaded.problems == [], (path, loaded.problems)


def test_all_errors_are_collected_with_line_and_step():
    """A runbook with many mistakes reports each one, naming its line and step, not just the first."""
    problems = problems_of("""\
        parameters:
          key: {type: secret, from: env:K}
        steps:
          - id: a
            uses: asr.set_target_ip
            with: {item: app01, network: n, subnet: s, ip: 999.1.1.1, bogus: 1}
          - id: b
            uses: asr.failovr
            with: {items: [x], type: planned}
          - id: c
            uses: network.connection
            needs: [a]
            with: {name: x, gateway: g, peer: p, shared_key: "k-${{ params.key }}"}
          - id: d
            uses: dns.record
            with: {zone: z, name: n, ip: "${{ steps.a.outputs.ipx }}", ttl: "${{ params.nope }}"}
    """)
    by_code = {p.code: p for p in problems}
    assert {"RB007", "RB008", "RB014", "RB009", "RB011"} <= set(by_code)
    assert by_code["RB007"].step == "b" and by_code["RB007"].line == 11
    assert "asr.failover" in by_code["RB007"].fix  # a suggestion, not just a refusal
    bad_ip = [p for p in problems if p.code == "RB008" and p.step == "a"]
    assert {p.line for p in bad_ip} == {9}
    assert any("999.1.1.1" in p.message for p in bad_ip)
    assert any("bogus" in p.message for p in bad_ip)
    assert all(p.file == "t.yaml" for p in problems)


def test_unknown_output_of_a_needed_step_is_named():
    """Referring to an output the producing kind does not have is caught at load time."""
    problems = problems_of("""\
        steps:
          - id: a
            uses: asr.set_target_ip
            with: {item: app01, network: n, subnet: s, ip: 10.0.0.4}
          - id: d
            uses: dns.record
            needs: [a]
            with: {zone: z, name: n, ip: "${{ steps.a.outputs.ipx }}"}
    """)
    (problem,) = problems
    assert problem.code == "RB012" and problem.step == "d" and "ip" in problem.fix


def test_cycle_in_needs_is_an_error():
    """Steps that need each other in a circle are refused, and the cycle is spelled out."""
    problems = problems_of("""\
        steps:
          - {id: a, uses: asr.commit, needs: [c], with: {items: [x]}}
          - {id: b, uses: asr.commit, needs: [a], with: {items: [x]}}
          - {id: c, uses: asr.commit, needs: [b], with: {items: [x]}}
    """)
    (problem,) = problems
    assert problem.code == "RB006" and " -> " in problem.message


def test_unknown_need_and_duplicate_id():
    """A need naming no step, and two steps with one id, are both reported."""
    problems = problems_of("""\
        steps:
          - {id: a, uses: asr.commit, with: {items: [x]}}
          - {id: a, uses: asr.commit, needs: [aa], with: {items: [x]}}
    """)
    assert codes(problems) == {"RB004", "RB005"}


def test_yaml_syntax_error_has_a_line():
    """Broken YAML is reported with its line, not a traceback."""
    with pytest.raises(InvalidInput) as caught:
        load_runbook_text("version: 1\nsteps:\n  - id: [unclosed\n", "broken.yaml")
    (problem,) = caught.value.problems
    assert problem.code == "RB001" and problem.line is not None and problem.file == "broken.yaml"


def test_schema_errors_name_the_field():
    """Missing and unknown top-level fields are schema errors with the field in the message."""
    with pytest.raises(InvalidInput) as caught:
        load_runbook_text("version: 2\nname: x\nsteps: []\nextra: 1\n", "s.yaml")
    messages = " ".join(p.message for p in caught.value.problems)
    assert {p.code for p in caught.value.problems} == {"RB003"}
    for field in ("version", "target", "extra", "steps"):
        assert field in messages


def test_duplicate_keys_are_errors():
    """YAML silently keeps the last of two equal keys; the loader refuses them."""
    problems = problems_of("""\
        steps:
          - id: a
            uses: asr.commit
            with: {items: [x]}
            with: {items: [y]}
    """)
    assert "RB002" in codes(problems)


def test_unused_parameter_is_a_warning_only():
    """A declared but unused parameter does not stop the runbook, but is reported."""
    loaded = load_runbook_text(HEADER + textwrap.dedent("""\
        parameters:
          spare: {type: string, default: x}
        steps:
          - {id: a, uses: asr.commit, with: {items: [x]}}
    """), "w.yaml")
    assert [p.code for p in loaded.problems] == ["RB101"]


def test_secret_only_in_secret_arguments():
    """A secret passed to an argument that may be logged is refused."""
    problems = problems_of("""\
        parameters:
          key: {type: secret, from: env:K}
        steps:
          - {id: a, uses: dns.record, with: {zone: z, name: "${{ params.key }}", ip: 10.0.0.4}}
    """)
    assert codes(problems) == {"RB014"}


def test_arguments_without_expressions_are_validated_once_and_frozen():
    """A step whose `with` holds no expression gets its arguments when the runbook loads; every run
    and attempt shares them, so none can change them."""
    loaded = load_runbook_text(HEADER + textwrap.dedent("""\
        parameters:
          ip: {type: string, default: 10.0.0.5}
        steps:
          - id: fixed
            uses: asr.set_target_ip
            with: {item: vm1, network: vnet, subnet: apps, ip: 10.0.0.4}
          - id: from-param
            uses: asr.set_target_ip
            with: {item: vm2, network: vnet, subnet: apps, ip: "${{ params.ip }}"}
        """), "t.yaml")
    assert set(loaded.arguments) == {"fixed"}
    args = loaded.arguments["fixed"]
    assert (args.item, args.ip) == ("vm1", "10.0.0.4")
    with pytest.raises(ValidationError, match="frozen"):
        args.ip = "10.0.0.9"
