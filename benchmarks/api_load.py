"""Load test of the HTTP service against 127.0.0.1, bounded in time and count.

Registry: real works (scikit-image photos, KJV chapters) plus synthetic image works up to
--image-works (random unit SSCD vectors and random hashes injected as cached features, so
the index and the registry hold that many works without decoding that many images; the
index part is what registry size changes). Measures, against a real `ipscreen serve`
process: single-image screening latency (accurate and cascade profiles) and sustained
requests/s; text
screening latency for 1,000-word outputs; and 32 concurrent clients for --soak-s seconds
while works are being registered (errors counted). The same images and texts screened
in-process give the library-only figures beside them, so the HTTP overhead is visible.

    python benchmarks/api_load.py [--image-works 10000] [--soak-s 60]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402

from screening.access import AccessStore  # noqa: E402
from screening.evaluation.bible import chapter as bible  # noqa: E402
from screening.image.features import features_for  # noqa: E402
from screening.image.profiles import get_profile  # noqa: E402
from screening.registry.repository import WorkMeta  # noqa: E402
from screening.service import Workspace  # noqa: E402
from screening.settings import Settings  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat")
#: Indexes kept: the cascade profile runs fast first and accurate where fast sees a candidate.
PROFILES = ["accurate", "fast", "hash"]


def photo(name: str) -> Image.Image:
    from skimage import data

    arr = getattr(data, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, -1)
    return Image.fromarray(arr).convert("RGB")


def png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


#: The default factory setting, "auto": 10,000 works of 9 descriptors each are past its
#: exact bound, so this is refined PQ (PQ64x4fs,RFlat); `--factory Flat` measures exact
#: search on the same registry, in a data dir of its own (an index keeps its factory).
FACTORY = "auto"


def settings_for(data: Path, factory: str) -> Settings:
    return Settings(data_dir=data, maintained_profiles=PROFILES,  # type: ignore[arg-type]
                    dense_factory=factory)


def slug(factory: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in factory)


def build(data: Path, image_works: int, factory: str, seed: int = 1) -> tuple[str, str]:
    settings = settings_for(data, factory)
    ws = Workspace(settings, create=True, progress=True)
    if not ws.registry.list_works():
        for name in PHOTOS:
            ws.register_image(WorkMeta(f"IMG-{name}", "image", name, "skimage", "photo", "CN"),
                              png(photo(name)), sync=False)
        for chapter in range(1, 51):  # Genesis: 50 chapters, about 38,000 words
            ws.register_text(WorkMeta(f"KJV-GEN-{chapter}", "text", f"Genesis {chapter}",
                                      "Crown", "literary", "GB"), bible(1, chapter), sync=False)
        feats = {f.index_name: f for p in PROFILES for f in features_for(get_profile(p))}
        rng = np.random.default_rng(seed)
        for i in range(image_works - len(PHOTOS)):
            fake = hashlib.sha256(f"synthetic-{i}".encode()).hexdigest()
            rec, _ = ws.registry.register(WorkMeta(f"SYN-{i:06d}", "image", f"synthetic {i}",
                                                   "synthetic", "artwork", "CN"), fake, 1)
            for name, f in feats.items():
                if f.spec.kind == "dense":
                    v = rng.normal(size=(9, f.spec.dim)).astype(np.float32)
                    value = v / np.linalg.norm(v, axis=1, keepdims=True)
                else:
                    value = rng.integers(0, 256, size=(8, f.spec.dim // 8), dtype=np.uint8)
                ws.registry.put_feature(rec, name, f.spec.version, value)
        ws.rebuild_indexes()  # one bulk build (HNSW is built once, not grown work by work)
        ws.texts.sync()
    key, _ = AccessStore(ws.registry.engine).create_key("load", "load", ["admin"], 1_000_000)
    ws.close()
    return key, str(data)


def queries() -> tuple[list[tuple[str, bytes]], list[str]]:
    rng = random.Random(3)
    images = []
    for name in PHOTOS:
        im = photo(name)
        images.append((f"{name}-mirror.jpg", png(ImageOps.mirror(im).resize((320, 240)), "JPEG")))
        w, h = im.size
        images.append((f"{name}-crop.png", png(im.crop((w // 5, h // 5, w, h)))))
    for name in ("immunohistochemistry", "hubble_deep_field", "colorwheel", "page"):
        images.append((f"{name}.png", png(photo(name))))
    import pydoc_data.topics as topics

    filler = " ".join(topics.topics[k] for k in sorted(topics.topics)).split()
    texts = []
    for _ in range(20):
        quote = bible(1, rng.randint(1, 50)).split()
        a = rng.randrange(max(1, len(quote) - 150))
        start = rng.randrange(len(filler) - 1000)
        body = filler[start:start + 850] + quote[a:a + 150]
        texts.append(" ".join(body[:1000]))
    return images, texts


def pct(xs: list[float]) -> dict:
    a = np.asarray(xs) * 1000
    return {"n": len(xs), "p50_ms": float(np.percentile(a, 50)),
            "p95_ms": float(np.percentile(a, 95)), "p99_ms": float(np.percentile(a, 99))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--factory", default=FACTORY,
                    help="DENSE_FACTORY of the image indexes (default: auto)")
    ap.add_argument("--work", type=Path, default=None,
                    help="data and logs (default: .cache/bench/api-FACTORY)")
    ap.add_argument("--image-works", type=int, default=10_000)
    ap.add_argument("--soak-s", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if args.work is None:
        args.work = Path(".cache/bench") / f"api-{slug(args.factory)}"
    key, data = build(args.work / "data", args.image_works, args.factory)
    images, texts = queries()
    env = {**os.environ, "IPSCREEN_MAINTAINED_PROFILES": json.dumps(PROFILES),
           "HF_HUB_OFFLINE": "1", "IPSCREEN_RELOAD_INTERVAL_S": "2",
           "IPSCREEN_DENSE_FACTORY": args.factory}
    # library only, first (before minutes of load): the same inputs through the same
    # screeners in a fresh process, so the HTTP overhead shows
    out = subprocess.run([sys.executable, __file__, "--library-only", data, args.factory],
                         capture_output=True, text=True, check=True, env=env)
    library = json.loads(out.stdout.strip().splitlines()[-1])
    port = free_port()
    log = (args.work / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "screening.cli", "--data-dir", data, "serve",
                             "--port", str(port), "--workers", str(args.workers)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    h = {"Authorization": f"Bearer {key}"}
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        report: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                        "image_works": args.image_works, "text_works": 50,
                        "workers": args.workers, "cpus": os.cpu_count(), "machine": describe(),
                        "factory": args.factory,
                        **library}
        with httpx.Client(base_url=url, headers=h, timeout=120) as c:
            for name, blob in images[:3]:  # warm-up
                r = c.post("/v1/screen/image", files={"files": (name, blob)})
                assert r.status_code == 200, r.text
            # what the factory setting built (for "auto": refined PQ past its bound)
            report["search"] = r.json()["results"][0]["versions"]["search"]
            for profile in ("accurate", "cascade"):
                lat: dict[str, list[float]] = {"copies": [], "unrelated": []}
                for _ in range(3):
                    for name, blob in images:
                        t = time.perf_counter()
                        r = c.post("/v1/screen/image", params={"profile": profile},
                                   files={"files": (name, blob)})
                        kind = "copies" if "-" in name else "unrelated"
                        lat[kind].append(time.perf_counter() - t)
                        assert r.status_code == 200, r.text
                key = "image_single" if profile == "accurate" else f"image_single_{profile}"
                report[key] = {**pct(lat["copies"] + lat["unrelated"]),
                               **{k: pct(v) for k, v in lat.items()}}
            tl = []
            for _ in range(2):
                for text in texts:
                    t = time.perf_counter()
                    r = c.post("/v1/screen/text", json={"texts": [text]})
                    tl.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
            report["text_1000_words"] = pct(tl)
            tl = []
            for text in texts:
                t = time.perf_counter()
                r = c.post("/v1/screen/text", json={"texts": [text], "paraphrase": False})
                tl.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
            report["text_1000_words_literal"] = pct(tl)

        def hammer(seconds: float, n_clients: int, mix_text: bool, register: bool,
                   profile: str = "accurate") -> dict:
            stop = time.monotonic() + seconds
            codes: dict[str, int] = {}
            lats: list[float] = []
            lock = threading.Lock()

            def client(i: int) -> None:
                rng = random.Random(i)
                with httpx.Client(base_url=url, headers=h, timeout=300) as c:
                    while time.monotonic() < stop:
                        t = time.perf_counter()
                        try:
                            if mix_text and rng.random() < 0.5:
                                r = c.post("/v1/screen/text", json={"texts": [rng.choice(texts)]})
                            else:
                                name, blob = rng.choice(images)
                                r = c.post("/v1/screen/image", params={"profile": profile},
                                           files={"files": (name, blob)})
                            code = str(r.status_code)
                        except httpx.HTTPError as exc:
                            code = type(exc).__name__
                        with lock:
                            codes[code] = codes.get(code, 0) + 1
                            lats.append(time.perf_counter() - t)

            registered = [0]

            def registrar() -> None:
                with httpx.Client(base_url=url, headers=h, timeout=300) as c:
                    chapter = 1
                    while time.monotonic() < stop - 5 and chapter <= 50:
                        r = c.post("/v1/works", data={"external_id": f"KJV-EXO-{chapter}"},
                                   files={"file": ("w.txt", bible(2, chapter).encode())})
                        with lock:
                            codes[f"register {r.status_code}"] = \
                                codes.get(f"register {r.status_code}", 0) + 1
                        registered[0] += 1
                        chapter += 1
                        time.sleep(1.0)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
            if register:
                threads.append(threading.Thread(target=registrar))
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.monotonic() - start
            ok = sum(v for k, v in codes.items() if k == "200")
            return {"seconds": took, "clients": n_clients, "requests": len(lats),
                    "requests_per_s": len(lats) / took, "ok": ok,
                    "errors": len(lats) - ok, "codes": codes, "registered": registered[0],
                    **pct(lats)}

        report["image_sustained_4_clients"] = hammer(20, 4, False, False)
        report["image_sustained_4_clients_cascade"] = hammer(20, 4, False, False, "cascade")
        report["soak"] = hammer(args.soak_s, args.clients, True, True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    publish("api_load" if args.factory == FACTORY else f"api_load_{slug(args.factory)}",
            report, render)


def library_only(data: str, factory: str) -> None:
    images, texts = queries()
    report: dict = {}
    ws = Workspace(settings_for(Path(data), factory), progress=False)
    for profile in ("accurate", "cascade"):
        scr = ws.image_screener(profile)
        scr.screen_bytes(*images[0], ws.limits)
        t = time.perf_counter()
        for _ in range(2):
            for name, blob in images:
                scr.screen_bytes(name, blob, ws.limits)
        key = "library_images_per_s" + ("" if profile == "accurate" else f"_{profile}")
        report[key] = 2 * len(images) / (time.perf_counter() - t)
    ts = ws.texts.screener()
    ts.screen_text(texts[0])
    tt = []
    for _ in range(2):  # as the service's figure: two rounds (the first reads each work)
        for text in texts:
            t = time.perf_counter()
            ts.screen_text(text)
            tt.append(time.perf_counter() - t)
    report["library_text_1000_words"] = pct(tt)
    print(json.dumps(report))


def built(r: dict) -> str:
    """The factory setting and, where it differs, what the index is (auto: refined PQ)."""
    found = sorted(set((r.get("search") or {}).values()))
    return r["factory"] + (f" ({', '.join(found)})" if found and found != [r["factory"]] else "")


def render(r: dict) -> str:
    s, t, soak, sus = r["image_single"], r["text_1000_words"], r["soak"], \
        r["image_sustained_4_clients"]
    sc, susc = r["image_single_cascade"], r["image_sustained_4_clients_cascade"]
    lt, tv = r["library_text_1000_words"], r["text_1000_words_literal"]
    return f"""API load, {r['when']} ({r['image_works']:,} registered image works, \
{r['text_works']} text works; dense index {built(r)}; {r['workers']} worker(s), \
{line(r.get('machine') or {'cpus': r['cpus']})}; 127.0.0.1)

