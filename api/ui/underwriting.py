"""Underwriting in the workbench: a tenant's screened outputs over a period priced as an
applicant, with the report's charts, the rating worksheet, the hits behind the quote (each
linked to its review case where one was kept), and the hits the tenant's own licences set
aside, with each licence's evidence."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from api.deps import StateDep
from api.ui.session import CsrfField, UnderwriteViewer, check_csrf, render
from screening.review.sample import tenant_sample
from screening.underwriting.applicant import parse_applicant
from screening.underwriting.plan import read_yaml_mapping
from screening.underwriting.report import (
    aggregate_table,
    charts,
    decision_line,
    licence_term,
    licence_territory,
)
from screening.underwriting.underwrite import underwrite

router = APIRouter()
EXAMPLE = Path(__file__).resolve().parents[2] / "plans" / "example-applicant.yaml"


def _example() -> str:
    try:
        return EXAMPLE.read_text(encoding="utf-8")
    except OSError:  # an installed package without the plans folder beside it
        return "name: Applicant\nannual_outputs: 1000000\njurisdictions: {CN: 1.0}\n"


@router.get("/ui/underwriting", include_in_schema=False)
def form(request: Request, state: StateDep, v: UnderwriteViewer) -> Response:
    return render(request, "underwriting.html", applicant=_example(), tenant=v.key.tenant,
                  days=90, limit=700000, deductible=10000, quote=None)


@router.post("/ui/underwriting", include_in_schema=False)
def price(request: Request, state: StateDep, v: UnderwriteViewer,
          csrf: CsrfField = "",
          tenant: Annotated[str, Form(max_length=200)] = "",
          days: Annotated[float, Form(gt=0, le=3650)] = 90,
          limit: Annotated[float, Form(gt=0)] = 700000,
          deductible: Annotated[float, Form(ge=0)] = 10000,
          applicant: Annotated[str, Form(max_length=100_000)] = "") -> Response:
    check_csrf(v, csrf)
    who = tenant.strip() if "admin" in v.key.scopes and tenant.strip() else v.key.tenant
    app = parse_applicant(read_yaml_mapping(applicant.encode("utf-8"), "the applicant",
                                            "applicant"), "the applicant")
    sample = tenant_sample(state.access, state.cases, state.writer.registry, who, days,
                           state.settings.max_sample)
    profile, quote = underwrite(sample.results, app, state.plan, limit, deductible)
    out = quote.to_dict()
    digest = hashlib.sha256(f"{who}|{days}|{limit}|{deductible}|{applicant}".encode()
                            ).hexdigest()
    state.access.audit(request.state.request_id, v.key, "ui/quote", digest,
                       quote.audited_as,
                       quote.premium, {"plan": out["plan"],
                                        "screening": quote.screening_versions})
    hits = [{**t.to_dict(), "case": sample.cases.get(t.input)} for t in profile.top]
    p = profile.to_dict()
    licensed = [{**w, "licence": w["licence"] or {}, "term": licence_term(w["licence"]),
                 "territory": licence_territory(w["licence"])} for w in p["licensed"]["works"]]
    return render(request, "underwriting.html", applicant=applicant, tenant=who, days=days,
                  limit=limit, deductible=deductible, quote=out, profile=p,
                  charts=charts(profile, quote), hits=hits, licensed=licensed,
                  since=sample.since, decision_line=decision_line(out),
                  aggregate_table=aggregate_table(out["aggregate_loss"]))
