"""The registry in the workbench: search works, a work's record, history, references and
recent matches; register and withdraw for keys with the `register` scope."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from api.deps import StateDep
from api.routes.works import register_upload
from api.ui.review import media_type
from api.ui.session import (
    HEADERS,
    AnyViewer,
    CsrfField,
    RegisterViewer,
    ReviewViewer,
    check_csrf,
    render,
)
from screening.registry.manifest import kind_of
from screening.registry.records import WorkMeta

router = APIRouter()
PER_PAGE = 50


@router.get("/ui/works", include_in_schema=False)
def works(request: Request, state: StateDep, v: AnyViewer,
          q: Annotated[str, Query(max_length=300)] = "",
          kind: Annotated[Literal["image", "text", ""], Query()] = "",
          status: Annotated[Literal["active", "withdrawn", ""], Query()] = "",
          page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    reg = state.writer.registry
    found = reg.list_works(kind=kind or None, status=status or None, text=q or None,
                           limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    total = reg.count_works(kind=kind or None, status=status or None, text=q or None)
    params = {k: val for k, val in (("q", q), ("kind", kind), ("status", status)) if val}
    pages = max(1, math.ceil(total / PER_PAGE))
    return render(request, "works.html", works=found, total=total, page=page, pages=pages,
                  params=params, can_register=v.key.allows("register"),
                  prev_url=f"/ui/works?{urlencode({**params, 'page': page - 1})}"
                  if page > 1 else None,
                  next_url=f"/ui/works?{urlencode({**params, 'page': page + 1})}"
                  if page < pages else None)


@router.get("/ui/works/{external_id:path}/content", include_in_schema=False)
def work_content(external_id: str, state: StateDep, v: ReviewViewer) -> Response:
    work = state.writer.registry.get(external_id)
    data = state.writer.blobs.get(work.content_sha256)
    return Response(data, media_type=media_type(work.kind, data), headers=HEADERS)


@router.get("/ui/works/{external_id:path}", include_in_schema=False)
def work_page(external_id: str, request: Request, state: StateDep, v: AnyViewer) -> Response:
    reg = state.writer.registry
    work = reg.get(external_id)
    recent = state.access.audit_entries(external_id=external_id, limit=20,
                                        tenant=v.tenant_filter)
    return render(request, "work.html", work=work, history=reg.history(external_id),
                  recent=recent[::-1], can_register=v.key.allows("register"),
                  can_see=v.key.allows(state.settings.evidence_scope))


@router.post("/ui/works", include_in_schema=False)
def register(state: StateDep, v: RegisterViewer,
             file: Annotated[UploadFile, File()],
             external_id: Annotated[str, Form(min_length=1, max_length=200)],
             csrf: CsrfField = "",
             title: Annotated[str, Form(max_length=500)] = "",
             owner: Annotated[str, Form(max_length=300)] = "",
             category: Annotated[str, Form(max_length=100)] = "",
             jurisdiction: Annotated[str, Form(max_length=100)] = "",
             registration_no: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(v, csrf)
    meta = WorkMeta(external_id.strip(),
                    kind_of(Path(file.filename or "upload.bin")),  # type: ignore[arg-type]
                    title, owner, category, jurisdiction, registration_no)
    record, _ = register_upload(state, meta, file)
    return RedirectResponse(f"/ui/works/{quote(record.external_id, safe='')}",
                            status_code=303)


@router.post("/ui/works/{external_id:path}/withdraw", include_in_schema=False)
def withdraw(external_id: str, state: StateDep, v: RegisterViewer, csrf: CsrfField = "",
             reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(v, csrf)
    with state.write_lock:
        record = state.writer.withdraw(external_id, reason)
    state.changed()
    return RedirectResponse(f"/ui/works/{quote(record.external_id, safe='')}",
                            status_code=303)