| measure | p50 ms | p95 ms | p99 ms | throughput |
|---|---|---|---|---|
| image screening, one at a time (accurate) | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} | \
{s['p99_ms']:.0f} | library only: {r['library_images_per_s']:.1f} images/s |
| image screening, 4 concurrent clients, {sus['seconds']:.0f} s | {sus['p50_ms']:.0f} | \
{sus['p95_ms']:.0f} | {sus['p99_ms']:.0f} | {sus['requests_per_s']:.1f} requests/s |
| image screening, one at a time (cascade) | {sc['p50_ms']:.0f} | {sc['p95_ms']:.0f} | \
{sc['p99_ms']:.0f} | library only: {r['library_images_per_s_cascade']:.1f} images/s |
| - cascade, copies of registered works | {sc['copies']['p50_ms']:.0f} | \
{sc['copies']['p95_ms']:.0f} | {sc['copies']['p99_ms']:.0f} | |
| - cascade, unrelated images | {sc['unrelated']['p50_ms']:.0f} | \
{sc['unrelated']['p95_ms']:.0f} | {sc['unrelated']['p99_ms']:.0f} | |
| image screening, cascade, 4 concurrent clients, {susc['seconds']:.0f} s | \
{susc['p50_ms']:.0f} | {susc['p95_ms']:.0f} | {susc['p99_ms']:.0f} | \
{susc['requests_per_s']:.1f} requests/s |
| text screening, 1,000 words, all layers | {t['p50_ms']:.0f} | {t['p95_ms']:.0f} | \
{t['p99_ms']:.0f} | library only p50/p95: {lt['p50_ms']:.0f}/{lt['p95_ms']:.0f} ms |
| text screening, 1,000 words, verbatim + near-verbatim only | {tv['p50_ms']:.0f} | \
{tv['p95_ms']:.0f} | {tv['p99_ms']:.0f} | |
| soak: {soak['clients']} clients, images and texts, {soak['seconds']:.0f} s, \
{soak['registered']} works registered meanwhile | {soak['p50_ms']:.0f} | {soak['p95_ms']:.0f} \
| {soak['p99_ms']:.0f} | {soak['requests_per_s']:.1f} requests/s, {soak['errors']} failed of \
{soak['requests']} |

Response codes during the soak: {json.dumps(soak['codes'], sort_keys=True)}
"""


if __name__ == "__main__":
    if sys.argv[1:2] == ["--library-only"]:
        library_only(sys.argv[2], sys.argv[3])
    else:
        main()
