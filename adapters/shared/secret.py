"""A value that must never be shown: VPN shared keys, credentials.

``Secret`` prints as ``***`` wherever it goes (repr, str, f-strings, JSON through ``default=str``), and
every revealed value is remembered so that :func:`redact` can scrub it from any text that leaves the
process (logs, journal rows, reports, error messages), even if it got there by accident.
"""

from __future__ import annotations

import hashlib
import json
import threading

MASK = "***"

_known: set[str] = set()
_longest_first: tuple[str, ...] = ()  # what redact looks for, rebuilt when a value is revealed
_as_in_json: tuple[str, ...] = ()  # the same values as they read inside a JSON string
_lock = threading.Lock()


class Secret:
    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = ""):
        self._value = value
        self.source = source
        if value:
            _remember(value)

    def reveal(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """A stable, non-reversible digest, to tell whether two secrets are equal without showing either."""
        return "sha256:" + hashlib.sha256(self._value.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _remember(value: str) -> None:
    global _longest_first, _as_in_json
    with _lock:
        if value not in _known:
            _known.add(value)
            _longest_first = tuple(sorted(_known, key=len, reverse=True))  # a key inside another goes last
            _as_in_json = tuple(json.dumps(v)[1:-1] for v in _longest_first)


def mentions_secret(text: str) -> bool:
    """Whether ``text`` holds a known secret value, as it is or as JSON writes it inside a string. JSON
    escapes character by character, so any string holding a value is written with the escaped value
    in it: a JSON document that passes this check holds no secret in any of its strings."""
    return any(value in text for value in _longest_first) or any(value in text for value in _as_in_json)


def redact(text: str) -> str:
    """Replace every known secret value in ``text`` with ``***``."""
    if not isinstance(text, str):
        return text
    for value in _longest_first:  # one read of the tuple: no lock, no sort per call
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(data):
    """``redact`` applied through nested dicts and lists; Secrets become ``***``."""
    if isinstance(data, Secret):
        return MASK
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): redact_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data
