"""POST /v1/screen/image and /v1/screen/text: the CLI's screening, over HTTP."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from pydantic import BaseModel, Field

from api.deps import ScreenersDep, ScreenKey, StateDep, record_decision
from api.strict_json import StrictJSONRoute
from screening.decision import apply_licences
from screening.errors import InvalidInputError
from screening.text.input import check_text

router = APIRouter(prefix="/v1/screen", tags=["screening"],
                   route_class=StrictJSONRoute)

IMAGE_EXAMPLE: dict[str, Any] = {
    "request_id": "5c0d...", "results": [{
        "input": "gen-0042.png", "decision": "block", "risk_score": 0.998, "size": [1024, 768],
        "matches": [{"external_id": "TSU-0001", "title": "Ultraman", "owner": "Tsuburaya",
                     "category": "character", "jurisdiction": "CN", "registration_no": "R-1",
                     "score": 0.998, "region": [412, 96, 924, 608], "signals": {}}],
        "versions": {"kind": "image", "profile": "accurate", "index_revision": 12}}]}


class ScreenResponse(BaseModel):
    request_id: str
    results: list[dict]

    model_config = {"json_schema_extra": {"examples": [IMAGE_EXAMPLE]}}


class TextItem(BaseModel):
    id: str = Field(default="", max_length=200, description="Your name for this text.")
    text: str


class TextRequest(BaseModel):
    texts: list[str | TextItem] = Field(min_length=1, description="Texts to screen.")
    paraphrase: bool = Field(default=True, description="Run the paraphrase layer.")

    model_config = {"json_schema_extra": {"examples": [
        {"texts": ["As the model wrote: In the beginning God created the heaven and the "
                   "earth. And the earth was without form, and void..."], "paraphrase": True}]}}


@router.post("/image", response_model=ScreenResponse, summary="Screen generated images")
def screen_image(request: Request, state: StateDep, screeners: ScreenersDep, key: ScreenKey,
                 files: Annotated[list[UploadFile], File(description="One or more images.")],
                 profile: Annotated[Literal["accurate", "cascade", "fast", "hash"] | None,
                                    Query(description="Screening profile.")] = None
                 ) -> ScreenResponse:
    s = state.settings
    if len(files) > s.max_files:
        raise InvalidInputError(f"{len(files)} files; at most {s.max_files} per request "
                                "(setting IPSCREEN_MAX_FILES)")
    name = profile or s.default_profile
    screener = screeners.image.get(name)
    if screener is None:
        raise InvalidInputError(f"profile {name!r} is not loaded by this service "
                                f"(loaded: {', '.join(sorted(screeners.image))})")
    licensed = state.access.licensed(key.tenant)
    uploads = [(f.filename or "upload", f.file.read(s.max_image_bytes + 1)) for f in files]
    # one batch: the models describe every image's views in the same calls
    start = time.perf_counter()
    found = [r.to_dict() for r in screener.screen_many_bytes(uploads, state.writer.limits)]
    each = (time.perf_counter() - start) / len(uploads)
    done = []
    for (label, data), result in zip(uploads, found, strict=True):
        request.app.state.metrics.stage.labels("screen_image").observe(each)
        if "error" in result:  # the whole request is refused; nothing was recorded
            raise InvalidInputError(f"{label}: {result['error']}")
        result = state.recalibrated(result, key.tenant)
        done.append((data, apply_licences(result, licensed, state.writer.thresholds)))
    for data, result in done:
        record_decision(state, request, "screen/image", key, data, result)
    return ScreenResponse(request_id=request.state.request_id, results=[r for _, r in done])


@router.post("/text", response_model=ScreenResponse, summary="Screen generated texts")
def screen_text(request: Request, body: TextRequest, state: StateDep, screeners: ScreenersDep,
                key: ScreenKey) -> ScreenResponse:
    s = state.settings
    if len(body.texts) > s.max_texts:
        raise InvalidInputError(f"{len(body.texts)} texts; at most {s.max_texts} per request "
                                "(setting IPSCREEN_MAX_TEXTS)")
    licensed = state.access.licensed(key.tenant)
    items = []
    for i, item in enumerate(body.texts):  # every text is checked before any is screened
        name, text = (item.id or f"text-{i}", item.text) if isinstance(item, TextItem) \
            else (f"text-{i}", item)
        if len(text) > s.max_text_chars:
            raise InvalidInputError(f"{name}: {len(text)} characters; the limit is "
                                    f"{s.max_text_chars} (setting IPSCREEN_MAX_TEXT_CHARS)")
        try:
            check_text(text, s.max_text_bytes)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name}: {exc}") from None
        items.append((name, text))
    out = []
    for name, text in items:
        start = time.perf_counter()
        result = screeners.text.screen_text(
            text, name, paraphrase=body.paraphrase and screeners.text.paraphrase_enabled
        ).to_dict()
        request.app.state.metrics.stage.labels("screen_text").observe(
            time.perf_counter() - start)
        result = apply_licences(state.recalibrated(result, key.tenant), licensed,
                                state.writer.thresholds)
        record_decision(state, request, "screen/text", key, text.encode("utf-8"), result)
        out.append(result)
    return ScreenResponse(request_id=request.state.request_id, results=out)
