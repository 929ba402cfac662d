"""Where every benchmark leaves its figures: benchmarks/results/NAME.json (everything it
measured) and NAME.md (the table the README shows), then the table on stdout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(name: str, report: dict, render: Callable[[dict], str]) -> str:
    """Write NAME.json and NAME.md under benchmarks/results, print the table, return it."""
    md = render(report)
    save(name, report, md)
    return md


def save(name: str, report: dict, md: str, append: bool = False) -> None:
    """NAME.json (the latest run) and NAME.md (its table, or with `append` every run's table
    one after another: seeds and settings side by side), and the table on stdout."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    if append:
        with (RESULTS / f"{name}.md").open("a") as f:
            f.write(md + "\n")
    else:
        (RESULTS / f"{name}.md").write_text(md)
    print(md)
