"""Schema 1: runs and one row per defect per frame, as the first release wrote it.

Revision ID: schema_1
"""

import sqlalchemy as sa
from alembic import op

revision = "schema_1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("model_path", sa.String(1024), nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=True),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
    )
    op.create_table(
        "defects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("detected_at", sa.DateTime, nullable=False),
        sa.Column("frame_index", sa.Integer, nullable=False),
        sa.Column("class_name", sa.String(128), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("x1", sa.Float, nullable=False),
        sa.Column("y1", sa.Float, nullable=False),
        sa.Column("x2", sa.Float, nullable=False),
        sa.Column("y2", sa.Float, nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("image_path", sa.String(1024), nullable=True),
        sa.Column("image_x", sa.Integer, nullable=False),
        sa.Column("image_y", sa.Integer, nullable=False),
    )
    for column in ("run_id", "detected_at", "class_name", "confidence"):
        op.create_index(f"ix_defects_{column}", "defects", [column])
    op.create_index("ix_defects_run_time", "defects", ["run_id", "detected_at"])
