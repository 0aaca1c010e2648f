"""Structured logs on stderr: coloured key=value on a terminal, JSON lines otherwise.

Every event passes through ``redact_secrets`` last-but-one, so a secret that reached an event by
accident is still never written.
"""

from __future__ import annotations

import logging
import sys

import structlog

from adapters.shared.secret import redact_data


def redact_secrets(logger, method_name, event_dict):
    return redact_data(event_dict)


class _Stderr:
    """Writes to whatever sys.stderr is now (a live progress view may have redirected it)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(fmt: str = "auto", level: str = "info") -> None:
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer(default=str)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),
        cache_logger_on_first_use=False,
    )


def get_logger(**context):
    return structlog.get_logger("failover").bind(**context)
