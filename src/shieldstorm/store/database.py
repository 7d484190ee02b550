"""Engine construction and schema migration for both supported databases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from shieldstorm.errors import ConfigError

DATA_DIR_ENV = "SHIELDSTORM_DATA_DIR"
DATABASE_URL_ENV = "SHIELDSTORM_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def data_dir() -> Path:
    """Where embedded state lives (`.shieldstorm/` in the working directory unless overridden)."""
    return Path(os.environ.get(DATA_DIR_ENV, ".shieldstorm"))


def default_database_url() -> str:
    """The configured database URL, or an SQLite file under the data directory."""
    configured = os.environ.get(DATABASE_URL_ENV)
    if configured:
        return configured
    return f"sqlite:///{data_dir() / 'shieldstorm.db'}"


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and pick the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; NORMAL sync is durable in WAL mode
    # against application crashes, and busy_timeout turns lock contention into waiting.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine for SQLite or PostgreSQL; SQLite parent directories are created.

    A malformed URL or an unknown dialect/driver is a ConfigError (one line), not a SQLAlchemy traceback.
    """
    url = normalise_url(url or default_database_url())
    try:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, **kwargs)
            sa.event.listen(engine, "connect", _configure_sqlite)
            return engine
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(url, **kwargs)
    except (sa.exc.ArgumentError, ImportError) as exc:
        # Never echo the URL itself: it may carry a password.
        raise ConfigError(f"unusable database URL: {str(exc).splitlines()[0]}") from None


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision of every branch (each concern owns a branch)."""
    command.upgrade(alembic_config(engine), "heads")
