"""The partial index through which a web replica of the queue backend counts the runs waiting for a worker,
per deployment and per API key, when it queues a run (its job's priority, `store/job_queue.py`).

Revision ID: 0016_queue_waiting_index
Revises: 0015_stats_rollups
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clara_runner.store.tables import WAITING_CONDITION

revision: str = "0016_queue_waiting_index"
down_revision: str | None = "0015_stats_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_executions_waiting",
        "executions",
        ["deployment_id", "api_key_id"],
        sqlite_where=sa.text(WAITING_CONDITION),
        postgresql_where=sa.text(WAITING_CONDITION),
    )


def downgrade() -> None:
    op.drop_index("ix_executions_waiting", table_name="executions")
