"""RP001: every VM a step fails over (or moves) to a chosen recovery point has such a point. Read only: the
items' recovery points, as the step itself reads them."""

from __future__ import annotations

from adapters.ports import ProtectedItem
from adapters.shared.errors import NotFoundError
from engine.kinds import points
from engine.model.runbook import Step


def check_points(inspector, step: Step, args, adapter, items: list[ProtectedItem]) -> None:
    if args.recovery_point == points.LATEST:
        return
    vault = inspector.target.vault_ref(args.vault)
    now = adapter.clock.wall()
    for item in items:
        try:
            found = adapter.replication.list_recovery_points(vault, item.vm_name)
        except NotFoundError:
            continue  # NET009 says the item is missing
        if points.choose(found, args.recovery_point) is None:
            inspector.report("RP001", step, points.no_point_message(item.vm_name, args.recovery_point, found, now),
                             "choose a later time or the other consistency (a point older than the replication "
                             "policy's retention is gone), or fail this VM over in a step of its own")
