"""Shared fixtures: real photos from scikit-image, data dirs, and an in-process CLI runner."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def skimage_photo(name: str) -> Image.Image:
    from skimage import data

    arr = getattr(data, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(arr).convert("RGB")


WORK_NAMES = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    names = WORK_NAMES + ("immunohistochemistry", "hubble_deep_field", "colorwheel")
    return {n: skimage_photo(n) for n in names}


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `ipscreen ARGS...` in-process through the real entry point."""
    from screening import cli as cli_module

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["ipscreen", *map(str, args)])
        code = 0
        try:
            cli_module.main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def work_files(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Image.Image]) -> Path:
    """A folder with four registered-work PNGs and a manifest."""
    root = tmp_path_factory.mktemp("works")
    rows = ["path,external_id,title,owner,category,jurisdiction,registration_no"]
    for name in WORK_NAMES:
        photos[name].save(root / f"{name}.png")
        rows.append(f"{name}.png,W-{name},{name.title()},Acme Studios,photo,CN,REG-{name}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export of the text model per test session, shared by every data dir."""
    path = tmp_path_factory.mktemp("models")
    os.environ["IPSCREEN_MODEL_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of this test module's own (tests/postgres.py); skips without one."""
    from tests.postgres import postgres_server

    yield from postgres_server()
