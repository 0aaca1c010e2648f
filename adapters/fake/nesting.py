"""What both of the fake's stores mean by a transaction: one atomic change, under the store's lock,
that nested uses join. Each store says how it begins, commits and rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class NestedTransactions:
    _depth = 0

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            if self._depth == 0:
                self._begin()
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._rollback()
                raise
            self._depth -= 1
            if self._depth == 0:
                self._commit()
