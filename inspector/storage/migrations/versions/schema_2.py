"""Schema 2: parts, each decided once, and defects as one row per physical defect on a part.

A schema-1 database keeps its rows: they become defects on no part, each one frame's sighting
(``frames`` empty), as the "log every frame" audit writes them.

Revision ID: schema_2
Revises: schema_1
"""

import sqlalchemy as sa
from alembic import op

revision = "schema_2"
down_revision = "schema_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "run_events" not in tables:  # a table added within schema 1, missing from its first files
        op.create_table(
            "run_events",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
            sa.Column("at", sa.DateTime, nullable=False),
            sa.Column("frame_index", sa.Integer, nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("detail", sa.String(256), nullable=False),
        )
        op.create_index("ix_run_events_run_id", "run_events", ["run_id"])
    op.create_table(
        "parts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("defect_classes", sa.String(512), nullable=False),
        sa.Column("first_seen_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("first_frame", sa.Integer, nullable=False),
        sa.Column("last_frame", sa.Integer, nullable=False),
        sa.Column("best_frame", sa.Integer, nullable=False),
        sa.Column("x1", sa.Float, nullable=False),
        sa.Column("y1", sa.Float, nullable=False),
        sa.Column("x2", sa.Float, nullable=False),
        sa.Column("y2", sa.Float, nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("image_path", sa.String(1024), nullable=True),
        sa.Column("image_x", sa.Integer, nullable=False),
        sa.Column("image_y", sa.Integer, nullable=False),
    )
    op.create_index("ix_parts_verdict", "parts", ["verdict"])
    op.create_index("ix_parts_decided_at", "parts", ["decided_at"])
    op.create_index("ix_parts_run_part", "parts", ["run_id", "part"])
    with op.batch_alter_table("defects") as batch:
        batch.add_column(sa.Column("part_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("frames", sa.Integer, nullable=True))
        batch.add_column(sa.Column("first_frame", sa.Integer, nullable=True))
        batch.add_column(sa.Column("last_frame", sa.Integer, nullable=True))
        batch.create_foreign_key("fk_defects_part_id_parts", "parts", ["part_id"], ["id"])
        batch.create_index("ix_defects_part_id", ["part_id"])
    op.execute(sa.text("UPDATE meta SET value = '2' WHERE key = 'schema_version'"))
