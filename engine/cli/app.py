"""The ``failover`` application: its command groups, and ``main`` as the console script runs it.

Results go to stdout (text, or one JSON document with ``-o json``); logs and notes to stderr.
Exit codes: 0 success; 1 the run failed; 2 invalid input; 3 refused; 4 paused.
"""

from __future__ import annotations

import sys

import typer

from adapters.shared.errors import AdapterError
from engine.cli.session import Exit, Refused, print_problems, say_failed, say_refused
from engine.model.problems import InvalidInput

app = typer.Typer(
    name="failover", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Declarative failover runbooks for Azure Site Recovery: validate, plan, rehearse, run.",
)
fake_app = typer.Typer(help="The fake estate's live state: start over, dump it, list its mutating calls.",
                       no_args_is_help=True)
app.add_typer(fake_app, name="fake")
schedule_app = typer.Typer(help="Scheduled drills, from the `drills:` section of the settings.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


def main() -> None:
    """Errors a command's session already reported end as its exit code; these are the ones raised
    before a session began (reading a runbook to find its target, for instance)."""
    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    as_json = _asks_for_json(sys.argv[1:])
    try:
        app()  # usage errors exit 2 with click's message
    except InvalidInput as exc:
        print_problems(exc.problems, as_json=as_json)
        sys.exit(Exit.INVALID)
    except Refused as exc:
        say_refused(exc.reason, exc.next_step, as_json=as_json)
        sys.exit(Exit.REFUSED)
    except AdapterError as exc:
        say_failed(str(exc), exc.hint, code=exc.code, as_json=as_json, verbose=verbose)
        sys.exit(Exit.FAILED)
    except Exception as exc:  # a fault of failover itself: said in one paragraph, the traceback with -v
        if verbose:
            raise
        say_failed(f"unexpected {type(exc).__name__}: {exc}", "run the command again with -v for the traceback "
                   "and report it with the journal's run id", code=type(exc).__name__, as_json=as_json)
        sys.exit(Exit.FAILED)


def _asks_for_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON output (for an error raised before a command's session)."""
    for index, arg in enumerate(args):
        if arg in ("-o", "--output") and index + 1 < len(args) and args[index + 1] == "json":
            return True
        if arg in ("-ojson", "--output=json"):
            return True
    return False
