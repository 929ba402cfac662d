"""How fast the image profiles can possibly screen on this machine: their models' time alone.

Issue 2 asks for 40 images/s end to end with the accurate profile on 2 CPU cores. This
measures the floor under that: the SSCD time of the views each profile describes per image
(the whole image at `whole_size`, every informative grid window at `window_size`, exactly as
ImageScreener.view_descriptors prepares them), on real photos (scikit-image's data), in the
profile's own batches, best of --repeats. Decoding, hashing, search, fusion and window
refinement come on top, so "model-only ceiling" is an upper bound on throughput, and so is
the whole-image-only row (what SSCD alone on the whole image could do; it finds no work
pasted into a scene, see the image benchmark's baseline).

    python benchmarks/model_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402

from models.runtime import DEVICES, Runtime  # noqa: E402
from screening.image.profiles import PROFILES, descriptor_extractor  # noqa: E402
from screening.image.views import informative_views  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
          "camera", "cat")  # bundled with scikit-image (nothing is fetched)
TARGET = 40.0  # images/s, accurate profile, issue 2


def photos() -> list:
    import numpy as np
    from PIL import Image
    from skimage import data

    out = []
    for name in PHOTOS:
        arr = getattr(data, name)()
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        out.append(Image.fromarray(arr).convert("RGB"))
    return out


def gpu_name() -> str:
    """The NVIDIA GPU the models ran on, as nvidia-smi names it."""
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return f"cuda ({out.splitlines()[0]})" if out else "cuda"


def best_seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up: sessions allocate on their first run
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def profile_speed(name: str, images: list, repeats: int, runtime: Runtime) -> dict:
    profile = PROFILES[name]
    assert profile.descriptor is not None
    ex = descriptor_extractor(profile.descriptor, profile.whole_size, runtime)
    whole = [ex.prepare(im, profile.whole_size) for im in images]
    windows = [ex.prepare(v, profile.window_size) for im in images
               for _, v in informative_views(im, profile.views.query_windows)]
    t_whole = best_seconds(lambda: ex.extract_arrays(whole), repeats)
    t_windows = best_seconds(lambda: ex.extract_arrays(windows), repeats)
    per_image = (t_whole + t_windows) / len(images)
    return {
        "profile": name, "model": profile.descriptor,
        "whole_px": profile.whole_size, "window_px": profile.window_size,
        "windows_per_image": round(len(windows) / len(images), 1),
        "ms_per_whole_view": round(1000 * t_whole / len(whole), 1),
        "ms_per_window": round(1000 * t_windows / len(windows), 1),
        "model_ms_per_image": round(1000 * per_image, 1),
        # issue 28's measure of cost: the profile's model time in whole-image passes
        "whole_passes_per_image": round(per_image / (t_whole / len(whole)), 1),
        "model_only_ceiling_images_per_s": round(1 / per_image, 1),
        "whole_image_only_ceiling_images_per_s": round(len(whole) / t_whole, 1),
    }


def render(report: dict) -> str:
    rows = [f"Image models' time per screened image, {report['date']} ({len(PHOTOS)} "
            f"scikit-image photos; {line(report['machine'])}; best of {report['repeats']})",
            "",
            f"Models ran on: {report.get('device', 'cpu')}.", "",
            "| profile | model | views per image (whole + windows) | ms per whole view | "
            "ms per window | model ms per image | cost in whole-image passes | "
            "model-only ceiling, images/s | whole image only, images/s |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in report["profiles"]:
        rows.append(f"| {r['profile']} | {r['model']} ({r['whole_px']} / {r['window_px']} px) | "
                    f"1 + {r['windows_per_image']} | {r['ms_per_whole_view']} | "
                    f"{r['ms_per_window']} | {r['model_ms_per_image']} | "
                    f"{r.get('whole_passes_per_image', '-')} | "
                    f"{r['model_only_ceiling_images_per_s']} | "
                    f"{r['whole_image_only_ceiling_images_per_s']} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", choices=DEVICES, default="cpu",
                    help="where the models run (cuda needs make install-gpu)")
    args = ap.parse_args()
    runtime = Runtime(device=args.device)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    images = photos()
    report = {"benchmark": "model_speed", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": describe(), "repeats": args.repeats, "target_images_per_s": TARGET,
              "device": gpu_name() if runtime.uses_cuda else "cpu", "profiles": []}
    for name in ("accurate", "fast"):
        row = profile_speed(name, images, args.repeats, runtime)
        print(json.dumps(row), file=sys.stderr)
        report["profiles"].append(row)
    # a GPU's figures are kept beside the CPU's, not over them
    publish("model_speed" if not runtime.uses_cuda else "model_speed_gpu", report, render)


if __name__ == "__main__":
    main()
