"""Evidence a reviewer (or a court) can look at, beside the JSON.

- Images: one PNG per match, the screened image with the matched region outlined next to the
  registered work, and a caption naming the work, its owner and registration, the score and
  the decision.
- Texts: one self-contained HTML page per match, the output and the registered work side by
  side with the copied spans highlighted by kind (verbatim, near-verbatim, paraphrase) and
  numbered alike on both sides, under the evidence figures (longest run, shares copied).
  Long texts are shown around the spans only, so a 10 MB work gives a readable page.

Files are written atomically (a crash leaves no half-written evidence) into a folder the
caller names; nothing is written for clear results.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import io
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from indexes.store import atomic_write
from models.imaging import DecodedImage, DecodeLimits, decode_image, read_image_bytes
from screening.image.results import ImageMatch, ImageResult
from screening.registry.blobs import BlobStore
from screening.text.screening import Span, TextMatch, TextResult

#: Height of each panel of an image sheet, in pixels (the query and the work are scaled to it).
PANEL = 480
#: Characters of context shown around each span in long texts.
CONTEXT = 300
#: Texts up to this many characters are shown whole.
WHOLE_TEXT = 20_000
#: Evidence files per screened input (its best matches at or above the review threshold).
PER_INPUT = 3
COLOURS = {"verbatim": "#f4a3a3", "near_verbatim": "#f7c98b", "paraphrase": "#a9c8f0"}
KIND_NAMES = {"verbatim": "verbatim", "near_verbatim": "near-verbatim",
              "paraphrase": "paraphrase"}


def _safe(name: str, limit: int = 60) -> str:
    """A file-name-safe rendering of an input or work name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return stem.strip("._")[:limit] or "input"


