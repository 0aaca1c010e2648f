"""A value that must never be shown: VPN shared keys, credentials.

A secret travels wrapped in ``Secret`` from where it is read (the environment, Key Vault, Azure) to the
one call that needs it (``reveal``). ``Secret`` prints as ``***`` wherever it goes (repr, str, f-strings,
JSON through ``default=str``). Redaction is structural first: a ``Secret``, and the value of a field known
to hold secrets (``shared_key``...), become ``***``. Anything else is scrubbed by exact value, as a whole
token only: a known value is replaced where it stands between characters that cannot continue a word
(``app01`` is never touched because a key contains ``app0``), so redaction cannot corrupt the outputs
a resumed run reads back. A value shorter than ``MIN_LENGTH`` is not remembered for that scrubbing (it
would match ordinary words); parameters refuse such a secret instead (see ``engine.model.params``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading

MASK = "***"
MIN_LENGTH = 8
SECRET_FIELDS = frozenset({"shared_key", "sharedKey", "password", "client_secret", "clientSecret"})

_known: set[str] = set()
_longest_first: tuple[str, ...] = ()  # what redact looks for, rebuilt when a value is remembered
_as_in_json: tuple[str, ...] = ()  # the same values as they read inside a JSON string
_pattern: re.Pattern | None = None
_lock = threading.Lock()


class Secret:
    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = ""):
        self._value = value
        self.source = source
        if len(value) >= MIN_LENGTH:
            _remember(value)

    def reveal(self) -> str:
        return self._value

    @property
    def too_short(self) -> bool:
        """Too short to be told apart from ordinary words in output, so it could not be kept out of it."""
        return len(self._value) < MIN_LENGTH

    def digest(self, key: bytes) -> str:
        """An HMAC of the value under ``key`` (a random key per store): whether two secrets are equal can
        be told without keeping either, and the digest is worth nothing without the key."""
        return "hmac-sha256:" + hmac.new(key, self._value.encode(), hashlib.sha256).hexdigest()

    def matches(self, other: Secret) -> bool:
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.matches(other)

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _remember(value: str) -> None:
    global _longest_first, _as_in_json, _pattern
    with _lock:
        if value not in _known:
            _known.add(value)
            _longest_first = tuple(sorted(_known, key=len, reverse=True))  # a key inside another goes last
            _as_in_json = tuple(json.dumps(v)[1:-1] for v in _longest_first)
            _pattern = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, _longest_first)) + r")(?![\w-])")


def mentions_secret(text: str) -> bool:
    """Whether ``text`` holds a known secret value anywhere, as it is or as JSON writes it inside a string
    (a quick test: a document that passes it holds no secret in any of its strings)."""
    return any(value in text for value in _longest_first) or any(value in text for value in _as_in_json)


def redact(text: str) -> str:
    """Replace every known secret value that stands as a whole token in ``text`` with ``***``."""
    if not isinstance(text, str):
        return text
    pattern = _pattern  # one read: no lock, no rebuild per call
    if pattern is None or not any(value in text for value in _longest_first):
        return text
    return pattern.sub(MASK, text)


def redact_data(data):
    """``redact`` applied through nested dicts and lists; Secrets, and fields that hold secrets, become
    ``***``."""
    if isinstance(data, Secret):
        return MASK
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): (MASK if k in SECRET_FIELDS and data[k] not in (None, "") else redact_data(v))
                for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data
