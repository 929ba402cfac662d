"""Per-game loaders of the character benchmark (character_data.py): each yields the sprite
sets of one unpacked package, read from that game's own sprite definitions (never by looking
at the pictures)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from character_frames import WHOLE, Animation, Frame, Raw, _fastfile, _source
from PIL import Image

# Per-game loaders: each yields the sprite sets of one unpacked package, read from that
# game's own sprite definitions.


def _supertux(root: Path) -> Iterable[Raw]:
    skip_files = {  # not characters: effects, traps, projectiles, overlays, powerup hats
        "light", "powerups", "shard", "crystallo-overlay", "root", "root-base", "ghosttree-glow",
        "leafshot", "dart", "darttrap", "dispenser", "mole_rock", "bomb", "cherry", "juicebox",
        "spikedown", "spikedown2", "stalactite", "forest_stalactite", "kugelblitz", "willowisp"}
    skip_actions = {"editor", "gear", "whites", "lefteye", "righteye", "inside-melting"}
    for sprite in sorted((root / "usr/share/games/supertux2/images/creatures").rglob("*.sprite")):
        stack: list[list[object]] = [[]]
        text = re.sub(r";[^\n]*", "", sprite.read_text())
        for tok in re.findall(r'\(|\)|"[^"]*"|[^\s()]+', text):  # an s-expression
            if tok == "(":
                stack.append([])
            elif tok == ")":
                stack[-2].append(stack.pop())
            else:
                stack[-1].append(tok.strip('"'))
        actions: dict[str, Animation] = {}
        for node in stack[0][0][1:] if sprite.stem not in skip_files else []:  # type: ignore[index]
            fields = {x[0]: x[1:] for x in node[1:] if isinstance(x, list) and x}
            name = re.sub(r"-?(left|right)$", "", str(fields.get("name", ["default"])[0])) or "walk"
            name = re.sub(r"^(left|right)-", "", name)
            images = [sprite.parent / str(i) for i in fields.get("images", [])]
            if (not images or name in skip_actions or name in actions  # mirror/clone: no images
                    or (sprite.stem == "tux" and not name.startswith(("small-", "big-")))):
                continue
            actions[name] = {None: [Frame(i, WHOLE) for i in images if i.exists()]}
        yield Raw(sprite.stem, actions)


def _flare(root: Path) -> Iterable[Raw]:
    mods, seen = root / "usr/share/games/flare/mods", set()
    for txt in [t for mod in ("fantasycore", "empyrean_campaign") for kind in ("enemies", "npcs")
                for t in sorted((mods / mod / "animations" / kind).glob("*.txt"))]:
        lines = txt.read_text().splitlines()
        image = next((x[6:].strip() for x in lines if x.startswith("image=")), None)
        sheets = [mods / m / image for m in (txt.parts[-4], "fantasycore")] if image else []
        sheet = next((p for p in sheets if p.exists()), None)
        if sheet is None or sheet in seen:  # tint-only definitions have no image= of their own
            continue
        seen.add(sheet)
        per: dict[str, dict[str | None, dict[int, Frame]]] = {}
        action = ""
        for line in map(str.strip, lines):
            if line.startswith("[") and line.endswith("]"):
                action = line[1:-1]
            elif line.startswith("frame=") and action:
                i, d, x, y, w, h = (int(v) for v in line[6:].split(",")[:6])
                frame = Frame(sheet, (x, y, x + w, y + h))
                per.setdefault(action, {}).setdefault(str(d), {})[i] = frame
        actions = {a: {d: [fs[i] for i in sorted(fs)] for d, fs in ds.items()}
                   for a, ds in per.items()}
        yield Raw(sheet.stem, actions, ("6", "4", "2", "0", "5", "3", "7", "1"))  # 6 faces us


def _lua_table(text: str, key: str) -> dict[str, dict[str, str]]:
    """The `name = { field = value, ... }` entries of the Lua table `key = { ... }`."""
    m = re.search(rf"\b{key}\s*=\s*\{{", text)
    out: dict[str, dict[str, str]] = {}
    depth, start = 1, 0
    for j in range(m.end() if m else len(text), len(text)):
        if text[j] == "{":
            depth += 1
            start = j if depth == 2 else start
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                break
            name = re.findall(r"(\w+)\s*=\s*$", text[max(0, start - 100): start])
            if depth == 1 and name:
                fields = re.findall(r"\b(\w+)\s*=\s*([^,{}\n]+)", text[start + 1: j])
                out[name[-1]] = {k: v.strip().strip('"') for k, v in fields}
    return out


def _widelands(root: Path) -> Iterable[Raw]:
    data, dirs = root / "usr/share/games/widelands/data", ("se", "sw", "e", "w", "ne", "nw")
    for init in [*sorted(data.glob("tribes/workers/*/*/init.lua")),
                 *sorted(data.glob("world/critters/*/init.lua"))]:
        text = re.sub(r"--\[(=*)\[.*?\]\1\]", "", init.read_text(), flags=re.S)
        text = re.sub(r"--[^\n]*", "", text)  # comments quote example tables
        actions: dict[str, Animation] = {}
        for table in ("spritesheets", "animations"):
            for name, spec in _lua_table(text, table).items():
                sub = re.match(r'dirname\s*\.\.\s*"?([\w/]+)', spec.get("directory", ""))
                where = init.parent / (sub.group(1) if sub else "")
                base = spec.get("basename", name)
                rows, cols = int(spec.get("rows", 1)), int(spec.get("columns", 1))
                anim: Animation = {}
                for d in dirs if spec.get("directional") == "true" else (None,):
                    stem = base if d is None else f"{base}_{d}"
                    scaled = [where / f"{stem}{s}.png" for s in ("_4", "_2", "_1", "_0.5", "")]
                    scaled = [p for p in scaled if p.exists()]  # largest scale first
                    if table == "spritesheets" and scaled:
                        with Image.open(scaled[0]) as img:
                            fw, fh = img.width // cols, img.height // rows
                        cells = [(i % cols * fw, i // cols * fh) for i in
                                 range(int(spec.get("frames", rows * cols)))]
                        anim[d] = [Frame(scaled[0], (x, y, x + fw, y + fh)) for x, y in cells]
                    elif files := scaled[:1] or sorted(where.glob(f"{stem}_[0-9][0-9].png")):
                        anim[d] = [Frame(p, WHOLE) for p in files]
                if anim and name not in actions:
                    actions[name] = anim
        folded: dict[str, Animation] = {}  # soldiers: atk_ok_e, atk_ok_w -> atk_ok seen e / w
        for name, anim in actions.items():
            m = re.match(r"(.+)_(e|w|ne|nw|se|sw)$", name)
            folded.setdefault(m.group(1) if m and None in anim else name, {}).update(
                {m.group(2): anim[None]} if m and None in anim else anim)
        yield Raw(f"{init.parts[-3]}-{init.parts[-2]}", folded, dirs)


def _freedroidrpg(root: Path) -> Iterable[Raw]:
    base = root / "usr/share/freedroidrpg/data/graphics/droids"
    rank = ["stand", "walk", "attack", "gethit", "death"]
    for atlas in sorted(base.glob("*/atlas.txt")):
        if atlas.parent.name == "prologue":  # an intro picture, not a character
            continue
        per: dict[str, dict[str | None, dict[int, Frame]]] = {}
        sheet = atlas.parent
        for parts in map(str.split, atlas.read_text().splitlines()):
            if parts and parts[0] == "*":
                sheet = atlas.parent / parts[1]
            elif parts and (m := re.match(r"enemy_rot_(\d+)_([a-z]+)-(\d+)\.png$", parts[0])):
                x, y, w, h = (int(v) for v in parts[1:5])
                per.setdefault(m.group(2), {}).setdefault(str(int(m.group(1))), {})[
                    int(m.group(3))] = Frame(sheet, (x, y, x + w, y + h))
        actions = {a: {d: [fs[i] for i in sorted(fs)] for d, fs in per[a].items()}
                   for a in sorted(per, key=lambda a: (rank + [a]).index(a))}
        portrait = atlas.parent / "portrait.png"
        extra = {"portrait": [Frame(portrait, WHOLE)]} if portrait.exists() else {}
        yield Raw(atlas.parent.name, actions, ("0", "2", "4", "6", "1", "3", "5", "7"), extra)


def _dink(root: Path) -> Iterable[Raw]:
    base = root / "usr/share/games/dink/dink"
    folders = {str(p.relative_to(base / "graphics")).lower(): p
               for p in (base / "graphics").rglob("*") if p.is_dir()}
    acts = {"walk", "attack", "attack2", "death", "idle", "magic", "hit", "normal", "sword",
            "bow", "crawl", "fall", "push", "die", "seed", "morph"}  # folders holding an action
    found: dict[str, dict[str, Animation]] = {}
    for parts in map(str.split, (base / "Dink.ini").read_text(errors="replace").splitlines()):
        if len(parts) < 3 or not parts[0].lower().startswith("load_sequence"):
            continue
        path = parts[1].lower().replace("\\", "/").removeprefix("graphics/")
        folder, prefix = path.rsplit("/", 1)
        names = folder.split("/")
        if names[0] not in ("dink", "people", "animals", "foes") or folder not in folders:
            continue
        keep = 1 if names[0] == "dink" else next(
            (i for i in range(2, len(names)) if names[i] in acts), len(names))
        who, sub = "-".join(names[1:keep]) or "dink", "/".join(names[keep:])
        m = re.search(r"(?:([a-z])(\d)|(\d)([a-z]))-$", prefix)
        letter, d = ((m.group(1) or m.group(4)), (m.group(2) or m.group(3))) if m else ("", None)
        action = "death" if prefix.startswith("death") or letter == "x" else (
            sub or {"w": "walk", "a": "attack", "i": "idle", "p": "push"}.get(letter, letter))
        black = any(p.upper() == "BLACK" for p in parts[2:])
        if frames := _dink_frames(folders[folder], prefix, black):
            found.setdefault(who, {}).setdefault(action or prefix, {}).setdefault(d, frames)
    for who, actions in found.items():
        yield Raw(who, actions, ("2", "3", "6", "9", "8", "7", "4", "1"))  # 2 faces us


def _dink_frames(folder: Path, prefix: str, black: bool) -> list[Frame]:
    """`prefix`NN.bmp from the folder's dir.ff or loose files, in order. White is transparent,
    or black if the line says BLACK or the first frame's corners are all black."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.bmp$")
    found: dict[int, tuple[Path, str | None]] = {}
    pack = folder / "dir.ff"
    for member in _fastfile(pack) if pack.exists() else {}:
        if m := pattern.match(member):
            found[int(m.group(1))] = (pack, member)
    for f in folder.iterdir():
        if (m := pattern.match(f.name.lower())) and f.is_file():
            found.setdefault(int(m.group(1)), (f, None))
    if not found:
        return []
    first = _source(*found[min(found)], None)
    rgb = np.asarray(first)[[0, 0, -1, -1], [0, -1, 0, -1], :3]
    key = (0, 0, 0) if black or not rgb.any() else (255, 255, 255)
    return [Frame(src, WHOLE, member, key) for src, member in (found[i] for i in sorted(found))]


