"""Statistics roll-ups: `execution_rollups` (final runs per deployment, hour and status, with a duration
histogram), back-filled from the executions already stored, and the partial index through which the
statistics count unfinished runs.

The back-fill (`rollups.back_fill`) reads the final runs once, streamed, and adds them up with the same
code as the orphan sweep.

Revision ID: 0015_stats_rollups
Revises: 0014_queue
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clara_runner.store import rollups
from clara_runner.store.tables import UNFINISHED_CONDITION, Json, UTCDateTime

revision: str = "0015_stats_rollups"
down_revision: str | None = "0014_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "execution_rollups",
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("output_mismatches", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("durations", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name="fk_execution_rollups_deployment_id_deployments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", "hour", "status", name="pk_execution_rollups"),
    )
    op.create_index(
        "ix_executions_unfinished_by_time",
        "executions",
        ["created_at", "deployment_id"],
        sqlite_where=sa.text(UNFINISHED_CONDITION),
        postgresql_where=sa.text(UNFINISHED_CONDITION),
    )
    rollups.back_fill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_executions_unfinished_by_time", table_name="executions")
    op.drop_table("execution_rollups")
