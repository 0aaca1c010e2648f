"""Azurite, Microsoft's storage emulator (the npm package ``azurite``), installed into ``.tools/`` and
started on loopback for the shared journal's tests and benchmarks. Never a mock of the storage SDK."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = "3.37.0"  # the Makefile installs the same
TOOLS = ROOT / ".tools" / "azurite"
BINARY = TOOLS / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (published in its documentation; not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def install() -> Path:
    """``npm install`` Azurite once (several test workers may ask at once: one installs, the others wait)."""
    TOOLS.mkdir(parents=True, exist_ok=True)
    with open(TOOLS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not BINARY.exists():
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("npm is needed to install Azurite (apt-get install npm)")
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(TOOLS),
                            f"azurite@{VERSION}"], check=True, stdout=subprocess.DEVNULL)
    return BINARY


@dataclass
class Azurite:
    process: subprocess.Popen
    port: int
    folder: tempfile.TemporaryDirectory

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.folder.cleanup()


def start() -> Azurite:
    """Azurite's blob service on a free loopback port, in a folder of its own; returns once it listens
    (the line it prints then), not after a guessed delay."""
    binary = install()
    folder = tempfile.TemporaryDirectory(prefix="azurite-")
    process = subprocess.Popen(
        [str(binary), "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", folder.name, "--disableTelemetry",
         "--skipApiVersionCheck", "--loose"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder.name,
        env={**os.environ, "NODE_NO_WARNINGS": "1"})
    seen = []
    for line in process.stdout:
        seen.append(line)
        found = re.search(r"listens on http://127\.0\.0\.1:(\d+)", line)
        if found:
            port = int(found[1])
            # Keep reading its output so that a full pipe never stalls it.
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return Azurite(process, port, folder)
    process.wait()
    folder.cleanup()
    raise RuntimeError("Azurite did not start: " + "".join(seen))
