"""The `ipscreen` command line: a thin door onto screening.service.

Output contract (tests and users rely on it): `screen image --json` and `screen text --json`
print one JSON object per input on stdout; progress and messages go to stderr. Errors print
`error: <reason>` on stderr and exit non-zero (2 bad input, 3 not found, 4 conflict, 5 data
dir, 1 other).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from tqdm import tqdm

from indexes.errors import IndexError_
from models.errors import ImageDecodeError, ModelError
from screening.errors import (
    DataDirError,
    InvalidInputError,
    IpscreenError,
    first_validation_error,
    storage_failure,
)
from screening.evidence import write_image_evidence, write_text_evidence
from screening.image_screening import ImageResult
from screening.manifest import kind_of
from screening.registry.repository import INDEXED_OUTCOMES, WorkMeta
from screening.service import (
    RowOutcome,
    Workspace,
    expand_image_paths,
    expand_text_paths,
    prepare_data_dir,
)
from screening.settings import Settings
from screening.text_input import read_text_file
from screening.text_screening import TextResult

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Screen AI-generated content against registered works.")
works_app = typer.Typer(no_args_is_help=True, help="Register, list and withdraw works.")
screen_app = typer.Typer(no_args_is_help=True, help="Screen generated outputs.")
index_app = typer.Typer(no_args_is_help=True, help="Inspect and rebuild indexes.")
background_app = typer.Typer(no_args_is_help=True,
                             help="Unrelated images used to normalise SSCD scores.")
app.add_typer(works_app, name="works")
app.add_typer(screen_app, name="screen")
app.add_typer(index_app, name="index")
app.add_typer(background_app, name="background")
plan_app = typer.Typer(no_args_is_help=True, help="Check and calibrate rating plans.")
app.add_typer(plan_app, name="plan")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of the HTTP service.")
app.add_typer(keys_app, name="keys")

_state: dict[str, Path | None] = {"data_dir": None}


@app.callback()
def _main(data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Data folder (default: $IPSCREEN_DATA_DIR or a per-user folder).")]
          = None) -> None:
    _state["data_dir"] = data_dir


def _settings() -> Settings:
    try:
        s = Settings()
    except ValidationError as exc:
        raise IpscreenError(f"invalid setting {first_validation_error(exc.errors())}") \
            from None
    if _state["data_dir"] is not None:
        s = s.model_copy(update={"data_dir": _state["data_dir"]})
    return s


def _workspace(create: bool = False) -> Workspace:
    return Workspace(_settings(), create=create, progress=sys.stderr.isatty() or
                     bool(os.environ.get("IPSCREEN_PROGRESS")))


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


# -- works ------------------------------------------------------------------------------------
@works_app.command("import")
def works_import(manifest: Path, replace: Annotated[bool, typer.Option(
        help="Replace works whose content changed, and update the metadata of those whose "
        "content is the same.")] = False) -> None:
    """Register the works listed in a manifest: CSV (path,external_id,title,owner,category)
    or JSON Lines (.jsonl, one object per work, text works may carry their "text")."""
    ws = _workspace(create=True)
    bars: list[tqdm] = []  # opened once the manifest is read, so it knows the row count

    def on_rows(n: int) -> None:
        bars.append(tqdm(total=n, desc="importing", unit="row", file=sys.stderr))

    def on_row(r: RowOutcome) -> None:
        bar = bars[0]
        bar.update(1)
        if r.error:
            bar.write(f"row {r.row}: {r.external_id or '-'}: {r.error}", file=sys.stderr)
        elif r.note:
            bar.write(f"row {r.row}: {r.external_id}: note: {r.note}", file=sys.stderr)

    try:
        report = ws.import_manifest(manifest, replace=replace, on_row=on_row, on_rows=on_rows)
    finally:
        for bar in bars:
            bar.close()
    counts: dict[str, int] = {}
    for r in report.rows:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no rows"
    _err(f"imported {manifest}: {summary}")
    if report.failed:
        raise typer.Exit(2)


@works_app.command("add")
def works_add(
    file: Path,
    external_id: Annotated[str, typer.Option("--external-id")],
    kind: Annotated[str | None, typer.Option(
        help="image or text (default: from the file's suffix; .txt/.md are text)")] = None,
    title: Annotated[str, typer.Option()] = "",
    owner: Annotated[str, typer.Option()] = "",
    category: Annotated[str, typer.Option()] = "",
    jurisdiction: Annotated[str, typer.Option()] = "",
    registration_no: Annotated[str, typer.Option("--registration-no")] = "",
    replace: Annotated[bool, typer.Option(
        help="Replace the work if its content changed (or its metadata, if not).")] = False,
) -> None:
    """Register one work (an image, or a UTF-8 text file)."""
    kind = kind or kind_of(file)
    if kind not in ("image", "text"):
        raise typer.BadParameter("kind must be image or text", param_hint="--kind")
    ws = _workspace(create=True)
    meta = WorkMeta(external_id, kind, title, owner, category,  # type: ignore[arg-type]
                    jurisdiction, registration_no)
    record, outcome = ws.register_file(meta, file, replace=replace)
    note = ws.twin_note(record) if outcome in INDEXED_OUTCOMES else None
    if note:
        typer.echo(f"note: {note}", err=True)
    typer.echo(json.dumps({"outcome": outcome, **record.public()}))


@works_app.command("update")
def works_update(
    external_id: str,
    title: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[str | None, typer.Option()] = None,
    category: Annotated[str | None, typer.Option()] = None,
    jurisdiction: Annotated[str | None, typer.Option()] = None,
    registration_no: Annotated[str | None, typer.Option("--registration-no")] = None,
) -> None:
    """Correct a work's metadata; the options left out keep their values. The content and
    the indexes are untouched (to change the content, add the work again with --replace)."""
    fields = {k: v for k, v in {"title": title, "owner": owner, "category": category,
                                "jurisdiction": jurisdiction,
                                "registration_no": registration_no}.items() if v is not None}
    if not fields:
        raise typer.BadParameter("give at least one of --title, --owner, --category, "
                                 "--jurisdiction, --registration-no")
    record, changed = _workspace().update(external_id, **fields)
    typer.echo(json.dumps({"outcome": "updated" if changed else "unchanged",
                           "changed": changed, **record.public()}))


@works_app.command("show")
def works_show(external_id: str) -> None:
    """Print one work's registry record as JSON."""
    typer.echo(json.dumps(_workspace().registry.get(external_id).public()))


