"""The works registry: idempotent re-import, conflicts, replace, withdraw, change log."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from screening.errors import ConflictError, InvalidInputError, NotFoundError
from screening.registry.database import open_engine
from screening.registry.models import Change
from screening.registry.repository import WorkMeta, WorksRegistry
from tests.screening.old_registry import old_registry


@pytest.fixture
def registry(tmp_path) -> WorksRegistry:
    return WorksRegistry(open_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}"))


def meta(ext: str = "W-1", **kw) -> WorkMeta:
    return WorkMeta(external_id=ext, kind="image", title="Ultraman", owner="Tsuburaya",
                    category="Character", jurisdiction="CN", registration_no="R-1", **kw)


def test_migrations_create_schema_and_wal(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    names = set(inspect(engine).get_table_names())
    assert {"works", "changes", "features", "alembic_version"} <= names
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    open_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}")  # idempotent on an existing db
    audit = {i["name"] for i in inspect(engine).get_indexes("audit")}
    assert {"ix_audit_request_id", "ix_audit_input_sha256", "ix_audit_tenant"} <= audit


def test_a_registry_of_the_previous_schema_is_upgraded_in_place(tmp_path):
    """A registry written at revision 0002 (keys and audit entries of the shipped service)
    opens under the current schema: its keys still verify (no expiry), its audit entries
    read back (no matches recorded) and are found by input hash, and its works (written
    before works held reference images, 0004) list and have no references."""
    from sqlalchemy import text

    from screening.access import AccessStore

    url, head = old_registry(
        tmp_path, "0002",
        ("INSERT INTO api_keys (prefix, key_sha256, name, tenant, scopes, rate_per_minute, "
         "created_at) VALUES ('abc', :h, 'n', 't', 'screen', 60, '2026-11-01 00:00:00')",
         {"h": hashlib.sha256(b"ips_abc_secret").hexdigest()}),
        ("INSERT INTO audit (at, request_id, tenant, key_prefix, route, input_sha256, "
         "decision, score, versions) VALUES ('2026-11-01 00:00:00', 'r1', 't', 'abc', "
         "'screen/text', :sha, 'block', 0.9, '{}')", {"sha": "f" * 64}),
        ("INSERT INTO works (external_id, kind, title, owner, category, jurisdiction, "
         "registration_no, content_sha256, content_bytes, status, revision, created_at, "
         "updated_at) VALUES ('OLD-1', 'image', '', '', 'character', '', '', :sha, 10, "
         "'active', 1, '2026-11-01 00:00:00', '2026-11-01 00:00:00')", {"sha": "e" * 64}))
    access = AccessStore(open_engine(url))
    assert access.verify("ips_abc_secret").expires_at is None
    (entry,) = access.audit_entries(input_sha256="f" * 64)
    assert entry["request_id"] == "r1" and "matches" not in entry
    with access.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    works = WorksRegistry(access.engine)
    assert [w.external_id for w in works.list_works()] == ["OLD-1"]
    assert works.get("OLD-1").parent_id is None and works.references("OLD-1") == []
    access.engine.dispose()


def test_register_then_same_content_is_a_no_op(registry):
    rec, outcome = registry.register(meta(), "a" * 64, 10)
    assert outcome == "created" and rec.category == "character" and rec.status == "active"
    rev = registry.revision()
    rec2, outcome2 = registry.register(meta(), "a" * 64, 10)
    assert outcome2 == "unchanged" and rec2.id == rec.id and registry.revision() == rev


def test_different_content_conflicts_unless_replace(registry):
    registry.register(meta(), "a" * 64, 10)
    with pytest.raises(ConflictError, match="--replace"):
        registry.register(meta(), "b" * 64, 10)
    rec, outcome = registry.register(meta(), "b" * 64, 11, replace=True)
    assert outcome == "replaced" and rec.content_sha256 == "b" * 64


def test_withdraw_and_reactivate(registry):
    rec, _ = registry.register(meta(), "a" * 64, 10)
    w = registry.withdraw("W-1", "licence ended")
    assert w.status == "withdrawn" and w.revision > rec.revision
    assert registry.list_works(status="active") == []
    again, outcome = registry.register(meta(), "a" * 64, 10)
    assert outcome == "reactivated" and again.status == "active"


def test_metadata_update_is_logged_and_leaves_content_and_revision(registry):
    rec, _ = registry.register(meta(), "a" * 64, 10)
    rev = registry.revision()
    upd, changed = registry.update("W-1", owner=" Tsuburaya Productions ", category="LOGO")
    assert changed == ["owner", "category"]
    assert (upd.owner, upd.category, upd.title) == ("Tsuburaya Productions", "logo", "Ultraman")
    assert upd.content_sha256 == rec.content_sha256 and upd.revision == rec.revision
    assert registry.revision() == rev  # nothing indexed changed: no index catch-up, no reload
    assert registry.update("W-1", owner="Tsuburaya Productions") == (upd, [])
    with Session(registry.engine) as s:
        log = s.scalars(select(Change).order_by(Change.id)).all()
    assert [c.action for c in log] == ["created", "updated"]
    assert "'Tsuburaya' -> 'Tsuburaya Productions'" in log[-1].detail
    registry.withdraw("W-1", "licence ended")
    withdrawn, changed = registry.update("W-1", title="Ultraman (1966)")
    assert changed == ["title"] and withdrawn.status == "withdrawn"
    history = registry.history("W-1")
    assert [(h["action"], h["detail"]) for h in history] == [
        ("created", "a" * 64), ("updated", log[-1].detail), ("withdrawn", "licence ended"),
        ("updated", "title: 'Ultraman' -> 'Ultraman (1966)'")]
    assert all(h["at"].endswith("+00:00") for h in history)
    with pytest.raises(NotFoundError, match="W-404"):
        registry.history("W-404")


@pytest.mark.parametrize(("fields", "error", "message"), [
    ({"content_sha256": "b" * 64}, InvalidInputError, "cannot update content_sha256"),
    ({"owner": "x" * 301}, InvalidInputError, "owner is longer than 300"),
])
def test_metadata_update_refuses_bad_fields(registry, fields, error, message):
    registry.register(meta(), "a" * 64, 10)
    with pytest.raises(error, match=message):
        registry.update("W-1", **fields)
    assert registry.get("W-1").owner == "Tsuburaya"
    with pytest.raises(NotFoundError, match="W-404"):
        registry.update("W-404", owner="x")


def test_same_content_with_new_metadata_updates_only_with_replace(registry):
    registry.register(meta(), "a" * 64, 10)
    rev = registry.revision()
    newer = WorkMeta("W-1", "image", "Ultraman", "Tsuburaya Productions", "character", "CN",
                     "R-1")
    rec, outcome = registry.register(newer, "a" * 64, 10)
    assert outcome == "unchanged" and rec.owner == "Tsuburaya"  # the spec's no-op
    rec, outcome = registry.register(newer, "a" * 64, 10, replace=True)
    assert outcome == "updated" and rec.owner == "Tsuburaya Productions"
    assert registry.revision() == rev


def test_list_works_pages_and_filters_by_owner_in_the_database(registry):
    for i in range(5):
        registry.register(WorkMeta(f"W-{i}", "image", owner="A" if i % 2 else "B"),
                          f"{i}" * 64, 10)
    assert [w.external_id for w in registry.list_works(owner="B", limit=2, offset=1)] == \
        ["W-2", "W-4"]
    assert registry.count_works(owner="B") == 3 and registry.count_works(owner="C") == 0
    assert registry.count_works(kind="image", status="active") == 5


def test_withdraw_unknown(registry):
    with pytest.raises(NotFoundError, match="W-404"):
        registry.withdraw("W-404")


def test_changed_since_follows_the_change_log(registry):
    registry.register(meta("A"), "a" * 64, 1)
    rev = registry.revision()
    registry.register(meta("B"), "b" * 64, 1)
    registry.withdraw("A")
    changed = registry.changed_since(rev, kind="image")
    assert [(w.external_id, w.status) for w in changed] == [("B", "active"), ("A", "withdrawn")]
    assert registry.changed_since(registry.revision(), kind="image") == []


@pytest.mark.parametrize("bad", [
    dict(external_id=""), dict(external_id="a\nb"), dict(title="x" * 501),
])
def test_invalid_metadata(registry, bad):
    m = WorkMeta(**{**dict(external_id="W", kind="image"), **bad})
    with pytest.raises(InvalidInputError):
        registry.register(m, "a" * 64, 1)


def test_feature_cache_is_keyed_by_version_and_content(registry):
    rec, _ = registry.register(meta(), "a" * 64, 10)
    v = np.arange(16, dtype=np.uint8).reshape(2, 8)
    registry.put_feature(rec, "phash", "1", v)
    assert np.array_equal(registry.get_feature(rec, "phash", "1"), v)
    assert registry.get_feature(rec, "phash", "2") is None
    rec2, _ = registry.register(meta(), "b" * 64, 10, replace=True)
    assert registry.get_feature(rec2, "phash", "1") is None


def test_work_images_names_every_active_image_of_works_with_references(registry):
    one, _ = registry.register(meta("W-1"), "a" * 64, 10)
    two, _ = registry.register(meta("W-2"), "b" * 64, 10)
    r2, _ = registry.add_reference("W-2", "c" * 64, 10)
    r3, _ = registry.add_reference("W-2", "d" * 64, 10)
    family = [two.id, r2.id, r3.id]
    got = registry.work_images([one.id, r3.id, 10_000])
    assert got == {r3.id: family}  # a work of one image and unknown ids are left out
    assert registry.work_images([two.id]) == {two.id: family}
    registry.withdraw("W-2#2")
    assert registry.work_images([r3.id]) == {r3.id: [two.id, r3.id]}
    registry.withdraw("W-2#3")
    assert registry.work_images([two.id]) == {}
    assert registry.work_images([]) == {}
