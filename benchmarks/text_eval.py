"""A text workspace holding a set of KJV chapters, built through the real import path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from text_data import Chapter, registry_rows

from screening.service import Workspace
from screening.settings import Settings


def model_work_dir(base: Path, model: str) -> Path:
    """Where a benchmark keeps `model`'s registry: MiniLM's at `base` (where the benchmarks
    kept it before there was another model), another model's beside it, named after it."""
    return base if model == "minilm" else base.with_name(f"{base.name}-{model}")


def open_text_workspace(data_dir: Path, chapters: list[Chapter], report: float = 0.0,
                        paraphrase: bool = True, backend: str = "onnx-int8",
                        model: str = "minilm") -> Workspace:
    """Every candidate reported (report threshold 0) unless told otherwise. The paraphrase
    layer runs on Chinese outputs too: the calibrators' fits need their chains, and the
    English benchmarks that use this have none."""
    settings = Settings(data_dir=data_dir, report_threshold=report, max_matches=20,  # type: ignore[arg-type]
                        text_paraphrase=paraphrase, text_backend=backend, text_model=model,
                        text_cjk_paraphrase=True)
    ws = Workspace(settings, create=True, progress=True)
    if not ws.registry.list_works(kind="text"):
        manifest = data_dir / "works.jsonl"
        manifest.write_text("".join(json.dumps(r) + "\n" for r in registry_rows(chapters)))
        report_ = ws.import_manifest(manifest)
        if report_.failed:
            sys.exit(f"import failed: {[(r.row, r.error) for r in report_.failed[:5]]}")
    if len(ws.registry.list_works(kind="text", status="active")) != len(chapters):
        sys.exit(f"{data_dir}: registry does not hold exactly the set's works; delete it")
    return ws
