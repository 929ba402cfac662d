"""The README and the docs say what ships: the getting-started commands run as written,
every `ipscreen` command and option they name exists, the README stays short, and its
headline table is the one the benchmark results give."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [p for p in (ROOT / "README.md", ROOT / "CONTRIBUTING.md",
                     *sorted((ROOT / "docs").rglob("*.md"))) if p.is_file()]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def shell_blocks(path: Path) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text(encoding="utf-8"))
            if lang in ("sh", "bash", "shell", "console")]


def test_the_getting_started_commands_run_as_written(tmp_path, model_cache):
    (block,) = [b for b in shell_blocks(ROOT / "docs" / "getting-started.md")
                if b.startswith("# getting-started")]
    data = tmp_path / "data"
    env = {**os.environ, "DATA": str(data), "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "IPSCREEN_MODEL_CACHE_DIR": str(model_cache), "TMPDIR": str(tmp_path)}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert '"outcome": "created"' in run.stdout
    assert '"decision": "block"' in run.stdout  # the copied passage is found


def _commands() -> list[tuple[str, list[str]]]:
    """(where, argv after `ipscreen`) for every ipscreen command line in a shell block,
    continuation lines joined, comments and placeholders ([...], a|b) dropped."""
    out = []
    for page in PAGES:
        for block in shell_blocks(page):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                m = re.match(r"^(?:\$ )?(?:\.venv/bin/)?ipscreen\s+(.*)$", line)
                if not m:
                    continue
                text = re.sub(r"\[[^\]]*\]", " ", m.group(1)).split("|", 1)[0]
                try:
                    argv = shlex.split(text)
                except ValueError:
                    argv = text.split()
                out.append((f"{page.relative_to(ROOT)}: ipscreen {m.group(1)}", argv))
    return out


def test_every_documented_command_and_option_exists():
    os.environ.setdefault("TYPER_USE_RICH", "0")
    import typer

    from screening.cli import app

    root = typer.main.get_command(app)
    commands = _commands()
    assert len(commands) > 10  # the pages do document commands
    wrong = []
    for where, argv in commands:
        command, options, args = root, set(), list(argv)
        while args:
            options |= {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            if args[0].startswith("--"):
                name = args.pop(0).split("=", 1)[0]
                if name not in options | {"--help"}:
                    wrong.append(f"{where}: no option {name}")
                # an option's value, if it takes one
                if args and not args[0].startswith("-"):
                    param = next((p for p in command.params if name in p.opts), None)
                    if param is not None and not getattr(param, "is_flag", False):
                        args.pop(0)
                continue
            subs = getattr(command, "commands", None)
            if subs is None:
                args.pop(0)  # an argument
            elif args[0] in subs:
                command = subs[args.pop(0)]
            else:
                wrong.append(f"{where}: no command {args[0]!r}")
                break
    assert not wrong, "\n".join(wrong)


def test_the_readme_is_short_and_its_headline_table_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import headline
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert headline.rewritten(readme) == readme, "run make docs to regenerate the table"


@pytest.mark.parametrize("page", [p for p in PAGES if p.parent.name != "_hooks"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_hold_no_dated_lab_notes(page):
    """Dated measurements live in benchmarks/results/ (and the generated tables), not in
    prose: a date in a page is a run history that has crept back in."""
    text = page.read_text(encoding="utf-8")
    prose = re.sub(r"<!-- headline:start -->.*<!-- headline:end -->", "", FENCE.sub("", text),
                   flags=re.S)  # the README's generated table names its runs' dates
    dates = re.findall(r"\b(?:20\d\d-\d\d-\d\d|1[0-2]-[0-3]\d \d\d:\d\d)\b", prose)
    assert not dates, f"{page.relative_to(ROOT)} mentions {sorted(set(dates))[:5]}"
