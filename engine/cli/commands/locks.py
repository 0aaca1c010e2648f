"""Releasing a target's lock by hand, for the case nothing else solves."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from engine.cli.app import app
from engine.cli.options import ConfigOpt, JournalOpt, OutputOpt, YesOpt
from engine.cli.session import Exit, Session, stderr
from engine.model.problems import InvalidInput, Problem


@app.command()
def unlock(target: Annotated[str, typer.Argument(
               help="the locked target as `refused` named it, part of it (resource group/vault), or the holder's run id")],
           reason: Annotated[str, typer.Option("--reason", help="why, recorded in the journal")] = "released by hand",
           yes: YesOpt = False, journal: JournalOpt = None, output_format: OutputOpt = "text",
           config: ConfigOpt = None) -> None:
    """Release a target's lock whose holder is gone and cannot be taken over otherwise (asks first, or
    --yes); the journal records who released it and why."""
    with Session(config, output_format=output_format, journal=journal) as session:
        locks = session.journal.locks()
        matches = [lock for lock in locks if target in (lock.scope, lock.run_id)] or \
            [lock for lock in locks if target in lock.scope]
        held = "; ".join(f"{lock.scope} ({lock.describe()})" for lock in locks) or "none"
        if len(matches) != 1:
            problem = "no lock matches" if not matches else f"{len(matches)} locks match"
            raise InvalidInput([Problem("LOCK001", f"{problem} {target!r}; locks held: {held}",
                                        fix="name one target as `failover unlock` lists it, or its run id")])
        lock = matches[0]
        gone = lock.gone()
        if gone is None and lock.host == _host():
            stderr.print(f"refused: {lock.describe()} is still running on this host. Stop it first "
                         f"(kill {lock.pid}); its lock is then taken over at once by the next run.")
            raise typer.Exit(Exit.REFUSED)
        state = f"its holder is gone: {gone}" if gone else f"its holder on {lock.host} may still be running"
        if not yes:
            if not sys.stdin.isatty():
                stderr.print(f"refused: releasing the lock on {lock.scope} ({state}) needs --yes when not on a terminal")
                raise typer.Exit(Exit.REFUSED)
            stderr.print(f"The lock on {lock.scope} is held by {lock.describe()}; {state}.\n"
                         "Two runs changing one target at once can undo each other's work.")
            if typer.prompt("Type `unlock` to release it", default="", show_default=False).strip() != "unlock":
                stderr.print("refused: not released")
                raise typer.Exit(Exit.REFUSED)
        released = session.journal.unlock(lock.scope, reason)
        document = {"scope": lock.scope, "released": released is not None,
                    "holder": released.describe() if released else None, "reason": reason}
        session.emit(document, f"released the lock on {lock.scope} held by "
                     f"{released.describe() if released else 'nobody (already free)'}; "
                     f"resume that run with: failover resume {lock.run_id}")


def _host() -> str:
    import socket

    return socket.gethostname()
