"""Sealed event logs: `executions.event_log`, the whole event log of a run acknowledged by its final row.

Revision ID: 0013_sealed_event_logs
Revises: 0012_web_sessions
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_sealed_event_logs"
down_revision: str | None = "0012_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("event_log", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.drop_column("event_log")
