"""Cancel reasons: `executions.cancel_reason`, why another process asked a run's owner to cancel it.

A run cancelled by a request to its cancel URL and one whose caller hung up on the web replica relaying it
(queue backend) are recorded differently (`run_cancelled`, `client_closed_request`); the owner reads which.

Revision ID: 0017_cancel_reasons
Revises: 0016_queue_waiting_index
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_cancel_reasons"
down_revision: str | None = "0016_queue_waiting_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("cancel_reason", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.drop_column("cancel_reason")
