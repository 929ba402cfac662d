"""What the character fit and benchmark share: a data dir with characters registered (one
reference pose, or several), their other poses rendered as queries, and every candidate's
signals through the real pipeline (screening/image)."""

from __future__ import annotations

import io
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from character_data import Character, render
from PIL import Image
from tqdm import tqdm

from models.imaging import DecodedImage
from screening.calibration import LogisticCalibrator
from screening.image.features import features_for
from screening.image.profiles import ImageProfile
from screening.image.screening import ImageScreener
from screening.registry.repository import WorkMeta
from screening.service import Workspace
from screening.settings import Settings


@dataclass(frozen=True)
class Query:
    character: str  # the character drawn (registered or not)
    family: str
    pose: str
    image: DecodedImage


def work_id(c: Character) -> str:
    return "CHR-" + c.id.replace("/", "-")


def open_registry(data_dir: Path, characters: list[Character], registered: set[str],
                  references: int, settings: dict | None = None) -> Workspace:
    """A workspace with each character in `registered` registered from its first pose
    (category character), plus its next `references - 1` poses as reference images."""
    ws = Workspace(Settings(**{"data_dir": data_dir, "maintained_profiles": ["hash"],
                               **(settings or {})}), create=True, progress=False)
    if ws.registry.count_works():
        return ws
    for c in tqdm(characters, desc="registering", file=sys.stderr):
        if c.id not in registered:
            continue
        poses = list(c.poses.values())
        meta = WorkMeta(work_id(c), "image", c.id, c.game, "character")
        ws.register_image(meta, png_bytes(render(poses[0][0])), sync=False)
        for frames in poses[1:references]:
            ws.add_reference(meta.external_id, png_bytes(render(frames[0])), sync=False)
    ws.sync_indexes()
    return ws


def queries(characters: list[Character], first_pose: int, most: int = 5,
            scenes: list[Image.Image] | None = None, seed: int = 5) -> list[Query]:
    """Each character's poses from `first_pose` on (at most `most`), first frame, rendered on
    white, or with `scenes` each drawn into one of them (see in_scene; draws from `seed`)."""
    rng = random.Random(seed)
    out = []
    for c in characters:
        for pose, frames in list(c.poses.items())[first_pose:first_pose + most]:
            img = render(frames[0]) if scenes is None else in_scene(
                frames[0].load().convert("RGBA"), rng.choice(scenes), rng)
            out.append(Query(c.id, c.family, pose, DecodedImage(img, img.width, img.height, "PNG")))
    return out


def in_scene(frame: Image.Image, scene: Image.Image, rng: random.Random,
             canvas: int = 512) -> Image.Image:
    """`frame` (RGBA, transparent around the character) drawn into a random square crop of
    `scene` at `canvas` px, its longest side 40-60% of the canvas, at a random place: the
    character in a new pose inside a picture, as a generator outputs a mascot in a scene."""
    return placed_in_scene(frame, scene, rng, canvas)[0]


def placed_in_scene(frame: Image.Image, scene: Image.Image, rng: random.Random,
                    canvas: int = 512
                    ) -> tuple[Image.Image, tuple[int, int, int, int], Image.Image]:
    """in_scene's picture, with where the character went (its box, pixels) and the
    character as drawn there, cut out onto white (what a perfect segmentation would see)."""
    side = min(scene.size)
    x0, y0 = rng.randint(0, scene.width - side), rng.randint(0, scene.height - side)
    out = scene.crop((x0, y0, x0 + side, y0 + side)).resize((canvas, canvas)).convert("RGBA")
    scale = canvas * rng.uniform(0.4, 0.6) / max(frame.size)
    im = frame.resize((max(1, round(frame.width * scale)), max(1, round(frame.height * scale))),
                      Image.Resampling.LANCZOS)
    px, py = rng.randint(0, canvas - im.width), rng.randint(0, canvas - im.height)
    out.alpha_composite(im, (px, py))
    cut = Image.new("RGBA", im.size, "white")
    cut.alpha_composite(im)
    return out.convert("RGB"), (px, py, px + im.width, py + im.height), cut.convert("RGB")


def character_screener(ws: Workspace, calibrator: LogisticCalibrator | None = None
                       ) -> ImageScreener:
    """A screener of the character signal alone (hashes searched too, no SSCD windows)."""
    profile = ImageProfile("character", None, calibration="hash", character=True)
    features = features_for(profile)
    indexes = ws.images.current(features)
    return ImageScreener(profile, features, indexes, ws.registry, ws.thresholds,
                         character_calibrator=calibrator, derivative_rule=ws.derivative_rule)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
