"""seen_signatures (replay protection); submissions ids never reused on SQLite (AUTOINCREMENT)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_signatures",
        sa.Column("signature", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_seen_signatures_expires_at", "seen_signatures", ["expires_at"])
    if op.get_bind().dialect.name == "sqlite":
        # rebuild the table with AUTOINCREMENT: SQLite then never hands out an id it gave before
        with op.batch_alter_table("submissions", recreate="always",
                                  table_kwargs={"sqlite_autoincrement": True}) as batch_op:
            batch_op.alter_column("id", existing_type=sa.Integer(), autoincrement=True)


def downgrade() -> None:
    op.drop_index("ix_seen_signatures_expires_at", "seen_signatures")
    op.drop_table("seen_signatures")
