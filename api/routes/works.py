"""Registry resource: register, list, read, withdraw works; bulk import as a job."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import RegisterKey, ScreenKey, StateDep
from api.jobs import Job, JobsBusy
from api.state import ServiceState
from api.strict_json import StrictJSONRoute
from screening.errors import InvalidInputError, NotFoundError
from screening.registry.manifest import kind_of
from screening.registry.repository import WorkMeta, WorkRecord
from screening.service import RowOutcome
from screening.text.input import decode_text

router = APIRouter(tags=["registry"], route_class=StrictJSONRoute)

WORK_EXAMPLE: dict[str, Any] = {"outcome": "created", "external_id": "TSU-0001", "kind": "image",
                "title": "Ultraman", "owner": "Tsuburaya", "category": "character",
                "jurisdiction": "CN", "registration_no": "R-1", "content_sha256": "ab12...",
                "content_bytes": 123456, "status": "active", "revision": 42,
                "created_at": "2026-11-22T12:00:00+00:00",
                "updated_at": "2026-11-22T12:00:00+00:00"}


class WorkPublic(BaseModel):
    external_id: str
    kind: str
    title: str
    owner: str
    category: str
    jurisdiction: str
    registration_no: str
    content_sha256: str
    content_bytes: int
    status: str
    revision: int
    created_at: str
    updated_at: str
    outcome: str | None = None

    model_config = {"json_schema_extra": {"examples": [WORK_EXAMPLE]}}


class WorkList(BaseModel):
    total: int
    works: list[WorkPublic]


class Withdrawal(BaseModel):
    reason: str = Field(default="", max_length=1000)


class JobPublic(BaseModel):
    id: str
    kind: str
    status: str
    total: int | None
    done: int
    failed: int
    outcomes: dict[str, int]
    errors: list[dict]
    #: rows that changed nothing but describe their work differently (first 100)
    notes: list[dict] = []
    detail: str

    model_config = {"json_schema_extra": {"examples": [
        {"id": "9f3c...", "kind": "import", "status": "running", "total": 1000, "done": 420,
         "failed": 2, "outcomes": {"created": 418, "error": 2},
         "errors": [{"row": 17, "external_id": "X-17", "error": "empty text"}],
         "notes": [], "detail": ""}]}}


@router.post("/v1/works", response_model=WorkPublic, status_code=201,
             summary="Register a work (image or UTF-8 text file) with its metadata",
             responses={200: {"description": "already registered with this content"}})
def register_work(state: StateDep, key: RegisterKey,
                  file: Annotated[UploadFile, File(description="The work: an image or a "
                                                   "UTF-8 .txt file.")],
                  external_id: Annotated[str, Form(min_length=1, max_length=200)],
                  title: Annotated[str, Form(max_length=500)] = "",
                  owner: Annotated[str, Form(max_length=300)] = "",
                  category: Annotated[str, Form(max_length=100)] = "",
                  jurisdiction: Annotated[str, Form(max_length=100)] = "",
                  registration_no: Annotated[str, Form(max_length=200)] = "",
                  kind: Annotated[Literal["image", "text"] | None, Form()] = None,
                  replace: Annotated[bool, Form()] = False) -> JSONResponse:
    meta = WorkMeta(external_id,
                    kind or kind_of(Path(file.filename or "upload.bin")),  # type: ignore[arg-type]
                    title, owner, category, jurisdiction, registration_no)
    record, outcome = register_upload(state, meta, file, replace)
    body = WorkPublic(outcome=outcome, **record.public()).model_dump()
    return JSONResponse(body, status_code=201 if outcome == "created" else 200)


def register_upload(state: ServiceState, meta: WorkMeta, file: UploadFile,
                    replace: bool = False) -> tuple[WorkRecord, str]:
    """Read an uploaded work within its kind's size limit and register it (the API's and
    the workbench's one way in)."""
    s = state.settings
    limit = s.max_text_bytes if meta.kind == "text" else s.max_image_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInputError(f"{file.filename}: larger than {limit} bytes")
    with state.write_lock:
        if meta.kind == "text":
            record, outcome = state.writer.register_text(meta, decode_text(data, limit),
                                                         replace)
        else:
            record, outcome = state.writer.register_image(meta, data, replace)
    state.changed()
    return record, outcome


