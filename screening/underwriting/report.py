"""The underwriting report: one self-contained HTML page (charts as inline SVG, no network).

Sections: decision summary, hit rate with its intervals, score distribution, severity /
category / jurisdiction mix, the factor waterfall from base loss cost to premium, the
worksheet, and the top matched works with their evidence.
"""

from __future__ import annotations

import html
import io
import json
from typing import Any

from screening.underwriting.pricing import Quote
from screening.underwriting.profile import RiskProfile

_CSS = """body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{border:1px solid #ddd;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}.num{text-align:right}
.warn{background:#fff3cd;padding:.6em;border-left:4px solid #e0a800}.big{font-size:1.6em}
.src{color:#666;font-size:12px}svg{max-width:100%;height:auto}"""


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def charts(profile: RiskProfile, quote: Quote) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "ipscreen"  # stable ids: same inputs, same page
    out = {}
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.hist(profile.scores, bins=20, range=(0, 1), color="#4472c4")
    ax.set_yscale("symlog")
    ax.set_xlabel("calibrated copy probability of the best match")
    ax.set_ylabel("outputs")
    out["scores"] = _svg(fig)
    mixes = [("severity", profile.severity_mix), ("category", profile.category_mix),
             ("jurisdiction of matched works", profile.jurisdiction_mix)]
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.4))
    for ax, (title, mix) in zip(axes, mixes, strict=True):
        items = sorted(mix.items(), key=lambda kv: -kv[1])[:8]
        ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#ed7d31")
        ax.set_title(title, fontsize=10)
        ax.set_xlim(0, 1)
        if not items:
            ax.text(0.5, 0.5, "no hits", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    out["mix"] = _svg(fig)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    names = [s.name for s in quote.steps]
    values = [s.value for s in quote.steps]
    prev = [0.0] + values[:-1]
    colors = ["#70ad47" if v >= p else "#c00000" for v, p in zip(values, prev, strict=True)]
    colors[0] = "#4472c4"
    ax.bar(range(len(values)), [v - p for v, p in zip(values, prev, strict=True)], bottom=prev,
           color=colors)
    ax.set_xticks(range(len(values)), names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(quote.plan.currency)
    out["waterfall"] = _svg(fig)
    return out


def render_report(profile: RiskProfile, quote: Quote) -> str:
    e = html.escape
    q = quote.to_dict()
    p = profile.to_dict()
    hr = p["hit_rate"]
    charts_ = charts(profile, quote)
    warn = "".join(f'<p class="warn">{e(w)}</p>' for w in profile.warnings)
    levels = "".join(f"<td class=num>{n}</td>" for n in profile.levels.values())
    def factor(s: dict) -> str:
        return "" if s["factor"] is None else f"{s['factor']:.4f}"

    steps = "".join(
        f"<tr><td>{e(s['name'])}</td><td>{e(s['input'])}</td><td class=num>{factor(s)}"
        f"</td><td class=num>{s['value']:,.2f}</td><td class=src>{e(s['source'])}</td></tr>"
        for s in q["worksheet"])
    top = "".join(
        f"<tr><td>{e(t['input'])}</td><td class=num>{t['probability']:.3f}</td>"
        f"<td>{e(t['level'])}</td><td>{e(t['external_id'])} {e(t['title'])}</td>"
        f"<td>{e(t['owner'])}</td><td>{e(t['category'])} / {e(str(t['severity']))}</td>"
        f"<td class=src>{e(json.dumps(t['evidence'], ensure_ascii=False)[:400])}</td></tr>"
        for t in p["top_contributions"]) or "<tr><td colspan=7>no matched works</td></tr>"
    versions = e(json.dumps(p["screening_versions"], ensure_ascii=False))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Underwriting report: {e(quote.applicant.name)}</title><style>{_CSS}</style></head><body>
<h1>Underwriting report: {e(quote.applicant.name)}</h1>
<p class="big">Premium {q['premium']:,.2f} {e(q['currency'])} for a limit of
{q['limit']:,.0f} and a deductible of {q['deductible']:,.0f} (rate on line
{q['rate_on_line']:.2%}).</p>
<p class=src>Plan {e(q['plan']['plan_id'])} {e(q['plan']['version'])} (effective
{e(q['plan']['effective_date'])}, sha256 {e(q['plan']['sha256'])}).</p>{warn}
<h2>Decision summary</h2>
<table><tr><th>screened outputs</th><th>unscreened</th><th>high</th><th>medium</th>
<th>low</th><th>clear</th><th>distinct works</th><th>distinct owners</th></tr>
<tr><td class=num>{profile.outputs}</td><td class=num>{profile.unscreened}</td>{levels}
<td class=num>{profile.distinct_works}</td><td class=num>{profile.distinct_owners}</td></tr>
</table>
<h2>Hit rate</h2>
<table><tr><th>expected hits</th><th>sample rate</th><th>sample 90% interval</th>
<th>prior</th><th>credibility Z</th><th>posterior mean</th><th>posterior 90% interval</th></tr>
<tr><td class=num>{p['expected_hits']:.3f}</td><td class=num>{hr['sample']:.5f}</td>
<td class=num>{hr['sample_interval_90'][0]:.5f} - {hr['sample_interval_90'][1]:.5f}</td>
<td class=num>{hr['prior']:.4f} (strength {hr['prior_strength']:.0f})</td>
<td class=num>{hr['credibility_z']:.3f}</td><td class=num>{hr['posterior_mean']:.5f}</td>
<td class=num>{hr['posterior_interval_90'][0]:.5f} - {hr['posterior_interval_90'][1]:.5f}
</td></tr></table>
<h2>Score distribution</h2>{charts_['scores']}
<h2>Mix of hits (probability-weighted)</h2>{charts_['mix']}
<h2>From base loss cost to premium</h2>{charts_['waterfall']}
<table><tr><th>step</th><th>input</th><th>factor</th><th>running value
({e(quote.plan.currency)})</th><th>source</th></tr>{steps}</table>
<h2>Top matched works</h2>
<table><tr><th>output</th><th>probability</th><th>level</th><th>work</th><th>owner</th>
<th>category / severity</th><th>evidence</th></tr>{top}</table>
<h2>Screening versions</h2><p class=src>{versions}</p>
</body></html>
"""
