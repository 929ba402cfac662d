"""`make demo`: register a few public-domain photos as works, then screen edited copies and
unrelated images through the same Workspace the CLI uses, and print what was decided.

The photos are scikit-image's bundled public-domain samples; the edits are the benchmark's
edit families (screening.evaluation.edits). Everything happens in a fresh data dir under
.cache/demo (or the folder given as the first argument).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from screening.evaluation.edits import EDITS
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
    for r in ws.screen_images(outputs, "accurate"):
        best = r.matches[0] if r.matches else None
        what = f"{best.work.external_id} {best.region}" if best else "-"
        print(f"{Path(r.input).name:36} {r.decision:8} {r.risk_score:6.3f}  {what}")
    print("\nSame from the shell: ipscreen --data-dir", root / "data",
          "screen image", root / "outputs", "--json")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])) if len(sys.argv) > 1 else main())
