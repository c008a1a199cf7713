"""Run lifecycle: process leases, the owner of an unfinished run or idempotency claim.

Revision ID: 0004_run_lifecycle
Revises: 0003_traffic
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_run_lifecycle"
down_revision: str | None = "0003_traffic"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNFINISHED = "status IN ('queued', 'running')"


def upgrade() -> None:
    op.create_table(
        "process_leases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_leases")),
    )
    op.create_index("ix_process_leases_expires_at", "process_leases", ["expires_at"])
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("owner_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_executions_unfinished",
        "executions",
        ["owner_id"],
        sqlite_where=sa.text(_UNFINISHED),
        postgresql_where=sa.text(_UNFINISHED),
    )
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("owner_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("owner_id")
    op.drop_index("ix_executions_unfinished", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("owner_id")
    op.drop_index("ix_process_leases_expires_at", table_name="process_leases")
    op.drop_table("process_leases")
