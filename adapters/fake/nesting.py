"""What both of the fake's stores mean by a transaction: one atomic change, under the store's lock,
that nested uses join. Each store says how it begins, commits and rolls back."""

from __future__ import annotations


class NestedTransactions:
    _depth = 0

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def transaction(self) -> NestedTransactions:
        """``with store.transaction():`` one atomic change. The store is its own context manager (a
        generator-based one costs more than the change itself in a plan's thousands of writes)."""
        return self

    def __enter__(self) -> None:
        self.lock.acquire()
        try:
            if self._depth == 0:
                self._begin()
        except BaseException:
            self.lock.release()
            raise
        self._depth += 1

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            self._depth -= 1
            if self._depth == 0:
                if kind is None:
                    self._commit()
                else:
                    self._rollback()
        finally:
            self.lock.release()
        return False
