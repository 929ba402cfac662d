"""The `ipscreen` command line: a thin door onto screening.service, one module per command
group.

Output contract (tests and users rely on it): `screen image --json` and `screen text --json`
print one JSON object per input on stdout; progress and messages go to stderr. Errors print
`error: <reason>` on stderr and exit non-zero (2 bad input, 3 not found, 4 conflict, 5 data
dir, 1 other).
"""

from __future__ import annotations

import os
import sys

import typer

from indexes.errors import IndexError_
from models.errors import ModelError
from screening.cli import (
    audit,
    background,
    calibrate,
    claims,
    index,
    keys,
    plan,
    policies,
    scan,
    screen,
    serve,
    underwrite,
    works,
)
from screening.cli.app import app, err
from screening.errors import DataDirError, IpscreenError, storage_failure

app.add_typer(works.works_app, name="works")
app.add_typer(screen.screen_app, name="screen")
app.add_typer(index.index_app, name="index")
app.add_typer(background.background_app, name="background")
app.add_typer(plan.plan_app, name="plan")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(policies.policies_app, name="policies")
app.add_typer(claims.claims_app, name="claims")
app.command("underwrite")(underwrite.underwrite_cmd)
app.command("serve")(serve.serve)
app.command("scan")(scan.scan_cmd)
app.command("audit")(audit.audit_cmd)
app.command("calibrate")(calibrate.calibrate_cmd)
__all__ = ["app", "main"]


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        code = app(standalone_mode=False)
        # click returns the code of a typer.Exit raised inside a command when not standalone
        sys.exit(code if isinstance(code, int) else 0)
    except (IpscreenError, ModelError, IndexError_) as exc:
        err(f"error: {exc}")
        sys.exit(getattr(exc, "exit_code", 2 if isinstance(exc, ModelError) else 1))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err("aborted")
        sys.exit(130)
    except _usage_errors() as exc:  # bad arguments and options: a usage message, exit 2
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except Exception as exc:
        failure = storage_failure(exc)
        if failure is None:
            raise
        err(f"error: {failure[0]}")
        sys.exit(DataDirError.exit_code)


def _usage_errors() -> tuple[type[Exception], ...]:
    """click's ClickException, and typer's own copy of it: typer 0.2x vendors click, so
    its BadParameter and MissingParameter are not click's (catching only click's let them
    through as tracebacks)."""
    import click

    kinds: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # older typer: click's own
        pass
    else:
        kinds.append(ClickException)
    return tuple(kinds)
