"""`ipscreen keys`: the HTTP service's API keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from screening.cli.app import workspace

keys_app = typer.Typer(no_args_is_help=True, help="API keys of the HTTP service.")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    tenant: Annotated[str, typer.Option(help="Tenant (platform, insurer) it belongs to.")],
    scope: Annotated[list[str], typer.Option(help="screen, register, underwrite, licence or "
                                             "admin; repeat for several.")],
    rate: Annotated[int | None, typer.Option(
        help="Requests per minute (default: the setting DEFAULT_RATE_PER_MINUTE).")] = None,
    expires_in_days: Annotated[float | None, typer.Option(
        "--expires-in-days", help="Refuse the key from this many days on (default: never).")]
    = None,
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    from screening.access import AccessStore

    ws = workspace(create=True)
    key, info = AccessStore(ws.registry.engine).create_key(
        name, tenant, scope, ws.settings.default_rate_per_minute if rate is None else rate,
        expires_in_days)
    typer.echo(json.dumps({"key": key, **info.public()}))


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (prefixes, never the keys)."""
    from screening.access import AccessStore

    for info in AccessStore(workspace().registry.engine).list_keys():
        typer.echo(json.dumps(info.public()))


@keys_app.command("revoke")
def keys_revoke(prefix: str) -> None:
    """Revoke an API key by its prefix: it is refused from the next request on."""
    from screening.access import AccessStore

    info = AccessStore(workspace().registry.engine).revoke(prefix)
    typer.echo(json.dumps(info.public()))
