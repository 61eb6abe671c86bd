"""submissions.sub_jobs: per-table status and counters of an entire-database run (BATCH_JOB);
submissions.job_id nullable: a run stays when its job deletes itself (disposableType)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite rebuilds the table to change job_id: keep AUTOINCREMENT, or ids of deleted runs come back
    with op.batch_alter_table("submissions", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("sub_jobs", sa.JSON(), nullable=True))
        batch_op.alter_column("job_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # SQLite rebuilds the table to change job_id: keep AUTOINCREMENT, or ids of deleted runs come back
    with op.batch_alter_table("submissions", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("sub_jobs")
        batch_op.alter_column("job_id", existing_type=sa.Integer(), nullable=False)
