"""Persistence: SQLAlchemy 2 engines over SQLite (embedded default) and PostgreSQL, with Alembic migrations."""

from shieldstorm.store.database import create_engine, default_database_url, migrate

__all__ = ["create_engine", "default_database_url", "migrate"]
