"""Which steps ``needs`` orders, directly or through other steps.

Each step's transitive needs are kept as one bitset (a Python int, a bit per step in topological
order), built once, each from its needs' sets: asking whether two steps are ordered is a bit test,
and the sets of a 5,000-step runbook take a few megabytes.
"""

from __future__ import annotations


class Precedence:
    def __init__(self, order: tuple[str, ...], needs_of):
        """``order``: the step ids, each after its needs; ``needs_of(step_id)``: its direct needs."""
        self.order = order
        self.index = {step_id: position for position, step_id in enumerate(order)}
        self.ancestors: list[int] = []
        for step_id in order:
            bits = 0
            for need in needs_of(step_id):
                position = self.index[need]
                bits |= self.ancestors[position] | (1 << position)
            self.ancestors.append(bits)

    def bit(self, step_id: str) -> int:
        return 1 << self.index[step_id]

    def before(self, first: str, then: str) -> bool:
        """Whether ``first`` is among ``then``'s needs, directly or through other steps."""
        return bool(self.ancestors[self.index[then]] >> self.index[first] & 1)

    def ordered(self, a: str, b: str) -> bool:
        return self.before(a, b) or self.before(b, a)

    def steps_in(self, bits: int) -> list[str]:
        """The step ids of a bitset, in topological order."""
        found = []
        while bits:
            low = bits & -bits
            found.append(self.order[low.bit_length() - 1])
            bits ^= low
        return found