@works_app.command("history")
def works_history(external_id: str) -> None:
    """Print a work's change log, oldest first, one JSON object per change (when it was
    registered, replaced, withdrawn and why, reactivated, or its metadata corrected)."""
    for change in _workspace().registry.history(external_id):
        typer.echo(json.dumps(change))


@works_app.command("list")
def works_list(
    status: Annotated[str | None, typer.Option(help="active or withdrawn")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's works (exact name).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per work.")] = False,
) -> None:
    """List registered works."""
    if status not in (None, "active", "withdrawn"):
        raise typer.BadParameter("status must be active or withdrawn", param_hint="--status")
    ws = _workspace()
    for w in ws.registry.list_works(status=status, owner=owner):
        if as_json:
            typer.echo(json.dumps(w.public()))
        else:
            typer.echo("\t".join([w.external_id, w.kind, w.status, w.category, w.owner,
                                  w.title]))


@works_app.command("withdraw")
def works_withdraw(
    external_ids: Annotated[list[str] | None, typer.Argument(
        metavar="EXTERNAL_ID...", help="Works to withdraw.")] = None,
    reason: Annotated[str, typer.Option()] = "",
    from_file: Annotated[Path | None, typer.Option(
        "--from-file", help="Also withdraw the ids in this file, one per line.")] = None,
) -> None:
    """Withdraw works: they stop matching at once (no rebuild). One JSON record per work;
    an unknown id is reported and the others are still withdrawn (exit 3)."""
    ids = list(external_ids or [])
    if from_file is not None:
        ids += [line.strip() for line in read_text_file(from_file).splitlines()
                if line.strip()]
    if not ids:
        raise typer.BadParameter("name at least one work (or --from-file)")
    ws = _workspace()
    if len(ids) == 1:  # one work: its error is the command's, as before
        typer.echo(json.dumps(ws.withdraw(ids[0], reason).public()))
        return
    failed = 0
    for ext, outcome in zip(ids, ws.withdraw_many(ids, reason), strict=True):
        if isinstance(outcome, IpscreenError):
            failed += 1
            _err(f"{ext}: {outcome}")
        else:
            typer.echo(json.dumps(outcome.public()))
    if failed:
        _err(f"{failed} of {len(ids)} works could not be withdrawn")
        raise typer.Exit(3)


# -- screening --------------------------------------------------------------------------------
def _print_results(results: Iterable[ImageResult | TextResult], total: int, as_json: bool,
                   progress: bool, unit: str, describe: Callable[[Any], str],
                   evidence: Callable[[int, Any], list[Path]] | None = None) -> None:
    """One line (or JSON object) per result on stdout; exit 1 at the end if any failed.
    With `evidence`, each result's evidence files are written and listed (JSON: the
    "evidence" field; lines: a tab-separated last column)."""
    failures = 0
    bar = tqdm(total=total, desc="screening", unit=unit, file=sys.stderr,
               disable=total < 2 or not progress)
    for position, result in enumerate(results):
        bar.update(1)
        failures += result.error is not None
        files: list[str] = []
        problem = None
        if evidence:
            try:
                files = [str(p) for p in evidence(position, result)]
            except (OSError, IpscreenError, ImageDecodeError, UnicodeDecodeError) as exc:
                # the screening result stands; only its pictures are missing
                problem = f"evidence not written: {exc}"
                _err(f"{result.input}: {problem}")
        if as_json:
            body = result.to_dict()
            if evidence and result.error is None:
                body["evidence"] = files
                if problem:
                    body["evidence_error"] = problem
            typer.echo(json.dumps(body, ensure_ascii=False))
        elif result.error is not None:
            typer.echo(f"{result.input}\terror\t{result.error}")
        else:
            best = result.matches[0] if result.matches else None
            what = describe(best) if best else "-"
            extra = "\t" + " ".join(files) if files else ""
            typer.echo(f"{result.input}\t{result.decision}\t{result.risk_score:.3f}\t{what}"
                       f"{extra}")
    bar.close()
    if failures:
        _err(f"{failures} of {total} inputs could not be screened")
        raise typer.Exit(1)


@screen_app.command("image")
def screen_image(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input.")]
    = False,
    profile: Annotated[str | None, typer.Option(help="accurate, cascade, fast or hash")] = None,
    evidence: Annotated[Path | None, typer.Option(
        help="Write, for each input with a match at or above the review threshold, a PNG of "
        "it with the matched region outlined beside the registered work into this folder.")]
    = None,
) -> None:
    """Screen generated images against the registered works."""
    ws = _workspace()
    inputs = list(expand_image_paths(paths))
    if not inputs:
        raise IpscreenError("no image files found in the given paths")
    out = _evidence_dir(evidence)

    def write(position: int, result: ImageResult) -> list[Path]:
        assert out is not None
        return write_image_evidence(result, position, out, ws.blobs, ws.limits,
                                    ws.thresholds.review)

    _print_results(ws.screen_images(inputs, profile), len(inputs), as_json, ws.progress, "img",
                   lambda m: f"{m.work.external_id} ({m.work.title}) p={m.score:.3f} "
                             f"region={m.region}", write if out else None)


def _evidence_dir(path: Path | None) -> Path | None:
    """The evidence folder, created; a clear error before any screening if it cannot be."""
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".ipscreen-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidInputError(f"cannot write evidence to {path}: "
                                f"{exc.strerror or exc}") from None
    return path


