"""A scan's summary (summary.json) and report (report.html), read back from its parts one
at a time: counts by decision and kind, and for the flagged items (review or block) by work,
owner and category, with the errors and the most likely copies listed."""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from indexes.store import atomic_write

FLAGGED = ("review", "block")
LISTED = 50  # flagged items and errors named in the report


def summarize(parts: Path, total: int) -> dict:
    decisions: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    works: Counter[str] = Counter()
    owners: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    revisions: Counter[int] = Counter()
    errors: list[dict] = []
    top: list[tuple[float, str, str, str]] = []
    columns = ["item", "kind", "decision", "risk_score", "error", "matches", "index_revision"]
    for part in sorted(parts.glob("part-*.parquet")):
        try:
            rows = pq.read_table(part, columns=columns).to_pylist()
        except (OSError, pa.ArrowException):
            continue  # moved aside and rescreened by the next run
        for r in rows:
            kinds[r["kind"]] += 1
            if r["error"] is not None:
                decisions["error"] += 1
                if len(errors) < LISTED:
                    errors.append({"item": r["item"], "error": r["error"]})
                continue
            decisions[r["decision"]] += 1
            if r["index_revision"] is not None:
                revisions[int(r["index_revision"])] += 1
            if r["decision"] not in FLAGGED:
                continue
            flagged = [m for m in r["matches"] if m["decision"] in FLAGGED]
            for m in flagged:
                works[m["external_id"]] += 1
            for key, counter in (("owner", owners), ("category", categories)):
                for value in {m[key] or "(none)" for m in flagged}:
                    counter[value] += 1
            best = flagged[0]["external_id"] if flagged else ""
            top.append((float(r["risk_score"] or 0.0), r["item"], r["decision"], best))
            top = sorted(top, reverse=True)[:LISTED]
    screened = sum(decisions.values())
    return {"items": total, "screened": screened, "remaining": max(0, total - screened),
            "by_decision": dict(decisions.most_common()), "by_kind": dict(kinds.most_common()),
            "by_work": dict(works.most_common()), "by_owner": dict(owners.most_common()),
            "by_category": dict(categories.most_common()),
            "index_revisions": {str(k): v for k, v in sorted(revisions.items())},
            "top_flagged": [{"item": i, "decision": d, "risk_score": s, "work": w}
                            for s, i, d, w in top],
            "errors": errors}


def is_scan(folder: Path) -> bool:
    return (folder / "scan.json").is_file() and (folder / "parts").is_dir()


def scan_results(out: Path) -> list[dict]:
    """Every result a scan wrote (as `ipscreen screen --json` prints them), in item order:
    a scan is a sample `ipscreen underwrite` prices directly."""
    rows: list[tuple[int, str]] = []
    for part in sorted((out / "parts").glob("part-*.parquet")):
        try:
            t = pq.read_table(part, columns=["index", "result"])
        except (OSError, pa.ArrowException):
            continue
        rows.extend(zip(t.column("index").to_pylist(), t.column("result").to_pylist(),
                        strict=True))
    return [json.loads(r) for _, r in sorted(rows)]


def write_summary(out: Path, total: int) -> dict:
    summary = summarize(out / "parts", total)
    atomic_write(out / "summary.json", json.dumps(summary, indent=1).encode())
    atomic_write(out / "report.html", render(summary).encode("utf-8"))
    return summary


def _table(title: str, counts: dict, limit: int = 30) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v}</td></tr>"
                   for k, v in list(counts.items())[:limit])
    more = f"<p>... and {len(counts) - limit} more</p>" if len(counts) > limit else ""
    return (f"<h2>{html.escape(title)}</h2><table><tr><th></th><th>items</th></tr>{rows}"
            f"</table>{more}")


def render(s: dict) -> str:
    top = "".join(f"<tr><td>{html.escape(t['item'])}</td><td>{t['decision']}</td>"
                  f"<td>{t['risk_score']:.3f}</td><td>{html.escape(t['work'])}</td></tr>"
                  for t in s["top_flagged"])
    errs = "".join(f"<tr><td>{html.escape(e['item'])}</td><td>{html.escape(e['error'])}"
                   "</td></tr>" for e in s["errors"])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>ipscreen scan report</title><style>body{{font-family:sans-serif;max-width:60em;
margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:.2em .6em;text-align:left}}</style></head><body>
<h1>Scan report</h1>
<p>{s['screened']} of {s['items']} items screened ({s['remaining']} remaining).</p>
{_table("By decision", s["by_decision"])}{_table("By kind", s["by_kind"])}
{_table("Flagged, by work", s["by_work"])}{_table("Flagged, by owner", s["by_owner"])}
{_table("Flagged, by category", s["by_category"])}
<h2>Most likely copies</h2><table><tr><th>item</th><th>decision</th><th>risk</th>
<th>work</th></tr>{top}</table>
<h2>Items that could not be screened</h2><table><tr><th>item</th><th>error</th></tr>{errs}
</table></body></html>
"""
