"""MkDocs hook: the reference pages and benchmark tables are generated from the code and
the results files at build time, so they cannot drift from what ships.

A page asks for generated content with a line of its own:

    <!-- generated:cli -->             every `ipscreen` command's --help
    <!-- generated:settings -->        the settings classes, one line per setting
    <!-- generated:api-routes -->      the HTTP routes from the app's OpenAPI schema
    <!-- generated:plan-fields -->     the rating plan's fields, and the shipped plan
    <!-- generated:results NAME -->    benchmarks/results/NAME.md (its latest table)

The OpenAPI schema itself is added to the site as reference/openapi.json. A marker this hook
does not know, or a results file that is missing, fails the build.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

# before typer is imported: plain-text help, at a width that fits a page
os.environ["TYPER_USE_RICH"] = "0"
os.environ["COLUMNS"] = "96"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MARKER = re.compile(r"^<!-- generated:([a-z-]+)(?: ([A-Za-z0-9_]+))? -->$", re.M)


def _help(path: list[str]) -> str:
    from typer.testing import CliRunner

    from screening.cli import app

    result = CliRunner().invoke(app, [*path, "--help"], prog_name="ipscreen")
    if result.exit_code != 0:
        raise RuntimeError(f"ipscreen {' '.join(path)} --help failed: {result.output}")
    return result.output.rstrip()


def cli_reference() -> str:
    """A section per command, its --help verbatim, groups before their commands."""
    import typer

    from screening.cli import app

    out: list[str] = ["```text", _help([]), "```"]

    def walk(command: Any, path: list[str]) -> None:
        subs = getattr(command, "commands", None)
        if path:
            level = "#" * min(2 + len(path) - 1, 4)
            out.extend(["", f"{level} ipscreen {' '.join(path)}", "", "```text",
                        _help(path), "```"])
        for name in (sorted(subs) if subs else []):
            walk(subs[name], [*path, name])

    walk(typer.main.get_command(app), [])
    return "\n".join(out)


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return "(per user)" if "user_data_dir" in inspect.getsource(field.default_factory) \
            else "(computed)"
    value = field.default
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def settings_reference() -> str:
    """One table per settings class: environment variable, default, what it does."""
    from api.settings import ApiSettings
    from screening.settings import Settings

    def table(cls: Any, names: list[str]) -> list[str]:
        rows = ["| environment variable | default | what it sets |", "|---|---|---|"]
        for name in names:
            field = cls.model_fields[name]
            if not field.description:
                raise RuntimeError(f"setting {name} has no description")
            rows.append(f"| `IPSCREEN_{name.upper()}` | `{_default(field)}` | "
                        f"{field.description.replace('|', '/')} |")
        return rows

    core = list(Settings.model_fields)
    service = [n for n in ApiSettings.model_fields if n not in Settings.model_fields]
    return "\n".join(["### Screening, registry and indexes (CLI and service)", "",
                      *table(Settings, core), "", "### The HTTP service only", "",
                      *table(ApiSettings, service)])


def _app() -> Any:
    from api.app import create_app
    from api.settings import ApiSettings

    with tempfile.TemporaryDirectory() as tmp:  # building the schema touches no data dir
        return create_app(ApiSettings(data_dir=Path(tmp), preload=False))


def openapi_schema() -> dict:
    return _app().openapi()


def _scope(route: Any) -> str:
    """The key scope a route's dependencies ask for."""
    for dep in route.dependant.dependencies:
        call = dep.call
        if getattr(call, "__name__", "") == "_evidence_key":
            return "EVIDENCE_SCOPE (screen)"
        if getattr(call, "__name__", "") == "dependency":
            scope = inspect.getclosurevars(call).nonlocals.get("scope", "")
            if isinstance(scope, tuple):  # any one of several
                return " or ".join(scope)
            return scope or "any key"
    return "none"


def _api_routes(routes: list[Any]) -> list[Any]:
    """Every APIRoute, looking into included routers (FastAPI keeps them wrapped)."""
    from fastapi.routing import APIRoute

    out: list[Any] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out.extend(_api_routes(route.original_router.routes))
    return out


def api_routes() -> str:
    rows = ["| method | path | scope | what it does |", "|---|---|---|---|"]
    for route in _api_routes(_app().routes):
        if not route.include_in_schema:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            rows.append(f"| {method} | `{route.path}` | {_scope(route)} | "
                        f"{(route.summary or route.name).replace('|', '/')} |")
    return "\n".join(rows)


def _plan_rows(model: Any, prefix: str, rows: list[str]) -> None:
    """A row per field of a plan section, sections and their items expanded after it."""
    import typing

    from pydantic import BaseModel

    def section(t: Any) -> Any:
        return t if isinstance(t, type) and issubclass(t, BaseModel) else None

    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = field.annotation
        args = typing.get_args(ann)
        nested, inner = section(ann), ""
        if nested is None and args and section(args[-1]) is not None:
            nested = section(args[-1])
            inner = "[]" if typing.get_origin(ann) is list else ".NAME"
        limits = ", ".join(f"{f.name} {getattr(m, f.name)}" for m in field.metadata
                           if dataclasses.is_dataclass(m) for f in dataclasses.fields(m))
        kind = "section" if nested and not inner else re.sub(
            r"typing\.|datetime\.|screening\.underwriting\.plan\.|<class '|'>", "", str(ann))
        rows.append(f"| `{path}` | {kind.replace('|', ' or ')} | {limits} |")
        if nested:
            _plan_rows(nested, path + inner + ".", rows)


def plan_fields() -> str:
    from screening.underwriting.plan import RatingPlan, default_plan_path

    rows = ["| field | type | limits |", "|---|---|---|"]
    _plan_rows(RatingPlan, "", rows)
    shipped = default_plan_path().read_text(encoding="utf-8").rstrip()
    return "\n".join([*rows, "", "The shipped plan (`plans/default.yaml`):", "",
                      "```yaml", shipped, "```"])


def results(name: str) -> str:
    path = ROOT / "benchmarks" / "results" / f"{name}.md"
    if not path.is_file():
        raise RuntimeError(f"no benchmark results file {path.relative_to(ROOT)}")
    return path.read_text(encoding="utf-8").strip()


GENERATORS = {"cli": cli_reference, "settings": settings_reference,
              "api-routes": api_routes, "plan-fields": plan_fields}


def expand(markdown: str) -> str:
    def one(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "results" and arg:
            return results(arg)
        if kind in GENERATORS and not arg:
            return GENERATORS[kind]()
        raise RuntimeError(f"unknown generated block {m.group(0)!r}")

    return MARKER.sub(one, markdown)


# -- MkDocs events -------------------------------------------------------------------------
def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown)


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, "reference/openapi.json",
                                content=json.dumps(openapi_schema(), indent=2)))
    return files
