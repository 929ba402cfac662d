"""The registry on a real PostgreSQL server, started on 127.0.0.1 by the test itself.

Skipped (with the reason) where no PostgreSQL server binaries or psycopg are installed;
.ci/run installs both on CI machines.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists():
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="ipscreen-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    port = _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "ipscreen",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(root / "log"), "-o", f"-h 127.0.0.1 -p {port} -k {root}", "start"],
                   check=True, capture_output=True)
    try:
        url = f"postgresql+psycopg://ipscreen@127.0.0.1:{port}/postgres"
        yield url
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "stop"], capture_output=True, check=False)
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)


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
    access.add_licence("tenant-a", "W-1")
    with pytest.raises(ConflictError):
        access.add_licence("tenant-a", "W-1")
    assert access.licensed("tenant-a") == {"W-1"}
    access.add_licence("tenant-a", "W-2")
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
