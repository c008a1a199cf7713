"""Statistics: `executions.output_mismatch` per run, and the index the statistics read.

`ix_executions_deployment_stats` (deployment, created_at, status, duration_ms, output_mismatch and the
token counts of 0010_usage) replaces `ix_executions_deployment_created`: the history still reads it by
its first two columns, and the statistics of a deployment over a time range read only the index, never
the rows.

Revision ID: 0011_stats_keys
Revises: 0010_usage
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_stats_keys"
down_revision: str | None = "0010_usage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATS_COLUMNS = [
    "deployment_id",
    "created_at",
    "status",
    "duration_ms",
    "output_mismatch",
    "prompt_tokens",
    "completion_tokens",
]


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("output_mismatch", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_executions_deployment_stats", "executions", _STATS_COLUMNS)
    op.drop_index("ix_executions_deployment_created", table_name="executions")


def downgrade() -> None:
    op.create_index("ix_executions_deployment_created", "executions", ["deployment_id", "created_at"])
    op.drop_index("ix_executions_deployment_stats", table_name="executions")
    with op.batch_alter_table("executions") as table:
        table.drop_column("output_mismatch")
