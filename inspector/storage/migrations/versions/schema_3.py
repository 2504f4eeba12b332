"""Schema 3: the outbox, where messages for the plant's broker wait until it acknowledged them.

Revision ID: schema_3
Revises: schema_2
"""

import sqlalchemy as sa
from alembic import op

revision = "schema_3"
down_revision = "schema_2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("topic", sa.String(1024), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sqlite_autoincrement=True,  # ids only grow: the sender tells new messages by their id
    )
    op.execute(sa.text("UPDATE meta SET value = '3' WHERE key = 'schema_version'"))
