from __future__ import annotations

import sqlalchemy as sa

from shieldstorm.store import create_engine, migrate


def test_migrate_creates_version_table_on_both_backends(database_url: str) -> None:
    engine = create_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        versions = connection.execute(sa.text("select version_num from alembic_version")).scalars().all()
    from alembic.script import ScriptDirectory

    from shieldstorm.store.database import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    assert set(versions) == heads
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'nested' / 'x.db'}")
    with engine.connect() as connection:
        mode = connection.execute(sa.text("PRAGMA journal_mode")).scalar_one()
    assert mode == "wal"
    assert (tmp_path / "nested" / "x.db").exists()


def test_postgres_urls_use_psycopg3_driver() -> None:
    from shieldstorm.store.database import normalise_url

    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
