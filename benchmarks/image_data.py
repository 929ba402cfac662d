"""Labelled image sets built from public Debian data, shared by the benchmark and the
calibration fit (which use disjoint splits).

Sources: openclipart-png (public-domain clip art) and gnome-backgrounds (wallpapers), unpacked
by `make data`; scikit-image's bundled photos as scene backgrounds for the calibration split.
Clip art is deduplicated by decoded pixels (the package has exact duplicates) and, because a
registered work and a distractor that look the same make labels meaningless, by pHash: an
image within 10 bits (of 64) of any dihedral transform of an image already kept is dropped
(the package holds mirrored arrows and the same border in eight sizes; under our threat
model a mirrored copy *is* a copy). Images under 128 px on their short side (icons, not works
anyone registers) and blank images are skipped. Edited queries that come out blank (a crop of
empty canvas) are dropped: nothing in them can be a copy. GNOME wallpapers come in light and
dark variants of one design, so they are split by design, never by file.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from models.imaging import is_blank, load_image
from models.phash import PHashExtractor
from screening.evaluation.edits import EDITS

CACHE = Path(".cache/bench")


@dataclass
class Pools:
    clipart: list[Path]
    wallpapers: list[Path]


def load_pools(root: Path) -> Pools:
    """Deduplicated clip art and the decodable wallpapers, cached by file list."""
    root = root.resolve()  # the works manifest names these files; it lives elsewhere
    clip_dir = root / "usr/share/openclipart/png"
    wall_dir = root / "usr/share/backgrounds/gnome"
    files = sorted(clip_dir.rglob("*.png"))
    if not files:
        sys.exit(f"no clip art under {clip_dir}: run `make data` first")
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(("v2\n" + "\n".join(map(str, files))).encode()).hexdigest()[:16]
    cache = CACHE / f"clipart-{key}.json"
    if cache.exists():
        kept = [Path(p) for p in json.loads(cache.read_text())]
    else:
        kept, pixels, hashes = [], set(), []
        for f in tqdm(files, desc="deduplicating clip art", file=sys.stderr):
            try:
                img = load_image(f).image
            except Exception:  # noqa: BLE001 - a broken file in the data set is skipped
                continue
            if min(img.size) < 128 or is_blank(img):
                continue
            digest = hashlib.sha256(img.tobytes()).hexdigest()
            if digest in pixels:
                continue
            variants = PHashExtractor().extract_dihedral(img)
            if hashes:
                dist = np.unpackbits(np.bitwise_xor(np.stack(hashes)[:, None, :],
                                                    variants[None, :, :]), axis=2).sum(axis=2)
                if dist.min() <= 10:
                    continue
            pixels.add(digest)
            hashes.append(variants[0])
            kept.append(f)
        cache.write_text(json.dumps([str(p) for p in kept]))
    # symbolic-* and vnc-* are blank by our rule (grey-level std < 3): no content to match
    walls = [w for w in sorted(wall_dir.glob("*.webp")) if not is_blank(load_image(w).image)]
    return Pools(kept, walls)


@dataclass
class Query:
    path: Path
    edit: str  # edit name, or "original" for unedited distractors
    source: str  # external_id of the registered work copied, "" for distractors


@dataclass
class LabelledSet:
    works: list[tuple[str, Path]]  # (external_id, file)
    queries: list[Query]
    manifest: Path
    background: list[Path]


def build_set(name: str, works: list[Path], distractors: list[Path], scenes: list[Image.Image],
              seed: int, out: Path, background: list[Path] | None = None) -> LabelledSet:
    """Write works manifest and edited queries under `out`; every work gets every edit, every
    distractor appears original and under every edit."""
    rng = np.random.default_rng(seed)
    qdir = out / "queries"
    qdir.mkdir(parents=True, exist_ok=True)
    rows = ["path,external_id,title,owner,category,jurisdiction,registration_no"]
    registered = []
    for i, p in enumerate(works):
        ext = f"{name}-{i:04d}"
        registered.append((ext, p))
        rows.append(f"{p},{ext},{p.stem.replace(',', ' ')},openclipart,artwork,PD,")
    manifest = out / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    queries: list[Query] = []
    dropped: list[str] = []

    def emit(img: Image.Image, stem: str, edit: str, source: str) -> None:
        if is_blank(img):
            dropped.append(f"{stem}-{edit}")
            return
        fmt = "JPEG" if edit == "jpeg_blur" else "PNG"
        path = qdir / f"{stem}-{edit}.{fmt.lower().replace('jpeg', 'jpg')}"
        img.save(path, format=fmt, quality=95)
        queries.append(Query(path, edit, source))

    items = [(ext, p, True) for ext, p in registered] + \
            [(f"neg{i:04d}", p, False) for i, p in enumerate(distractors)]
    for ext, p, positive in tqdm(items, desc=f"editing {name} set", file=sys.stderr):
        img = load_image(p).image
        if not positive:
            emit(img, ext, "original", "")
        for edit, fn in EDITS.items():
            bg = scenes[int(rng.integers(len(scenes)))] if edit == "scene" else None
            emit(fn(img, rng, bg), ext, edit, ext if positive else "")
    if dropped:
        print(f"{name}: dropped {len(dropped)} blank edited queries: {dropped[:8]}",
              file=sys.stderr)
    return LabelledSet(registered, queries, manifest, background or [])


def split(pools: Pools, seed: int = 2026) -> dict[str, list[Path]]:
    """Disjoint splits of the clip-art pool."""
    clip = list(pools.clipart)
    random.Random(seed).shuffle(clip)
    # Offsets are fixed: the calibration was fitted on calib_* as cut here, so growing a
    # benchmark split takes images from the end (bench_extra), never from its neighbours.
    sizes = {"bench_works": 196, "bench_distractors": 100, "calib_works": 150,
             "calib_distractors": 100, "background": 300, "bench_extra": 10}
    out, at = {}, 0
    for k, n in sizes.items():
        out[k] = clip[at:at + n]
        at += n
    return out


def wallpaper_designs(paths: list[Path]) -> dict[str, list[Path]]:
    """Wallpapers grouped by design: 'licorice-l.webp' and 'licorice-d.webp' are one design."""
    designs: dict[str, list[Path]] = {}
    for p in paths:
        stem = p.stem[:-2] if p.stem.endswith(("-l", "-d")) else p.stem
        designs.setdefault(stem, []).append(p)
    return designs


def scene_images(paths: list[Path]) -> list[Image.Image]:
    out = []
    for p in paths:
        img = Image.open(p).convert("RGB")
        img.thumbnail((768, 768))
        out.append(img)
    return out


def skimage_scenes() -> list[Image.Image]:
    from skimage import data

    names = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
             "immunohistochemistry", "retina", "motorcycle_left", "colorwheel"]
    out = []
    for n in names:
        try:
            arr = getattr(data, n)()
        except Exception:  # noqa: BLE001 - some need pooch downloads; skip those
            continue
        img = Image.fromarray(arr if arr.ndim == 3 else np.stack([arr] * 3, -1)).convert("RGB")
        out.append(img)
    return out


def bench_set(data: Path, out: Path) -> LabelledSet:
    """The image benchmark's labelled set (written under `out` once, then reused): 200 works
    (clip art and one variant of every other wallpaper design), their edited copies, and
    distractors; the other wallpaper designs are the scenes works are pasted into."""
    pools = load_pools(data)
    parts = split(pools)
    designs = sorted(wallpaper_designs(pools.wallpapers).items())
    registered_walls = [files[0] for _, files in designs[0::2]]
    scene_walls = [f for _, files in designs[1::2] for f in files]
    works = parts["bench_works"] + parts["bench_extra"][:200 - 196 - len(registered_walls)] \
        + registered_walls
    return build_set("bench", works, parts["bench_distractors"], scene_images(scene_walls),
                     seed=2026, out=out, background=parts["background"])
