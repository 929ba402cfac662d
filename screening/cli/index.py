"""`ipscreen index`: each index's state, and a rebuild from the registry."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from screening.cli.app import workspace

index_app = typer.Typer(no_args_is_help=True, help="Inspect and rebuild indexes.")


@index_app.command("rebuild")
def index_rebuild(profile: Annotated[list[str] | None, typer.Option(
        help="Profiles to rebuild (default: all maintained).")] = None) -> None:
    """Rebuild the image and text indexes from the registry."""
    ws = workspace()
    counts = ws.rebuild_indexes(profile or None)
    counts.update(ws.texts.rebuild())
    typer.echo(json.dumps(counts))


@index_app.command("status")
def index_status() -> None:
    """Show each maintained index's state (current, behind, missing, or incompatible: built
    with another model, until a rebuild), each stored index's sidecar facts and the registry
    revision."""
    ws = workspace()
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
