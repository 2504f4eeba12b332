"""Schema 4: every part and defect says which camera of the line saw it.

A line may have several cameras, each tracking its own parts (numbered per camera). Rows written
before had one camera, which is what a line's only camera is called: ``cam1``.

Revision ID: schema_4
Revises: schema_3
"""

import sqlalchemy as sa
from alembic import op

revision = "schema_4"
down_revision = "schema_3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parts") as batch:
        batch.add_column(sa.Column("camera", sa.String(64), nullable=False, server_default="cam1"))
        batch.drop_index("ix_parts_run_part")
        batch.create_index("ix_parts_run_camera_part", ["run_id", "camera", "part"])
    with op.batch_alter_table("defects") as batch:
        batch.add_column(sa.Column("camera", sa.String(64), nullable=False, server_default="cam1"))
        batch.create_index("ix_defects_camera", ["camera"])
    op.execute(sa.text("UPDATE meta SET value = '4' WHERE key = 'schema_version'"))
