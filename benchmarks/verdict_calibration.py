"""Does calibration learn from verdicts? A shifted distribution on the public image benchmark.

The image benchmark's works and distractors (Debian's openclipart-png and GNOME wallpapers)
are put through an edit the shipped calibrators never saw in fitting (`--edit`, default
`sketch`: the image's edges as dark lines on white, as a line-art or colouring-book
generator renders it; `dither` and `posterize_noise` are the others), works and
distractors alike. Everything is screened with the accurate
profile (background set on, every candidate reported with its signals). Then:

- 10% of those outputs (random, seeded; outputs with a reported match) get a simulated
  verdict: the truth (is the best match the work the output was made from?), as a reviewer
  would give it. `screening.calibration.verdicts.refit` adds them to the calibrator's
  shipped rows, exactly as `ipscreen calibrate --from-verdicts` does.
- On the other 90%, and on the benchmark's own queries (seven edits, unedited distractors),
  copies decided review or block with the right work (recall at the shipped thresholds) and
  distractors flagged are counted, with the shipped calibrator and with the refit.

    python benchmarks/verdict_calibration.py --data .cache/data/root
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))

from image_data import bench_set  # noqa: E402
from image_eval import cached_run, open_workspace  # noqa: E402
from machine import describe, line  # noqa: E402
from publish import save  # noqa: E402

from models.imaging import load_image  # noqa: E402
from screening.calibration import load_calibrator  # noqa: E402
from screening.calibration.rows import shipped_rows  # noqa: E402
from screening.calibration.verdicts import refit, usable  # noqa: E402
from screening.calibration.versions import ActiveCalibrations  # noqa: E402
from screening.decision import Thresholds  # noqa: E402

CALIBRATOR = "image-accurate-bg"


def dither(img: Image.Image) -> Image.Image:
    w, h = img.size
    small = img.convert("L").resize((max(8, int(w * 0.6)), max(8, int(h * 0.6))))
    return small.convert("1").convert("RGB").resize((w, h), Image.Resampling.NEAREST)


def sketch(img: Image.Image) -> Image.Image:
    from PIL import ImageFilter, ImageOps

    return ImageOps.invert(img.convert("L").filter(ImageFilter.FIND_EDGES)).convert("RGB")


def posterize_noise(img: Image.Image) -> Image.Image:
    from PIL import ImageOps

    arr = np.asarray(ImageOps.posterize(img.convert("RGB"), 2), dtype=np.float32)
    noise = np.random.default_rng(0).normal(0, 30, arr.shape)
    return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))


EDITS = {"dither": dither, "sketch": sketch, "posterize_noise": posterize_noise}


def shifted_queries(labelled, edit: str, out: Path, limit: int | None):  # type: ignore[no-untyped-def]
    """(path, source work or "") for every work and distractor under the new edit."""
    out.mkdir(parents=True, exist_ok=True)
    sources = [(ext, p) for ext, p in labelled.works]
    seen = {q.path.name.split("-original")[0]: q.path for q in labelled.queries
            if q.edit == "original"}
    items = [(ext, p, ext) for ext, p in sources] + \
            [(stem, p, "") for stem, p in sorted(seen.items())]
    if limit:
        items = items[:limit // 2] + [i for i in items if not i[2]][:limit // 2]
    queries = []
    for stem, p, source in tqdm(items, desc=f"{edit} edits", file=sys.stderr):
        path = out / f"{stem}-{edit}.png"
        if not path.exists():
            EDITS[edit](load_image(p).image).save(path)
        queries.append((path, source))
    return queries


def decided(results: list[dict], truth: list[str], active: ActiveCalibrations | None,
            t: Thresholds) -> tuple[float, float, int, int, int]:
    """(recall of copies decided review/block with the right work, share of distractors
    flagged, copies, distractors, distractors flagged) under the copy probability,
    re-scored by `active`."""
    found = flagged = pos = neg = 0
    for r, source in zip(results, truth, strict=True):
        seen = active.apply(r, "bench", t) if active is not None else r
        best = max(seen.get("matches", []), key=lambda m: m["score"], default=None)
        hit = best is not None and best["score"] >= t.review
        if source:
            pos += 1
            found += int(hit and best["external_id"] == source)
        else:
            neg += 1
            flagged += int(hit)
    return found / max(pos, 1), flagged / max(neg, 1), pos, neg, flagged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/bench"))
    ap.add_argument("--edit", choices=sorted(EDITS), default="sketch")
    ap.add_argument("--share", type=float, default=0.10, help="outputs given a verdict")
    ap.add_argument("--weight", type=float, default=None,
                    help="default: chosen by the refit (held out, with its guard)")
    ap.add_argument("--seed", type=int, default=29)
    ap.add_argument("--probe", type=int, default=0, help="only this many outputs (a look)")
    args = ap.parse_args()
    labelled = bench_set(args.data, args.work)
    ws = open_workspace(args.work / "data", labelled, ["accurate", "fast", "hash"])
    queries = shifted_queries(labelled, args.edit, args.work / f"shift-{args.edit}",
                              args.probe or None)
    cache = args.work / f"shift-{args.edit}-{args.probe or 'all'}.pkl"
    if cache.exists():
        results = pickle.loads(cache.read_bytes())
    else:
        screener = ws.image_screener("accurate", use_background=True)
        results = [r.to_dict() for r in tqdm(
            screener.screen_paths([p for p, _ in queries], ws.limits), total=len(queries),
            desc=f"accurate on {args.edit}", file=sys.stderr)]
        cache.write_bytes(pickle.dumps(results))
    truth = [s for _, s in queries]
    t = Thresholds(0.9, 0.5, 0.05)
    cal = load_calibrator(CALIBRATOR)
    assert all(r["versions"]["calibration"].startswith(CALIBRATOR + "@") for r in results)
    rng = np.random.default_rng(args.seed)
    with_match = [i for i, r in enumerate(results) if r.get("matches")]
    chosen = set(rng.choice(with_match, int(round(args.share * len(results))),
                            replace=False).tolist())
    verdicts = []
    for i in sorted(chosen):
        best = max(results[i]["matches"], key=lambda m: m["score"])
        right = bool(truth[i]) and best["external_id"] == truth[i]
        verdicts.append({"case": i, "verdict": "infringing" if right else "not_infringing",
                         "signals": {"similarity_kind": "copy",
                                     "signals": best["signals"]}})
    rest = [i for i in range(len(results)) if i not in chosen]
    bench = cached_run(ws, labelled, "accurate", True, args.work / "run-accurate+bg.pkl",
                       False)
    sets = {"shifted": ([results[i] for i in rest], [truth[i] for i in rest]),
            "benchmark": (bench.results, [q.source for q in labelled.queries])}
    rows: list[dict] = [{"calibrator": f"shipped ({cal.version})", "weight": None,
                         **{k: decided(r, tr, None, t) for k, (r, tr) in sets.items()}}]
    reports = []
    # the product's default (weight chosen held out, with its guard), then fixed weights
    # side by side for the record; none of them is chosen on these figures
    for weight in ([args.weight] if args.weight else [None, 5.0, 20.0]):
        start = time.perf_counter()
        new, report = refit(cal, shipped_rows(CALIBRATOR), usable(verdicts, cal.features),
                            t.review, weight)
        report["seconds"] = round(time.perf_counter() - start, 1)
        reports.append(report)
        active = ActiveCalibrations({(CALIBRATOR, ""): new}) if new is not None else None
        name = ("refit, weight chosen by the refit" if weight is None
                else f"refit, weight {weight:g}") + \
            (f" ({report['weight']:g})" if weight is None and new is not None else "") + \
            ("" if new is not None else ": no change")
        rows.append({"calibrator": name, "weight": report.get("weight"),
                     **{k: decided(r, tr, active, t) for k, (r, tr) in sets.items()}})
    now = datetime.now(UTC).isoformat(timespec="seconds")
    sh, bm = rows[0]["shifted"], rows[0]["benchmark"]
    lines = [f"Verdict calibration, {now} ({line(describe())}); calibrator {CALIBRATOR}; "
             f"edit {args.edit}: {len(results)} outputs, {len(verdicts)} simulated verdicts "
             f"({sum(v['verdict'] == 'infringing' for v in verdicts)} infringing), seed "
             f"{args.seed}; decided on the other {sh[2]} copies and {sh[3]} distractors of "
             f"the edit, and the benchmark's {bm[2]} copies and {bm[3]} distractors",
             "", f"| calibrator | {args.edit}: copies found | {args.edit}: distractors "
             "flagged | benchmark: copies found | benchmark: distractors flagged |",
             "|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[k][0]:.3f} | {r[k][1]:.3f} ({r[k][4]})" for k in sets]
        lines.append(f"| {r['calibrator']} | " + " | ".join(cells) + " |")
    lines += [""] + ["Refit report: " + json.dumps(rep) for rep in reports] + [""]
    text = "\n".join(lines)
    if args.probe:  # a look, not a result
        print(text)
        return
    save("verdict_calibration", {
        "date": now, "machine": describe(), "edit": args.edit, "verdicts": len(verdicts),
        "rows": [{"calibrator": r["calibrator"], "weight": r["weight"],
                  **{f"{k}_recall": round(r[k][0], 4) for k in sets},
                  **{f"{k}_flagged": round(r[k][1], 4) for k in sets},
                  **{f"{k}_flagged_n": r[k][4] for k in sets}} for r in rows]},
         text, append=True)


if __name__ == "__main__":
    main()
