"""stream_positions: where each job's stream source got to (Kafka, DIS)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_positions",
        sa.Column("project_id", sa.String(64), primary_key=True),
        sa.Column("job_name", sa.String(255), primary_key=True),
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("positions", sa.JSON(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stream_positions")
