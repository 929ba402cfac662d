"""`ipscreen serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from screening.cli.app import settings
from screening.service import Workspace, prepare_data_dir


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP API (FastAPI under uvicorn) on this data dir."""
    import uvicorn

    s = settings()
    prepare_data_dir(s.data_dir, create=True)
    # Open the registry once here: a database that cannot be opened (damaged, or from a newer
    # ipscreen) is then this command's one-line error rather than each worker's traceback,
    # and migrations run once before the workers start instead of in all of them at once.
    Workspace(s, create=True, progress=False).close()
    # workers are separate processes: they read the data dir from the environment
    os.environ["IPSCREEN_DATA_DIR"] = str(s.data_dir)
    # an import string, so every worker builds its own app (and so screening/ never imports
    # api/: the dependency points one way)
    uvicorn.run("api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")
