"""The registry on a real PostgreSQL server (tests/postgres.py), started for this module.

Skipped (with the reason) where no PostgreSQL server binaries or psycopg are installed;
.ci/run installs both on CI machines.
"""

from __future__ import annotations

import pytest


def test_registry_on_postgres(postgres_url):
    from screening.errors import ConflictError
    from screening.registry.database import open_engine
    from screening.registry.repository import WorkMeta, WorksRegistry

    engine = open_engine(postgres_url)
    reg = WorksRegistry(engine)
    rec, outcome = reg.register(WorkMeta("PG-1", "image", "T", "O", "logo"), "a" * 64, 3)
    assert outcome == "created"
    with pytest.raises(ConflictError):
        reg.register(WorkMeta("PG-1", "image"), "b" * 64, 3)
    reg.withdraw("PG-1")
    assert [(w.external_id, w.status) for w in reg.changed_since(rec.revision, "image")] == \
        [("PG-1", "withdrawn")]
    rev = reg.revision()
    upd, changed = reg.update("PG-1", owner="O2")
    assert changed == ["owner"] and upd.owner == "O2" and reg.revision() == rev
    assert reg.get("PG-1").updated_at == upd.updated_at  # read back with its UTC offset
    assert [h["action"] for h in reg.history("PG-1")] == ["created", "withdrawn", "updated"]
    assert reg.count_works(owner="O2") == 1 and reg.list_works(owner="O2", limit=1)[0] == \
        reg.get("PG-1")
    # reference images (migration 0004's foreign key): added, withdrawn with their work
    reg.register(WorkMeta("PG-2", "image", category="character"), "c" * 64, 3)
    ref, outcome = reg.add_reference("PG-2", "d" * 64, 3)
    assert outcome == "created" and ref.external_id == "PG-2#2" and ref.parent_id is not None
    assert reg.count_works() == 2 and reg.count_works(references=True) == 3
    reg.withdraw("PG-2")
    assert [r.status for r in reg.references("PG-2")] == ["withdrawn"]
    assert reg.content_groups([ref.id, ref.parent_id]) == {ref.id: ref.parent_id,
                                                          ref.parent_id: ref.parent_id}
    engine.dispose()
    open_engine(postgres_url).dispose()  # migrations are idempotent on an existing schema


def test_workspace_screens_with_postgres_registry(postgres_url, tmp_path, work_files, photos):
    from PIL import ImageOps

    from screening.service import Workspace
    from screening.settings import Settings

    ws = Workspace(Settings(data_dir=tmp_path / "d", database_url=postgres_url,
                            maintained_profiles=["hash"]), create=True, progress=False)
    report = ws.import_manifest(work_files / "manifest.csv")
    assert not report.failed
    q = tmp_path / "q.png"
    ImageOps.mirror(photos["rocket"]).save(q)
    (result,) = list(ws.screen_images([q], "hash"))
    ws.close()
    assert result.matches[0].work.external_id == "W-rocket"


def test_keys_audit_and_licences_on_postgres(postgres_url):
    from screening.access import AccessStore
    from screening.errors import (
        AuthenticationError,
        ConflictError,
        InvalidInputError,
        NotFoundError,
    )
    from screening.registry.database import open_engine

    engine = open_engine(postgres_url)
    access = AccessStore(engine)
    key, info = access.create_key("pg", "tenant-a", ["screen", "underwrite"], 60)
    assert access.verify(key).scopes == ("screen", "underwrite")
    access.audit("req-1", info, "screen/text", "f" * 64, "block", 0.97, {"kind": "text"})
    assert access.audit_entries("req-1")[0]["versions"] == {"kind": "text"}
    access.audit("req-2", info, "screen/image", "e" * 64, "clear", 0.01, {"kind": "image"})
    assert [e["request_id"] for e in access.audit_entries(input_sha256="E" * 64)] == ["req-2"]
    assert [e["request_id"] for e in access.audit_entries(limit=1)] == ["req-2"]
    assert access.audit_entries(tenant="tenant-b") == []
    from datetime import date, timedelta

    from screening.licences import LicenceTerms

    terms = LicenceTerms.of(licensor="L", contract_ref="C-1", valid_from=date(2020, 1, 1),
                            expires=None, perpetual=True, territory="worldwide")
    access.add_licence("tenant-a", "W-1", terms, info.prefix)
    with pytest.raises(ConflictError):
        access.add_licence("tenant-a", "W-1", terms, info.prefix)
    assert access.licensed("tenant-a")["W-1"]["contract_ref"] == "C-1"
    soon = LicenceTerms.of(licensor="L", contract_ref="C-3", valid_from=date.today(),
                           expires=date.today() + timedelta(days=1), territory=["CN"])
    access.add_licence("tenant-a", "W-3", soon, info.prefix)  # dates compare on PostgreSQL
    assert set(access.licensed("tenant-a", date.today() + timedelta(days=2))) == {"W-1"}
    access.remove_licence("tenant-a", "W-3")
    access.add_licence("tenant-a", "W-2", terms, info.prefix)
    access.remove_licence("tenant-a", "W-2")
    with pytest.raises(NotFoundError):
        access.remove_licence("tenant-a", "W-2")
    assert [x["external_id"] for x in access.licences("tenant-a")] == ["W-1"]
    with pytest.raises(InvalidInputError, match="longer than 200"):  # not a DataError
        access.create_key("pg", "t" * 201, ["screen"])
    trial, _ = access.create_key("trial", "tenant-a", ["screen"], expires_in_days=1)
    assert access.verify(trial).expires_at  # a zoned timestamp compares on PostgreSQL too
    access.revoke(info.prefix)
    with pytest.raises(AuthenticationError, match="revoked"):
        access.verify(key)
    engine.dispose()


