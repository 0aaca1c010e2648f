"""The engine speaks only the ports: no module under engine/ imports the Azure SDK."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO


def test_no_engine_module_imports_azure():
    offenders = []
    for path in (REPO / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] == "azure"]
    assert not offenders


def test_a_fake_run_loads_no_azure_module():
    code = ("import sys, engine.cli, engine.run.runner, engine.plan.simulation, adapters.fake; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'azure'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
