"""SDK errors become the project's own (``adapters.shared.errors``), with the service's code and message.

The split follows what is known about the outcome: refused for now (throttled, 5xx, a busy resource)
is transient; refused for good is permanent; a write whose response never arrived is of unknown
outcome, so the engine re-reads before doing anything else.
"""

from __future__ import annotations

import functools
import re
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
    AccessDenied,
    AdapterError,
    ConflictError,
    NotFoundError,
    PermanentError,
    SignInFailed,
    ThrottledError,
    TransientError,
    UnknownOutcomeError,
    Unreachable,
)
from adapters.shared.secret import redact

# Codes with which Azure says "busy, try again", whatever the status.
BUSY_CODES = frozenset({"RetryableErrorDueToAnotherOperation", "AnotherOperationInProgress",
                        "ReferencedResourceNotProvisioned", "OperationNotAllowedDueToAnotherOperationInProgress"})
TRANSIENT_STATUS = frozenset({408, 500, 502, 503, 504})

SUBSCRIPTION_CODES = frozenset({"SubscriptionNotFound", "InvalidSubscriptionId", "SubscriptionNotRegistered",
                                "DisabledSubscription", "ReadOnlyDisabledSubscription",
                                "MissingSubscriptionRegistration"})
SIGN_IN_HINT = ("sign in as the identity meant to run failovers: `az login` (credential default or azure_cli), "
                "or set azure.credential in config/failover.yaml to the identity this host has (managed_identity, "
                "workload_identity, service_principal with AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET); "
                "see docs/azure.md")
ACTION = re.compile(r"perform action '([^']+)'")
SCOPE = re.compile(r"over scope '([^']+)'")
TRIED = re.compile(r"^\s+(\w+Credential): ", re.MULTILINE)

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
        if code in SUBSCRIPTION_CODES:  # not "this resource is absent": the whole subscription is out of reach
            return PermanentError(message, hint="check target.subscription in the runbook (or azure.subscription in "
                                  "the settings) and that the identity can see it: `az account list`", **kwargs)
        if status == 404:
            return NotFoundError(message, **kwargs)
        if status == 409:
            return ConflictError(message, **kwargs)
        if status == 403:
            return access_denied(message, **kwargs)
        if status == 401:
            return SignInFailed(message, hint=SIGN_IN_HINT, **kwargs)
        return PermanentError(message, **kwargs)
    if isinstance(error, ClientAuthenticationError):
        return sign_in_failed(redact(str(error)), operation)
    if isinstance(error, ServiceRequestError):  # never reached the service: safe to send again
        return Unreachable(f"Azure could not be reached: {_first_line(redact(str(error)))}", code="ServiceRequestError",
                           operation=operation, hint="check this host's network: DNS, proxy (HTTPS_PROXY), firewall "
                           "rules to management.azure.com and login.microsoftonline.com")
    if isinstance(error, ServiceResponseError):  # sent, but no answer: did it happen?
        cls = UnknownOutcomeError if writes else TransientError
        return cls(redact(str(error)), code="ServiceResponseError", operation=operation)
    return PermanentError(redact(str(error)), code=type(error).__name__, operation=operation)


def sign_in_failed(text: str, operation: str) -> SignInFailed:
    """The credential chain's long account as one sentence: which credentials were tried."""
    tried = TRIED.findall(text)
    cause = _first_line(text).rstrip(".")
    if tried:
        cause += f" (tried {', '.join(dict.fromkeys(tried))})"
    return SignInFailed(f"signing in to Azure failed: {cause}", code="AuthenticationFailed", operation=operation,
                        hint=SIGN_IN_HINT)


def access_denied(message: str, **kwargs) -> AccessDenied:
    """403: the action Azure named, and the scope, so that the role to assign is plain."""
    action = ACTION.search(message)
    scope = SCOPE.search(message)
    if action:
        where = f" at {scope.group(1)}" if scope else ""
        hint = (f"assign the identity a role that grants {action.group(1)}{where} (docs/azure.md, \"Least privilege\", "
                "names the role for each kind of step), then run again; a new assignment can take minutes to apply")
    else:
        hint = "check the identity's role assignments against docs/azure.md, \"Least privilege\""
    return AccessDenied(message, action=action.group(1) if action else "", hint=hint, **kwargs)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


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
