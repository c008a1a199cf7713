"""Traffic policy: per-deployment rate limit and concurrency, rate-limit windows, idempotency keys.

Revision ID: 0003_traffic
Revises: 0002_versions
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_traffic"
down_revision: str | None = "0002_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("rate_limit", JSON, nullable=True))
        batch.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))

    op.create_table(
        "rate_limit_windows",
        sa.Column("bucket", sa.String(length=160), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_rate_limit_windows")),
    )
    op.create_index("ix_rate_limit_windows_expires_at", "rate_limit_windows", ["expires_at"])

    op.create_table(
        "idempotency_keys",
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", JSON, nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        _timestamp("created_at"),
        _timestamp("locked_until"),
        _timestamp("expires_at"),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_idempotency_keys_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_idempotency_keys_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", "api_key_id", "idempotency_key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("rate_limit_windows")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("max_concurrency")
        batch.drop_column("rate_limit")
