"""Keys carry the rate-limit count they draw from, so a regenerated key keeps its predecessor's.

Revision ID: 0005_key_quota
Revises: 0004_run_lifecycle
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_key_quota"
down_revision: str | None = "0004_run_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("quota_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("quota_id")
