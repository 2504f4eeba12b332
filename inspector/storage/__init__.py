"""The defect log: SQLAlchemy models on SQLite, one writer thread, history queries, CSV export."""
