"""`ipscreen audit`: read the HTTP service's audit trail."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from screening.cli.app import workspace


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

    for entry in AccessStore(workspace().registry.engine).audit_entries(
            request_id, tenant=tenant, input_sha256=input_sha256, route=route,
            external_id=external_id, limit=limit):
        typer.echo(json.dumps(entry))
