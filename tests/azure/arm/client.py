"""What a ``failover`` CLI subprocess needs to talk to an ``ArmServer``: written into one folder.

- ``config/failover.yaml``: ``adapter: azure``, ``azure: {credential: azure_cli, cloud: {arm: URL}}``, the
  journal and reports in the folder, a short ``job_poll_interval`` (the double's time is logical: each
  poll moves a job). Build the service with ``poll_delay_ms`` too (e.g. 10), or the subprocess's SDK
  really sleeps the ``Retry-After`` the examples give (10 to 30 s) between its own polls.
- ``bin/az``: a stub Azure CLI that answers ``az account get-access-token ... --output json`` the way
  azure-identity's ``AzureCliCredential`` parses it (``accessToken``, ``expires_on``, ``expiresOn``) and
  logs every call to ``az-calls.jsonl``; any other command fails.
- ``env``: ``PATH`` with the stub first, ``REQUESTS_CA_BUNDLE`` the server's CA, ``FAILOVER_CONFIG`` the
  settings, ``HTTPS_PROXY`` the server's Key Vault tunnel with ``NO_PROXY`` for 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.azure.arm.server import ArmServer

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"

AZ_STUB = '''#!{python}
"""A stub Azure CLI for tests: only `az account get-access-token`."""
import datetime, json, sys, time

args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] != ["account", "get-access-token"]:
    sys.stderr.write("ERROR: this stub az answers only 'az account get-access-token'\\n")
    sys.exit(2)
resource = args[args.index("--resource") + 1] if "--resource" in args else "https://management.azure.com"
expires = int(time.time()) + 3600
print(json.dumps({{
    "accessToken": "stub-token-for-" + resource,
    "expiresOn": datetime.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f"),
    "expires_on": expires,
    "subscription": {subscription!r},
    "tenant": {tenant!r},
    "tokenType": "Bearer",
}}, indent=2))
'''


@dataclass
class CliSetup:
    folder: Path
    settings: Path
    az: Path
    az_log: Path
    env: dict[str, str]
    server: ArmServer | None = None  # the double it talks to

    def command(self, *args: str) -> list[str]:
        """``failover ARGS`` with the venv's interpreter (no dependency on a console script being on PATH)."""
        return [sys.executable, "-c", "from engine.cli import main; main()", *args]

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True, **kwargs)

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **kwargs)

    def az_calls(self) -> list[list[str]]:
        if not self.az_log.exists():
            return []
        return [json.loads(line) for line in self.az_log.read_text().splitlines() if line.strip()]


def write_az_stub(folder: Path, *, subscription: str, tenant: str = TENANT) -> tuple[Path, Path]:
    """``folder/bin/az`` (executable) and the file it logs its calls to."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = folder / "az-calls.jsonl"
    az = bin_dir / "az"
    az.write_text(AZ_STUB.format(python=sys.executable, log=str(log), subscription=subscription, tenant=tenant))
    az.chmod(0o755)
    return az, log


def prepare_cli(folder: Path, server: ArmServer, *, job_poll_interval: float = 0.05,
                settings: Mapping[str, Any] | None = None, base_env: Mapping[str, str] | None = None) -> CliSetup:
    """Settings, a stub ``az`` and the environment for a CLI subprocess against ``server``."""
    folder = Path(folder)
    (folder / "config").mkdir(parents=True, exist_ok=True)
    az, log = write_az_stub(folder, subscription=server.service.estate.subscription)
    data: dict[str, Any] = {
        "adapter": "azure",
        "journal": str(folder / "journal.db"),
        "reports": str(folder / "reports"),
        "job_poll_interval": job_poll_interval,
        "azure": {"credential": "azure_cli", "cloud": {"arm": server.url, "vault_suffix": "vault.azure.net"}},
    }
    data.update(settings or {})
    settings_file = folder / "config" / "failover.yaml"
    settings_file.write_text(yaml.safe_dump(data, sort_keys=False))
    env = dict(os.environ if base_env is None else base_env)
    for name in ("FAILOVER_JOURNAL", "FAILOVER_FAKE_STATE", "HTTP_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    env.update({
        "PATH": f"{az.parent}{os.pathsep}{env.get('PATH', '')}",
        "REQUESTS_CA_BUNDLE": str(server.ca_file),
        "FAILOVER_CONFIG": str(settings_file),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[3]), env.get("PYTHONPATH")])),
    })
    if server.proxy_url:
        env["HTTPS_PROXY"] = server.proxy_url
    return CliSetup(folder, settings_file, az, log, env, server)
