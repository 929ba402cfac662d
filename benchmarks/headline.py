"""The README's headline table, generated from benchmarks/results/*.json: the few figures a
newcomer asks about first (does it find copies, does it leave the rest alone, how fast), each
from the latest run of its benchmark, with the run's date and machine.

    python benchmarks/headline.py          # rewrite the README between its markers
    python benchmarks/headline.py --check  # exit 1 if the README's table is not this one
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
START, END = "<!-- headline:start -->", "<!-- headline:end -->"


def _load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _when(r: dict) -> str:
    return str(r.get("date") or r.get("when") or "?")[:10]


def _cpu(r: dict) -> str:
    m = r.get("machine") or {}
    simd = m.get("simd") or []
    vec = "AVX-512" if "avx512f" in simd else "AVX2" if "avx2" in simd else "no AVX2"
    return f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {vec}"


def table() -> str:
    image, text, api = _load("image_copy_detection"), _load("text_copy_detection"), \
        _load("api_load")
    char, short = _load("image_character_similarity"), _load("text_short_works")
    scan, nodes = _load("scan_throughput"), _load("multi_node")
    million = _load("scan_million")
    bench, verdicts = _load("workbench"), _load("verdict_calibration")
    backtest = _load("pricing_backtest")
    flags = _load("derivative_flags")["rows"]["shipped"]
    copy_only = (flags["distractors_flagged"] * flags["distractors"]
                 - flags["flagged_by_derivative"]) / flags["distractors"]
    learnt = backtest["rows"][min(3, len(backtest["rows"]) - 1)]  # priced after 3 years
    queue = bench["pages"]["queue, first page"]
    shipped, refit = verdicts["rows"][0], verdicts["rows"][1]
    one = char["settings"][0]["scores"]
    three = next(x["scores"] for x in char["settings"] if x["references"] > 1)
    whole = [x for x in short["scores"] if x["case"] == "whole"]
    n = sum(x["n"] for x in whole)
    changed = [x for x in short["scores"] if x["case"].startswith("changed")]
    acc = image["methods"]["ipscreen accurate + background norm"]
    base = image["methods"]["baseline SSCD whole image only"]
    cases = text["methods"]["ipscreen"]["cases"]
    minhash = text["methods"]["baseline MinHash-LSH (50-word chunks)"]["cases"]
    rows = [
        (f"Image copies found (recall at precision 0.99; {image['set']['positive_queries']:,} "
         f"copies, {len(acc['recall_p99_by_edit'])} kinds of edit)",
         f"{acc['recall_p99']:.3f}", f"{base['recall_p99']:.3f} (SSCD whole image)",
         "image-copy-detection", image),
        ("Unrelated clip art sent to review as shipped (same-character signal included)",
         f"{flags['distractors_flagged']:.3f}", f"{copy_only:.3f} (copy probability alone)",
         "image-character-similarity", _load("derivative_flags")),
        ("Same character in a new pose found (recall at precision 0.99, one / three reference "
         "images)",
         f"{one['character signal alone']['recall_p99']:.3f} / "
         f"{three['character signal alone']['recall_p99']:.3f}",
         f"{one['SSCD alone (copy probability)']['recall_p99']:.3f} / "
         f"{three['SSCD alone (copy probability)']['recall_p99']:.3f} (SSCD copy probability)",
         "image-character-similarity", char),
        ("Other characters of the same style sent to review",
         f"{one['fused decision']['unregistered_flagged']:.3f}",
         f"{one['SSCD alone (copy probability)']['unregistered_flagged']:.3f}",
         "image-character-similarity", char),
        ("Verbatim text excerpts found (recall at precision 0.99)",
         f"{cases['verbatim']['recall_at_p99']:.3f}",
         f"{minhash['verbatim']['recall_at_p99']:.3f} (MinHash-LSH)", "text-copy-detection",
         text),
        ("Near-verbatim excerpts found (5-15% of words edited)",
         f"{cases['near_verbatim']['recall_at_p99']:.3f}",
         f"{minhash['near_verbatim']['recall_at_p99']:.3f}", "text-copy-detection", text),
        ("Paraphrases found (another translation; recall at FPR 1%)",
         f"{cases['paraphrase']['recall_at_fpr1']:.3f}",
         f"{minhash['paraphrase']['recall_at_fpr1']:.3f}", "text-copy-detection", text),
        (f"Short poems and verse reproduced whole, decided block / with 1-3 words changed, "
         f"review or block, worst case ({n} works, English and Chinese)",
         f"{sum(x['shipped_block'] * x['n'] for x in whole) / n:.3f} / "
         f"{min(x['shipped_flagged'] for x in changed):.3f}",
         f"{sum(x['before_block'] * x['n'] for x in whole) / n:.3f} / "
         f"{min(x['before_flagged'] for x in changed):.3f} (copy probability alone)",
         "text-short-works", short),
        ("Sayings registered as works, flagged when said (English proverbs / Chinese sayings)",
         " / ".join(f"{x['shipped_flagged']:.3f}" for x in short["scores"]
                    if x["case"] == "stock phrase"),
         " / ".join(f"{x['before_flagged']:.3f}" for x in short["scores"]
                    if x["case"] == "stock phrase"), "text-short-works", short),
        ("HTTP: one image, accurate profile, p50 / p95 ms",
         f"{api['image_single']['p50_ms']:.0f} / {api['image_single']['p95_ms']:.0f}", "-",
         "api-load", api),
        ("HTTP: a 1,000-word text, p50 / p95 ms",
         f"{api['text_1000_words']['p50_ms']:.0f} / {api['text_1000_words']['p95_ms']:.0f}",
         "-", "api-load", api),
        (f"Bulk scan on Ray, {scan['profile']} profile, items/s (steady)",
         f"{scan['scan_local']['steady_items_per_s']:.0f}",
         f"{scan['cli']['steady_items_per_s']:.0f} (`ipscreen screen`)", "scan", scan),
        (f"Scan of {million['items']:,} items, hash profile: items/s; peak GB resident less "
         "Ray's object store (first / last tenth)",
         f"{million['items_per_s']:.0f}; {million['peak_private_first_tenth_mb'] / 1024:.2f} / "
         f"{million['peak_private_last_tenth_mb'] / 1024:.2f}", "-", "scan", million),
        (f"Two nodes on PostgreSQL, {nodes['clients']} clients: failed requests; "
         "cross-node lag max s",
         f"{nodes['failed']} of {nodes['requests']}; {nodes['lag_s']['max'] or 0:.1f}",
         f"bound {nodes['max_index_lag_s']:.0f} s", "scan", nodes),
        (f"Workbench: review queue's first page, {bench['cases']:,} open cases, p50 / p95 ms",
         f"{queue['p50_ms']:.0f} / {queue['p95_ms']:.0f}", "target 300 ms", "workbench",
         bench),
        (f"After {verdicts['verdicts']} verdicts on {verdicts['edit']}es of works (an edit "
         "never fitted): copies found; benchmark distractors flagged",
         f"{refit['shifted_recall']:.3f}; {refit['benchmark_flagged_n']}",
         f"{shipped['shifted_recall']:.3f}; {shipped['benchmark_flagged_n']} (shipped "
         "calibrator)", "workbench", verdicts),
        (f"Pricing backtest, {backtest['policies']}-policy synthetic book: base loss cost vs "
         f"truth after 3 years; year {learnt['year']} loss ratio, expected under the truth "
         "(plan's target)",
         f"{learnt['base_vs_truth']:+.1%}; {learnt['loss_ratio']:.2f}, "
         f"{learnt['expected_loss_ratio']:.2f} ({learnt['target_loss_ratio']:.2f})",
         f"{backtest['rows'][0]['base_vs_truth']:+.1%} (shipped plan)", "pricing-backtest",
         backtest),
    ]
    out = ["| what | ipscreen | baseline, same run | run |", "|---|---|---|---|"]
    for what, ours, theirs, page, r in rows:
        out.append(f"| {what} | {ours} | {theirs} | [{_when(r)}, {_cpu(r)}]"
                   f"(docs/benchmarks/{page}.md) |")
    return "\n".join(out)


def rewritten(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    if not rest or END not in rest:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    current = README.read_text(encoding="utf-8")
    new = rewritten(current)
    if args.check:
        if new != current:
            print("README.md's headline table is out of date: run make docs", file=sys.stderr)
            sys.exit(1)
        return
    README.write_text(new, encoding="utf-8")
    print(table())


if __name__ == "__main__":
    main()
