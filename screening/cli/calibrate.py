"""`ipscreen calibrate`: refit calibrators from reviewers' verdicts, list and roll back."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from screening.cli.app import workspace
from screening.errors import InvalidInputError


def calibrate_cmd(
    from_verdicts: Annotated[bool, typer.Option(
        "--from-verdicts", help="Refit from the verdicts given in the workbench.")] = False,
    tenant: Annotated[str | None, typer.Option(
        help="Only this tenant's verdicts, and a calibration for this tenant alone "
        "(default: every verdict, for everyone).")] = None,
    calibrator: Annotated[str | None, typer.Option(
        help="Only this calibrator (e.g. image-accurate-bg, text); default: every one "
        "that has verdicts.")] = None,
    min_verdicts: Annotated[int, typer.Option(
        "--min-verdicts", help="Usable verdicts needed before anything changes.")] = 20,
    weight: Annotated[float | None, typer.Option(
        help="A verdict's weight against one shipped training row (default: the best of "
        "1, 2, 5, 10 and 20 held out that flags no more shipped distractors).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Report what the refit would change; write nothing.")] = False,
    rollback: Annotated[str | None, typer.Option(
        help="Retire the newest refitted version of this calibrator (for --tenant, or "
        "everyone's); the one before it is in force again.")] = None,
    history: Annotated[bool, typer.Option(
        "--list", help="Every refitted version, with its report.")] = False,
) -> None:
    """Calibration that learns from verdicts. With --from-verdicts, each calibrator is
    refitted on its shipped training rows plus the usable verdicts, and the report (one
    JSON object per calibrator) gives held-out calibration error, recall and false flags
    at the review threshold before and after. The service picks a new version up within
    its reload interval."""
    from screening.calibration import load_calibrator
    from screening.calibration.rows import shipped_rows
    from screening.calibration.verdicts import refit, usable
    from screening.calibration.versions import CalibrationStore
    from screening.review.cases import CaseStore

    ws = workspace()
    store = CalibrationStore(ws.registry.engine)
    if sum((from_verdicts, rollback is not None, history)) != 1:
        raise InvalidInputError("give one of --from-verdicts, --rollback NAME or --list")
    if history:
        for row in store.history():
            typer.echo(json.dumps(row))
        return
    if rollback is not None:
        typer.echo(json.dumps(store.rollback(rollback, tenant or "")))
        return
    if min_verdicts < 1:
        raise InvalidInputError("--min-verdicts must be at least 1")
    verdicts = CaseStore(ws.registry.engine, 0).verdicts(tenant)
    names = sorted({v["calibration"].partition("@")[0] for v in verdicts
                    if v["calibration"]})
    if calibrator is not None:
        names = [n for n in names if n == calibrator]
    if not names:
        raise InvalidInputError(f"no verdicts{' of tenant ' + repr(tenant) if tenant else ''}"
            f"{' on ' + calibrator if calibrator else ''} yet: nothing to refit")
    for name in names:
        current = store.current(name, tenant or "") or load_calibrator(name)
        mine = [v for v in verdicts if v["calibration"].partition("@")[0] == name]
        cal, report = refit(current, shipped_rows(name), usable(mine, current.features),
                            ws.thresholds.review, weight, min_verdicts)
        report["tenant"] = tenant or ""
        if cal is not None and not dry_run:
            report["id"] = store.save(cal, tenant or "", report)
        report["written"] = cal is not None and not dry_run
        typer.echo(json.dumps(report))
