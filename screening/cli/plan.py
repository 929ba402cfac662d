"""`ipscreen plan`: check a rating plan against its reference applicant; update it from the
claims ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import as_of_day, err, workspace

plan_app = typer.Typer(no_args_is_help=True, help="Check and calibrate rating plans.")


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
    if abs(off) > 0.01 and p.reference_applicant.pinned:
        err(f"error: the reference applicant is quoted {q.premium_plan_currency:,.2f}, more "
             f"than 1% from {target:,.2f}; set base_loss_cost.value to the solved value")
        raise typer.Exit(2)


@plan_app.command("update")
def plan_update(
    from_claims: Annotated[bool, typer.Option(
        "--from-claims", help="Learn from the policy and claims ledger.")] = False,
    plan: Annotated[Path | None, typer.Option(
        help="The plan in force (default: the setting PLAN, else the shipped plan).")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Count exposure and claims up to this day (default: today).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Where to write the new version (default: DATA_DIR/plans/ID-VERSION.yaml).")]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report; write nothing.")]
    = False,
) -> None:
    """A new plan version from the ledger: the base loss cost, the severity curve and the
    jurisdiction and severity-class relativities, each blended with the plan in force by
    its credibility and sourced to the data. Prints the experience and the changes; with no
    claims nothing changes."""
    from indexes.store import atomic_write
    from screening.errors import InvalidInputError
    from screening.ledger.experience import experience
    from screening.ledger.store import LedgerStore
    from screening.ledger.update import update_plan
    from screening.underwriting.plan import load_plan

    if not from_claims:
        raise InvalidInputError("give --from-claims (the only source a plan learns from)")
    day = as_of_day(as_of)
    ws = workspace()
    current = load_plan(plan or ws.settings.plan_path)
    exp = experience(LedgerStore(ws.registry.engine).experience(), current, day)
    new, changes, text = update_plan(current, exp, day)
    report: dict = {"plan": f"{current.plan_id}@{current.version}",
                    "experience": exp.to_dict(), "changes": changes}
    if not changes:
        report["written"] = None
        report["reason"] = "no claims in the ledger: the plan stays as it is"
    elif not dry_run:
        target = out or ws.settings.data_dir / "plans" / f"{new.plan_id}-{new.version}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise InvalidInputError(f"{target} exists; a plan version is never overwritten")
        atomic_write(target, text.encode("utf-8"))
        report["written"] = str(target)
        report["new_plan"] = {"plan_id": new.plan_id, "version": new.version,
                              "sha256": new.sha256}
    typer.echo(json.dumps(report, indent=2))
