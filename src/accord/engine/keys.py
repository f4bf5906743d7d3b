"""Choosing keys for records the engine creates (uuid4, or the next number of a series)."""

from __future__ import annotations

from accord.engine.context import SideContext
from accord.model.keys import new_uuids
from accord.state import StateStore, StateTransaction


class KeyAllocator:
    """Hands out keys for one destination table during a pass.

    Series numbers are reserved in the state store (so two runs never hand out the same
    number) above the greatest number the table already holds.
    """

    def __init__(self, side: SideContext, store: StateStore) -> None:
        self.side = side
        self.store = store
        self._floor: int | None = None

    def allocate(self, count: int, tx: StateTransaction) -> list[str]:
        if count == 0:
            return []
        policy = self.side.key_policy
        if policy.is_uuid:
            return new_uuids(count)
        assert policy.series is not None
        if self._floor is None:
            existing = self.side.connector.max_key(self.side.table, policy.series)
            self._floor = (policy.number_of(existing) if existing else None) or 0
        first = tx.allocate_numbers(self.side.table_ref, count, self._floor)
        return [policy.format(first + i) for i in range(count)]
