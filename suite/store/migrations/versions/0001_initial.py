"""Schema version 1: the tables of the first SQLite stores (specs, cells, spec_cells,
runs with a host-clock heartbeat). Stores written before migrations existed are
stamped with this revision when they are first opened for writing.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("meta", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    op.create_table("specs", sa.Column("digest", sa.Text, primary_key=True),
                    sa.Column("name", sa.Text, nullable=False),
                    sa.Column("path", sa.Text, nullable=False),
                    sa.Column("text", sa.Text, nullable=False),
                    sa.Column("first_seen", sa.Float(53), nullable=False),
                    sa.Column("last_run", sa.Float(53), nullable=False))
    op.create_table("cells", sa.Column("id", sa.Text, primary_key=True),
                    sa.Column("canonical", sa.Text, nullable=False),
                    sa.Column("method", sa.Text, nullable=False),
                    sa.Column("model", sa.Text, nullable=False),
                    sa.Column("dataset", sa.Text, nullable=False),
                    sa.Column("sparsity", sa.Float(53), nullable=False))
    op.create_table("spec_cells", sa.Column("digest", sa.Text, primary_key=True),
                    sa.Column("cell_id", sa.Text, primary_key=True),
                    sa.Column("position", sa.Integer, nullable=False))
    op.create_table("runs", sa.Column("cell_id", sa.Text, primary_key=True),
                    sa.Column("seed", sa.BigInteger, primary_key=True, autoincrement=False),
                    sa.Column("status", sa.Text, nullable=False),
                    sa.Column("owner", sa.Text),
                    sa.Column("heartbeat", sa.Float(53)),
                    sa.Column("started", sa.Float(53)),
                    sa.Column("finished", sa.Float(53)),
                    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
                    sa.Column("error", sa.Text),
                    sa.Column("result", sa.Text))
    op.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")


def downgrade() -> None:
    for table in ("runs", "spec_cells", "cells", "specs", "meta"):
        op.drop_table(table)
