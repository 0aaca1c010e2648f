"""SDK errors become the project's own (``adapters.shared.errors``), with the service's code and message.

The split follows what is known about the outcome: refused for now (throttled, 5xx, a busy resource)
is transient; refused for good is permanent; a write whose response never arrived is of unknown
outcome, so the engine re-reads before doing anything else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from adapters.shared.errors import (
    AdapterError,
    ConflictError,
    NotFoundError,
    PermanentError,
    ThrottledError,
    TransientError,
    UnknownOutcomeError,
)
from adapters.shared.secret import redact

# Codes with which Azure says "busy, try again", whatever the status.
BUSY_CODES = frozenset({"RetryableErrorDueToAnotherOperation", "AnotherOperationInProgress",
                        "ReferencedResourceNotProvisioned", "OperationNotAllowedDueToAnotherOperationInProgress"})
TRANSIENT_STATUS = frozenset({408, 500, 502, 503, 504})

F = TypeVar("F", bound=Callable)


def retry_after(error: HttpResponseError) -> float | None:
    headers = getattr(error.response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: rare from ARM; let the policy's backoff decide
        return None


def translate(error: AzureError, operation: str, *, writes: bool) -> AdapterError:
    """One SDK error as the project's error; messages pass through ``redact`` (a body may echo a key)."""
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        status = error.status_code
        code = (getattr(error.error, "code", None) or getattr(error, "reason", "") or "") if error.error else ""
        message = redact(_message(error))
        kwargs = {"code": str(code), "status": status, "operation": operation}
        if status == 429 and code not in BUSY_CODES:
            return ThrottledError(message, retry_after=retry_after(error), **kwargs)
        if status in TRANSIENT_STATUS or status >= 506 or code in BUSY_CODES:
            return TransientError(message, retry_after=retry_after(error), **kwargs)
        if status == 404:
            return NotFoundError(message, **kwargs)
        if status == 409:
            return ConflictError(message, **kwargs)
        if status in (401, 403):
            return PermanentError(f"{message} (check the identity's role assignments)", **kwargs)
        return PermanentError(message, **kwargs)
    if isinstance(error, ClientAuthenticationError):
        return PermanentError(redact(str(error)), code="AuthenticationFailed", operation=operation)
    if isinstance(error, ServiceRequestError):  # never reached the service: safe to send again
        return TransientError(redact(str(error)), code="ServiceRequestError", operation=operation)
    if isinstance(error, ServiceResponseError):  # sent, but no answer: did it happen?
        cls = UnknownOutcomeError if writes else TransientError
        return cls(redact(str(error)), code="ServiceResponseError", operation=operation)
    return PermanentError(redact(str(error)), code=type(error).__name__, operation=operation)


def _message(error: HttpResponseError) -> str:
    odata = error.error
    if odata is not None and getattr(odata, "message", None):
        return odata.message
    return error.message or str(error)


def translated(operation: str, *, writes: bool = False) -> Callable[[F], F]:
    """Decorate a port method: any SDK error leaves it as the project's error."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except AdapterError:
                raise
            except AzureError as exc:
                raise translate(exc, operation, writes=writes) from None

        return wrapper  # type: ignore[return-value]

    return decorate
