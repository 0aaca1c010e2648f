"""Settings from ``config/failover.yaml`` (or ``--config`` / ``FAILOVER_CONFIG``). With nothing said, the
adapter is the fake Woodgrove estate: nothing real is touched by accident.

A relative path written in a settings file is relative to the folder of that file (``config/`` for
``config/failover.yaml``), wherever the command runs from; a setting left out takes its default, relative
to the current folder, as with no settings file at all."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters.shared.yamlsource import SourceError, load
from engine.model.problems import InvalidInput, Problem

DEFAULT_CONFIG = Path("config/failover.yaml")


@dataclass
class Settings:
    file: Path | None = None
    adapter: str = "fake"
    estate: Path = Path("config/estates/woodgrove.yaml")
    state: Path | None = None  # the fake's live state; None: .failover/fake-<estate>.db
    journal: Path | str = Path(".failover/journal.db")  # a file, or azure-blob://ACCOUNT/CONTAINER (shared)
    journal_lease: int = 60  # seconds (15 to 60) a shared journal's lease lasts unless renewed
    concurrency: int | None = None
    job_poll_interval: float = 5.0
    journal_fsync: bool = False  # fsync each mutating call's intent (survives a host crash, costs ms per call)
    azure: dict[str, Any] = field(default_factory=dict)
    drills: list[dict[str, Any]] = field(default_factory=list)  # scheduled drills (engine.cli.scheduler)
    reports: Path = Path(".failover/reports")
    home: Path = Path(".failover")  # this host's own files (the fake's state, a shared journal's cache)

    @property
    def journal_cache(self) -> Path:
        return self.home / "shared-journal"

    def state_for(self, estate: Path) -> Path:
        return self.state or self.home / f"fake-{estate.stem}.db"


def load_settings(path: Path | None = None) -> Settings:
    path = path or (Path(os.environ["FAILOVER_CONFIG"]) if os.environ.get("FAILOVER_CONFIG") else None)
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    settings = Settings()
    if path is not None:
        settings = _from_dict(_read(path), path)
    if os.environ.get("FAILOVER_FAKE_STATE"):
        settings.state = Path(os.environ["FAILOVER_FAKE_STATE"])
    if os.environ.get("FAILOVER_JOURNAL"):
        settings.journal = journal_location(os.environ["FAILOVER_JOURNAL"])
    if not str(settings.journal).startswith("azure-blob:"):
        settings.home = Path(settings.journal).parent
    return settings


def journal_location(value: str | Path) -> Path | str:
    """A journal file's path, or a shared journal's address (kept as written: a path would fold its //)."""
    return str(value) if str(value).startswith("azure-blob:") else Path(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _FakeSettings(_Strict):
    estate: str | None = None
    state: str | None = None


class _SettingsFile(_Strict):
    """What the settings file may say (its values checked before any is used)."""

    adapter: Literal["fake", "azure"] = "fake"
    fake: _FakeSettings | None = None
    journal: str | None = None
    journal_fsync: bool = False
    journal_lease: int = 60
    concurrency: int | None = Field(None, ge=1, le=512)
    job_poll_interval: float = Field(5.0, gt=0, le=86400)
    azure: dict[str, Any] | None = None
    drills: list[dict[str, Any]] | None = None
    reports: str | None = None

    @field_validator("job_poll_interval")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a number of seconds")
        return value


def _read(path: Path) -> dict:
    try:
        source = load(path)
    except SourceError as exc:
        raise InvalidInput([Problem("CF001", f"cannot read settings: {exc.message}", file=str(path), line=exc.line,
                                    column=exc.column, fix="fix or remove the settings file")]) from None
    data = source.data if source.data is not None else {}
    problems = [Problem("CF002", f"setting {'.'.join(map(str, where))} appears twice", file=str(path), line=line,
                        column=source.column_of(where), fix="keep one of them") for where, line in source.duplicates]
    if not isinstance(data, dict):
        raise InvalidInput([Problem("CF002", "the settings file must be a YAML mapping", file=str(path), line=1,
                                    fix="start from config/failover.yaml")])
    try:
        _SettingsFile.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            where = ".".join(map(str, loc)) or "the settings"
            fix = ("remove it; the settings are: " + ", ".join(_SettingsFile.model_fields)
                   if error["type"] == "extra_forbidden" else "see docs/operations.md")
            problems.append(Problem("CF002", f"{where}: {error['msg'].removeprefix('Value error, ')}", file=str(path),
                                    line=source.line_of(loc), column=source.column_of(loc), fix=fix))
    drills = data.get("drills") if isinstance(data.get("drills"), list) else []
    for index, drill in enumerate(drills):
        if not isinstance(drill, dict):
            continue  # reported above
        bad = [key for key in ("name", "runbook", "cron", "estate") if not isinstance(drill.get(key, ""), str)]
        if not isinstance(drill.get("params") or {}, dict):
            bad.append("params")
        problems += [Problem("CF003", f"drills.{index}.{key}: must be {'a mapping' if key == 'params' else 'text'}",
                             file=str(path), line=source.line_of(("drills", index, key)),
                             column=source.column_of(("drills", index, key)), fix="see docs/operations.md")
                     for key in bad]
    if problems:
        raise InvalidInput(problems)
    return data


def _from_dict(data: dict, path: Path) -> Settings:
    base = path.parent.absolute()
    defaults = Settings()
    fake = data.get("fake") or {}
    lease = data.get("journal_lease", 60)
    if not isinstance(lease, int) or not 15 <= lease <= 60:
        raise InvalidInput([Problem("CF007", f"journal_lease {lease!r}", file=str(path),
                                    fix="a number of seconds from 15 to 60 (what a blob lease may last)")])

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
        journal=(data["journal"] if str(data.get("journal", "")).startswith("azure-blob:")
                 else rel(data.get("journal")) or defaults.journal),
        journal_lease=lease,
        concurrency=data.get("concurrency"),
        job_poll_interval=float(data.get("job_poll_interval", 5.0)),
        journal_fsync=bool(data.get("journal_fsync", False)),
        azure=data.get("azure") or {},
        drills=[{**d, "runbook": str(rel(d["runbook"])) if d.get("runbook") else None,
                 "estate": str(rel(d["estate"])) if d.get("estate") else None} for d in data.get("drills") or []],
        reports=rel(data.get("reports")) or defaults.reports,
    )
