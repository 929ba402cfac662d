"""The queue, a case, and verdicts.

The queue lists what screening decided `review` (and `block` on request), newest first, for
the viewer's tenant (every tenant for an admin key). A case shows the output beside the
matched work: an image with the matched region outlined, a text with the copied spans
numbered on both sides, the score and signals in words, the work's record and the
decision's provenance. A verdict is one key press; the next open case follows.
"""

from __future__ import annotations

import io
import math
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from PIL import Image, UnidentifiedImageError

from api.deps import StateDep
from api.ui.present import marked, region_box, signals_in_words
from api.ui.session import HEADERS, CsrfField, ReviewViewer, check_csrf, render
from screening.errors import NotFoundError
from screening.review.cases import VERDICTS, QueueFilter

router = APIRouter()
PER_PAGE = 50
Text = Annotated[str | None, Query(max_length=300)]
Score = Annotated[float | None, Query(ge=0.0, le=1.0)]


def _filter(v: ReviewViewer, tenant: str | None, kind: str | None, work: str | None,
            owner: str | None, min_score: float | None, max_score: float | None,
            show: str, answered: bool) -> QueueFilter:
    own = v.tenant_filter
    return QueueFilter(tenant=own if own is not None else (tenant or None),
                       kind=kind or None, external_id=work or None, owner=owner or None,
                       min_score=min_score, max_score=max_score,
                       decisions=("review", "block") if show == "all" else ("review",),
                       open_only=not answered)


@router.get("/ui/queue", include_in_schema=False)
def queue(request: Request, state: StateDep, v: ReviewViewer, tenant: Text = None,
          kind: Annotated[Literal["image", "text", ""], Query()] = "", work: Text = None,
          owner: Text = None, min_score: Score = None, max_score: Score = None,
          show: Annotated[Literal["review", "all"], Query()] = "review",
          answered: bool = False,
          page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    f = _filter(v, tenant, kind, work, owner, min_score, max_score, show, answered)
    cases, total = state.cases.queue(f, page, PER_PAGE)
    params = {k: val for k, val in (("tenant", tenant), ("kind", kind), ("work", work),
                                    ("owner", owner), ("min_score", min_score),
                                    ("max_score", max_score), ("show", show),
                                    ("answered", "true" if answered else None))
              if val not in (None, "")}
    pages = max(1, math.ceil(total / PER_PAGE))
    return render(request, "queue.html", cases=cases, total=total, page=page, pages=pages,
                  params=params, query=urlencode(params),
                  prev_url=f"/ui/queue?{urlencode({**params, 'page': page - 1})}"
                  if page > 1 else None,
                  next_url=f"/ui/queue?{urlencode({**params, 'page': page + 1})}"
                  if page < pages else None,
                  verdict_count=state.cases.verdict_count(v.tenant_filter))


@router.get("/ui/cases/{case_id}", include_in_schema=False)
def case_page(case_id: int, request: Request, state: StateDep, v: ReviewViewer) -> Response:
    case = state.cases.get(case_id, v.tenant_filter)
    best = case.best or {}
    work = None
    if case.external_id:
        try:
            work = state.writer.registry.get(case.external_id)
        except NotFoundError:
            work = None  # gone from the registry since; the case still stands
    ctx: dict = {"case": case, "best": best, "work": work,
                 "signals": signals_in_words(best.get("signals", {})),
                 "verdicts": VERDICTS,
                 "history": [x for x in state.cases.verdicts(case.tenant)
                             if x["case"] == case.id],
                 "versions": case.result.get("versions", {})}
    if case.kind == "image":
        ctx["box"] = region_box(best.get("region"), case.result.get("size"))
    elif case.input is not None:
        spans = best.get("spans", [])
        ctx["output_pieces"] = marked(case.input.decode("utf-8", "replace"),
                                      [(s["output_start"], s["output_end"], s["kind"])
                                       for s in spans])
        if work is not None:
            text = state.writer.blobs.get(work.content_sha256).decode("utf-8", "replace")
            ctx["work_pieces"] = marked(text, [(s["work_start"], s["work_end"], s["kind"])
                                               for s in spans])
    return render(request, "case.html", **ctx)


@router.get("/ui/cases/{case_id}/input", include_in_schema=False)
def case_input(case_id: int, state: StateDep, v: ReviewViewer) -> Response:
    case = state.cases.get(case_id, v.tenant_filter)
    if case.input is None:
        raise NotFoundError(f"case {case_id} keeps no input (only review decisions do)")
    return Response(case.input, media_type=media_type(case.kind, case.input),
                    headers=HEADERS)


def media_type(kind: str, data: bytes) -> str:
    """What to serve screened or registered bytes as: the image format PIL reads, plain
    text otherwise (never HTML: an output is not trusted markup)."""
    if kind == "image":
        try:
            with Image.open(io.BytesIO(data)) as im:
                fmt = (im.format or "").lower()
        except (UnidentifiedImageError, OSError):
            fmt = ""
        return {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
                "webp": "image/webp", "bmp": "image/bmp", "tiff": "image/tiff"}.get(
                    fmt, "application/octet-stream")
    return "text/plain; charset=utf-8"


@router.post("/ui/cases/{case_id}/verdict", include_in_schema=False)
def give_verdict(case_id: int, state: StateDep, v: ReviewViewer,
                 verdict: Annotated[str, Form(max_length=32)],
                 csrf: CsrfField = "",
                 note: Annotated[str, Form(max_length=2000)] = "",
                 back: Annotated[str, Form(max_length=2000)] = "") -> Response:
    check_csrf(v, csrf)
    state.cases.give_verdict(case_id, v.key, verdict, note, v.tenant_filter)
    nxt = state.cases.next_open(case_id, QueueFilter(tenant=v.tenant_filter))
    target = f"/ui/cases/{nxt}" if nxt is not None else "/ui/queue"
    if back.startswith("/ui/queue"):
        target = back if nxt is None else target
    return RedirectResponse(target, status_code=303)
