"""`ipscreen works`: register (one file or a manifest), correct, show, list, trace and
withdraw works."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from models.errors import ImageDecodeError
from models.imaging import read_image_bytes
from screening.cli.app import err, workspace
from screening.errors import IpscreenError
from screening.registry.manifest import kind_of
from screening.registry.repository import INDEXED_OUTCOMES, WorkMeta
from screening.service import RowOutcome
from screening.text.input import read_text_file

works_app = typer.Typer(no_args_is_help=True, help="Register, list and withdraw works.")


@works_app.command("import")
def works_import(manifest: Path, replace: Annotated[bool, typer.Option(
        help="Replace works whose content changed, and update the metadata of those whose "
        "content is the same.")] = False) -> None:
    """Register the works listed in a manifest: CSV (path,external_id,title,owner,category)
    or JSON Lines (.jsonl, one object per work, text works may carry their "text")."""
    ws = workspace(create=True)
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
    err(f"imported {manifest}: {summary}")
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
    ws = workspace(create=True)
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
    record, changed = workspace().update(external_id, **fields)
    typer.echo(json.dumps({"outcome": "updated" if changed else "unchanged",
                           "changed": changed, **record.public()}))


@works_app.command("show")
def works_show(external_id: str) -> None:
    """Print one work's registry record as JSON (an image work's further reference images
    under "references")."""
    reg = workspace().registry
    record = reg.get(external_id).public()
    if record["kind"] == "image":
        record["references"] = [r.public() for r in reg.references(external_id)]
    typer.echo(json.dumps(record))


@works_app.command("add-image")
def works_add_image(
    external_id: str,
    files: Annotated[list[Path], typer.Argument(help="Further images of the work.")],
) -> None:
    """Add further reference images to an image work: the character in other poses, its
    model sheet, a logo's variants. Each is indexed under the work, and a match on it is
    reported as a match of the work. One JSON record per image (its id is WORK#N)."""
    ws = workspace()
    failed = 0
    for i, path in enumerate(files):
        try:
            data = read_image_bytes(path, ws.limits)
            try:
                record, outcome = ws.add_reference(external_id, data, sync=i == len(files) - 1)
            except ImageDecodeError as exc:
                raise ImageDecodeError(f"{path}: {exc}") from None
        except ImageDecodeError as exc:
            failed += 1
            err(f"error: {exc}")
            continue
        typer.echo(json.dumps({"outcome": outcome, "file": str(path), **record.public()}))
    if failed:
        ws.sync_indexes()  # the last file may have been the one that failed
        err(f"{failed} of {len(files)} images could not be added")
        raise typer.Exit(2)


@works_app.command("history")
def works_history(external_id: str) -> None:
    """Print a work's change log, oldest first, one JSON object per change (when it was
    registered, replaced, withdrawn and why, reactivated, or its metadata corrected)."""
    for change in workspace().registry.history(external_id):
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
    ws = workspace()
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
    ws = workspace()
    if len(ids) == 1:  # one work: its error is the command's, as before
        typer.echo(json.dumps(ws.withdraw(ids[0], reason).public()))
        return
    failed = 0
    for ext, outcome in zip(ids, ws.withdraw_many(ids, reason), strict=True):
        if isinstance(outcome, IpscreenError):
            failed += 1
            err(f"{ext}: {outcome}")
        else:
            typer.echo(json.dumps(outcome.public()))
    if failed:
        err(f"{failed} of {len(ids)} works could not be withdrawn")
        raise typer.Exit(3)
