"""Schema version 3: ``measurements``, the timings of a run's final model (``suite
measure``). One row per (cell, seed, machine): a re-measure on the same machine replaces
its row, one on another machine (CPU or GPU model, capability, threads) is kept beside
it. ``record`` is a JSON measurement record with its own ``format`` number.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("measurements",
                    sa.Column("cell_id", sa.Text, primary_key=True),
                    sa.Column("seed", sa.BigInteger, primary_key=True, autoincrement=False),
                    sa.Column("machine", sa.Text, primary_key=True),
                    sa.Column("format", sa.Integer, nullable=False),
                    sa.Column("measured", sa.Float(53), nullable=False),
                    sa.Column("record", sa.Text, nullable=False))
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.drop_table("measurements")
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
