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


class OneStatement:
    """A batch applied as one statement, where ``apply`` takes a few per table: one INSERT into a
    temporary view, each of whose rows a trigger turns into the statement it stands for, in order.

    What holds up a step waiting to commit its intent is the connection held by another commit, and a
    commit holds it for as long as it takes to get the interpreter back after each call into SQLite
    (every ``execute`` gives it up twice: to run the statement and to reset it). Here a commit is one
    ``execute`` in autocommit: one statement is one transaction, all of it or none of it.

    A statement is turned into a trigger the first time it is seen (its ``?`` become the row's values);
    one with more values than the view has columns, or with quotes, is not (``apply`` returns False and
    the caller applies the batch as before). Rows are padded to a power of two with rows no trigger
    takes, so that a handful of statement texts serve every size (SQLite's statement cache keeps them)."""

    WIDEST = 24  # values of the widest statement taken (a step's row has 20)

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.kinds: dict[str, int] = {}  # statement -> its trigger's kind (0: none, a padding row)
        columns = ", ".join(f"NULL AS v{i}" for i in range(1, self.WIDEST + 1))
        db.execute(f"CREATE TEMP VIEW IF NOT EXISTS journal_rows AS SELECT 0 AS kind, {columns}")
        row = "(" + ",".join("?" * (self.WIDEST + 1)) + ")"
        limit = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // (self.WIDEST + 1)
        self.most = 1 << (min(_MOST_ROWS, limit).bit_length() - 1)
        self.insert = {size: f"INSERT INTO journal_rows VALUES {','.join([row] * size)}"
                       for size in (1 << n for n in range(self.most.bit_length()))}
        self.unused = (None,) * self.WIDEST  # the values a statement does not bind
        self.padding = (0, *self.unused)

    @staticmethod
    def size(rows: int) -> int:
        """The rows of the statement that carries ``rows``: the next power of two."""
        return 1 << (rows - 1).bit_length()

    def _kind(self, sql: str) -> int | None:
        kind = self.kinds.get(sql)
        if kind is None:
            if sql.count("?") > self.WIDEST or any(c in sql for c in "'\";"):
                return None
            kind = len(self.kinds) + 1
            values = (f"NEW.v{n}" for n in range(1, self.WIDEST + 1))
            body = re.sub(r"\?", lambda _: next(values), sql)
            self.db.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS journal_rows_{kind} INSTEAD OF INSERT ON "
                            f"journal_rows WHEN NEW.kind = {kind} BEGIN {body}; END")
            self.kinds[sql] = kind
        return kind

    def apply(self, statements: list[tuple[str, tuple]]) -> bool:
        """Apply ``statements`` as one statement, outside any transaction; False (nothing done) if they
        cannot be: too many, or a statement no trigger can stand for."""
        if not statements or len(statements) > self.most:
            return False
        values: list = []
        for sql, params in statements:
            kind = self._kind(sql)
            if kind is None or len(params) != sql.count("?"):
                return False
            values += (kind, *params, *self.unused[len(params):])
        size = self.size(len(statements))
        values += self.padding * (size - len(statements))
        self.db.execute(self.insert[size], values)
        return True
