"""`ipscreen background`: the unrelated images that normalise SSCD scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import err, workspace
from screening.inputs import expand_image_paths

background_app = typer.Typer(no_args_is_help=True,
                             help="Unrelated images used to normalise SSCD scores.")


@background_app.command("add")
def background_add(
    paths: Annotated[list[Path], typer.Argument(help="Unrelated images or folders.")],
    profile: Annotated[str, typer.Option()] = "accurate",
) -> None:
    """Add unrelated images to the background set used for score normalisation. Images
    already in the set, and registered works' own files, are skipped with a note; one that
    cannot be read is reported and the others are still added (exit 1 at the end)."""
    counts = {"skipped": 0, "failed": 0}

    def skipped(path: Path, why: str) -> None:
        counts["skipped"] += 1
        err(f"note: {path}: skipped: {why}")

    def failed(path: Path, why: str) -> None:
        counts["failed"] += 1
        err(f"error: {why}")

    n = workspace(create=True).add_background(expand_image_paths(paths), profile,
                                               on_skip=skipped, on_error=failed)
    err(f"added {n} background images for profile {profile}"
         + (f" ({counts['skipped']} skipped, {counts['failed']} failed)"
            if counts["skipped"] or counts["failed"] else ""))
    if counts["failed"]:
        raise typer.Exit(1)


@background_app.command("clear")
def background_clear(profile: Annotated[str, typer.Option()] = "accurate") -> None:
    """Remove a profile's background set: its scores are no longer normalised (a running
    service picks that up at its next reload check)."""
    n = workspace().clear_background(profile)
    err(f"removed the background set of profile {profile} ({n} images)" if n else
         f"profile {profile} had no background set")
