"""`ipscreen plan`: check a rating plan against its reference applicant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import err

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
    if abs(off) > 0.01:
        err(f"error: the reference applicant is quoted {q.premium_plan_currency:,.2f}, more "
             f"than 1% from {target:,.2f}; set base_loss_cost.value to the solved value")
        raise typer.Exit(2)
