"""docs/ stays true: its example runbooks load, and every step kind and argument is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import kinds
from engine.model.loader import load_runbook, load_runbook_text

REPO = Path(__file__).resolve().parent.parent

DOCS = sorted((REPO / "docs").glob("*.md"))
RUNBOOKS = sorted((REPO / "runbooks").glob("*.yaml"))


def yaml_blocks(path):
    return re.findall(r"```yaml\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.name)
def test_every_runbook_in_runbooks_loads(path):
    """Each runbook under runbooks/ loads with no error."""
    assert load_runbook(path).runbook.steps


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_example_runbook_in_docs_loads(path):
    """Every whole runbook (a YAML block starting with `version: 1`) in the docs loads."""
    for block in yaml_blocks(path):
        if block.startswith("version: 1"):
            assert load_runbook_text(block, f"{path.name} example").runbook.steps


def test_every_step_example_in_docs_is_valid():
    """Every step example in step-kinds.md, wrapped in a runbook, loads: arguments are right."""
    text = (REPO / "docs/step-kinds.md").read_text()
    header = "version: 1\nname: x\ntarget: {subscription: s, resource_group: rg, vault: v}\nsteps:\n"
    examples = [b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if b.startswith("- id:")]
    assert len(examples) >= 5
    for block in examples:
        body = "\n".join("  " + line for line in block.splitlines())
        # Stand-ins for the steps an example needs or takes outputs from.
        producers = sorted(set(re.findall(r"steps\.([a-z0-9-]+)\.outputs", block)))
        needs = [n.strip() for group in re.findall(r"needs: \[(.*?)\]", block) for n in group.split(",")]
        stub = "  - {{id: {}, uses: asr.set_target_ip, needs: [{}], with: {{item: a, network: n, subnet: s, ip: 10.0.0.4}}}}\n"
        stubs = "".join(stub.format(p, "") for p in producers)
        stubs += "".join(stub.format(n, ", ".join(producers)) for n in needs)
        params = "parameters: {vpn_shared_key: {type: secret, from: env:K}}\n" if "vpn_shared_key" in block else ""
        load_runbook_text(params + header + stubs + body + "\n", "step-kinds.md example")


def test_every_step_kind_and_argument_is_documented():
    """step-kinds.md has a section for each registered kind naming each of its arguments and outputs."""
    text = (REPO / "docs/step-kinds.md").read_text()
    for name, kind in kinds.KINDS.items():
        section = text.split(f"## {name}\n", 1)
        assert len(section) == 2, f"no section for {name}"
        body = section[1].split("\n## ", 1)[0]
        for argument in kind.Args.model_fields:
            if argument != "vault" and not (name.startswith("assert.") and argument in ("within", "every")):
                assert f"`{argument}`" in body, f"{name}: argument {argument} undocumented"
        probes = text.split("## Probes: assert.*\n", 1)[1].split("\n## ", 1)[0]
        for output in kind.outputs:
            shared = probes if name.startswith("assert.") else ""
            assert f"`{output}`" in body + shared, f"{name}: output {output} undocumented"


def test_every_problem_code_is_documented():
    """Each problem code the engine can report appears in docs/rules.md."""
    source = "".join(p.read_text() for p in (REPO / "engine").rglob("*.py"))
    codes = set(re.findall(r'"((?:RB|PA|CF|ES|CLI|NET|SIM|RUN|RACE)\d{3})"', source))
    assert len(codes) >= 20
    rules = (REPO / "docs/rules.md").read_text()
    assert not [c for c in sorted(codes) if f"| {c} |" not in rules and f"| {c} " not in rules]
