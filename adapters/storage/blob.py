"""The shared journal's storage in Azure Blob Storage (``azure-storage-blob``): append blobs whose every
append carries the writer's lease and the position it expects, and blob leases for the run locks.

Signs in as the rest of the tool does (the credential the settings choose, ``DefaultAzureCredential`` by
default); ``AZURE_STORAGE_CONNECTION_STRING``, when set, points it at an emulator (Azurite) or a key-based
account instead. Errors become the ``StorageError`` family of ``adapters/shared/errors.py``.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobLeaseClient, BlobServiceClient, ContainerClient

from adapters.ports import StoredBlob
from adapters.shared.errors import BlobMissing, LeaseHeld, LeaseLost, PositionMoved, StorageError

URL = re.compile(r"^azure-blob:/{1,2}(?P<account>[a-z0-9]{3,24})/(?P<container>[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?)/?$")
LEASE_REFUSED = {"LeaseIdMismatchWithBlobOperation", "LeaseIdMissing", "LeaseNotPresentWithBlobOperation",
                 "LeaseIdMismatchWithLeaseOperation", "LeaseNotPresentWithLeaseOperation", "LeaseLost",
                 "LeaseIsBrokenAndCannotBeRenewed", "LeaseIsBreakingAndCannotBeAcquired",
                 "LeaseIsBreakingAndCannotBeChanged", "LeaseAlreadyPresent"}


def parse(url: str) -> tuple[str, str]:
    """``azure-blob://ACCOUNT/CONTAINER`` -> (account, container); ValueError if it is not one."""
    found = URL.match(url.strip())
    if found is None:
        raise ValueError(f"{url!r} is not a shared journal's address: write azure-blob://ACCOUNT/CONTAINER "
                         "(a storage account's name, 3-24 lower-case letters and digits, and a container's)")
    return found["account"], found["container"]


def _code(error: HttpResponseError) -> str:
    code = getattr(error, "error_code", None) or ""
    return str(getattr(code, "value", code))


class BlobStorage:
    """One container of a storage account (``SharedStoragePort``)."""

    def __init__(self, container: ContainerClient, location: str):
        self.container = container
        self.location = location
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:  # no right to create it: it must exist already
            if exc.status_code != 403:
                raise StorageError(f"{location}: {exc.message}") from None

    @classmethod
    def open(cls, url: str, credential=None) -> BlobStorage:
        account, container = parse(url)
        connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if connection:
            service = BlobServiceClient.from_connection_string(connection)
        else:
            service = BlobServiceClient(f"https://{account}.blob.core.windows.net", credential=credential)
        return cls(service.get_container_client(container), f"azure-blob://{account}/{container}")

    def close(self) -> None:
        self.container.close()

    def _blob(self, name: str):
        return self.container.get_blob_client(name)

    def create_log(self, name: str, metadata: dict[str, str]) -> None:
        try:
            self._blob(name).create_append_blob(metadata=metadata, if_none_match="*")
        except HttpResponseError as exc:
            raise StorageError(f"{self.location}/{name}: {exc.message}") from None

    def append(self, name: str, data: bytes, *, position: int, lease: str | None) -> None:
        try:
            self._blob(name).append_block(data, length=len(data), appendpos_condition=position, lease=lease)
        except ResourceNotFoundError:
            raise BlobMissing(f"{self.location}/{name} is gone") from None
        except HttpResponseError as exc:
            code = _code(exc)
            if code == "AppendPositionConditionNotMet":
                raise PositionMoved(f"{name} is no longer {position} bytes long") from None
            if code in LEASE_REFUSED or (exc.status_code == 412 and "Lease" in code):
                raise LeaseLost(f"{name}: the service refused the append ({code})") from None
            raise StorageError(f"{self.location}/{name}: {exc.message}") from None

    def read(self, name: str, offset: int = 0) -> bytes:
        try:
            return self._blob(name).download_blob(offset=offset).readall() if offset else \
                self._blob(name).download_blob().readall()
        except ResourceNotFoundError:
            raise BlobMissing(f"no {self.location}/{name}") from None
        except HttpResponseError as exc:
            if exc.status_code == 416:  # nothing past the end
                return b""
            raise StorageError(f"{self.location}/{name}: {exc.message}") from None

    def put(self, name: str, data: bytes, *, lease: str | None = None, if_absent: bool = False) -> bool:
        try:
            if if_absent:
                self._blob(name).upload_blob(data, overwrite=False)
            else:
                self._blob(name).upload_blob(data, overwrite=True, lease=lease)
            return True
        except ResourceExistsError:
            if if_absent:
                return False
            raise StorageError(f"{self.location}/{name}: conflict") from None
        except HttpResponseError as exc:
            if _code(exc) in LEASE_REFUSED or exc.status_code == 412:
                raise LeaseLost(f"{name}: the service refused the write ({_code(exc)})") from None
            raise StorageError(f"{self.location}/{name}: {exc.message}") from None

    def get(self, name: str) -> bytes | None:
        try:
            return self.read(name)
        except BlobMissing:
            return None

    def exists(self, name: str) -> bool:
        return self._blob(name).exists()

    def list(self, prefix: str) -> list[StoredBlob]:
        try:
            return [StoredBlob(b.name, b.size, b.lease.state == "leased")
                    for b in self.container.list_blobs(name_starts_with=prefix)]
        except HttpResponseError as exc:
            raise StorageError(f"{self.location}: {exc.message}") from None

    def lease(self, name: str, lease_id: str, seconds: int) -> None:
        try:
            BlobLeaseClient(self._blob(name), lease_id=lease_id).acquire(lease_duration=seconds)
        except ResourceNotFoundError:
            raise BlobMissing(f"no {self.location}/{name}") from None
        except HttpResponseError as exc:
            if exc.status_code == 409:
                raise LeaseHeld(f"{name} is leased by another holder") from None
            raise StorageError(f"{self.location}/{name}: {exc.message}") from None

    def renew(self, name: str, lease_id: str) -> None:
        try:
            BlobLeaseClient(self._blob(name), lease_id=lease_id).renew()
        except ResourceNotFoundError:
            raise LeaseLost(f"{name} is gone") from None
        except HttpResponseError as exc:
            if exc.status_code in (409, 412):
                raise LeaseLost(f"{name}: the lease is no longer ours ({_code(exc)})") from None
            raise StorageError(f"{self.location}/{name}: {exc.message}") from None

    def release(self, name: str, lease_id: str) -> None:
        with suppress(HttpResponseError):  # not ours any more, or gone: nothing to give back
            BlobLeaseClient(self._blob(name), lease_id=lease_id).release()

    def break_lease(self, name: str) -> None:
        try:
            BlobLeaseClient(self._blob(name)).break_lease(lease_break_period=0)
        except HttpResponseError as exc:
            if exc.status_code not in (404, 409):  # gone, or no lease to break
                raise StorageError(f"{self.location}/{name}: {exc.message}") from None

    def leased(self, name: str) -> bool:
        try:
            return self._blob(name).get_blob_properties().lease.state == "leased"
        except ResourceNotFoundError:
            return False
