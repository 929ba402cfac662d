"""A small real registry for the workbench's tests: one photo and one psalm, keys for two
tenants and every scope, and thresholds under which a copy goes to review (block at 1.0)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from api.settings import ApiSettings
from screening.access import AccessStore
from screening.registry.repository import WorkMeta
from screening.service import Workspace
from tests.conftest import png_bytes
from tests.screening.text_fixtures import kjv


def workbench_settings(data_dir: Path, model_cache: Path, **kw: object) -> ApiSettings:
    base: dict = dict(data_dir=data_dir, model_cache_dir=model_cache, reload_interval_s=0.2,
                      maintained_profiles=["accurate", "hash"], block_threshold=1.0)
    base.update(kw)
    return ApiSettings(**base)


def make_registry(data_dir: Path, model_cache: Path, photo) -> dict[str, str]:  # type: ignore[no-untyped-def]
    ws = Workspace(workbench_settings(data_dir, model_cache), create=True, progress=False)
    ws.register_image(WorkMeta("IMG-astronaut", "image", "Astronaut", "Acme", "photo", "CN"),
                      png_bytes(photo))
    ws.register_text(WorkMeta("KJV-PSA-23", "text", "Psalm 23", "Crown", "lyrics", "GB"),
                     kjv(19, 23))
    access = AccessStore(ws.registry.engine)
    keys = {scope: access.create_key(f"wb-{scope}", "acme", [scope], 100_000)[0]
            for scope in ("screen", "register", "underwrite", "admin")}
    keys["globex"] = access.create_key("globex reviewer", "globex", ["screen"], 100_000)[0]
    ws.close()
    return keys


def sign_in(client: TestClient, key: str, next_url: str = "/ui/queue"):  # type: ignore[no-untyped-def]
    page = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return client.post("/ui/login", data={"key": key, "csrf": token.group(1),
                                          "next": next_url}, follow_redirects=False)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m is not None, "the page carries no CSRF token"
    return m.group(1)