def evidence_file_name(position: int, input_name: str, external_id: str, suffix: str) -> str:
    """A name unique per (input position, work) whatever the work's id contains.

    The readable part is a sanitised id, which two ids can share ("ownerA/same" and
    "ownerB/same", "a b" and "a_b", or ids past the length cut): the digest of the exact id
    keeps their pages apart, where before the second silently replaced the first."""
    digest = hashlib.sha256(external_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return (f"{position:05d}-{_safe(Path(input_name).name)}-{_safe(external_id)}-{digest}"
            f"{suffix}")


def _publish(path: Path, data: bytes) -> None:
    """Write atomically, readable by the reviewers the file is for (atomic_write's temp
    files are private to the owner)."""
    atomic_write(path, data)
    os.chmod(path, 0o644)


# -- images -------------------------------------------------------------------------------------
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _scaled(image: Image.Image, height: int) -> Image.Image:
    """The image at `height` pixels, or at twice that width if it is very wide."""
    width = max(1, round(image.width * height / image.height))
    if width > 2 * height:
        width, height = 2 * height, max(1, round(image.height * 2 * height / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def image_sheet(query: Image.Image, size: tuple[int, int], match: ImageMatch,
                work: Image.Image, input_name: str, decision: str) -> Image.Image:
    """The screened image with the match's region outlined, beside the registered work.
    `size` is the screened image's own size (the decoder's working copy may be smaller),
    which the region's pixels refer to."""
    q = _scaled(query.convert("RGB"), PANEL)
    qs = q.width / size[0]
    w = _scaled(work.convert("RGB"), PANEL)
    pad, font = 16, _font(15)
    w_rec = match.work
    lines = [
        f"Screened: {input_name} ({size[0]}x{size[1]})  -  decision: {decision.upper()}, "
        f"copy probability {match.score:.3f}"
        + (f", depicts the work anew {match.derivative_score:.3f} ({match.similarity_kind})"
           if match.derivative_score is not None else ""),
        f"Matched region (red): {match.region} in the screened image's pixels",
        f"Registered work: {w_rec.external_id}  {w_rec.title}  -  owner: {w_rec.owner or '-'}"
        f"  -  category: {w_rec.category or '-'}",
        f"Registration: {w_rec.registration_no or '-'} ({w_rec.jurisdiction or '-'})  -  "
        f"content SHA-256 {match.image.content_sha256[:16]}..."
        + (f"  -  reference image {match.reference.external_id}" if match.reference else ""),
    ]
    line_h = 22
    width = pad * 3 + q.width + w.width
    height = pad * 2 + max(q.height, w.height) + pad + line_h * len(lines)
    sheet = Image.new("RGB", (width, height), "white")
    sheet.paste(q, (pad, pad))
    sheet.paste(w, (pad * 2 + q.width, pad))
    draw = ImageDraw.Draw(sheet)
    x0, y0, x1, y1 = match.region
    box = [pad + x0 * qs, pad + y0 * qs, pad + x1 * qs, pad + y1 * qs]
    draw.rectangle(box, outline=(220, 0, 0), width=max(2, PANEL // 120))
    y = pad * 2 + max(q.height, w.height)
    for text in lines:
        draw.text((pad, y), text, fill=(20, 20, 20), font=font)
        y += line_h
    return sheet


def write_image_evidence(result: ImageResult, position: int, out_dir: Path, blobs: BlobStore,
                         limits: DecodeLimits, review: float) -> list[Path]:
    """PNG sheets for a result's best matches at or above `review`; [] for clear results."""
    matches = [m for m in result.matches if m.score >= review][:PER_INPUT]
    if result.error is not None or not matches:
        return []
    query = decode_image(read_image_bytes(Path(result.input), limits), limits)
    written = []
    for m in matches:
        path = out_dir / evidence_file_name(position, result.input, m.work.external_id,
                                            ".png")
        _publish(path, image_sheet_png(query, m, blobs, limits, result.input, result.decision))
        written.append(path)
    return written


def image_sheet_png(query: DecodedImage | bytes, match: ImageMatch, blobs: BlobStore,
                    limits: DecodeLimits, input_name: str, decision: str) -> bytes:
    """image_sheet as PNG bytes (the query decoded, or its bytes), the registered work read
    from the blob store."""
    if isinstance(query, bytes):
        query = decode_image(query, limits)
    work = decode_image(blobs.get(match.image.content_sha256), limits).image
    sheet = image_sheet(query.image, (query.width, query.height), match, work, input_name,
                        decision)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


# -- texts --------------------------------------------------------------------------------------
#: Words for telling edits apart: a CJK character each, otherwise runs of word characters.
TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|\w+")

Range = tuple[int, int]


def edited_ranges(a: str, b: str) -> tuple[list[Range], list[Range]]:
    """Character ranges, in a and in b, of the words that differ between two versions of a
    passage (compared case-folded, punctuation ignored): what a near-verbatim copy changed."""
    ta = [(m.start(), m.end(), m.group().casefold()) for m in TOKEN.finditer(a)]
    tb = [(m.start(), m.end(), m.group().casefold()) for m in TOKEN.finditer(b)]
    ops = difflib.SequenceMatcher(None, [t[2] for t in ta], [t[2] for t in tb],
                                  autojunk=False).get_opcodes()
    ra, rb = [], []
    for op, i1, i2, j1, j2 in ops:
        if op == "equal":
            continue
        if i2 > i1:
            ra.append((ta[i1][0], ta[i2 - 1][1]))
        if j2 > j1:
            rb.append((tb[j1][0], tb[j2 - 1][1]))
    return ra, rb


Wrap = Callable[[int, int], str]


def _wrapped(text: str, lo: int, hi: int, ranges: Sequence[tuple[int, int, Wrap]]) -> str:
    """Escaped text[lo:hi] with each (start, end, wrap) range rendered by wrap(start, end)
    instead, ranges in order and clipped to [lo, hi) and to each other (the first wins)."""
    out, at = [], lo
    for a, b, wrap in ranges:
        a, b = max(a, at), min(b, hi)
        if b <= a:
            continue
        out.append(html.escape(text[at:a]))
        out.append(wrap(a, b))
        at = b
    out.append(html.escape(text[at:hi]))
    return "".join(out)


def _edit_mark(text: str) -> Wrap:
    return lambda a, b: f'<span class="edit">{html.escape(text[a:b])}</span>'


def _span_mark(text: str, kind: str, n: int, edits: Sequence[Range]) -> Wrap:
    """How span n renders: highlighted by kind, numbered, its edited words marked."""
    edit = _edit_mark(text)
    return lambda s, e: (f'<mark class="{kind}" title="{KIND_NAMES.get(kind, kind)} span '
                         f'{n}"><sup>{n}</sup>'
                         f'{_wrapped(text, s, e, [(a, b, edit) for a, b in sorted(edits)])}'
                         '</mark>')


def _marked(text: str, spans: Sequence[tuple[int, int, str, int, Sequence[Range]]]) -> str:
    """HTML of `text` with spans (start, end, kind, number, edited ranges) highlighted; long
    texts are cut to CONTEXT characters around the spans. Overlapping spans are clipped to
    the first."""
    spans = sorted((max(0, s), min(len(text), e), k, n, ed) for s, e, k, n, ed in spans
                   if e > s)
    if len(text) <= WHOLE_TEXT:
        shown = [(0, len(text))]
    else:
        shown = []
        for s, e, *_ in spans:
            lo, hi = max(0, s - CONTEXT), min(len(text), e + CONTEXT)
            if shown and lo <= shown[-1][1]:
                shown[-1] = (shown[-1][0], max(shown[-1][1], hi))
            else:
                shown.append((lo, hi))

    def gap(what: str) -> str:
        return f'<span class="gap">[... {what} ...]</span>'

    out: list[str] = []
    for i, (lo, hi) in enumerate(shown):
        if i == 0 and lo > 0:
            out.append(gap(f"{lo:,} characters before") + "\n")
        elif i > 0:
            out.append("\n" + gap(f"{lo - shown[i - 1][1]:,} characters") + "\n")
        out.append(_wrapped(text, lo, hi, [(s, e, _span_mark(text, kind, n, edits))
                                            for s, e, kind, n, edits in spans]))
        if i == len(shown) - 1 and hi < len(text):
            out.append("\n" + gap(f"{len(text) - hi:,} characters after"))
    return "".join(out)


def text_page(output: str, match: TextMatch, work: str, input_name: str,
              decision: str) -> str:
    """A self-contained HTML page: figures, then output and work with the spans marked."""
    w = match.work
    numbered = list(enumerate(match.spans, start=1))
    edits: dict[int, tuple[list[Range], list[Range]]] = {}
    for n, s in numbered:
        if s.kind == "near_verbatim":  # show which words the copy changed, on both sides
            ra, rb = edited_ranges(output[s.output_start:s.output_end],
                                   work[s.work_start:s.work_end])
            edits[n] = ([(a + s.output_start, b + s.output_start) for a, b in ra],
                        [(a + s.work_start, b + s.work_start) for a, b in rb])
    out_spans = [(s.output_start, s.output_end, s.kind, n, edits.get(n, ([], []))[0])
                 for n, s in numbered]
    work_spans = [(s.work_start, s.work_end, s.kind, n, edits.get(n, ([], []))[1])
                  for n, s in numbered]

    def described(n: int, s: Span) -> str:
        places = len(edits[n][0]) if n in edits else 0
        changed = f", {places} changed place(s) underlined" if places else ""
        return (f"{n}: {KIND_NAMES.get(s.kind, s.kind)} (similarity {s.similarity:.2f}"
                f"{changed}), output [{s.output_start}, {s.output_end}) - work "
                f"[{s.work_start}, {s.work_end})")
    rows = [
        ("Decision", f"{decision} (copy probability {match.score:.4f})"),
        ("Registered work", f"{w.external_id}: {w.title}"),
        ("Owner / category", f"{w.owner or '-'} / {w.category or '-'}"),
        ("Registration", f"{w.registration_no or '-'} ({w.jurisdiction or '-'}), content "
                         f"SHA-256 {w.content_sha256}"),
        ("Longest copied run", f"{match.longest_run_words} words, "
                               f"{match.longest_run_chars} characters"),
        ("Share of the output copied", f"{match.output_copied_fraction:.1%}"),
        ("Share of the work reproduced", f"{match.work_reproduced_fraction:.1%}"),
        ("Spans", "; ".join(described(n, s) for n, s in numbered)),
    ]
    table = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                      for k, v in rows)
    legend = " ".join(f'<mark class="{k}">{v}</mark>' for k, v in KIND_NAMES.items())
    style = "\n".join(f"mark.{k} {{ background: {c}; }}" for k, c in COLOURS.items())
    title = f"ipscreen evidence: {input_name} vs {w.external_id}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #111; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ text-align: left; vertical-align: top; padding: 0.2em 0.8em 0.2em 0; }}
.cols {{ display: grid; grid-template-columns: 1fr 1fr; gap: 1.5em; }}
pre {{ white-space: pre-wrap; word-wrap: break-word; font-family: Georgia, serif;
       font-size: 0.95em; line-height: 1.45; border: 1px solid #ddd; padding: 0.8em; }}
sup {{ color: #700; font-weight: bold; margin-right: 0.15em; }}
.gap {{ color: #888; font-style: italic; }}
.edit {{ text-decoration: underline wavy #a00; font-weight: bold; }}
{style}
</style></head><body>
<h1>{html.escape(title)}</h1>
<table>
{table}
</table>
<p>Highlighted: {legend}; inside near-verbatim spans, the <span class="edit">words that
differ</span> between the output and the work. Span numbers match on both sides; offsets are
characters (Unicode code points) into the original texts.</p>
<div class="cols">
<section><h2>Screened output: {html.escape(input_name)}</h2>
<pre>{_marked(output, out_spans)}</pre></section>
<section><h2>Registered work: {html.escape(w.external_id)}</h2>
<pre>{_marked(work, work_spans)}</pre></section>
</div>
</body></html>
"""


def write_text_evidence(result: TextResult, output: str, position: int, out_dir: Path,
                        blobs: BlobStore, review: float) -> list[Path]:
    """HTML pages for a result's best matches at or above `review`; [] for clear results."""
    matches = [m for m in result.matches if m.score >= review and m.spans][:PER_INPUT]
    if result.error is not None or not matches:
        return []
    written = []
    for m in matches:
        page = text_page(output, m, blobs.get(m.work.content_sha256).decode("utf-8"),
                         result.input, result.decision)
        path = out_dir / evidence_file_name(position, result.input, m.work.external_id,
                                            ".html")
        _publish(path, page.encode("utf-8"))
        written.append(path)
    return written
