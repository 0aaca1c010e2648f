"""Problems found in a runbook, its parameters or an estate: collected, never raised one by one.

Every problem names where it is (file, line, step) and says what is wrong and how to fix it, so an
operator can mend the whole runbook in one pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    step: str | None = None
    fix: str | None = None
    severity: str = ERROR
    column: int | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def where(self) -> str:
        place = self.file or "<runbook>"
        if self.line:
            place += f":{self.line}"
            if self.column:
                place += f":{self.column}"
        if self.step:
            place += f" step {self.step}"
        return place

    def __str__(self) -> str:
        where = f"{self.where()}: " if self.file or self.step else ""
        text = f"{where}{self.code}: {self.message}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class InvalidInput(Exception):
    """The runbook, estate, parameters or command line are wrong; nothing was executed (exit 2)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]
