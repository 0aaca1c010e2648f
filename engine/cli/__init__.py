"""The ``failover`` command line: the application and its command groups (``commands``), the one
module that opens adapters (``wiring``), a command's session, settings, terminal views, report pages
and the drill scheduler."""

from engine import collector

# Importing makes objects that live as long as the process: the collector, paused meanwhile, would find
# nothing in its hundred walks of them (16 ms of every command), and frozen they are out of every later
# walk (see engine/collector.py).
with collector.paused(keep=True):
    from engine.cli.app import app, main

    # Each module adds its commands; the order they are imported is the order of --help.
    from engine.cli.commands import runbooks, check, records, schedule, estate, drift, locks  # noqa: F401  # isort: skip

__all__ = ["app", "main"]
