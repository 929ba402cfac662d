"""A registry database written at an old schema revision, for upgrade tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from screening.registry.database import MIGRATIONS


def old_registry(tmp_path: Path, revision: str,
                 *rows: tuple[str, dict]) -> tuple[str, str]:
    """A SQLite registry migrated to `revision` only, with `rows` (SQL, parameters) inserted
    as that schema had them. Returns (its URL, the current head revision it must upgrade
    to when opened)."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with old.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        for sql, params in rows:
            conn.execute(text(sql), params)
    old.dispose()
    return url, str(ScriptDirectory.from_config(cfg).get_current_head())
