"""`ipscreen scan`: a bulk audit of a collection on Ray (local by default), resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import err, workspace
from screening.errors import InvalidInputError


def scan_cmd(
    data: Annotated[Path, typer.Argument(help="A folder, a manifest (.csv, .jsonl, .parquet) "
                                         "or a .tar shard (or a folder of them).")],
    out: Annotated[Path, typer.Option(help="Results folder: Parquet parts, summary.json, "
                                      "report.html. Run again with the same --out to resume.")],
    profile: Annotated[str | None, typer.Option(
        help="Image profile: hash (cheapest first pass), fast, accurate, or cascade (fast "
        "first, accurate on its candidates).")] = None,
    paraphrase: Annotated[bool | None, typer.Option(
        "--paraphrase/--no-paraphrase", help="Text paraphrase layer (default: the "
        "setting).")] = None,
    workers: Annotated[int, typer.Option(min=0, max=10_000, help="Screening workers (0: one "
                                         "per CPU of the Ray cluster).")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, max=4096, help="Items per worker "
                                            "call.")] = 64,
    part_rows: Annotated[int, typer.Option(min=1, max=1_000_000, help="Items per result "
                                           "part: what an interruption may cost.")] = 2048,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to run on (ray://host:10001); default RAY_ADDRESS, else a local "
        "Ray on this machine.")] = None,
) -> None:
    """Screen a large collection against the registry: one Parquet row per item."""
    from screening.image.profiles import PROFILES
    from screening.scan.runner import ScanOptions, run_scan

    if profile is not None and profile not in PROFILES:
        raise InvalidInputError(f"unknown profile {profile!r} (one of "
                                f"{', '.join(sorted(PROFILES))})")
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} exists and is not a folder")
    ws = workspace()
    opts = ScanOptions(data, out, profile, paraphrase, workers, batch_size, part_rows, address)
    try:
        outcome = run_scan(ws, opts)
    except KeyboardInterrupt:
        err(f"interrupted: what was written to {out} is kept; run the same command again to "
            "resume")
        raise typer.Exit(130) from None
    s = outcome.summary
    counts = ", ".join(f"{k} {v}" for k, v in s["by_decision"].items()) or "nothing"
    typer.echo(f"{s['screened']} of {s['items']} items: {counts} "
               f"({outcome.screened} screened now in {outcome.seconds:.1f} s, "
               f"{outcome.skipped} done before)")
    typer.echo(f"results: {out}/parts/*.parquet, {out}/summary.json, {out}/report.html")
    if s["remaining"]:
        err(f"{s['remaining']} items are not done; run the same command again to resume")
        raise typer.Exit(1)
