"""submissions: file counters (FILES_READ, FILES_WRITTEN, FILES_SKIPPED, TOTAL_FILES, TOTAL_SIZE)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("files_read", "files_written", "files_skipped", "total_files", "total_size")


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        for name in COLUMNS:
            batch_op.drop_column(name)
