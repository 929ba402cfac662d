"""`ipscreen screen image|text`: screen generated outputs, one line or JSON object per
input, with evidence files on request."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from models.errors import ImageDecodeError
from screening.cli.app import err, workspace
from screening.errors import InvalidInputError, IpscreenError
from screening.evidence import write_image_evidence, write_text_evidence
from screening.image.results import ImageResult
from screening.inputs import expand_image_paths, expand_text_paths
from screening.text.screening import TextResult

screen_app = typer.Typer(no_args_is_help=True, help="Screen generated outputs.")


def _print_results(results: Iterable[ImageResult | TextResult], total: int, as_json: bool,
                   progress: bool, unit: str, describe: Callable[[Any], str],
                   evidence: Callable[[int, Any], list[Path]] | None = None) -> None:
    """One line (or JSON object) per result on stdout; exit 1 at the end if any failed.
    With `evidence`, each result's evidence files are written and listed (JSON: the
    "evidence" field; lines: a tab-separated last column)."""
    failures = 0
    bar = tqdm(total=total, desc="screening", unit=unit, file=sys.stderr,
               disable=total < 2 or not progress)
    for position, result in enumerate(results):
        bar.update(1)
        failures += result.error is not None
        files: list[str] = []
        problem = None
        if evidence:
            try:
                files = [str(p) for p in evidence(position, result)]
            except (OSError, IpscreenError, ImageDecodeError, UnicodeDecodeError) as exc:
                # the screening result stands; only its pictures are missing
                problem = f"evidence not written: {exc}"
                err(f"{result.input}: {problem}")
        if as_json:
            body = result.to_dict()
            if evidence and result.error is None:
                body["evidence"] = files
                if problem:
                    body["evidence_error"] = problem
            typer.echo(json.dumps(body, ensure_ascii=False))
        elif result.error is not None:
            typer.echo(f"{result.input}\terror\t{result.error}")
        else:
            best = result.matches[0] if result.matches else None
            what = describe(best) if best else "-"
            extra = "\t" + " ".join(files) if files else ""
            typer.echo(f"{result.input}\t{result.decision}\t{result.risk_score:.3f}\t{what}"
                       f"{extra}")
    bar.close()
    if failures:
        err(f"{failures} of {total} inputs could not be screened")
        raise typer.Exit(1)


@screen_app.command("image")
def screen_image(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input.")]
    = False,
    profile: Annotated[str | None, typer.Option(help="accurate, cascade, fast or hash")] = None,
    evidence: Annotated[Path | None, typer.Option(
        help="Write, for each input with a match at or above the review threshold, a PNG of "
        "it with the matched region outlined beside the registered work into this folder.")]
    = None,
) -> None:
    """Screen generated images against the registered works."""
    ws = workspace()
    inputs = list(expand_image_paths(paths))
    if not inputs:
        raise IpscreenError("no image files found in the given paths")
    out = _evidence_dir(evidence)

    def write(position: int, result: ImageResult) -> list[Path]:
        assert out is not None
        return write_image_evidence(result, position, out, ws.blobs, ws.limits,
                                    ws.thresholds.review)

    _print_results(ws.screen_images(inputs, profile), len(inputs), as_json, ws.progress, "img",
                   lambda m: f"{m.work.external_id} ({m.work.title}) p={m.score:.3f} "
                             f"region={m.region}", write if out else None)


def _evidence_dir(path: Path | None) -> Path | None:
    """The evidence folder, created; a clear error before any screening if it cannot be."""
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".ipscreen-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidInputError(f"cannot write evidence to {path}: "
                                f"{exc.strerror or exc}") from None
    return path


@screen_app.command("text")
def screen_text(
    paths: Annotated[list[str], typer.Argument(help="Text files, folders of .txt, or - for "
                                               "standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input.")]
    = False,
    paraphrase: Annotated[bool, typer.Option(
        "--paraphrase/--no-paraphrase", help="Run the paraphrase (embedding) layer.")] = True,
    evidence: Annotated[Path | None, typer.Option(
        help="Write, for each input with a match at or above the review threshold, an HTML "
        "page with the copied spans highlighted in the output and the work into this "
        "folder.")] = None,
) -> None:
    """Screen generated texts against the registered text works."""
    ws = workspace()
    inputs: list[tuple[str, str | Path]] = []
    for p in paths:
        if p == "-":
            inputs.append(("-", _stdin_text(ws.settings.max_text_bytes)))
        else:
            inputs.extend((str(f), f) for f in expand_text_paths([Path(p)]))
    if not inputs:
        raise IpscreenError("no text files found in the given paths")
    out = _evidence_dir(evidence)

    def write(position: int, result: TextResult) -> list[Path]:
        assert out is not None
        source = inputs[position][1]
        if result.error is not None or not result.matches:
            return []
        output = source if isinstance(source, str) else ws.texts.read(source)
        return write_text_evidence(result, output, position, out, ws.blobs,
                                   ws.thresholds.review)

    # --no-paraphrase turns the layer off; otherwise the setting decides
    _print_results(ws.screen_texts(inputs, paraphrase=None if paraphrase else False),
                   len(inputs), as_json, ws.progress, "text",
                   lambda m: f"{m.work.external_id} ({m.work.title}) p={m.score:.3f} "
                             f"longest run {m.longest_run_words} words, "
                             f"{m.output_copied_fraction:.0%} of the output",
                   write if out else None)


def _stdin_text(max_bytes: int) -> str:
    from screening.text.input import decode_text

    data = sys.stdin.buffer.read(max_bytes + 1)
    return decode_text(data, max_bytes)
