"""Alembic's entry point for the store's migrations. The store passes the connection
to migrate in ``config.attributes["connection"]``; there is no ini file and no URL."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
