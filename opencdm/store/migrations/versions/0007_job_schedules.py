"""job_schedules: the last and next planned run of each scheduled job

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_schedules",
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_planned", sa.BigInteger(), nullable=False),
        sa.Column("next_planned", sa.BigInteger(), nullable=True),
        sa.Column("config", sa.Text(), nullable=False),
    )
    op.create_index("ix_job_schedules_next_planned", "job_schedules", ["next_planned"])


def downgrade() -> None:
    op.drop_index("ix_job_schedules_next_planned", "job_schedules")
    op.drop_table("job_schedules")
