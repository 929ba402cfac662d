"""The audit trail: what was decided, for whom, by which versions, on which input hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AnyKey, StateDep
from api.strict_json import StrictJSONRoute
from screening.errors import PermissionDeniedError

router = APIRouter(tags=["operations"], route_class=StrictJSONRoute)

AUDIT_EXAMPLE = {"entries": [{
    "id": 41, "at": "2026-12-03T15:40:00.123456+00:00", "request_id": "c8341e630fc8414",
    "tenant": "acme", "key": "fa0b5beac4ba", "route": "screen/image",
    "input_sha256": "2418889d0d83962d51facc3832b55cf1849690018a1e873d1c551146555cd02f",
    "decision": "block", "score": 0.998, "versions": {"index_revision": 12},
    "matches": [{"external_id": "TSU-0001", "score": 0.998}], "licensed": [],
    "stored_input": False}]}


@router.get("/v1/audit", summary="Audit entries, oldest first: your tenant's, or any "
            "tenant's with the admin scope",
            responses={200: {"content": {"application/json": {"example": AUDIT_EXAMPLE}}},
                       403: {"description": "another tenant's entries without admin"}})
def list_audit(state: StateDep, key: AnyKey,
               request_id: Annotated[str | None, Query(max_length=64)] = None,
               tenant: Annotated[str | None, Query(max_length=200)] = None,
               input_sha256: Annotated[str | None, Query(
                   pattern="^[0-9a-fA-F]{64}$",
                   description="SHA-256 of a screened input (the uploaded file's bytes, or "
                   "a text's UTF-8)")] = None,
               route: Annotated[str | None, Query(max_length=100)] = None,
               external_id: Annotated[str | None, Query(
                   max_length=200, description="only decisions about this work (among "
                   "their matches or licensed works)")] = None,
               limit: Annotated[int, Query(ge=1, le=1000,
                                           description="the latest this many")] = 100) -> dict:
    if not key.allows("admin"):  # a tenant reads its own decisions only
        if tenant is not None and tenant != key.tenant:
            raise PermissionDeniedError(
                f"this key reads its own tenant's audit entries ({key.tenant!r}); another "
                "tenant's need the 'admin' scope")
        tenant = key.tenant
    return {"entries": state.access.audit_entries(request_id, tenant=tenant,
                                                  input_sha256=input_sha256, route=route,
                                                  external_id=external_id, limit=limit)}
