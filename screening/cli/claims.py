"""`ipscreen claims`: record claims against policies, change them, import, list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import workspace

claims_app = typer.Typer(no_args_is_help=True, help="The claims ledger.")


@claims_app.command("add")
def claims_add(
    policy_no: Annotated[str, typer.Option("--policy", help="The policy claimed against.")],
    claim_no: Annotated[str, typer.Option("--claim-no", help="The claim's number.")],
    loss_date: Annotated[str, typer.Option("--loss-date", help="YYYY-MM-DD.")],
    reported_date: Annotated[str | None, typer.Option(
        "--reported-date", help="YYYY-MM-DD (default: the loss date).")] = None,
    work: Annotated[str, typer.Option(help="The registered work (external id); its owner, "
                                      "category and jurisdiction fill the blanks.")] = "",
    owner: Annotated[str, typer.Option()] = "",
    category: Annotated[str, typer.Option()] = "",
    jurisdiction: Annotated[str, typer.Option()] = "",
    paid: Annotated[float, typer.Option(help="Indemnity paid.")] = 0.0,
    reserved: Annotated[float, typer.Option(help="Indemnity reserved.")] = 0.0,
    defence: Annotated[float, typer.Option(help="Defence cost.")] = 0.0,
    status: Annotated[str, typer.Option(help="open, closed, denied or withdrawn.")] = "open",
    request_id: Annotated[str, typer.Option("--request-id", help="The screened output's "
                                            "request id, when there is one.")] = "",
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Record a claim (claims made: reported within the policy's period)."""
    from screening.ledger.records import ClaimIn, parse
    from screening.ledger.store import LedgerStore

    ws = workspace()
    if work:
        rec = ws.registry.get(work)
        owner, category = owner or rec.owner, category or rec.category
        jurisdiction = jurisdiction or rec.jurisdiction
    raw = {"policy_no": policy_no, "claim_no": claim_no, "loss_date": loss_date,
           "reported_date": reported_date, "external_id": work, "owner": owner,
           "category": category, "jurisdiction": jurisdiction, "paid": paid,
           "reserved": reserved, "defence": defence, "status": status,
           "request_id": request_id, "note": note}
    claim = parse(ClaimIn, {k: v for k, v in raw.items() if v is not None}, "claim")
    typer.echo(json.dumps(LedgerStore(ws.registry.engine).add_claim(claim)))


@claims_app.command("update")
def claims_update(
    claim_no: str,
    paid: Annotated[float | None, typer.Option()] = None,
    reserved: Annotated[float | None, typer.Option()] = None,
    defence: Annotated[float | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change a claim's amounts, status or note (audited)."""
    from screening.ledger.records import ClaimChange, parse
    from screening.ledger.store import LedgerStore

    raw = {"paid": paid, "reserved": reserved, "defence": defence, "status": status,
           "note": note}
    change = parse(ClaimChange, {k: v for k, v in raw.items() if v is not None}, "change")
    typer.echo(json.dumps(LedgerStore(workspace().registry.engine)
                          .change_claim(claim_no, change)))


@claims_app.command("import")
def claims_import(csv_file: Annotated[Path, typer.Argument(help="Claims, one a row.")]) -> None:
    """Import claims from CSV, all or none (columns: docs/reference/ledger.md)."""
    from screening.ledger.imports import read_claims
    from screening.ledger.store import LedgerStore

    rows = read_claims(csv_file)
    n = LedgerStore(workspace().registry.engine).add_claims(rows)
    typer.echo(json.dumps({"imported": n}))


@claims_app.command("list")
def claims_list(
    policy_no: Annotated[str | None, typer.Option("--policy", help="Only this policy's.")]
    = None,
    status: Annotated[str | None, typer.Option(help="Only claims in this status.")] = None,
) -> None:
    """Claims, by loss date, one JSON object a line."""
    from screening.ledger.store import LedgerStore

    for c in LedgerStore(workspace().registry.engine).claims(policy_no, status):
        typer.echo(json.dumps(c))
