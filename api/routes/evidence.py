"""POST /v1/evidence/image and /v1/evidence/text: what a reviewer looks at, over HTTP.

The input is screened as by /v1/screen (and audited the same way); the answer is the CLI's
`--evidence` file for one match: a PNG of the screened image with the matched region outlined
beside the registered work, or an HTML page with the copied spans marked in the output and the
work. The match is the one named by `external_id`, else the best at or above the review
threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from api.deps import EvidenceKey, ScreenersDep, StateDep, record_decision
from api.state import ServiceState
from api.strict_json import StrictJSONRoute
from screening.access import KeyInfo
from screening.decision import apply_licences
from screening.errors import InvalidInputError, NotFoundError
from screening.evidence import evidence_file_name, image_sheet_png, text_page
from screening.image.results import ImageMatch
from screening.text.input import check_text
from screening.text.screening import TextMatch

router = APIRouter(prefix="/v1/evidence", tags=["evidence"],
                   route_class=StrictJSONRoute)
M = TypeVar("M", ImageMatch, TextMatch)


def _pick(matches: Sequence[M], external_id: str | None, review: float) -> M:
    if external_id:
        found = next((m for m in matches if m.work.external_id == external_id), None)
        if found is None:
            raise NotFoundError(f"{external_id!r} is not among this input's matches")
        return found
    best = next((m for m in matches if m.score >= review), None)
    if best is None:
        raise NotFoundError(f"no match at or above the review threshold ({review}); name "
                            "one with external_id to see a weaker one")
    return best


def _headers(request: Request, seen: dict, match: ImageMatch | TextMatch, label: str,
             suffix: str) -> dict[str, str]:
    # The file name a client saving the answer gets is the CLI's, unique per (input, work)
    # whatever the work's id contains.
    name = evidence_file_name(0, label, match.work.external_id, suffix)
    licensed = {m["external_id"] for m in seen.get("licensed_matches", [])}
    return {"X-Request-ID": request.state.request_id, "X-Ipscreen-Decision": seen["decision"],
            "Content-Disposition": f'inline; filename="{name}"',
            "X-Ipscreen-Work": match.work.external_id,
            "X-Ipscreen-Score": f"{match.score:.6f}",
            "X-Ipscreen-Licensed": "true" if match.work.external_id in licensed else "false"}


def _as_seen(state: ServiceState, key: KeyInfo, result: dict) -> dict:
    """The result as the tenant sees it on /v1/screen (the works its licences in force set
    aside), so the decision the evidence states and the audit records is the one screening
    gave."""
    return apply_licences(state.recalibrated(result, key.tenant),
                          state.access.licensed(key.tenant), state.writer.thresholds)


@router.post("/image", summary="Evidence sheet (PNG) for one image's match",
             response_class=Response,
             responses={200: {"content": {"image/png": {}},
                              "description": "the screened image, the matched region "
                              "outlined, beside the registered work"},
                        404: {"description": "no such match"}})
def image_evidence(request: Request, state: StateDep, screeners: ScreenersDep, key: EvidenceKey,
                   file: Annotated[UploadFile, File(description="The image to screen.")],
                   external_id: Annotated[str | None, Form(max_length=200)] = None,
                   profile: Annotated[Literal["accurate", "cascade", "fast", "hash"] | None,
                                      Query(description="Screening profile.")] = None
                   ) -> Response:
    s = state.settings
    name = profile or s.default_profile
    screener = screeners.image.get(name)
    if screener is None:
        raise InvalidInputError(f"profile {name!r} is not loaded by this service "
                                f"(loaded: {', '.join(sorted(screeners.image))})")
    data = file.file.read(s.max_image_bytes + 1)
    label = file.filename or "upload"
    result = screener.screen_bytes(label, data, state.writer.limits)
    if result.error is not None:
        raise InvalidInputError(f"{label}: {result.error}")
    seen = _as_seen(state, key, result.to_dict())
    record_decision(state, request, "evidence/image", key, data, seen)
    match = _pick(result.matches, external_id, state.writer.thresholds.review)
    png = image_sheet_png(data, match, state.writer.blobs, state.writer.limits, label,
                          seen["decision"])
    return Response(png, media_type="image/png",
                    headers=_headers(request, seen, match, label, ".png"))


class TextEvidenceRequest(BaseModel):
    text: str = Field(description="The output to screen.")
    id: str = Field(default="text-0", max_length=200, description="Your name for it.")
    external_id: str | None = Field(default=None, max_length=200,
                                    description="The work to show (default: the best match).")
    paraphrase: bool = True

    model_config = {"json_schema_extra": {"examples": [
        {"text": "As the model wrote: In the beginning God created the heaven and the "
                 "earth. And the earth was without form, and void...", "id": "reply-7"}]}}


@router.post("/text", summary="Evidence page (HTML) for one text's match",
             response_class=HTMLResponse,
             responses={200: {"description": "the output and the registered work side by "
                              "side, copied spans highlighted"},
                        404: {"description": "no such match"}})
def text_evidence(request: Request, body: TextEvidenceRequest, state: StateDep,
                  screeners: ScreenersDep, key: EvidenceKey) -> HTMLResponse:
    s = state.settings
    if len(body.text) > s.max_text_chars:
        raise InvalidInputError(f"{body.id}: {len(body.text)} characters; the limit is "
                                f"{s.max_text_chars} (setting IPSCREEN_MAX_TEXT_CHARS)")
    check_text(body.text, s.max_text_bytes)
    result = screeners.text.screen_text(
        body.text, body.id, paraphrase=body.paraphrase and screeners.text.paraphrase_enabled)
    seen = _as_seen(state, key, result.to_dict())
    record_decision(state, request, "evidence/text", key, body.text.encode("utf-8"), seen)
    match = _pick(result.matches, body.external_id, state.writer.thresholds.review)
    work = state.writer.blobs.get(match.work.content_sha256).decode("utf-8")
    page = text_page(body.text, match, work, body.id, seen["decision"])
    return HTMLResponse(page, headers=_headers(request, seen, match, body.id, ".html"))
