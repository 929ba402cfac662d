"""Game characters in several poses from Debian *main* game-data packages (DFSG-free art): a
benchmark for a character redrawn in a new pose or rendering (the Ultraman cases).

`fetch` runs `apt-get download` and `dpkg -x` under `data_dir` (nothing is installed). A
character is one sprite set of one game; its poses are the game's own animations, grouped by the
game's own sprite definitions, never by looking at the pictures:

* supertux-data 0.6.3 (GPL-3+): each `images/creatures/**/*.sprite` is a character, its
  `(action (name) (images))` entries the poses (left/right folded; mirror/clone actions, editor
  icons, overlay parts and Tux's powerup hats skipped; Tux's small and big forms are one).
* flare-game 1.14 (CC-BY-SA-3.0+): enemies and NPCs; `animations/*/*.txt` name a sheet and per
  action (stance, run, swing, hit, die, ...) `frame=i,direction,x,y,w,h` in 8 directions. A sheet
  two definitions share is one character; tint-only definitions (zombie_ghost) are skipped.
* widelands-data 1.1 (GPL-2+): tribe workers and large wild animals; `init.lua` declares sheets
  of rows x columns frames per direction (6 directions) at several scales, of which we take the
  largest (most Atlantean and Empire workers exist at scale 1 only, too small to keep). Shirts
  stay in the neutral colour the game tints per player. Soldiers' `atk_ok_e`/`_w` are one action.
* freedroidrpg-data 1.0 (GPL-2+): 3D-rendered droids and people; `atlas.txt` names sub-images
  `enemy_rot_<dir>_<action>-NN` (stand, walk, attack, gethit, death; 8 directions), and
  `portrait.png`, a separate close-up render of the same model, is one more pose.
* freedink-data 1.08 (Dink Smallwood, zlib licence): `Dink.ini` loads every animation
  (`load_sequence graphics\\people\\girl\\c03w1-`): the folder under graphics/{dink,people,
  animals,foes} minus action sub-folders is the character, the sub-folder or the prefix letter
  (w, a, x, i) the action, the digit the numpad direction. BMPs in `dir.ff` packs; white (or
  black: BLACK lines, all-black corners) is transparent.
* caveexpress-data 2.5.2 (CC-BY-SA-4.0 PNGs): the atlas `textures/complete.lua` names frames
  npc-<who>-<action>[-<side>]-<layer>-NN in `pics/*-big.png` (left walks, mirrors, skipped).

Why it suits: one game's characters share one style (palette, line, lighting, proportions), so
they are hard negatives for each other; poses are the game's own (walking, hitting, dying,
facing away, a portrait render), so a match has to recognise the character, not the picture.
Shadows and props the game draws with a sprite are kept.

Frames load as RGBA, cropped and trimmed of transparent borders; kept if at least 24x24 and not
(near-)identical to a frame already kept for the character; ordered most telling first (per
direction a mid-animation frame, front first; for dying/melting/burning only the first third);
at most MAX_FRAMES per pose. A character needs 3 poses; a directional one with fewer than 3
distinct actions gets one pose per (action, direction): "walk/se". A frame two characters of
a game share (FreedroidRPG's droid wreck) is dropped from both. Colour variants the game names
apart (Dink's knights, Flare's wyverns, SuperTux's snowballs, Widelands' Amazon workers, who
share one body) are separate characters sharing a `family`, from FAMILIES and from silhouettes
(first frames of most shared poses the same size, masks at IoU >= 0.9); leave pairs within a
family out of the negatives or report them apart. Debian's Wesnoth data is not used: it is
reserved for independent evaluation. `split`: train = widelands, flare, caveexpress; test =
supertux, freedroidrpg, freedink. `python benchmarks/character_data.py` fetches, builds,
prints a summary and writes a contact sheet per game to /tmp/chars/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from character_frames import Animation, Frame, Raw, _source
from character_sources import LOADERS
from PIL import Image, ImageDraw

DATA_DIR = Path(".cache/data/characters")
MIN_SIDE = 24  # pixels of non-transparent content, both ways
MAX_FRAMES = 6  # kept per pose
NEAR_DUPLICATE = 0.02  # mean absolute difference (0..1) of 32x32 thumbnails on grey


@dataclass(frozen=True)
class Package:
    name: str
    version: str  # the version this was written against (Debian 12)
    licence: str  # of the art used, as debian/copyright states it
    evidence: str  # a phrase of debian/copyright stating it (checked by fetch)
    game: str


PACKAGES = (
    Package("supertux-data", "0.6.3-2", "GPL-3+", "License: GPL-3+", "supertux"),
    Package("flare-game", "1.14-1", "CC-BY-SA-3.0+", "License: CC-BY-SA-3.0+", "flare"),
    Package("widelands-data", "2:1.1-3", "GPL-2+", "License: GPL-2+", "widelands"),
    Package("freedroidrpg-data", "1.0-1", "GPL-2+", "License: GPL-2+", "freedroidrpg"),
    Package("freedink-data", "1.08.20190120-2", "Zlib", "redistribute it\n    freely", "freedink"),
    Package("caveexpress-data", "2.5.2-1", "CC-BY-SA-4.0", "License: CC-BY-SA-4.0", "caveexpress"),
)
TRAIN_GAMES = ("widelands", "flare", "caveexpress")
TEST_GAMES = ("supertux", "freedroidrpg", "freedink")
FAMILIES = (  # variants of one design, by hand (silhouettes find the rest)
    "supertux: snowball cpt-snowball kamikaze-snowball seasonal-snowball smart-snowball "
    "bouncing_snowball flying_snowball", "supertux: mr_iceblock smart_block",
    "supertux: mr_cherry mr_juicebox", "supertux: crystallo rcrystallo scrystallo",
    "supertux: spiky sleepingspiky", "supertux: jumpy wooden snowjumpy",
    "supertux: mr_bomb gold_bomb haywire", "supertux: mr_tree stumpy",
    "flare: antlion antlion_small fire_ant ice_ant", "flare: goblin goblin_elite",
    "flare: skeleton skeleton_weak", "flare: zombie zombie_dark",
    "flare: hobgoblin hobgoblin_archer",
    "flare: wyvern wyvern_adult wyvern_air wyvern_fire wyvern_water wyvern_air_boss",
    "flare: skeleton_mage skeleton_mage_boss skeleton_mage_high_boss",
    "freedroidrpg: blue_guard red_guard", "freedink: goblin-hammer goblin-horns goblin-soldier",
    "freedink: knight-blue knight-gold knight-red knight-silver", "freedink: mom mom-brown",
    "freedink: bonca bonca-gray bonca-purple", "freedink: gnome-blue gnome-green gnome-purple",
    "freedink: maiden-blue maiden-brown maiden-red",
    "freedink: merchant merchant-blue merchant-green merchant-purple",
)


def fetch(data_dir: Path = DATA_DIR) -> Path:
    """Download and unpack each package into `data_dir/root/<package>/` (skipping those done);
    `.done` there records the .deb, its version and size. Returns `data_dir/root`."""
    data_dir = data_dir.resolve()
    debs = data_dir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        root = data_dir / "root" / pkg.name
        if (root / ".done").exists():
            continue
        if not list(debs.glob(f"{pkg.name}_*.deb")):
            got = subprocess.run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=debs)
            if got.returncode:  # Debian moved on: take apt's candidate
                subprocess.run(["apt-get", "download", pkg.name], cwd=debs, check=True)
        deb = sorted(debs.glob(f"{pkg.name}_*.deb"))[-1]
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
        version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                                 capture_output=True, text=True).stdout.strip()
        stated = (root / "usr/share/doc" / pkg.name / "copyright").read_text("latin-1")
        if pkg.evidence not in stated:
            print(f"warning: {pkg.name}'s copyright no longer says {pkg.licence}")
        info = {"deb": deb.name, "version": version, "size": deb.stat().st_size}
        (root / ".done").write_text(json.dumps(info) + "\n")
    return data_dir / "root"


@dataclass
class Character:
    """A character of one game: pose (action, or action/direction) -> frames, best first."""

    id: str  # "<game>/<name>"
    game: str  # the style group: one game, one package
    poses: dict[str, list[Frame]]
    licence: str  # of the package's art
    package: str
    family: str = ""  # id of one member, shared by characters drawn on one model (recolours)


# Animations ending with the character gone (dead, molten, burnt, exploded, down a hole): only
# their first third is used, and they come after the other poses.
_ENDING = re.compile(r"die|death|dead|melt|fade|vanish|extinguish|shatter|squish|burn|explo|crawl")


def _phases(n: int, ending: bool) -> list[int]:
    if ending or n < 2:
        return list(range((n + 2) // 3))  # the first third (none of nothing)
    return list(dict.fromkeys([n // 2, 0, n // 4, (3 * n) // 4, *range(n)]))


class _Picker:
    """Takes frames for one character: trimmed, big enough, unlike every frame taken before."""

    def __init__(self) -> None:
        self.seen: set[Frame] = set()
        self.thumbs: list[tuple[tuple[int, int], np.ndarray]] = []

    def take(self, frame: Frame) -> Frame | None:
        if frame in self.seen:
            return None
        self.seen.add(frame)
        img = _source(frame.source, frame.member, frame.key)
        x0, y0 = max(frame.box[0], 0), max(frame.box[1], 0)
        x1, y1 = min(frame.box[2], img.width), min(frame.box[3], img.height)
        bbox = img.crop((x0, y0, x1, y1)).getchannel("A").getbbox() if x1 > x0 and y1 > y0 else None
        if not bbox or min(bbox[2] - bbox[0], bbox[3] - bbox[1]) < MIN_SIDE:
            return None
        out = Frame(frame.source, (x0 + bbox[0], y0 + bbox[1], x0 + bbox[2], y0 + bbox[3]),
                    frame.member, frame.key)
        w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
        grey = Image.new("RGBA", (w, h), (128, 128, 128, 255))
        grey.alpha_composite(out.load())
        thumb = np.asarray(grey.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)) / 255
        for (w2, h2), other in self.thumbs:
            if (abs(w - w2) <= max(2, w // 10) and abs(h - h2) <= max(2, h // 10)
                    and float(np.abs(thumb - other).mean()) < NEAR_DUPLICATE):
                return None
        self.thumbs.append(((w, h), thumb))
        return out


def _pose(anim: Animation, order: tuple[str, ...], picker: _Picker, ending: bool) -> list[Frame]:
    """Round robin over directions (each one's middle frame, then other phases). Every
    direction's middle frame goes past the picker even beyond MAX_FRAMES, so that a later
    action cannot pass off a direction left out here as a new pose."""
    dirs = [d for d in order if d in anim] + [d for d in anim if d not in order]
    queues = [[anim[d][i] for i in _phases(len(anim[d]), ending)] for d in dirs]
    out: list[Frame] = []
    for level in range(max(map(len, queues), default=0)):
        for queue in queues:
            if level < len(queue) and (level == 0 or len(out) < MAX_FRAMES):
                got = picker.take(queue[level])
                if got is not None and len(out) < MAX_FRAMES:
                    out.append(got)
    return out


def _finish(raw: Raw, pkg: Package) -> Character | None:
    actions = sorted(raw.actions.items(), key=lambda kv: bool(_ENDING.search(kv[0])))
    picker = _Picker()
    poses = {a: f for a, anim in actions if (f := _pose(anim, raw.order, picker,
                                                        bool(_ENDING.search(a))))}
    if len(poses) < 3 and any(len(anim) > 1 for _, anim in actions):
        picker, poses = _Picker(), {}  # too few actions: each direction a pose
        for a, anim in actions:
            for d in [d for d in raw.order if d in anim] + [d for d in anim if d not in raw.order]:
                if frames := _pose({d: anim[d]}, (), picker, bool(_ENDING.search(a)))[:3]:
                    poses[a if d is None else f"{a}/{d}"] = frames
    for name, extra in raw.extra.items():
        if frames := [f for f in map(picker.take, extra) if f is not None][:MAX_FRAMES]:
            poses[name] = frames
    cid = f"{pkg.game}/{raw.name}"
    return Character(cid, pkg.game, poses, pkg.licence, pkg.name, cid) if len(poses) >= 3 else None


def _drop_shared(characters: list[Character]) -> list[Character]:
    """A frame two characters share exactly belongs to neither (a generic wreck, a borrowed
    walk); characters left with fewer than 3 poses go."""
    digest = {f: hashlib.sha256(repr(f.box[2] - f.box[0]).encode() + f.load().tobytes()).digest()
              for c in characters for fs in c.poses.values() for f in fs}  # width + pixels
    owners: dict[bytes, set[str]] = {}
    for c in characters:
        for fs in c.poses.values():
            for f in fs:
                owners.setdefault(digest[f], set()).add(c.id)
    for c in characters:
        c.poses = {p: mine for p, fs in c.poses.items()
                   if (mine := [f for f in fs if len(owners[digest[f]]) == 1])}
    return [c for c in characters if len(c.poses) >= 3]


def _join_families(characters: list[Character]) -> None:
    """One family for the FAMILIES lines and for recolours: characters whose first frames of
    most shared poses have the same size (within 1 px) and masks at IoU >= 0.9."""
    parent = {c.id: c.id for c in characters}

    def find(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for line in FAMILIES:
        game, names = line.split(": ")
        ids = [f"{game}/{n}" for n in names.split() if f"{game}/{n}" in parent]
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    masks = {c.id: {p: np.asarray(fs[0].load().getchannel("A")) > 0
                    for p, fs in list(c.poses.items())[:4]} for c in characters}
    for i, a in enumerate(characters):
        for b in characters[i + 1:]:
            common, alike = [p for p in masks[a.id] if p in masks[b.id]], 0
            for ma, mb in ((masks[a.id][p], masks[b.id][p]) for p in common):
                if max(abs(ma.shape[0] - mb.shape[0]), abs(ma.shape[1] - mb.shape[1])) <= 1:
                    h, w = min(ma.shape[0], mb.shape[0]), min(ma.shape[1], mb.shape[1])
                    ma, mb = ma[:h, :w], mb[:h, :w]
                    alike += (ma & mb).sum() >= 0.9 * max((ma | mb).sum(), 1)
            if alike * 2 > len(common):
                parent[find(b.id)] = find(a.id)
    for c in characters:
        c.family = find(c.id)


def build(data_dir: Path = DATA_DIR) -> list[Character]:
    """Every fetched package's characters with at least 3 poses, in a fixed order."""
    out: list[Character] = []
    for pkg in PACKAGES:
        root = data_dir.resolve() / "root" / pkg.name
        if not (root / ".done").exists():
            raise FileNotFoundError(f"{root} is not unpacked: run fetch({data_dir}) first")
        found = _drop_shared([c for raw in LOADERS[pkg.game](root) if (c := _finish(raw, pkg))])
        _join_families(found)
        out.extend(found)
        _source.cache_clear()
    return out


def split(characters: list[Character]) -> tuple[list[Character], list[Character]]:
    """(train, test) by game: TRAIN_GAMES, TEST_GAMES; another game (in name order) joins the
    side that has fewer characters at that point. Deterministic."""
    train = [c for c in characters if c.game in TRAIN_GAMES]
    test = [c for c in characters if c.game in TEST_GAMES]
    for game in sorted({c.game for c in characters} - {*TRAIN_GAMES, *TEST_GAMES}):
        (train if len(train) <= len(test) else test).extend(c for c in characters if c.game == game)
    return train, test


def render(frame: Frame, canvas: int = 512, fill: float = 0.8) -> Image.Image:
    """A frame as a generator would output it: scaled (Lanczos) to `fill` of a square
    `canvas` (512, the smallest size common generators output), centred on white."""
    im = frame.load().convert("RGBA")
    scale = canvas * fill / max(im.size)
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                   Image.Resampling.LANCZOS)
    out = Image.new("RGBA", (canvas, canvas), (255, 255, 255, 255))
    out.alpha_composite(im, ((canvas - im.width) // 2, (canvas - im.height) // 2))
    return out.convert("RGB")


def contact_sheet(characters: list[Character], path: Path, cell: int = 72, most: int = 12) -> None:
    """One row per character: its name, then the first frame of each pose, labelled."""
    img = Image.new("RGB", (150 + cell * most, (cell + 12) * max(len(characters), 1)), (150,) * 3)
    draw = ImageDraw.Draw(img)
    for row, c in enumerate(characters):
        y = row * (cell + 12)
        draw.text((4, y + cell // 2), c.id.split("/", 1)[1][:24], fill=(0, 0, 0))
        for col, (pose, frames) in enumerate(list(c.poses.items())[:most]):
            thumb, x = frames[0].load(), 150 + col * cell
            thumb.thumbnail((cell - 4, cell - 4))
            img.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2), thumb)
            draw.text((x + 2, y + cell), pose[:11], fill=(0, 0, 64))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--sheets", type=Path, default=Path("/tmp/chars"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    fetch(args.data)
    t1 = time.perf_counter()
    characters = build(args.data)
    train, test = split(characters)
    print(f"fetch {t1 - t0:.1f} s, build {time.perf_counter() - t1:.1f} s")
    print(f"{'game':<14}{'side':<6}{'chars':>6}{'families':>9}{'poses/char':>14}{'frames':>8}"
          "  licence, package")
    for pkg in PACKAGES:
        chars = [c for c in characters if c.game == pkg.game]
        if chars:
            poses = [len(c.poses) for c in chars]
            spread = f"{np.mean(poses):.1f} ({min(poses)}-{max(poses)})"
            info = json.loads((args.data.resolve() / "root" / pkg.name / ".done").read_text())
            print(f"{pkg.game:<14}{'test' if chars[0] in test else 'train':<6}{len(chars):>6}"
                  f"{len({c.family for c in chars}):>9}{spread:>14}"
                  f"{sum(len(f) for c in chars for f in c.poses.values()):>8}  {pkg.licence}, "
                  f"{pkg.name} {info['version']} ({info['size'] / 1e6:.0f} MB)")
            contact_sheet(chars, args.sheets / f"{pkg.game}.png")
    print(f"total {len(characters)}: train {len(train)}, test {len(test)} "
          f"({len(test) / max(len(characters), 1):.0%})")


if __name__ == "__main__":
    main()