@screen_app.command("text")
def screen_text(
    paths: Annotated[list[str], typer.Argument(help="Text files, folders of .txt, or - for "
                                               "standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input.")]
    = False,
    paraphrase: Annotated[bool, typer.Option(
        "--paraphrase/--no-paraphrase", help="Run the paraphrase (embedding) layer.")] = True,
    evidence: Annotated[Path | None, typer.Option(
        help="Write, for each input with a match at or above the review threshold, an HTML "
        "page with the copied spans highlighted in the output and the work into this "
        "folder.")] = None,
) -> None:
    """Screen generated texts against the registered text works."""
    ws = _workspace()
    inputs: list[tuple[str, str | Path]] = []
    for p in paths:
        if p == "-":
            inputs.append(("-", _stdin_text(ws.settings.max_text_bytes)))
        else:
            inputs.extend((str(f), f) for f in expand_text_paths([Path(p)]))
    if not inputs:
        raise IpscreenError("no text files found in the given paths")
    out = _evidence_dir(evidence)

    def write(position: int, result: TextResult) -> list[Path]:
        assert out is not None
        source = inputs[position][1]
        if result.error is not None or not result.matches:
            return []
        output = source if isinstance(source, str) else ws.texts.read(source)
        return write_text_evidence(result, output, position, out, ws.blobs,
                                   ws.thresholds.review)

    # --no-paraphrase turns the layer off; otherwise the setting decides
    _print_results(ws.screen_texts(inputs, paraphrase=None if paraphrase else False),
                   len(inputs), as_json, ws.progress, "text",
                   lambda m: f"{m.work.external_id} ({m.work.title}) p={m.score:.3f} "
                             f"longest run {m.longest_run_words} words, "
                             f"{m.output_copied_fraction:.0%} of the output",
                   write if out else None)


