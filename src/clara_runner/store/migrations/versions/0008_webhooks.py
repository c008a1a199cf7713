"""Webhooks: endpoints per deployment, their delivery rows, runs' waiting callbacks, `callbacks_allowed`.

Revision ID: 0008_webhooks
Revises: 0007_execution_events
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_webhooks"
down_revision: str | None = "0007_execution_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
CALLBACK_CONDITION = sa.text("webhook_id IS NULL")


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _deployment_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["deployment_id"], ["deployments.id"], name=op.f(f"fk_{table}_deployment_id_deployments"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("callbacks_allowed", sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        _timestamp("created_at"),
        _deployment_fk("webhooks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index("ix_webhooks_deployment_id", "webhooks", ["deployment_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=True),
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        _timestamp("next_attempt_at", nullable=True),
        _timestamp("locked_until", nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempt_log", JSON, nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name=op.f("fk_webhook_deliveries_webhook_id_webhooks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_webhook_deliveries_execution_id_executions"),
            ondelete="CASCADE",
        ),
        _deployment_fk("webhook_deliveries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "uq_webhook_deliveries_execution_webhook", "webhook_deliveries", ["execution_id", "webhook_id"], unique=True
    )
    op.create_index(
        "uq_webhook_deliveries_callback",
        "webhook_deliveries",
        ["execution_id"],
        unique=True,
        sqlite_where=CALLBACK_CONDITION,
        postgresql_where=CALLBACK_CONDITION,
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_webhook_created", "webhook_deliveries", ["webhook_id", "created_at"])

    op.create_table(
        "execution_callbacks",
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        _timestamp("created_at"),
        _deployment_fk("execution_callbacks"),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_execution_callbacks")),
    )
    op.create_index("ix_execution_callbacks_created_at", "execution_callbacks", ["created_at"])


def downgrade() -> None:
    op.drop_table("execution_callbacks")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("callbacks_allowed")
