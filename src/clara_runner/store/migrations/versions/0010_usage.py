"""Token usage: `executions.prompt_tokens` and `completion_tokens`, summed over the run's nodes, and
`cost_micros` by the operator's price table; `deployments.usage_budget`, a token budget per key.

Revision ID: 0010_usage
Revises: 0009_cancel_requests
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010_usage"
down_revision: str | None = "0009_cancel_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("prompt_tokens", sa.Integer(), nullable=True))
        table.add_column(sa.Column("completion_tokens", sa.Integer(), nullable=True))
        table.add_column(sa.Column("cost_micros", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("deployments") as table:
        table.add_column(sa.Column("usage_budget", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as table:
        table.drop_column("usage_budget")
    with op.batch_alter_table("executions") as table:
        table.drop_column("cost_micros")
        table.drop_column("completion_tokens")
        table.drop_column("prompt_tokens")
