"""The errors every adapter raises, so the engine never needs to know an SDK.

Split by what is known about the outcome, as azure-core does:
- ``TransientError``: the service refused for now (throttled, 5xx, resource busy); safe to try again,
  after ``retry_after`` seconds when the service said so.
- ``PermanentError``: the service refused for good (bad request, rule broken, not found, conflict);
  retrying will not help, the message says why.
- ``UnknownOutcomeError``: the request may or may not have taken effect (connection dropped after
  sending). The engine re-reads the state before doing anything else.
"""

from __future__ import annotations


class AdapterError(Exception):
    """An error answered by (or on the way to) the cloud, with the service's code and message."""

    def __init__(self, message: str, *, code: str = "", status: int | None = None, operation: str = "",
                 hint: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.operation = operation
        self.hint = hint  # what the operator can do about it (sign in, assign a role, fix a setting)

    def __str__(self) -> str:
        prefix = f"{self.code}: " if self.code else ""
        return f"{prefix}{self.message}"

    def __reduce__(self):  # pickled whole (keyword-only fields too): an estate in another process raises them
        return _restored, (type(self), self.args, self.__dict__)


def _restored(cls: type, args: tuple, state: dict) -> AdapterError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class TransientError(AdapterError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ThrottledError(TransientError):
    """HTTP 429 from ARM's token buckets."""


class PermanentError(AdapterError):
    pass


class NotFoundError(PermanentError):
    pass


class ConflictError(PermanentError):
    pass


class SignInFailed(PermanentError):
    """No identity could get a token: nothing was sent to the service."""


class AccessDenied(PermanentError):
    """The identity signed in but lacks a permission; ``action`` is the one Azure named, when it did."""

    def __init__(self, message: str, *, action: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.action = action


class Unreachable(TransientError):
    """The request never reached the service (name resolution, proxy, firewall, TLS)."""


class UnknownOutcomeError(AdapterError):
    pass


class JobFailedError(PermanentError):
    """An ASR job ended Failed, Cancelled or Suspended; the message is the job's own error."""

    def __init__(self, message: str, *, job_id: str, state: str, **kwargs):
        super().__init__(message, **kwargs)
        self.job_id = job_id
        self.state = state


class ReadOnlyViolation(PermanentError):
    """A write was attempted through an adapter opened read-only (plan, validate, dry run)."""


class StorageError(Exception):
    """The shared journal's storage refused or could not be reached."""


class LeaseHeld(StorageError):
    """Another holder has the blob's lease."""


class LeaseLost(StorageError):
    """The lease given is not (or no longer) the blob's: another holder took it, or it was broken."""


class PositionMoved(StorageError):
    """The append blob is not the length the writer expected: someone else wrote to it."""


class BlobMissing(StorageError):
    """No blob by that name."""