@router.get("/v1/works", response_model=WorkList, summary="List registered works")
def list_works(state: StateDep, key: ScreenKey,
               kind: Annotated[Literal["image", "text"] | None, Query()] = None,
               status: Annotated[Literal["active", "withdrawn"] | None, Query()] = None,
               owner: Annotated[str | None, Query(max_length=300,
                                                  description="exact owner name")] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> WorkList:
    reg = state.writer.registry
    page = reg.list_works(kind=kind, status=status, owner=owner, limit=limit, offset=offset)
    return WorkList(total=reg.count_works(kind=kind, status=status, owner=owner),
                    works=[WorkPublic(**w.public()) for w in page])


class WorkChange(BaseModel):
    change: int
    action: Literal["created", "replaced", "withdrawn", "reactivated", "updated"]
    at: str
    detail: str


class History(BaseModel):
    external_id: str
    changes: list[WorkChange]

    model_config = {"json_schema_extra": {"examples": [{"external_id": "TSU-0001", "changes": [
        {"change": 42, "action": "created", "at": "2026-11-22T12:00:00+00:00",
         "detail": "ab12..."},
        {"change": 57, "action": "withdrawn", "at": "2026-12-01T09:30:00+00:00",
         "detail": "licence ended"}]}]}}


@router.get("/v1/works/{external_id:path}/history", response_model=History,
            summary="A work's change log: registered, replaced, withdrawn, reactivated, "
            "metadata corrected, with times")
def work_history(external_id: str, state: StateDep, key: ScreenKey) -> History:
    changes = state.writer.registry.history(external_id)
    return History(external_id=external_id, changes=[WorkChange(**c) for c in changes])


class References(BaseModel):
    external_id: str
    references: list[WorkPublic]


@router.post("/v1/works/{external_id:path}/references", response_model=WorkPublic,
             status_code=201, summary="Add a further reference image to an image work (the "
             "character in another pose, a model sheet); it is indexed under the work",
             responses={200: {"description": "the work already has this image"}})
def add_reference(external_id: str, state: StateDep, key: RegisterKey,
                  file: Annotated[UploadFile, File(description="The image.")]
                  ) -> JSONResponse:
    data = file.file.read(state.settings.max_image_bytes + 1)
    if len(data) > state.settings.max_image_bytes:
        raise InvalidInputError(f"{file.filename}: larger than "
                                f"{state.settings.max_image_bytes} bytes")
    with state.write_lock:
        record, outcome = state.writer.add_reference(external_id, data)
    state.changed()
    body = WorkPublic(outcome=outcome, **record.public()).model_dump()
    return JSONResponse(body, status_code=201 if outcome == "created" else 200)


@router.get("/v1/works/{external_id:path}/references", response_model=References,
            summary="An image work's further reference images")
def list_references(external_id: str, state: StateDep, key: ScreenKey) -> References:
    refs = state.writer.registry.references(external_id)
    return References(external_id=external_id,
                      references=[WorkPublic(**r.public()) for r in refs])


# External ids are the rights holder's own and may contain "/" (sent as %2F or plainly), so
# the id routes take the rest of the path. The routes with a suffix (/history, /withdraw)
# are registered before the plain one, which would otherwise take "ID/history" as an id.
@router.get("/v1/works/{external_id:path}", response_model=WorkPublic,
            summary="Read one work")
def get_work(external_id: str, state: StateDep, key: ScreenKey) -> WorkPublic:
    return WorkPublic(**state.writer.registry.get(external_id).public())


class MetadataUpdate(BaseModel):
    """The fields to correct; those left out keep their values."""

    title: str | None = Field(default=None, max_length=500)
    owner: str | None = Field(default=None, max_length=300)
    category: str | None = Field(default=None, max_length=100)
    jurisdiction: str | None = Field(default=None, max_length=100)
    registration_no: str | None = Field(default=None, max_length=200)

    model_config = {"extra": "forbid",
                    "json_schema_extra": {"examples": [{"owner": "Tsuburaya Productions",
                                                        "registration_no": "R-2"}]}}


@router.patch("/v1/works/{external_id:path}", response_model=WorkPublic,
              summary="Correct a work's metadata (owner, title, ...); its content and the "
              "indexes are untouched")
def update_work(external_id: str, body: MetadataUpdate, state: StateDep,
                key: RegisterKey) -> WorkPublic:
    fields = {k: v for k, v in body.model_dump().items() if v is not None}
    if not fields:
        raise InvalidInputError("nothing to update: give at least one of title, owner, "
                                "category, jurisdiction, registration_no")
    with state.write_lock:
        record, changed = state.writer.update(external_id, **fields)
    return WorkPublic(outcome="updated" if changed else "unchanged", **record.public())


@router.post("/v1/works/{external_id:path}/withdraw", response_model=WorkPublic,
             summary="Withdraw a work: it stops matching without a rebuild")
def withdraw_work(external_id: str, state: StateDep, key: RegisterKey,
                  body: Withdrawal | None = None) -> WorkPublic:
    with state.write_lock:
        record = state.writer.withdraw(external_id, body.reason if body else "")
    state.changed()
    return WorkPublic(**record.public())


class BulkWithdrawal(BaseModel):
    external_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=10_000)
    reason: str = Field(default="", max_length=1000)

    model_config = {"json_schema_extra": {"examples": [
        {"external_ids": ["TSU-0001", "TSU-0002"], "reason": "licence ended"}]}}


