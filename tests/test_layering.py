"""Every layering rule of docs/architecture.md holds, and each would be caught if broken: a violation
planted in a copy of the tree is reported by name."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.layering import RULES, import_cycle, violations


def test_every_layering_rule_holds():
    assert violations(REPO) == []


def test_no_import_cycle():
    assert import_cycle(REPO) is None


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    copy = tmp_path_factory.mktemp("tree")
    for package in ("engine", "adapters"):
        shutil.copytree(REPO / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


PLANTED = [  # (file, import line, the rule it breaks)
    ("engine/run/runner.py", "import azure.mgmt.network", RULES[0]),
    ("engine/plan/simulation.py", "from adapters.fake import FakeAdapter", RULES[1]),
    ("engine/cli/session.py", "from adapters.azure import AzureAdapter", RULES[1]),
    ("engine/run/journal.py", "from engine.cli.settings import Settings", RULES[2]),
    ("adapters/ports.py", "from engine.model.runbook import Step", RULES[3]),
    ("adapters/fake/adapter.py", "from adapters.azure.snapshot import snapshot", RULES[4]),
    ("adapters/azure/adapter.py", "from adapters.fake import FakeAdapter", RULES[5]),
    ("adapters/shared/estate.py", "from adapters.fake.store import Store", RULES[6]),
    ("engine/run/blobjournal.py", "from adapters.storage import BlobStorage", RULES[1]),
    ("adapters/storage/blob.py", "from adapters.azure.credentials import credential_from_settings", RULES[7]),
]


@pytest.mark.parametrize(("file", "line", "rule"), PLANTED, ids=[p[0] for p in PLANTED])
def test_a_planted_violation_is_reported(tree, file, line, rule):
    target = tree / file
    original = target.read_text()
    target.write_text(original + f"\n\ndef _planted():\n    {line}\n")  # inside a function counts too
    try:
        found = violations(tree)
    finally:
        target.write_text(original)
    assert [v for v in found if v.startswith(rule.name + ":")], found


def test_every_rule_has_a_planted_violation():
    assert {rule for _, _, rule in PLANTED} == set(RULES)


def test_a_planted_cycle_is_reported(tree):
    target = tree / "engine/model/problems.py"
    original = target.read_text()
    target.write_text(original + "\nfrom engine.model import loader  # noqa\n")
    try:
        cycle = import_cycle(tree)
    finally:
        target.write_text(original)
    assert cycle is not None and "engine.model.problems" in cycle


def test_a_fake_run_loads_no_azure_module():
    """Beyond the source: running against the fake, not one module of the Azure SDK is loaded."""
    code = ("import sys, engine.cli, engine.run.runner, engine.plan.simulation, adapters.fake; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'azure'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
