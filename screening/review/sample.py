"""An applicant's sample as the service saw it: a tenant's screened outputs from the audit.

The workbench's underwriting page prices a tenant from what the service screened for it
over a period, with no file to upload: each audited screening decision becomes a result
(the full result where a review case kept it, otherwise the audit's best matches, and those
the tenant's licences set aside, with the works' registry records), and each hit can link
to its case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from screening.access import AccessStore
from screening.errors import InvalidInputError, NotFoundError
from screening.registry.models import utcnow
from screening.registry.repository import WorksRegistry
from screening.review.cases import CaseStore

#: Routes whose decisions are the applicant's outputs (evidence requests repeat a screen).
SAMPLED_ROUTES = ("screen/image", "screen/text")


@dataclass
class TenantSample:
    results: list[dict]
    #: a result's input name -> its review case
    cases: dict[str, int]
    since: str


def tenant_sample(access: AccessStore, cases: CaseStore, registry: WorksRegistry, tenant: str,
                  days: float, max_results: int) -> TenantSample:
    if not 0 < days <= 3650:
        raise InvalidInputError("days must be above 0 and at most 3,650")
    since = utcnow() - timedelta(days=days)
    entries = [e for route in SAMPLED_ROUTES
               for e in access.audit_entries(tenant=tenant, route=route)
               if datetime.fromisoformat(e["at"]) >= since and e["decision"] != "error"]
    if len(entries) > max_results:
        raise InvalidInputError(f"{len(entries)} screened outputs in the period; at most "
                                f"{max_results} (setting IPSCREEN_MAX_SAMPLE): choose fewer "
                                "days")
    kept = cases.kept_results(tenant, {(e["request_id"], e["input_sha256"]) for e in entries})
    works: dict[str, dict] = {}

    def described(external_id: str) -> dict:
        if external_id not in works:
            try:
                works[external_id] = registry.get(external_id).match_fields()
            except NotFoundError:
                works[external_id] = {"external_id": external_id}
        return works[external_id]

    results, linked = [], {}
    for e in sorted(entries, key=lambda e: e["id"]):
        name = f"{e['route'].split('/')[1]} {e['request_id'][:12]} {e['input_sha256'][:12]}"
        case = kept.get((e["request_id"], e["input_sha256"]))
        if case is not None:
            linked[name] = case[0]
            results.append({**case[1], "input": name})
            continue
        result = {"input": name, "decision": e["decision"], "risk_score": e["score"],
                  "versions": e["versions"],
                  "matches": [{**described(m["external_id"]), "score": m["score"]}
                              for m in e.get("matches", [])]}
        if e.get("licensed_matches"):  # set aside by the tenant's licences: shown apart
            result["licensed_matches"] = [
                {**described(m["external_id"]), "score": m["score"], "licence": m["licence"]}
                for m in e["licensed_matches"]]
        results.append(result)
    return TenantSample(results, linked, since.isoformat())
