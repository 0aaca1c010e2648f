"""A batch of journal statements applied in as few calls into SQLite as it takes.

Every call into SQLite (each row of an ``executemany`` too) gives up the interpreter's lock, and on a busy
interpreter taking it back can wait a whole switch interval (5 ms) behind a thread running Python. A
commit of fifty rows one by one could so hold the journal's connection for tens of milliseconds while
steps queue behind it. Here the rows of one INSERT go in one multi-row statement instead: a batch costs
a few calls per table (chunks of powers of two), not one per row.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

_INSERT = re.compile(r"INSERT(?: OR \w+)? INTO (\w+) .*VALUES (\([?,]+\))$", re.DOTALL)
_MOST_ROWS = 256  # rows per statement: sizes are powers of two up to this, so SQLite's statement cache keeps them


def apply(db: sqlite3.Connection, statements: Iterable[tuple[str, tuple]]) -> None:
    """Execute ``statements`` (inside the caller's transaction) with the effect of running them in order.

    The rows of an INSERT are held back and written together: rows of one table keep their order, and
    tables are independent of each other. Anything else (an UPDATE, a DELETE), or an INSERT into a table
    whose held rows came from another statement, first writes everything held, so it sees what came
    before it."""
    held: dict[str, tuple[str, str, list[tuple]]] = {}  # table -> (its INSERT, its "(?,?)", rows in order)

    def write_held() -> None:
        for sql, placeholders, rows in held.values():
            _insert(db, sql, placeholders, rows)
        held.clear()

    for sql, params in statements:
        insert = _INSERT.match(sql)
        if insert is None:
            write_held()
            db.execute(sql, params)
            continue
        table = insert.group(1)
        if table in held and held[table][0] != sql:
            write_held()
        held.setdefault(table, (sql, insert.group(2), []))[2].append(params)
    write_held()


def _insert(db: sqlite3.Connection, sql: str, placeholders: str, rows: list[tuple]) -> None:
    # SQLite before 3.32 takes at most 999 values in one statement: a chunk stays within the limit it has.
    most = min(_MOST_ROWS, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // placeholders.count("?"))
    start = 0
    while start < len(rows):
        size = 1 << (min(most, len(rows) - start).bit_length() - 1)  # the largest power of two that fits
        chunk = rows[start:start + size]
        db.execute(sql + ("," + placeholders) * (size - 1), [value for r in chunk for value in r])
        start += size