def test_content_lives_in_the_shared_database(postgres_url, tmp_path):
    """CONTENT_STORE=auto puts a PostgreSQL registry's contents in the database, where a node
    with another data dir reads them; content an older node kept in its own blobs/ is read
    from there and copied over; damaged bytes are refused, never served."""
    from sqlalchemy import text

    from screening.errors import NotFoundError
    from screening.registry.blobs import (
        DatabaseBlobStore,
        DirectoryBlobStore,
        open_blob_store,
        sha256_hex,
    )
    from screening.registry.database import open_engine

    engine = open_engine(postgres_url)
    a = open_blob_store("auto", engine, tmp_path / "node-a")
    b = open_blob_store("auto", engine, tmp_path / "node-b")
    assert isinstance(a, DatabaseBlobStore) and isinstance(b, DatabaseBlobStore)
    digest = a.put(b"registered through node A")
    assert a.put(b"registered through node A") == digest  # idempotent
    assert b.get(digest) == b"registered through node A"
    assert not (tmp_path / "node-a" / "blobs").exists()  # nothing written locally
    old = DirectoryBlobStore(tmp_path / "node-b" / "blobs").put(b"stored before 0.5")
    assert not a.contains(old) and b.contains(old)
    assert b.get(old) == b"stored before 0.5" and a.get(old) == b"stored before 0.5"
    with pytest.raises(NotFoundError, match="missing"):
        a.get(sha256_hex(b"never stored"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE contents SET data = :d WHERE sha256 = :s"),
                     {"d": b"tampered", "s": digest})
    with pytest.raises(NotFoundError, match="damaged"):
        b.get(digest)
    assert isinstance(open_blob_store("directory", engine, tmp_path), DirectoryBlobStore)
    engine.dispose()


def test_rate_limits_hold_across_nodes(postgres_url):
    """Two limiters on one database (two nodes) share each key's bucket."""
    from api.ratelimit import DatabaseRateLimiter, rate_limiter
    from screening.registry.database import open_engine

    e1, e2 = open_engine(postgres_url), open_engine(postgres_url)
    node_a, node_b = rate_limiter(e1), rate_limiter(e2)
    assert isinstance(node_a, DatabaseRateLimiter)
    waits = [(node_a if i % 2 else node_b).take("key-x", 4) for i in range(6)]
    assert waits[:4] == [0.0] * 4 and all(w >= 1 for w in waits[4:]), waits
    assert node_b.take("key-y", 4) == 0.0  # another key has a bucket of its own
    e1.dispose()
    e2.dispose()


def test_every_profiles_feature_version_fits_in_postgres(postgres_url):
    """The accurate profile's version string (model and region grid) is about 200
    characters; PostgreSQL enforced an old VARCHAR(100) that SQLite ignores."""
    import numpy as np

    from screening.image.features import features_for
    from screening.image.profiles import PROFILES, get_profile
    from screening.registry.database import open_engine
    from screening.registry.repository import WorkMeta, WorksRegistry

    engine = open_engine(postgres_url)
    reg = WorksRegistry(engine)
    rec, _ = reg.register(WorkMeta("PG-FEATURES", "image"), "c" * 64, 3)
    versions = {f.spec.version for p in PROFILES for f in features_for(get_profile(p))}
    assert max(map(len, versions)) > 100
    for n, version in enumerate(sorted(versions)):
        reg.put_feature(rec, f"f{n}", version, np.zeros((2, 4), np.float32))
    engine.dispose()
