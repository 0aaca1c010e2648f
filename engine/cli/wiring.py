"""Which adapter a command gets. The one module that imports the adapters: the engine knows them only
by the ports they implement, and each adapter knows neither the engine nor the other adapter (the Azure
adapter's offline copy of an estate, which plan and dry run execute against, is a fake estate handed to
it from here)."""

from __future__ import annotations

import os
from pathlib import Path

from adapters.ports import Adapter
from adapters.shared.estate import Estate
from adapters.shared.secret import Secret
from engine import collector
from engine.cli.settings import Settings
from engine.model.problems import InvalidInput, Problem


def open_adapter(settings: Settings, *, estate: Path | None, azure: bool, state: Path | None,
                 read_only: bool, fresh: bool = False) -> Adapter:
    """The adapter a command asks for; ``fresh``: a fake estate started over from its estate file."""
    if azure or (estate is None and settings.adapter == "azure"):
        return _azure(settings, read_only=read_only)
    return _fake(settings, estate or settings.estate, state, fresh=fresh)


def _azure(settings: Settings, *, read_only: bool) -> Adapter:
    from adapters.azure import AzureAdapter

    try:
        return AzureAdapter.from_settings(settings.azure, read_only=read_only, simulate=simulate_on_fake)
    except ValueError as exc:
        raise InvalidInput([Problem("CF004", str(exc), file=str(settings.file) if settings.file else None,
                                    fix="set azure.credential in config/failover.yaml; see docs/azure.md")]) from None


def simulate_on_fake(estate: Estate, shared_keys: dict[str, Secret], recovery_points=None) -> Adapter:
    """A read estate as a calm fake (no injected latency or faults), with its connections' keys, and each
    item's recovery points read from the service when a step asks for them."""
    from adapters.fake import FakeAdapter

    return FakeAdapter.from_estate(estate, calm=True, shared_keys=shared_keys, recovery_points=recovery_points)


def _fake(settings: Settings, estate: Path, state: Path | None, *, fresh: bool) -> Adapter:
    from adapters.fake import FakeAdapter
    from adapters.fake.adapter import StateOutdated
    from adapters.fake.store import StateUnusable
    from adapters.shared.estate import EstateInvalid

    state = state or settings.state_for(estate)
    if not estate.is_file():
        where = f" (from {settings.file})" if settings.file and estate == settings.estate else ""
        raise InvalidInput([Problem("ES002", f"no estate file {estate}{where}", file=str(estate),
                                    fix="give --estate an estate file, e.g. config/estates/woodgrove.yaml; "
                                        "docs/estates.md describes the format")])
    try:
        with collector.paused(keep=True):  # the estate's model and documents live as long as the command
            return FakeAdapter.open(estate, state, fresh=fresh)
    except EstateInvalid as exc:
        raise InvalidInput([Problem("ES001", f"{path}: {message}" if path else message, file=str(exc.file), line=line,
                                    column=column, fix="see docs/estates.md")
                            for (path, line, message, column) in exc.problems]) from None
    except StateOutdated as exc:
        raise InvalidInput([Problem("ES003", str(exc), file=str(state), fix="failover fake reset")]) from None
    except StateUnusable as exc:
        raise InvalidInput([Problem("ES004", str(exc), file=str(state),
                                    fix="failover fake reset (the estate starts over from its file)")]) from None
    except FileNotFoundError as exc:
        raise InvalidInput([Problem("ES002", f"no estate file {exc.filename}", file=str(estate),
                                    fix="give --estate a file under config/estates/")]) from None


def is_shared_journal(location: str | Path) -> bool:
    return str(location).startswith("azure-blob:")


def open_journal(settings: Settings, location: str | Path | None = None):
    """The journal a command uses: the local SQLite file, or the journal shared by several hosts in an
    Azure storage container (``azure-blob://ACCOUNT/CONTAINER``)."""
    from engine.run.journal import Journal

    location = location or settings.journal
    if not is_shared_journal(location):
        return Journal(location, fsync_intents=settings.journal_fsync)
    from adapters.shared.errors import StorageError
    from adapters.storage import BlobStorage
    from engine.run.blobjournal import BlobJournal

    try:
        credential = None
        if not os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
            from adapters.azure.credentials import credential_from_settings

            credential = credential_from_settings(settings.azure)
        storage = BlobStorage.open(str(location), credential)
    except ValueError as exc:
        raise InvalidInput([Problem("CF005", str(exc), fix="--journal azure-blob://ACCOUNT/CONTAINER; see "
                                    "docs/operations.md")]) from None
    except StorageError as exc:
        raise InvalidInput([Problem("CF006", f"the shared journal cannot be opened: {exc}",
                                    fix="check the account, the container and the role Storage Blob Data "
                                    "Contributor; see docs/operations.md")]) from None
    return BlobJournal(storage, lease_s=settings.journal_lease, cache=settings.journal_cache)
