"""The underwriting report: one self-contained HTML page (charts as inline SVG, no network).

Sections: decision summary, hit rate with its intervals, score distribution, severity /
category / jurisdiction mix, the factor waterfall from base loss cost to premium, the
worksheet, the top matched works with their evidence, and the licensed hits (matches the
applicant's own licences set aside, left out of the price) with each licence's evidence.
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
    agg = quote.distribution
    if agg is not None and agg.mean > 0:
        fig, ax = plt.subplots(figsize=(7, 2.8))
        pts = agg.cdf_points(200)
        ax.semilogy([x for x, _ in pts], [max(1 - c, 1e-7) for _, c in pts], color="#4472c4")
        ax.axvline(agg.aggregate_limit, color="#c00000", linestyle="--", label="aggregate limit")
        ax.axvline(agg.var(0.995), color="#7f7f7f", linestyle=":", label="VaR 99.5%")
        ax.set_xlabel(f"annual loss ({quote.plan.currency})")
        ax.set_ylabel("P(loss > x)")
        ax.legend(fontsize=8)
        out["aggregate"] = _svg(fig)
    return out


def decision_line(q: dict) -> str:
    """The quote's outcome in words: the premium, or why none is offered."""
    if q["decision"] == "quote":
        return (f"Premium {q['premium']:,.2f} {q['currency']} for a limit of {q['limit']:,.0f} "
                f"({q['aggregate_limit']:,.0f} a year) and a deductible of "
                f"{q['deductible']:,.0f} (rate on line {q['rate_on_line']:.2%}).")
    return (f"{q['decision'].capitalize()}: no premium offered for a limit of "
            f"{q['limit']:,.0f} ({q['aggregate_limit']:,.0f} a year); the worksheet indicates "
            f"{q['indicated_premium']:,.2f} {q['currency']} (rate on line "
            f"{q['rate_on_line']:.2%}). " + " ".join(r[0].upper() + r[1:] + "." for r in
                                                   q["reasons"]))


def aggregate_table(a: dict) -> str:
    """The annual aggregate loss's figures as one HTML table row."""
    if not a:
        return ""
    cells = [a["mean"], a["sd"], a["var"]["0.99"], a["var"]["0.995"], a["tvar"]["0.99"],
             a["tvar"]["0.995"], a["mean_capped"]]
    return ("<table><tr><th>mean</th><th>sd</th><th>VaR 99%</th><th>VaR 99.5%</th>"
            "<th>TVaR 99%</th><th>TVaR 99.5%</th><th>expected loss within the aggregate "
            "limit</th><th>P(limit used up)</th></tr><tr>"
            + "".join(f"<td class=num>{c:,.0f}</td>" for c in cells)
            + f"<td class=num>{a['prob_exhaust']:.2e}</td></tr></table>")


def licence_term(licence: dict | None) -> str:
    """A licence's term and evidence status in a few words (report and workbench)."""
    if not licence or licence.get("evidence") != "recorded":
        return "no evidence on record" + (f" ({licence['note']})"
                                          if licence and licence.get("note") else "")
    if licence.get("perpetual"):
        return f"perpetual from {licence.get('valid_from')}"
    return f"{licence.get('valid_from')} to {licence.get('expires')}"


def licence_territory(licence: dict | None) -> str:
    territory = (licence or {}).get("territory")
    return " ".join(territory) if isinstance(territory, list) else str(territory or "-")


def _licensed(lic: dict) -> str:
    e = html.escape
    if not lic["outputs"]:
        return "<p>No output's best match is on a work the applicant declares licensed.</p>"
    rows = "".join(
        f"<tr><td>{e(w['external_id'])} {e(w['title'])}</td><td>{e(w['owner'])}</td>"
        f"<td class=num>{w['outputs']}</td><td class=num>{w['expected_hits']:.3f}</td>"
        f"<td>{e(str((w['licence'] or {}).get('licensor') or '-'))}</td>"
        f"<td>{e(str((w['licence'] or {}).get('contract_ref') or '-'))}</td>"
        f"<td>{e(licence_term(w['licence']))}</td><td>{e(licence_territory(w['licence']))}"
        f"</td><td>{e(str((w['licence'] or {}).get('media') or '-'))}</td>"
        f"<td class=src>{e(str((w['licence'] or {}).get('recorded_by') or '-'))} "
        f"{e(str((w['licence'] or {}).get('recorded_at') or ''))}</td></tr>"
        for w in lic["works"])
    return f"""<p>{lic['outputs']} outputs' best match is on a work the applicant declares
licensed: {lic['expected_hits']:.3f} expected hits, left out of the hit rate above
({lic['expected_hits_without_licences']:.3f} expected hits had no licence held).</p>
<table><tr><th>work</th><th>owner</th><th>outputs</th><th>expected hits</th><th>licensor</th>
<th>contract</th><th>term</th><th>territory</th><th>media</th><th>recorded by</th></tr>
{rows}</table>"""


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
<p class="big">{e(decision_line(q))}</p>
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
<h2>Annual aggregate loss ({e(quote.plan.currency)})</h2>{aggregate_table(q['aggregate_loss'])}
{charts_.get('aggregate', '')}<p class=src>Compound Poisson: {q['expected_claims']:.4f} claims a
year above the deductible, each paid in the layer, the year's total capped at the aggregate
limit; computed by FFT on a grid that keeps the layer's mean.</p>
<h2>Top matched works</h2>
<table><tr><th>output</th><th>probability</th><th>level</th><th>work</th><th>owner</th>
<th>category / severity</th><th>evidence</th></tr>{top}</table>
<h2>Licensed hits</h2>{_licensed(p['licensed'])}
<h2>Screening versions</h2><p class=src>{versions}</p>
</body></html>
"""
