"""What a scan lists: folders, tar shards read in place, manifests in three formats, and
a bad row kept as an item with its reason (no Ray needed here)."""

from __future__ import annotations

import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from screening.errors import InvalidInputError
from screening.scan.sources import ITEM_SCHEMA, iter_items, read_item, write_listing


def _tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_folder_lists_images_texts_and_tar_members_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "b" / "c.txt").write_text("words")
    (tmp_path / "notes.json").write_text("{}")  # neither an image nor a text: not an item
    _tar(tmp_path / "b" / "shard-0.tar", {"000.jpg": b"jpeg bytes", "000.txt": b"caption",
                                          "000.json": b"{}"})
    items = list(iter_items(tmp_path))
    assert [(i.item, i.kind) for i in items] == [
        ("a.png", "image"), ("b/c.txt", "text"), ("b/shard-0.tar/000.jpg", "image"),
        ("b/shard-0.tar/000.txt", "text")]
    member = items[2]
    assert read_item({"path": member.path, "offset": member.offset, "size": member.size,
                      "text": None}) == b"jpeg bytes"


def test_a_truncated_shard_is_an_item_with_its_error(tmp_path):
    _tar(tmp_path / "s.tar", {"1.png": b"x" * 5000})
    data = (tmp_path / "s.tar").read_bytes()
    (tmp_path / "s.tar").write_bytes(data[:1000])  # cut inside the member
    item, *rest = iter_items(tmp_path / "s.tar")
    with pytest.raises(OSError, match="truncated"):
        read_item({"path": item.path, "offset": item.offset, "size": item.size,
                   "text": None})
    # and the shard's own end is reported, not raised
    assert all("unreadable tar shard" in (r.error or "") for r in rest)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_manifests_name_local_files_or_carry_text(tmp_path, fmt):
    (tmp_path / "x.png").write_bytes(b"png")
    rows = [{"id": "one", "path": "x.png"},
            {"id": "two", "url": f"file://{tmp_path / 'x.png'}"},
            {"id": "three", "url": "https://example.com/y.png"},
            {"id": "four", "text": "an inline output", "kind": "text"},
            {"id": "five", "path": "y.bin"}]
    cols = ["id", "path", "url", "text", "kind"]
    m = tmp_path / f"m.{fmt}"
    if fmt == "csv":
        m.write_text("id,path,url,text,kind\n" + "".join(
            ",".join(r.get(c, "") for c in cols) + "\n" for r in rows))
    elif fmt == "jsonl":
        m.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    else:
        pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]), m)
    items = {i.item: i for i in iter_items(m)}
    assert items["one"].path == str(tmp_path / "x.png") and items["one"].error is None
    assert items["two"].path == str(tmp_path / "x.png") and items["two"].kind == "image"
    assert "only local files" in (items["three"].error or "")
    assert items["four"].text == "an inline output" and items["four"].kind == "text"
    assert "no kind" in (items["five"].error or "")
    if fmt == "jsonl":
        assert "not JSON" in (items["row 6"].error or "")


def test_what_is_not_a_source_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        list(iter_items(tmp_path / "missing"))
    (tmp_path / "data.zip").write_bytes(b"PK")
    with pytest.raises(InvalidInputError, match="not a folder, a manifest"):
        list(iter_items(tmp_path / "data.zip"))
    (tmp_path / "m.csv").write_bytes(b"id,path\n\xff\xfe,x\n")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        list(iter_items(tmp_path / "m.csv"))


def test_the_listing_is_written_in_chunks_with_its_schema(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(5):
        (tmp_path / "in" / f"{i}.png").write_bytes(b"png")
    n = write_listing(iter_items(tmp_path / "in"), tmp_path / "items.parquet", chunk=2)
    t = pq.read_table(tmp_path / "items.parquet")
    assert n == 5 and t.schema == ITEM_SCHEMA and t.column("index").to_pylist() == \
        list(range(5))