def _stdin_text(max_bytes: int) -> str:
    from screening.text_input import decode_text

    data = sys.stdin.buffer.read(max_bytes + 1)
    return decode_text(data, max_bytes)


# -- indexes ----------------------------------------------------------------------------------
@index_app.command("rebuild")
def index_rebuild(profile: Annotated[list[str] | None, typer.Option(
        help="Profiles to rebuild (default: all maintained).")] = None) -> None:
    """Rebuild the image and text indexes from the registry."""
    ws = _workspace()
    counts = ws.rebuild_indexes(profile or None)
    counts.update(ws.texts.rebuild())
    typer.echo(json.dumps(counts))


@index_app.command("status")
def index_status() -> None:
    """Show each maintained index's state (current, behind, missing), each stored index's
    sidecar facts and the registry revision."""
    ws = _workspace()
    indexes: dict[str, dict] = {}
    maintained = {name: {"state": state, "revision": rev}
                  for name, (state, rev) in sorted(ws.index_states().items())}
    out = {"registry_revision": ws.registry.revision(),
           "maintained_profiles": list(ws.settings.maintained_profiles),
           "maintained": maintained, "indexes": indexes}
    for side in sorted(ws.store.directory.glob("*.json")):
        meta = ws.store.read_sidecar(side.stem)
        if meta:
            # count, works and revision as of the last delta; generation, bytes and
            # base_revision those of the base file the deltas follow
            head = meta.get("head") or {}
            indexes[side.stem] = {
                **{k: meta[k] for k in ("feature", "metric", "generation", "bytes")},
                "params": meta.get("params", {}),
                **{k: head.get(k, meta[k]) for k in ("count", "works", "revision")},
                "base_revision": meta["revision"], "deltas": len(meta.get("deltas", []))}
    typer.echo(json.dumps(out, indent=2))


@background_app.command("add")
def background_add(
    paths: Annotated[list[Path], typer.Argument(help="Unrelated images or folders.")],
    profile: Annotated[str, typer.Option()] = "accurate",
) -> None:
    """Add unrelated images to the background set used for score normalisation. Images
    already in the set, and registered works' own files, are skipped with a note; one that
    cannot be read is reported and the others are still added (exit 1 at the end)."""
    counts = {"skipped": 0, "failed": 0}

    def skipped(path: Path, why: str) -> None:
        counts["skipped"] += 1
        _err(f"note: {path}: skipped: {why}")

    def failed(path: Path, why: str) -> None:
        counts["failed"] += 1
        _err(f"error: {why}")

    n = _workspace(create=True).add_background(expand_image_paths(paths), profile,
                                               on_skip=skipped, on_error=failed)
    _err(f"added {n} background images for profile {profile}"
         + (f" ({counts['skipped']} skipped, {counts['failed']} failed)"
            if counts["skipped"] or counts["failed"] else ""))
    if counts["failed"]:
        raise typer.Exit(1)


@background_app.command("clear")
def background_clear(profile: Annotated[str, typer.Option()] = "accurate") -> None:
    """Remove a profile's background set: its scores are no longer normalised (a running
    service picks that up at its next reload check)."""
    n = _workspace().clear_background(profile)
    _err(f"removed the background set of profile {profile} ({n} images)" if n else
         f"profile {profile} had no background set")


