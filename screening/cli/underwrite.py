"""`ipscreen underwrite`: profile a sample of outputs, quote it, and write its report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import err, settings, workspace, write_page
from screening.errors import InvalidInputError


def underwrite_cmd(
    sample: Annotated[Path, typer.Argument(help="JSON Lines of screening results, or a folder "
                                           "of outputs to screen first.")],
    applicant: Annotated[Path, typer.Option(help="Applicant YAML.")],
    limit: Annotated[float, typer.Option(help="Limit of liability per claim.")],
    deductible: Annotated[float, typer.Option(help="Deductible per claim.")] = 0.0,
    aggregate_limit: Annotated[float | None, typer.Option(
        "--aggregate-limit", help="Most paid in a year (default: the limit).")] = None,
    plan: Annotated[Path | None, typer.Option(help="Rating plan YAML (default: the setting "
                                              "PLAN_PATH, else the shipped plan).")] = None,
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

    rating_plan = load_plan(plan or settings().plan_path)
    who = load_applicant(applicant)
    if report is not None:  # before any screening: a quote is not lost to a bad path
        _check_report_path(report)
    if sample.is_dir():
        ws = workspace()
        results = load_results(sample, ws.screen_images, ws.screen_texts)
    else:
        results = load_results(sample)
    profile, quote = underwrite(results, who, rating_plan, limit, deductible, currency,
                                index_revision, aggregate_limit)
    for w in profile.warnings:
        err(f"warning: {w}")
    if report is not None:
        write_page(report, render_report(profile, quote))
        err(f"report written to {report}")
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
    plan_name = (f"plan {rating_plan.plan_id} {rating_plan.version}, sha256 "
                 f"{rating_plan.sha256[:12]}")
    if quote.decision != "quote":
        typer.echo(f"{quote.decision.upper()}: no premium offered ({plan_name}); indicated "
                   f"{quote.premium:,.2f} {quote.currency}")
        for reason in quote.reasons:
            typer.echo(f"  - {reason}")
        return
    typer.echo(f"premium {quote.premium:,.2f} {quote.currency} ({plan_name})")


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