class BulkWithdrawn(BaseModel):
    withdrawn: list[WorkPublic]
    errors: list[dict]


@router.post("/v1/works/withdraw", response_model=BulkWithdrawn,
             summary="Withdraw several works at once; unknown ids are listed in errors and the "
             "others are still withdrawn")
def withdraw_works(body: BulkWithdrawal, state: StateDep, key: RegisterKey) -> BulkWithdrawn:
    with state.write_lock:
        outcomes = state.writer.withdraw_many(body.external_ids, body.reason)
    state.changed()
    withdrawn, errors = [], []
    for ext, outcome in zip(body.external_ids, outcomes, strict=True):
        if isinstance(outcome, WorkRecord):
            withdrawn.append(WorkPublic(**outcome.public()))
        else:
            errors.append({"external_id": ext, "error": str(outcome)})
    return BulkWithdrawn(withdrawn=withdrawn, errors=errors)


@router.post("/v1/works/import", response_model=JobPublic, status_code=202,
             summary="Bulk import a JSON Lines manifest (text works inline) as a job")
def import_works(request: Request, state: StateDep, key: RegisterKey,
                 file: Annotated[UploadFile, File(description="JSON Lines: one work per line, "
                                                  "{external_id, title, owner, category, text}")],
                 replace: Annotated[bool, Form()] = False) -> JSONResponse:
    data = file.file.read(state.settings.max_request_bytes + 1)
    tmp = Path(tempfile.mkdtemp(prefix="ipscreen-import-"))
    manifest = tmp / "manifest.jsonl"
    manifest.write_bytes(data)

    def work(job: Job) -> None:
        def on_rows(n: int) -> None:
            job.total = n

        def on_row(r: RowOutcome) -> None:
            job.done += 1
            job.outcomes[r.outcome] = job.outcomes.get(r.outcome, 0) + 1
            if r.error:
                job.error({"row": r.row, "external_id": r.external_id, "error": r.error})
            elif r.note:
                job.note({"row": r.row, "external_id": r.external_id, "note": r.note})

        try:
            with state.write_lock:
                state.writer.import_manifest(manifest, replace=replace, on_row=on_row,
                                             on_rows=on_rows, inline_only=True)
            state.changed()
        finally:
            manifest.unlink(missing_ok=True)
            tmp.rmdir()

    try:
        job = request.app.state.jobs.start("import", work)
    except JobsBusy:
        manifest.unlink(missing_ok=True)  # a refused import leaves nothing behind
        tmp.rmdir()
        raise
    return JSONResponse(JobPublic(**job.public()).model_dump(), status_code=202,
                        headers={"Location": f"/v1/jobs/{job.id}"})


@router.get("/v1/jobs/{job_id}", response_model=JobPublic, summary="Progress of a job")
def get_job(job_id: str, request: Request, key: RegisterKey) -> JobPublic:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} in this worker")
    return JobPublic(**job.public())
