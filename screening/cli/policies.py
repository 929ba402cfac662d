"""`ipscreen policies`: bind quotes as policies, import a book, list, show, cancel."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from screening.cli.app import as_of_day, workspace, write_page

if TYPE_CHECKING:
    from screening.ledger.store import LedgerStore

policies_app = typer.Typer(no_args_is_help=True, help="The policy ledger: bound quotes.")


def _store() -> LedgerStore:
    from screening.ledger.store import LedgerStore

    return LedgerStore(workspace(create=True).registry.engine)


@policies_app.command("bind")
def policies_bind(
    quote_file: Annotated[Path, typer.Argument(help="A quote (JSON, as `ipscreen underwrite "
                                               "--json` or POST /v1/pricing/quote give it).")],
    policy_no: Annotated[str, typer.Option("--policy-no", help="The policy's number.")],
    start: Annotated[str, typer.Option(help="First day of cover (YYYY-MM-DD).")],
    end: Annotated[str | None, typer.Option(help="Last day (default: a year less a day).")]
    = None,
    tenant: Annotated[str, typer.Option(help="The insured's tenant, for its API keys.")] = "",
) -> None:
    """Bind a quote: it becomes a policy with the plan's expectation of it. A referred or
    declined quote cannot be bound."""
    from screening.errors import InvalidInputError
    from screening.files import read_file_limited
    from screening.finite_json import loads_finite
    from screening.ledger.records import policy_from_quote

    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end) if end else None
    except ValueError:
        raise InvalidInputError(f"--start / --end: {start!r} / {end!r}: a date is "
                                "YYYY-MM-DD") from None
    try:
        q = loads_finite(read_file_limited(quote_file, 16 * 1024 * 1024, "a quote")
                         .decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{quote_file}: {exc}") from None
    typer.echo(json.dumps(_store().bind(policy_from_quote(q, policy_no, first, tenant,
                                                          last))))


@policies_app.command("import")
def policies_import(csv_file: Annotated[Path, typer.Argument(help="Policies, one a row.")]
                    ) -> None:
    """Import policies from CSV, all or none (columns: docs/reference/ledger.md)."""
    from screening.ledger.imports import read_policies

    rows = read_policies(csv_file)
    typer.echo(json.dumps({"imported": _store().bind_many(rows)}))


@policies_app.command("list")
def policies_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    applicant: Annotated[str | None, typer.Option(help="Only this applicant's.")] = None,
    status: Annotated[str | None, typer.Option(help="bound or cancelled.")] = None,
) -> None:
    """Policies, by start date, one JSON object a line."""
    for p in _store().policies(tenant, applicant, status, limit=100_000):
        typer.echo(json.dumps(p))


@policies_app.command("show")
def policies_show(policy_no: str) -> None:
    """A policy with its claims."""
    typer.echo(json.dumps(_store().policy(policy_no), indent=2))


@policies_app.command("cancel")
def policies_cancel(policy_no: str) -> None:
    """Cancel a policy (its claims stay; no new claim reported after today)."""
    typer.echo(json.dumps(_store().cancel(policy_no)))


@policies_app.command("portfolio")
def policies_portfolio(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The day the book is taken on "
                                              "(default: today).")] = None,
    plan: Annotated[Path | None, typer.Option(help="Rating plan (default: the setting "
                                              "PLAN_PATH, else the shipped plan).")] = None,
    years: Annotated[int, typer.Option(help="Simulated years for the shared-events model.")]
    = 100_000,
    seed: Annotated[int, typer.Option()] = 0,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
) -> None:
    """The book's annual aggregate loss: mean, sd, VaR and TVaR at 99% and 99.5%, with the
    events its policies share through rights owners (simulated) and without (exact)."""
    from screening.errors import InvalidInputError
    from screening.ledger.book import book_risk, render_book
    from screening.underwriting.plan import load_plan

    if not 1_000 <= years <= 10_000_000:
        raise InvalidInputError("--years must be between 1,000 and 10,000,000")
    day = as_of_day(as_of)
    ws = workspace(create=True)
    rating = load_plan(plan or ws.settings.plan_path)
    from screening.ledger.store import LedgerStore

    risk = book_risk(LedgerStore(ws.registry.engine).experience(), rating, day, years, seed)
    if report is not None:
        write_page(report, render_book(risk))
    typer.echo(json.dumps({k: v for k, v in risk.items() if k != "curve"}, indent=2))
