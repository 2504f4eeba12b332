"""The defect log's schema history, as Alembic migrations; ``inspector.storage.database`` runs them."""
