"""``ArmService``: Azure Resource Manager, Key Vault and sign-in for one estate, answering HTTP requests.

It is the project's own double of Azure, built from the REST API specs' example payloads
(``specs.py``) and independent of the fake estate (``adapters/fake``): the Azure adapter's tests drive
it through the SDK's real pipeline, in process (``mock.py``) or over HTTPS (``server.py``).

**Logical time.** Nothing waits for the clock. A new ASR job is ``NotStarted`` for the first
``queued_polls`` requests that observe it (a GET of the job, a job list page that holds it, a GET or list
of its item or plan, its operation status), ``InProgress`` for the next ``running_polls``, then finishes;
one request moves a job at most one step. A network or DNS long-running operation answers
``InProgress`` (``Retry-After: 10``) to ``lro_polls`` status reads, then ``Succeeded``. Timestamps come
from a logical clock that moves one second per request.

**Faults.** ``fail_next`` answers the next matching requests with an ARM error (``Retry-After`` and other
headers as keywords); ``drop_next`` raises a connection error from the transport instead of answering
(with ``after=True``, once the request was carried out: the answer is lost, the change is made);
``force_job`` makes a job report a state (and errors) from its next observation on; ``hold_next`` keeps a
request waiting before the double looks at it, as a slow network or front end would, until the test lets it
through (a client killed meanwhile has sent it all the same).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from tests.azure.arm.asr import SiteRecovery, service_error
from tests.azure.arm.compute import Compute
from tests.azure.arm.estate import Estate
from tests.azure.arm.http import ArmError, Fault, Hold, Reply, Sent, bad_request, error, ok
from tests.azure.arm.model import Job
from tests.azure.arm.network import KeyVault, Network

T = TypeVar("T")
EPOCH = datetime(2025, 6, 1, 8, 0, 0, tzinfo=UTC)
KEY_VAULT_HOST = re.compile(r"^(?P<vault>[^.]+)\.vault\.azure\.net(:\d+)?$", re.I)
LOGIN_HOST = re.compile(r"^login\.(microsoftonline\.com|windows\.net|microsoftonline\.us)(:\d+)?$", re.I)


@dataclass
class Request:
    method: str
    url: str
    origin: str  # scheme://host[:port], for the URLs the answer gives (nextLink, Azure-AsyncOperation)
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    text: str
    _json: Any = field(default=None, repr=False)

    @classmethod
    def parse(cls, method: str, url: str, headers: Mapping[str, str] | None, body: str | bytes | None) -> Request:
        if "://" not in url:  # a bare path: ARM's public host
            url = f"https://management.azure.com/{url.lstrip('/')}"
        parts = urlsplit(url)
        text = body.decode() if isinstance(body, bytes) else (body or "")
        return cls(method.upper(), url, f"{parts.scheme}://{parts.netloc}", parts.netloc.lower(), parts.path,
                   parse_qs(parts.query, keep_blank_values=True), {k.lower(): v for k, v in (headers or {}).items()},
                   text)

    def param(self, name: str) -> str | None:
        for key, values in self.query.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None

    @property
    def api_version(self) -> str:
        return self.param("api-version") or ""

    def json(self) -> Any:
        if self._json is None and self.text:
            try:
                self._json = json.loads(self.text)
            except ValueError:
                raise bad_request("InvalidRequestContent", "The request content was invalid and could not be "
                                                           "deserialized.") from None
        return self._json


class ArmService:
    """A stateful ARM for one estate. ``handle(method, url, headers, body) -> (status, headers, body)``."""

    def __init__(self, estate: str | Path | Mapping[str, Any], *, page_size: int = 2, job_page_size: int | None = None,
                 queued_polls: int = 1, running_polls: int = 2, lro_polls: int = 1, poll_delay_ms: int | None = None,
                 env: Mapping[str, str] | None = None, epoch: datetime = EPOCH):
        self.estate = Estate.load(estate, env)
        self.epoch = epoch  # the logical clock's start (timestamps the double writes)
        self.page_size = page_size
        self.job_page_size = job_page_size or page_size
        self.queued_polls, self.running_polls, self.lro_polls = queued_polls, running_polls, lro_polls
        self.poll_delay_ms = poll_delay_ms  # see delay()
        self.sent: list[Sent] = []
        self.faults: list[Fault] = []
        self.holds: list[Hold] = []
        self.forced: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self.observed: set[str] = set()  # jobs the current request has seen
        self.ticks = 0
        self.lock = threading.RLock()
        self._answered = threading.Condition(self.lock)
        self.asr = SiteRecovery(self)
        self.network = Network(self)
        self.key_vault = KeyVault(self)
        self.compute = Compute(self)

    # --- what tests use ---------------------------------------------------------------------------------

    @property
    def writes(self) -> list[Sent]:
        return [s for s in self.sent if s.writes]

    def fail_next(self, method: str, path_regex: str, status: int, code: str, *, times: int = 1, **headers: Any) -> None:
        """The next ``times`` requests whose path matches answer ``status`` with ``code`` (keywords are headers:
        ``Retry_After=7`` sends ``Retry-After: 7``)."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(path_regex, re.I), status, code,
                                     {k.replace("_", "-"): str(v) for k, v in headers.items()}, times))

    def drop_next(self, method: str, path_regex: str, exception: BaseException, *, after: bool = False) -> None:
        """The connection fails on the next matching request: ``exception`` is raised from the transport
        (in server mode the connection is closed without an answer)."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(path_regex, re.I), exception=exception, after=after))

    def hold_next(self, method: str | None = None, path_regex: str = "", *, after_writes: int = 0,
                  timeout: float = 120.0) -> Hold:
        """The next request of ``method`` (None: any mutating request) whose path matches, once the double has
        recorded ``after_writes`` mutating requests, waits before the double looks at it (unrecorded, without
        effect) until the test sets ``hold.release``, or ``timeout`` seconds pass (a failed test does not keep
        the server's thread); ``hold.arrived`` is set when it comes. Over HTTPS (``server.py``) other requests are answered meanwhile."""
        with self.lock:
            hold = Hold(method, re.compile(path_regex, re.I), after_writes, timeout)
            self.holds.append(hold)
            return hold

    def force_job(self, job_id: str, state: str, errors: Sequence[str | tuple[str, str] | dict] = ()) -> None:
        """From its next observation on, the job reports ``state`` with ``errors`` (a message, a (code,
        message) pair or a ready ``JobErrorDetails``). A finished state ends a running job: Succeeded with its
        effects, any other leaving its items as they were."""
        with self.lock:
            now = self.now()
            details = [e if isinstance(e, dict) else service_error(*(e if isinstance(e, tuple) else ("", e)), now)
                       for e in errors]
            for detail in details:
                if not (detail.get("serviceErrorDetails") or {}).get("code"):
                    (detail.get("serviceErrorDetails") or {}).pop("code", None)
            self.forced[job_id.lower()] = (state, details)

    def wait_for(self, predicate: Callable[[ArmService], bool], timeout: float = 30.0) -> bool:
        """Block until ``predicate(self)`` holds, checked after every request the double answers (for a test
        driving a subprocess: no fixed sleeps); False if ``timeout`` seconds pass first."""
        with self._answered:
            return self._answered.wait_for(lambda: predicate(self), timeout)

    def jobs(self, vault: str | None = None) -> list[Job]:
        """Every job, newest first (for assertions; observing nothing)."""
        vaults = [self.estate.vaults[vault.lower()]] if vault else list(self.estate.vaults.values())
        return sorted((j for v in vaults for j in v.jobs.values()), key=lambda j: j.seq, reverse=True)

    def item(self, vm: str, vault: str | None = None):
        """The protected item of VM ``vm`` (model object; observing nothing)."""
        for v in ([self.estate.vaults[vault.lower()]] if vault else self.estate.vaults.values()):
            if vm.lower() in v.items:
                return v.items[vm.lower()]
        raise KeyError(vm)

    def item_document(self, vm: str, vault: str | None = None) -> dict[str, Any]:
        """The item as a GET would show it, without moving time."""
        from tests.azure.arm import specs

        with self.lock:
            return self.asr.item_doc(self.item(vm, vault), specs.body("recoveryservicessiterecovery",
                                                                      "ReplicationProtectedItems_Get"), observe=False)

    # --- time -------------------------------------------------------------------------------------------

    def now(self) -> str:
        return (self.epoch + timedelta(seconds=self.ticks)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")

    def delay(self, seconds: str) -> dict[str, str]:
        """The header that paces a client's next poll: ``Retry-After`` as the examples give it, or, with
        ``poll_delay_ms`` (a CLI subprocess, whose SDK really sleeps), ``retry-after-ms``, which azure-core
        honours and the SDKs do not parse as an integer ``Retry-After`` (they reject ``0.01``; ``0`` makes
        azure-core fall back to the client's 30 s polling interval)."""
        if self.poll_delay_ms is None:
            return {"Retry-After": seconds}
        return {"retry-after-ms": str(self.poll_delay_ms)}

    # --- paging -----------------------------------------------------------------------------------------

    def page(self, req: Request, elements: list[T], size: int, key: Callable[[T], str]) -> tuple[list[T], str | None]:
        """One page after ``$skipToken`` (the key of the last element of the previous page) and the next token."""
        token, start = req.param("$skipToken"), 0
        if token:
            start = next((i + 1 for i, e in enumerate(elements) if key(e) == token), len(elements))
        page = elements[start:start + size]
        return page, (key(page[-1]) if page and start + size < len(elements) else None)

    def paged(self, docs: list[Any], req: Request, token: str | None) -> dict[str, Any]:
        doc: dict[str, Any] = {"value": docs}
        if token:  # absolute, as ARM gives it; the SDK follows it as is
            query = f"api-version={req.api_version}&$skipToken={quote(token)}"
            if (where := req.param("$filter")) is not None:  # the next page is of the same query
                query += f"&$filter={quote(where)}"
            doc["nextLink"] = f"{req.origin}{req.path}?{query}"
        return doc

    # --- dispatch ---------------------------------------------------------------------------------------

    def handle(self, method: str, url: str, headers: Mapping[str, str] | None = None,
               body: str | bytes | None = None) -> Reply:
        self._held(method, url)
        with self.lock:
            try:
                return self._handle(method, url, headers, body)
            finally:
                self._answered.notify_all()

    def _held(self, method: str, url: str) -> None:
        with self.lock:
            waiting = [h for h in self.holds if not h.taken]
            if not waiting:
                return
            path, writes = urlsplit(url).path, len(self.writes)
            hold = next((h for h in waiting if h.matches(method, path, writes)), None)
            if hold is None:
                return
            hold.taken = True
        hold.arrived.set()
        hold.release.wait(hold.timeout)

    def _handle(self, method: str, url: str, headers: Mapping[str, str] | None, body: str | bytes | None) -> Reply:
        self.ticks += 1
        self.observed = set()
        self.network.background()
        req = Request.parse(method, url, headers, body)
        if LOGIN_HOST.match(req.host) or "/oauth2/" in req.path:
            return self.token(req)
        kv = KEY_VAULT_HOST.match(req.host)
        sent = Sent(req.method, req.host + req.path if kv else req.path, req.query, req.text)
        self.sent.append(sent)
        fault = next((f for f in self.faults if f.matches(req.method, req.path)), None)
        if fault is not None:
            fault.times -= 1
            if fault.exception is not None and not fault.after:
                raise fault.exception
            if fault.exception is None:
                sent.status = fault.status
                return error(fault.status, fault.code, f"injected {fault.code}", fault.headers)
        try:
            reply = self.key_vault.handle(req, kv.group("vault")) if kv else self._arm(req)
        except ArmError as exc:
            reply = exc.reply()
        if fault is not None and fault.exception is not None:
            raise fault.exception
        sent.status = reply[0]
        return reply

    def _arm(self, req: Request) -> Reply:
        segments = [s for s in req.path.split("/") if s]
        lower = [s.lower() for s in segments]
        if not req.api_version:
            raise bad_request("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is "
                                                            "required for all requests.")
        if lower[:1] != ["subscriptions"] or len(segments) < 2:
            raise ArmError(404, "NotFound", f"nothing at {req.path}")
        if segments[1].lower() != self.estate.subscription.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{segments[1]}' could not be found.")
        rg = None
        rest = segments[2:]
        if lower[2:3] == ["resourcegroups"]:
            rg, rest = segments[3] if len(segments) > 3 else "", segments[4:]
            if rg.lower() != self.estate.resource_group.lower():
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        if len(rest) < 2 or rest[0].lower() != "providers":
            raise ArmError(404, "NotFound", f"nothing at {req.path}")
        namespace, rest = rest[1].lower(), rest[2:]
        if namespace == "microsoft.recoveryservices" and rest[:1] and rest[0].lower() == "vaults" and len(rest) >= 2:
            return self.asr.handle(req, rest[1], rest[2:])
        if namespace == "microsoft.network":
            return self.network.handle(req, rg, rest)
        if namespace == "microsoft.compute" and rg is None:
            return self.compute.handle(req, rest)
        raise ArmError(404, "NoRegisteredProviderFound", f"No registered resource provider found for {req.path}.")

    def token(self, req: Request) -> Reply:
        """Microsoft Entra ID's token endpoint: a bearer token for whoever asks."""
        return ok({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": "arm-double-token"})
