"""Deployment Manager sessions (`manager_sessions`): signing out or expiring ends a session on the server.

Revision ID: 0012_web_sessions
Revises: 0011_stats_keys
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_web_sessions"
down_revision: str | None = "0011_stats_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manager_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("admin_fingerprint", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_manager_sessions_expires_at", "manager_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_manager_sessions_expires_at", table_name="manager_sessions")
    op.drop_table("manager_sessions")
