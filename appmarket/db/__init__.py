"""Relational state: sqlmodel tables, the engine, and alembic migrations."""