def _caveexpress(root: Path) -> Iterable[Raw]:
    base, sizes = root / "usr/share/games/caveexpress", {}
    big = (base / "textures/complete.lua").read_text().split("texturessmall")[0]
    per: dict[str, dict[str, list[tuple[int, Frame]]]] = {}
    for name, body in re.findall(r'\["(npc-[^"]+)"\]\s*=\s*\{([^{}]*)\}', big):
        m = re.match(r"npc-(\w+)-([a-z-]+?)(?:-(DIR|left|right|idle))?-"
                     r"(?:middle|front|back)-(\d+)$", name)
        if not m or (m.group(3) == "left" and m.group(2) in ("walk", "swimming")):
            continue  # left walks mirror the right ones
        spec = dict(re.findall(r"(\w+)\s*=\s*\"?([^,\"\n]+)\"?", body))
        sheet = base / "pics" / f"{spec['image']}.png"
        if sheet not in sizes:
            with Image.open(sheet) as img:
                sizes[sheet] = img.size
        x, y, w, h = (round(float(spec[k]) * sizes[sheet][k[0] == "y"])
                      for k in ("x0", "y0", "x1", "y1"))  # x1, y1: width, height
        action = m.group(2) + ("-idle" if m.group(3) == "idle" else "")
        per.setdefault(m.group(1), {}).setdefault(action, []).append(
            (int(m.group(4)), Frame(sheet, (x, y, x + w, y + h))))
    for who in sorted(per):
        yield Raw(who, {a: {None: [f for _, f in sorted(fs, key=lambda t: t[0])]}
                         for a, fs in per[who].items()})


LOADERS: dict[str, Callable[[Path], Iterable[Raw]]] = {
    "supertux": _supertux, "flare": _flare, "widelands": _widelands,
    "freedroidrpg": _freedroidrpg, "freedink": _dink, "caveexpress": _caveexpress}
