"""Dependencies point one way: api -> screening -> indexes/models; models imports nothing of
ours; indexes imports only models' FeatureSpec."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"models", "indexes", "screening", "api"}
ALLOWED = {
    "models": {"models"},
    "indexes": {"indexes", "models"},
    "screening": {"screening", "indexes", "models"},
    "api": {"api", "screening"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str):
    bad = []
    for path in (ROOT / package).rglob("*.py"):
        wrong = imports_of(path) - ALLOWED[package]
        if wrong:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert not bad, "\n".join(bad)

