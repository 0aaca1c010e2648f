"""Settings from ``config/failover.yaml`` (or ``--config`` / ``FAILOVER_CONFIG``). With nothing said, the
adapter is the fake Woodgrove estate: nothing real is touched by accident.

A relative path written in a settings file is relative to the folder of that file (``config/`` for
``config/failover.yaml``), wherever the command runs from; a setting left out takes its default, relative
to the current folder, as with no settings file at all."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.model.problems import InvalidInput, Problem

DEFAULT_CONFIG = Path("config/failover.yaml")


@dataclass
class Settings:
    file: Path | None = None
    adapter: str = "fake"
    estate: Path = Path("config/estates/woodgrove.yaml")
    state: Path | None = None  # the fake's live state; None: .failover/fake-<estate>.db
    journal: Path = Path(".failover/journal.db")
    concurrency: int | None = None
    job_poll_interval: float = 15.0
    journal_fsync: bool = False  # fsync each mutating call's intent (survives a host crash, costs ms per call)
    azure: dict[str, Any] = field(default_factory=dict)
    drills: list[dict[str, Any]] = field(default_factory=list)  # scheduled drills (engine.cli.scheduler)
    reports: Path = Path(".failover/reports")

    def state_for(self, estate: Path) -> Path:
        return self.state or self.journal.parent / f"fake-{estate.stem}.db"


def load_settings(path: Path | None = None) -> Settings:
    path = path or (Path(os.environ["FAILOVER_CONFIG"]) if os.environ.get("FAILOVER_CONFIG") else None)
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    settings = Settings()
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput([Problem("CF001", f"cannot read settings: {exc}", file=str(path),
                                        fix="fix or remove the settings file")]) from None
        settings = _from_dict(data, path)
    if os.environ.get("FAILOVER_FAKE_STATE"):
        settings.state = Path(os.environ["FAILOVER_FAKE_STATE"])
    if os.environ.get("FAILOVER_JOURNAL"):
        settings.journal = Path(os.environ["FAILOVER_JOURNAL"])
    return settings


def _from_dict(data: dict, path: Path) -> Settings:
    base = path.parent.absolute()
    defaults = Settings()
    known = {"adapter", "fake", "journal", "journal_fsync", "concurrency", "job_poll_interval", "azure", "drills",
             "reports"}
    unknown = set(data) - known
    if unknown or data.get("adapter", "fake") not in ("fake", "azure"):
        raise InvalidInput([Problem("CF002", f"unknown settings {sorted(unknown)} or adapter "
                                    f"{data.get('adapter')!r}", file=str(path),
                                    fix=f"use: {sorted(known)}; adapter: fake or azure")])
    fake = data.get("fake") or {}

    def rel(value):
        if value is None:
            return None
        value = Path(value).expanduser()
        return value if value.is_absolute() else Path(os.path.normpath(base / value))

    return Settings(
        file=path,
        adapter=data.get("adapter", "fake"),
        estate=rel(fake.get("estate")) or defaults.estate,
        state=rel(fake.get("state")),
        journal=rel(data.get("journal")) or defaults.journal,
        concurrency=data.get("concurrency"),
        job_poll_interval=float(data.get("job_poll_interval", 15.0)),
        journal_fsync=bool(data.get("journal_fsync", False)),
        azure=data.get("azure") or {},
        drills=[{**d, "runbook": str(rel(d["runbook"])) if d.get("runbook") else None,
                 "estate": str(rel(d["estate"])) if d.get("estate") else None} for d in data.get("drills") or []],
        reports=rel(data.get("reports")) or defaults.reports,
    )