# -- underwriting ----------------------------------------------------------------------------
@app.command("underwrite")
def underwrite_cmd(
    sample: Annotated[Path, typer.Argument(help="JSON Lines of screening results, or a folder "
                                           "of outputs to screen first.")],
    applicant: Annotated[Path, typer.Option(help="Applicant YAML.")],
    limit: Annotated[float, typer.Option(help="Limit of liability.")],
    deductible: Annotated[float, typer.Option(help="Deductible per claim.")] = 0.0,
    plan: Annotated[Path | None, typer.Option(help="Rating plan YAML (default: the "
                                              "shipped plans/default.yaml).")] = None,
    currency: Annotated[str | None, typer.Option(help="Currency of limit, deductible and "
                                                 "premium (default: the plan's).")] = None,
    index_revision: Annotated[int | None, typer.Option(
        "--index-revision", help="Refuse results screened against another index revision.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the quote as JSON.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
) -> None:
    """Profile a sample of outputs and quote a premium with its rating worksheet."""
    from screening.underwriting.applicant import load_applicant
    from screening.underwriting.plan import load_plan
    from screening.underwriting.report import render_report
    from screening.underwriting.underwrite import load_results, underwrite

    rating_plan = load_plan(plan)
    who = load_applicant(applicant)
    if report is not None:  # before any screening: a quote is not lost to a bad path
        _check_report_path(report)
    if sample.is_dir():
        ws = _workspace()
        results = load_results(sample, ws.screen_images, ws.screen_texts)
    else:
        results = load_results(sample)
    profile, quote = underwrite(results, who, rating_plan, limit, deductible, currency,
                                index_revision)
    for w in profile.warnings:
        _err(f"warning: {w}")
    if report is not None:
        from indexes.store import atomic_write

        try:
            atomic_write(report, render_report(profile, quote).encode("utf-8"))
            report.chmod(0o644)  # a page to share, not a secret (mkstemp creates 0600)
        except OSError as exc:
            raise InvalidInputError(f"cannot write the report to {report}: "
                                    f"{exc.strerror or exc}") from None
        _err(f"report written to {report}")
    if as_json:
        typer.echo(quote.to_json(), nl=False)
        return
    hr = profile.to_dict()["hit_rate"]
    typer.echo(f"{who.name}: {profile.outputs} outputs screened, {profile.expected_hits:.2f} "
               f"expected hits; levels {profile.levels}")
    typer.echo(f"hit rate: sample {hr['sample']:.5f}, posterior {hr['posterior_mean']:.5f} "
               f"(90% {hr['posterior_interval_90'][0]:.5f}-{hr['posterior_interval_90'][1]:.5f},"
               f" Z = {hr['credibility_z']:.3f}); {profile.distinct_works} works, "
               f"{profile.distinct_owners} owners matched")
    for st in quote.steps:
        f = "" if st.factor is None else f"x {st.factor:.4f}"
        typer.echo(f"  {st.name:28} {f:>10}  = {st.value:14,.2f}   {st.input}")
    typer.echo(f"premium {quote.premium:,.2f} {quote.currency} (plan {rating_plan.plan_id} "
               f"{rating_plan.version}, sha256 {rating_plan.sha256[:12]})")


def _check_report_path(report: Path) -> None:
    """InvalidInputError unless an HTML report can be written at `report` (a file, new or
    replaced, in a folder that exists and is writable)."""
    why = None
    if report.is_dir():
        why = "it is a folder"
    elif not report.parent.is_dir():
        why = f"no folder {report.parent}"
    elif not os.access(report.parent, os.W_OK):
        why = f"folder {report.parent} is not writable"
    elif report.exists() and not report.is_file():
        why = "it is not a regular file"
    if why:
        raise InvalidInputError(f"cannot write the report to {report}: {why}")


@plan_app.command("check")
def plan_check(plan: Annotated[Path | None, typer.Argument(help="Plan YAML (default: the "
                                                           "shipped plan).")] = None) -> None:
    """Validate a plan and quote its reference applicant (must hit the reference premium
    within 1%)."""
    from screening.underwriting.plan import load_plan
    from screening.underwriting.pricing import reference_quote, solve_base_loss_cost

    p = load_plan(plan)
    q = reference_quote(p)
    target = p.reference_applicant.premium
    off = q.premium_plan_currency / target - 1
    typer.echo(json.dumps({"plan_id": p.plan_id, "version": p.version, "sha256": p.sha256,
                           "reference_premium": q.premium_plan_currency, "target": target,
                           "relative_error": round(off, 6),
                           "solved_base_loss_cost": round(solve_base_loss_cost(p), 2)}))
    if abs(off) > 0.01:
        _err(f"error: the reference applicant is quoted {q.premium_plan_currency:,.2f}, more "
             f"than 1% from {target:,.2f}; set base_loss_cost.value to the solved value")
        raise typer.Exit(2)


# -- service ---------------------------------------------------------------------------------
@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP API (FastAPI under uvicorn) on this data dir."""
    import uvicorn

    s = _settings()
    prepare_data_dir(s.data_dir, create=True)
    # Open the registry once here: a database that cannot be opened (damaged, or from a newer
    # ipscreen) is then this command's one-line error rather than each worker's traceback,
    # and migrations run once before the workers start instead of in all of them at once.
    Workspace(s, create=True, progress=False).close()
    # workers are separate processes: they read the data dir from the environment
    os.environ["IPSCREEN_DATA_DIR"] = str(s.data_dir)
    # an import string, so every worker builds its own app (and so screening/ never imports
    # api/: the dependency points one way)
    uvicorn.run("api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    tenant: Annotated[str, typer.Option(help="Tenant (platform, insurer) it belongs to.")],
    scope: Annotated[list[str], typer.Option(help="screen, register, underwrite or admin; "
                                             "repeat for several.")],
    rate: Annotated[int, typer.Option(help="Requests per minute.")] = 600,
    expires_in_days: Annotated[float | None, typer.Option(
        "--expires-in-days", help="Refuse the key from this many days on (default: never).")]
    = None,
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    from screening.access import AccessStore

    ws = _workspace(create=True)
    key, info = AccessStore(ws.registry.engine).create_key(name, tenant, scope, rate,
                                                           expires_in_days)
    typer.echo(json.dumps({"key": key, **info.public()}))


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (prefixes, never the keys)."""
    from screening.access import AccessStore

    for info in AccessStore(_workspace().registry.engine).list_keys():
        typer.echo(json.dumps(info.public()))


@keys_app.command("revoke")
def keys_revoke(prefix: str) -> None:
    """Revoke an API key by its prefix: it is refused from the next request on."""
    from screening.access import AccessStore

    info = AccessStore(_workspace().registry.engine).revoke(prefix)
    typer.echo(json.dumps(info.public()))


@app.command("audit")
def audit_cmd(
    request_id: Annotated[str | None, typer.Option("--request-id")] = None,
    tenant: Annotated[str | None, typer.Option()] = None,
    input_sha256: Annotated[str | None, typer.Option(
        "--input-sha256", help="SHA-256 of a screened input (file bytes, or a text's UTF-8).")]
    = None,
    route: Annotated[str | None, typer.Option(help="screen/image, screen/text, "
                                              "evidence/image, pricing/quote, licences, ...")]
    = None,
    external_id: Annotated[str | None, typer.Option(
        "--external-id", help="Only decisions about this work (matched or licensed).")]
    = None,
    limit: Annotated[int, typer.Option(help="The latest this many.")] = 100,
) -> None:
    """The HTTP service's audit trail, oldest first, one JSON object per decision: when,
    which tenant and key, the route, the input's SHA-256, the decision, its score and the
    versions that produced it."""
    from screening.access import AccessStore

    for entry in AccessStore(_workspace().registry.engine).audit_entries(
            request_id, tenant=tenant, input_sha256=input_sha256, route=route,
            external_id=external_id, limit=limit):
        typer.echo(json.dumps(entry))


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        code = app(standalone_mode=False)
        # click returns the code of a typer.Exit raised inside a command when not standalone
        sys.exit(code if isinstance(code, int) else 0)
    except (IpscreenError, ModelError, IndexError_) as exc:
        _err(f"error: {exc}")
        sys.exit(getattr(exc, "exit_code", 2 if isinstance(exc, ModelError) else 1))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _err("aborted")
        sys.exit(130)
    except _usage_errors() as exc:  # bad arguments and options: a usage message, exit 2
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except Exception as exc:
        failure = storage_failure(exc)
        if failure is None:
            raise
        _err(f"error: {failure[0]}")
        sys.exit(DataDirError.exit_code)


def _usage_errors() -> tuple[type[Exception], ...]:
    """click's ClickException, and typer's own copy of it: typer 0.2x vendors click, so
    its BadParameter and MissingParameter are not click's (catching only click's let them
    through as tracebacks)."""
    import click

    kinds: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # older typer: click's own
        pass
    else:
        kinds.append(ClickException)
    return tuple(kinds)


if __name__ == "__main__":
    main()
