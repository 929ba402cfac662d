"""Opening the registry database: engine, SQLite pragmas, and migrations to head.

SQLite runs in WAL mode so screening processes read while an import writes, with a busy
timeout so two writers queue instead of failing. Any other SQLAlchemy URL (PostgreSQL via
psycopg) works unchanged; Alembic migrates it on open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, DatabaseError

from screening.errors import DataDirError

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def open_engine(url: str) -> Engine:
    """An engine on `url` with the schema migrated to the latest revision."""
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError) as exc:
        raise DataDirError(f"cannot use database URL {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except DatabaseError as exc:  # OperationalError included; "file is not a database" too
        raise DataDirError(f"cannot open registry database {url!r}: {exc.orig}") from None
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head (idempotent)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    known = {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
        unknown = sorted(set(current) - known)
        if unknown:
            # Alembic's own error ("Can't locate revision") came out as a traceback.
            raise DataDirError(
                f"the registry database is at schema revision {unknown[0]!r}, which this "
                f"ipscreen does not know (it knows {', '.join(sorted(known))}): it was "
                "written by a newer ipscreen; upgrade ipscreen to open it")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
