"""The queue backend: `queued_runs` (what a worker needs to run a queued execution, and its reply for the
web replica waiting on it) and `deployments.retry_policy` (what happens to a run whose worker died).

Revision ID: 0014_queue
Revises: 0013_sealed_event_logs
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_queue"
down_revision: str | None = "0013_sealed_event_logs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "queued_runs",
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("version_header", sa.String(length=64), nullable=True),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("outbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_version", sa.Integer(), nullable=True),
        sa.Column("reply_status", sa.Integer(), nullable=True),
        sa.Column("reply_headers", JSON, nullable=True),
        sa.Column("reply_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_queued_runs_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_queued_runs")),
    )
    with op.batch_alter_table("deployments") as table:
        table.add_column(sa.Column("retry_policy", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as table:
        table.drop_column("retry_policy")
    op.drop_table("queued_runs")
