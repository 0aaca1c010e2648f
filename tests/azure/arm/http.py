"""What travels over HTTP: a recorded request, a queued fault, an ARM error and the replies."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

Reply = tuple[int, dict[str, str], str]


@dataclass
class Sent:
    """One request the double received (Key Vault ones with the vault's host in ``path``)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: str
    status: int | None = None  # the answer's status (None: the connection was dropped)

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int = 0
    code: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    exception: BaseException | None = None  # the connection drops instead of an answer
    after: bool = False  # drop only once the request was carried out (its answer is lost)

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method.upper() == method.upper() and bool(self.pattern.search(path))


@dataclass
class Hold:
    """A request kept waiting before the double looks at it, until ``release`` is set (see ``hold_next``)."""

    method: str | None  # None: any mutating request
    pattern: re.Pattern
    after_writes: int  # only once the double has recorded this many mutating requests
    timeout: float
    arrived: threading.Event = field(default_factory=threading.Event)  # the request came (and waits)
    release: threading.Event = field(default_factory=threading.Event)  # the test lets it through
    taken: bool = False

    def matches(self, method: str, path: str, writes: int) -> bool:
        if self.taken or writes < self.after_writes or not self.pattern.search(path):
            return False
        return method.upper() not in ("GET", "HEAD") if self.method is None else method.upper() == self.method.upper()


class ArmError(Exception):
    """An ARM error answer: ``{"error": {"code", "message"}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def reply(self) -> Reply:
        return error(self.status, self.code, self.message, self.headers)


def ok(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(doc)


def empty(status: int, headers: dict[str, str] | None = None) -> Reply:
    return status, dict(headers or {}), ""


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return ok({"error": {"code": code, "message": message}}, status, headers)


def not_found(what: str, rg: str | None = None) -> ArmError:
    where = f" under resource group '{rg}'" if rg else ""
    return ArmError(404, "ResourceNotFound", f"The Resource '{what}'{where} was not found. For more details "
                                             "please go to https://aka.ms/ARMResourceNotFoundFix")


def bad_request(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)
