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



def _module_imports(path: Path) -> set[str]:
    """Every absolute module an imported name comes from, whole (screening.text.align)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize(("side", "other"), [("image", "text"), ("text", "image")])
def test_image_and_text_sides_do_not_import_each_other(side: str, other: str):
    """The two sides meet only in the shared core (service, evidence, decision): either can
    change, or gain a model, without the other noticing."""
    bad = [f"{path.relative_to(ROOT)} imports {m}"
           for path in (ROOT / "screening" / side).rglob("*.py")
           for m in sorted(_module_imports(path))
           if m == f"screening.{other}" or m.startswith(f"screening.{other}.")]
    assert not bad, "\n".join(bad)


def test_nothing_shipped_imports_benchmarks_or_tests():
    """Benchmarks and tests may import every package (they measure and check them); the
    packages never import them back, so an installed ipscreen needs neither."""
    bad = [f"{path.relative_to(ROOT)} imports {m}"
           for package in sorted(ALLOWED) for path in (ROOT / package).rglob("*.py")
           for m in sorted(_module_imports(path))
           if m.split(".")[0] in ("benchmarks", "tests")]
    assert not bad, "\n".join(bad)


def test_screening_has_no_prefix_named_siblings():
    """Files that share a prefix (image_*, text_*) want a package of their own."""
    names = [p.stem for p in (ROOT / "screening").glob("*.py") if p.stem != "__init__"]
    prefixes = {n.split("_")[0] for n in names if "_" in n}
    crowded = sorted(p for p in prefixes if sum(n.startswith(p + "_") for n in names) > 1)
    assert not crowded, f"screening/ has several modules named {crowded[0]}_*"


def test_no_module_is_over_400_lines():
    """One concept a module (the layout issue's bound): a file past it wants splitting."""
    over = [f"{p.relative_to(ROOT)}: {n} lines"
            for folder in (*sorted(ALLOWED), "benchmarks", "tests")
            for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400]
    assert not over, "\n".join(over)
