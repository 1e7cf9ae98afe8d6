"""Schema version 2: leases on the database clock. ``runs`` gains ``lease_until`` (the
end of the holder's lease, epoch seconds on the database server) and ``takeovers``
(claims in a row whose lease ran out), and an index on ``status``. Running claims of
version 1 keep the five minutes that version 1 granted after their last heartbeat.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_until", sa.Float(53)))
        batch.add_column(sa.Column("takeovers", sa.Integer, nullable=False, server_default="0"))
    op.create_index("runs_by_status", "runs", ["status"])
    op.execute("UPDATE runs SET lease_until = heartbeat + 300 WHERE status = 'running'")
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.drop_index("runs_by_status", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("takeovers")
        batch.drop_column("lease_until")
    op.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
