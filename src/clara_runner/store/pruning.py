"""Deleting old rows in small batches, so a large clean-up never holds a table (or SQLite's one
writer lock) for long and several processes can prune the same table at once without harm."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, delete, select, tuple_

from clara_runner.store.database import Database

BATCH_SIZE = 1000


async def delete_in_batches(
    database: Database, table: Table, condition: ColumnElement[bool], batch_size: int = BATCH_SIZE
) -> int:
    """Delete every row of `table` matching `condition`, `batch_size` rows per transaction; return how many."""
    key = tuple_(*table.primary_key.columns)
    total = 0
    while True:
        batch = select(*table.primary_key.columns).where(condition).limit(batch_size)
        async with database.write() as conn:
            removed = (await conn.execute(delete(table).where(key.in_(batch), condition))).rowcount
        total += removed
        if removed < batch_size:
            return total
