"""Commands on the journal's records: a run's status, the history of runs, a run's report."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from adapters.shared.files import write_private
from adapters.shared.secret import redact, redact_data
from engine.cli.app import app
from engine.cli.options import ConfigOpt, JournalOpt, OutputOpt
from engine.cli.session import Session
from engine.cli.views import text
from engine.model.problems import InvalidInput, Problem


def _no_run(run_id: str, journal) -> InvalidInput:
    return InvalidInput([Problem("RUN001", f"no run {run_id} in the journal {journal.path}",
                                 fix="see failover history")])


@app.command()
def status(run_id: Annotated[str | None, typer.Argument(help="a run (default: runs going on now)")] = None,
           journal: JournalOpt = None, output_format: OutputOpt = "text", config: ConfigOpt = None) -> None:
    """A run and its steps, from the journal; without RUN_ID, the runs running or paused now."""
    with Session(config, output_format=output_format, journal=journal) as session:
        if run_id is not None:
            found = session.journal.load(run_id)
            if found is None:
                raise _no_run(run_id, session.journal)
            result = found[1]
            session.emit(result.to_json(), text.run_text(result))
            if str(result.status) == "cleanup-failed" or (result.kind == "drill" and result.phase == "cleanup"):
                session.note(f"finish its cleanup with: failover cleanup {run_id}")
            elif str(result.status) in ("interrupted", "paused", "failed") and result.phase != "done":
                session.note(f"resume with: failover resume {run_id}")
            return
        going = ("running", "paused", "interrupted", "cleanup-failed")
        rows = [r for r in session.journal.runs(limit=200) if r["status"] in going]
        results = [session.journal.load(r["run_id"])[1] for r in rows]
        session.emit({"runs": [r.to_json() for r in results]},
                     "\n\n".join(text.run_text(r) for r in results) or "no run is going on")


class HistoryFormat(StrEnum):
    text = "text"
    html = "html"
    markdown = "markdown"


@app.command()
def history(limit: Annotated[int, typer.Option("--limit", "-n", help="how many runs")] = 20,
            drills: Annotated[bool, typer.Option("--drills", help="only drills, with their pass/fail trend")] = False,
            checks: Annotated[bool, typer.Option("--checks", help="readiness checks instead, with their trend")] = False,
            page: Annotated[HistoryFormat, typer.Option(
                "--format", "-f", help="text, or (drills) an html page with the recovery-time chart, or markdown")
            ] = HistoryFormat.text,
            out: Annotated[Path | None, typer.Option("--out", help="write the page to this file")] = None,
            journal: JournalOpt = None, output_format: OutputOpt = "text", config: ConfigOpt = None) -> None:
    """Past runs, newest first; with --drills, each drill's recovery time against its objective and the
    pass/fail trend (--format html: a page with the chart); with --checks, past readiness checks."""
    from engine.cli.report.history import drill_history, render_history_html, render_history_markdown

    with Session(config, output_format=output_format, journal=journal, file_option="--out") as session:
        if checks:
            from engine.cli.views.checks import trend_document, trend_text

            rows = session.journal.checks(limit=limit)
            session.emit(trend_document(rows), trend_text(rows))
            return
        runs = [text.history_row(r) for r in session.journal.runs(limit=limit, kind="drill" if drills else None)]
        document = {"runs": runs}
        if drills:
            chart = drill_history(session.journal, limit=limit)
            by_id = {d["run_id"]: d for d in chart["drills"]}
            for run in runs:
                found = by_id.get(run["run_id"], {})
                run.update({k: found.get(k) for k in ("verdict", "passed", "recovered_s", "target_s", "met")})
            document.update(trend=chart["trend"], passed=chart["passed"], failed=chart["failed"])
            from engine.cli.views.checks import latest_checks

            document["readiness"] = chart["readiness"] = latest_checks(session.journal.checks(limit=500))
        if page != HistoryFormat.text:
            if not drills:
                raise InvalidInput([Problem("CLI005", f"--format {page.value} draws the drill history",
                                            fix=f"failover history --drills --format {page.value}")])
            rendered = render_history_html(chart) if page == HistoryFormat.html else render_history_markdown(chart)
            if out is None and not session.json:
                sys.stdout.write(rendered)
                return
            if out is not None:
                write_private(out, rendered)
                document["file"] = str(out)
                session.note(f"drill history written to {out}")
        shown = text.history_text(runs)
        if drills and runs:
            shown += (f"\n\ntrend (oldest → newest): {document['trend']}  "
                      f"({document['passed']} passed, {document['failed']} failed)")
        if drills:
            from engine.cli.views.checks import readiness_text

            shown += readiness_text(document["readiness"])
        if out is None or session.json:
            session.emit(document, shown)


class ReportFormat(StrEnum):
    html = "html"
    json = "json"
    markdown = "markdown"


SUFFIX_FORMATS = {".html": ReportFormat.html, ".htm": ReportFormat.html, ".json": ReportFormat.json,
                  ".md": ReportFormat.markdown, ".markdown": ReportFormat.markdown}


@app.command()
def report(run_id: Annotated[str, typer.Argument(help="the run (or drill) to report on")],
           report_format: Annotated[ReportFormat | None, typer.Option(
               "--format", "-f", help="html (one self-contained page), json, or markdown (for a ticket); "
                                      "default: from the file's suffix, else html")] = None,
           output: Annotated[str, typer.Option(
               "--output", "-o", help="json or text (the result on stdout, as every command), or a FILE to "
                                      "write the report to")] = "text",
           out: Annotated[Path | None, typer.Option(
               "--out", help="write the report to this file instead of stdout")] = None,
           journal: JournalOpt = None, config: ConfigOpt = None) -> None:
    """A run's report from the journal: verdict, timeline, steps with their changes, retries and errors,
    recovery time, and what was cleaned up or left behind. `-o json` prints the report's JSON document;
    `-o FILE` (or `--out FILE`) writes the page to FILE (with -o json too: where it was written)."""
    from engine.cli.report.collect import UnknownRun, collect
    from engine.cli.report.html import render_html
    from engine.cli.report.markdown import render_markdown

    if output not in ("text", "json"):  # `report RUN -o FILE`, as the command has always read
        out, output = Path(output), "text"
    if report_format is None:
        report_format = SUFFIX_FORMATS.get(out.suffix.lower(), ReportFormat.html) if out else ReportFormat.html
    with Session(config, journal=journal, output_format=output) as session:
        try:
            document = collect(session.journal, run_id)
        except UnknownRun:
            raise _no_run(run_id, session.journal) from None
        if session.json and out is None:
            report_format = ReportFormat.json
        if report_format == ReportFormat.json:
            page = json.dumps(redact_data(document), indent=2, default=str) + "\n"
        elif report_format == ReportFormat.markdown:
            page = render_markdown(document)
        else:
            page = render_html(document)
        page = redact(page)
        if out is None:
            sys.stdout.write(page)
            return
        write_private(out, page)
        if session.json:
            session.emit({"run_id": run_id, "format": report_format.value, "file": str(out)})
        session.note(f"{report_format.value} report of {run_id} written to {out}")
