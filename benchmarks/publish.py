"""Where every benchmark leaves its figures: benchmarks/results/NAME.json (everything it
measured) and NAME.md (the table the README shows), then the table on stdout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(name: str, report: dict, render: Callable[[dict], str]) -> str:
    """Write NAME.json and NAME.md under benchmarks/results, print the table, return it."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    md = render(report)
    (RESULTS / f"{name}.md").write_text(md)
    print(md)
    return md
