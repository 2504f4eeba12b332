"""Alembic's entry: migrate the connection ``inspector.storage.database`` hands over."""

from alembic import context

from inspector.storage.models import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters most of a table only by copying it
)
with context.begin_transaction():
    context.run_migrations()
