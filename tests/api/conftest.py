"""A small real registry (two photos, two KJV chapters), keys of every scope, and the real
app under TestClient (lifespan included: models and indexes really load)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from screening.access import AccessStore
from screening.registry.repository import WorkMeta
from screening.service import Workspace
from tests.conftest import png_bytes
from tests.screening.text_fixtures import kjv


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory, photos, model_cache):
    d = tmp_path_factory.mktemp("service") / "data"
    ws = Workspace(ApiSettings(data_dir=d, model_cache_dir=model_cache,
                               maintained_profiles=["accurate", "hash"]),  # type: ignore[list-item]
                   create=True, progress=False)
    for name in ("astronaut", "coffee"):
        ws.register_image(WorkMeta(f"IMG-{name}", "image", name.title(), "Acme", "photo", "CN"),
                          png_bytes(photos[name]), sync=False)
    ws.sync_indexes()
    ws.register_text(WorkMeta("KJV-GEN-1", "text", "Genesis 1", "Crown", "literary", "GB"),
                     kjv(1, 1), sync=False)
    ws.register_text(WorkMeta("KJV-PSA-23", "text", "Psalm 23", "Crown", "lyrics", "GB"),
                     kjv(19, 23))
    access = AccessStore(ws.registry.engine)
    keys = {scope: access.create_key(f"test-{scope}", "acme", [scope], 10_000)[0]
            for scope in ("screen", "register", "underwrite", "licence", "admin")}
    keys["other-tenant"] = access.create_key("other", "globex", ["screen"], 10_000)[0]
    keys["slow"] = access.create_key("slow", "acme", ["screen"], 2)[0]
    keys["revoked"] = access.create_key("gone", "acme", ["admin"])[0]
    access.revoke(keys["revoked"].split("_")[1])
    keys["trial"] = access.create_key("trial", "acme", ["admin"], 10_000,
                                      expires_in_days=30)[0]
    keys["expired"] = access.create_key("old trial", "acme", ["admin"], 10_000,
                                        expires_in_days=1)[0]
    with ws.registry.engine.begin() as conn:  # as if created two days ago
        conn.execute(text("UPDATE api_keys SET expires_at = :at WHERE prefix = :p"),
                     {"at": datetime.now(UTC) - timedelta(days=1),
                      "p": keys["expired"].split("_")[1]})
    ws.close()
    return d, keys


def settings_for(data_dir, model_cache, **kw) -> ApiSettings:
    base = dict(data_dir=data_dir, model_cache_dir=model_cache, reload_interval_s=0.2,
                maintained_profiles=["accurate", "hash"], max_files=4, max_texts=4,
                max_text_chars=20_000, max_request_bytes=8 * 1024 * 1024)
    base.update(kw)
    return ApiSettings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def client(service_dir, model_cache):
    data_dir, _keys = service_dir
    with TestClient(create_app(settings_for(data_dir, model_cache))) as c:
        yield c


@pytest.fixture(scope="session")
def keys(service_dir) -> dict[str, str]:
    return service_dir[1]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
