"""The `ipscreen` Typer app, its global --data-dir option, and what every command group
shares: the settings, the workspace and the stderr channel."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from screening.errors import InvalidInputError, IpscreenError, first_validation_error
from screening.service import Workspace
from screening.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Screen AI-generated content against registered works.")

_state: dict[str, Path | None] = {"data_dir": None}


@app.callback()
def _main(data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Data folder (default: $IPSCREEN_DATA_DIR or a per-user folder).")]
          = None) -> None:
    _state["data_dir"] = data_dir


def settings() -> Settings:
    try:
        s = Settings()
    except ValidationError as exc:
        raise IpscreenError(f"invalid setting {first_validation_error(exc.errors())}") \
            from None
    if _state["data_dir"] is not None:
        s = s.model_copy(update={"data_dir": _state["data_dir"]})
    return s


def workspace(create: bool = False) -> Workspace:
    return Workspace(settings(), create=create, progress=sys.stderr.isatty() or
                     bool(os.environ.get("IPSCREEN_PROGRESS")))


def err(msg: str) -> None:
    typer.echo(msg, err=True)


def as_of_day(value: str | None) -> date:
    """An `--as-of` option's day (default: today), or a clear error."""
    try:
        return date.fromisoformat(value) if value else date.today()
    except ValueError:
        raise InvalidInputError(f"--as-of: {value!r} is not a date (YYYY-MM-DD)") from None


def write_page(path: Path, page: str) -> None:
    """Write an HTML report atomically, readable by whoever it is shared with (mkstemp
    creates 0600), or a clear error naming the path."""
    from indexes.store import atomic_write

    try:
        atomic_write(path, page.encode("utf-8"))
        path.chmod(0o644)
    except OSError as exc:
        raise InvalidInputError(f"cannot write the report to {path}: "
                                f"{exc.strerror or exc}") from None
