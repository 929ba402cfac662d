"""The text side of the CLI contract: import (JSON Lines and CSV), add, screen, withdraw, and
every kind of bad input answered with a reason and a non-zero exit."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

from tests.screening.text_fixtures import filler, kjv


@pytest.fixture
def text_dir(tmp_path, cli, model_cache, monkeypatch) -> Path:
    monkeypatch.setenv("IPSCREEN_TEXT_PARAPHRASE", "false")  # the layer has its own tests
    works = tmp_path / "works"
    works.mkdir()
    (works / "psalm23.txt").write_text(kjv(19, 23), encoding="utf-8")
    (works / "latin1.txt").write_bytes("Caf\xe9 au lait ".encode("latin-1") * 5)
    rows = [
        json.dumps({"external_id": "KJV-GEN-1", "title": "Genesis 1", "owner": "Crown",
                    "category": "literary", "text": kjv(1, 1)}),
        "{not json",
        json.dumps({"external_id": "EMPTY", "text": "   "}),
        json.dumps({"external_id": "SHORT", "text": "Jesus wept."}),
        json.dumps({"external_id": "NUMBER", "title": 5, "text": kjv(1, 2)}),
        json.dumps({"external_id": "PSA-23", "path": "psalm23.txt", "category": "literary"}),
        json.dumps({"external_id": "LATIN1", "path": "latin1.txt"}),
        # JSON's \u escapes can spell a lone UTF-16 surrogate, which is not Unicode
        json.dumps({"external_id": "SURROGATE-TEXT", "text": kjv(1, 3) + " \udc00"}),
        json.dumps({"external_id": "SURROGATE-OWNER", "owner": "Cr\ud800own",
                    "text": kjv(1, 4)}),
    ]
    (works / "works.jsonl").write_text("\n".join(rows) + "\n")
    d = tmp_path / "data"
    r = cli("--data-dir", d, "works", "import", works / "works.jsonl")
    assert r.code == 2, r.err  # some rows failed
    assert "row 2" in r.err and "not JSON" in r.err
    assert "row 3" in r.err and "empty text" in r.err
    assert "row 4" in r.err and "needs at least 8" in r.err
    assert "row 5" in r.err and "must be strings" in r.err
    assert "row 7" in r.err and "not UTF-8" in r.err
    assert re.search(r"row 8: SURROGATE-TEXT: text contains an unpaired UTF-16 surrogate "
                     r"\(U\+DC00\)", r.err)
    assert re.search(r"row 9: .*owner contains an unpaired UTF-16 surrogate \(U\+D800\) at "
                     r"character 2", r.err)
    assert "2 created" in r.err
    return d


def lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def test_import_list_and_screen_files_and_folders(text_dir, cli, tmp_path):
    listed = lines(cli("--data-dir", text_dir, "works", "list", "--json").out)
    assert {(w["external_id"], w["kind"]) for w in listed} == {("KJV-GEN-1", "text"),
                                                                ("PSA-23", "text")}
    outs = tmp_path / "outputs"
    outs.mkdir()
    copied = filler(40) + "\n\n" + " ".join(kjv(1, 1).split()[10:70]) + "\n\n" + filler(20)
    (outs / "a.txt").write_text(copied)
    (outs / "b.txt").write_text(filler(200, 3000))
    (outs / "ignored.png").write_bytes(b"\x89PNG")
    r = cli("--data-dir", text_dir, "screen", "text", outs, "--json")
    assert r.code == 0, r.err
    res = {Path(x["input"]).name: x for x in lines(r.out)}
    assert set(res) == {"a.txt", "b.txt"}
    a = res["a.txt"]
    assert a["decision"] == "block" and a["matches"][0]["external_id"] == "KJV-GEN-1"
    m = a["matches"][0]
    for key in ("title", "owner", "category", "score", "signals", "longest_run_words",
                "longest_run_chars", "output_copied_fraction", "work_reproduced_fraction"):
        assert key in m
    span = m["spans"][0]
    # the filler after the excerpt may happen to continue the verse by a word or two
    assert span["kind"] == "verbatim" and 60 <= m["longest_run_words"] <= 62
    assert set(span) >= {"output_start", "output_end", "work_start", "work_end"}
    assert copied[span["output_start"]:span["output_end"]].split()[:60] == \
        kjv(1, 1).split()[10:70]
    assert res["b.txt"]["decision"] == "clear" and res["b.txt"]["matches"] == []


def test_stdin_add_and_withdraw(text_dir, cli, tmp_path, monkeypatch):
    work = tmp_path / "exodus20.txt"
    work.write_text(kjv(2, 20))
    r = cli("--data-dir", text_dir, "works", "add", work, "--external-id", "EXO-20",
            "--title", "Exodus 20", "--category", "literary")
    assert r.code == 0 and json.loads(r.out)["kind"] == "text"
    text = "As the model wrote: " + " ".join(kjv(2, 20).split()[:50])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    r = cli("--data-dir", text_dir, "screen", "text", "-", "--json")
    assert r.code == 0, r.err
    out = lines(r.out)[0]
    assert out["input"] == "-" and out["matches"][0]["external_id"] == "EXO-20"
    assert cli("--data-dir", text_dir, "works", "withdraw", "EXO-20").code == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    out = lines(cli("--data-dir", text_dir, "screen", "text", "-", "--json").out)[0]
    assert out["decision"] == "clear"


def test_bad_inputs_give_error_objects_and_a_nonzero_exit(text_dir, cli, tmp_path,
                                                          monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "latin1.txt").write_bytes(b"caf\xe9 " * 10)
    (bad / "empty.txt").write_bytes(b"")
    (bad / "binary.txt").write_bytes(b"abc\x00def")
    (bad / "good.txt").write_text(filler(30))
    r = cli("--data-dir", text_dir, "screen", "text", bad, bad / "missing.txt", "--json")
    assert r.code == 1 and "4 of 5 inputs could not be screened" in r.err
    res = {Path(x["input"]).name: x for x in lines(r.out)}
    assert "not UTF-8" in res["latin1.txt"]["error"] and "offset 3" in res["latin1.txt"]["error"]
    assert res["empty.txt"]["error"] == "empty text"
    assert "NUL" in res["binary.txt"]["error"]
    assert "no such file" in res["missing.txt"]["error"]
    assert res["good.txt"]["decision"] == "clear"
    # a size limit, for files and for stdin alike
    monkeypatch.setenv("IPSCREEN_MAX_TEXT_BYTES", "2048")
    (bad / "huge.txt").write_text("word " * 1000)
    r = cli("--data-dir", text_dir, "screen", "text", bad / "huge.txt", "--json")
    assert r.code == 1 and "the limit is 2048" in lines(r.out)[0]["error"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"word " * 1000)))
    r = cli("--data-dir", text_dir, "screen", "text", "-")
    assert r.code == 2 and "the limit is 2048" in r.err and "Traceback" not in r.err


def test_text_manifest_csv_rows_and_unknown_data_dir(cli, tmp_path, model_cache):
    (tmp_path / "ps.txt").write_text(kjv(19, 1))
    (tmp_path / "m.csv").write_text("path,external_id,title,owner,category,kind\n"
                                    "ps.txt,PSA-1,Psalm 1,Crown,literary,\n"
                                    "ps.txt,PSA-1b,Psalm 1,Crown,literary,video\n")
    r = cli("--data-dir", tmp_path / "d", "works", "import", tmp_path / "m.csv")
    assert r.code == 2 and "row 3" in r.err and "kind must be image or text" in r.err
    r = cli("--data-dir", tmp_path / "nowhere", "screen", "text", tmp_path / "ps.txt")
    assert r.code == 5 and "does not exist" in r.err


def test_underwrite_screens_a_folder_of_outputs_first(text_dir, cli, tmp_path):
    outs = tmp_path / "sample"
    outs.mkdir()
    (outs / "copy.txt").write_text(filler(30) + " " + " ".join(kjv(1, 1).split()[:80]))
    (outs / "clean.txt").write_text(filler(120, 6000))
    applicant = Path(__file__).resolve().parents[2] / "plans" / "example-applicant.yaml"
    r = cli("--data-dir", text_dir, "underwrite", outs, "--applicant", applicant,
            "--limit", "700000", "--deductible", "10000", "--json")
    assert r.code == 0, r.err
    assert "sample too small" in r.err
    q = json.loads(r.out)
    assert q["profile"]["outputs"] == 2 and q["profile"]["levels"]["high"] == 1
    assert q["profile"]["top_contributions"][0]["external_id"] == "KJV-GEN-1"
    assert q["screening_versions"][0]["kind"] == "text" and q["indicated_premium"] > 0
    assert (q["premium"] is None) == (q["decision"] != "quote")


def test_evidence_pages_mark_the_copied_passage_for_files_and_stdin(text_dir, cli, tmp_path,
                                                                   monkeypatch):
    import html

    excerpt = " ".join(kjv(1, 1).split()[10:70])
    outs = tmp_path / "outputs"
    outs.mkdir()
    (outs / "a.txt").write_text(filler(40) + "\n\n" + excerpt + "\n\n" + filler(20))
    (outs / "b.txt").write_text(filler(200, 3000))
    ev = tmp_path / "ev"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        ("Quoting: " + excerpt).encode())))
    r = cli("--data-dir", text_dir, "screen", "text", outs, "-", "--json", "--evidence", ev)
    assert r.code == 0, r.err
    res = {Path(x["input"]).name: x for x in lines(r.out)}
    assert res["b.txt"]["evidence"] == []
    for name in ("a.txt", "-"):
        (page,) = res[name]["evidence"]
        body = Path(page).read_text(encoding="utf-8")
        marked = re.findall(r'<mark class="verbatim"[^>]*><sup>1</sup>(.*?)</mark>', body,
                            re.S)
        # the same passage, marked once in the output and once in the work
        assert len(marked) == 2 and all(html.unescape(m).split()[:60] == excerpt.split()
                                        for m in marked)
        assert "KJV-GEN-1" in body and "Genesis 1" in body


def test_devices_and_pipes_named_as_files_are_refused_not_read_forever(text_dir, cli,
                                                                      tmp_path):
    """/dev/zero was read until the process was killed for memory, and a FIFO with no
    writer blocked for ever; every file named on the command line must be a regular one."""
    import os

    fifo = tmp_path / "outputs.txt"
    os.mkfifo(fifo)
    r = cli("--data-dir", text_dir, "screen", "text", "/dev/zero", fifo, "--json")
    assert r.code == 1
    errors = [x["error"] for x in lines(r.out)]
    assert len(errors) == 2 and all("not a regular file" in e for e in errors)
    assert "standard input as -" in errors[0]
    for args in (["works", "import", "/dev/zero"],
                 ["underwrite", str(fifo), "--applicant",
                  str(Path(__file__).parents[2] / "plans" / "example-applicant.yaml"),
                  "--limit", "1000"],
                 ["plan", "check", "/dev/zero"]):
        r = cli("--data-dir", text_dir, *args)
        assert r.code == 2 and "not a regular file" in r.err, (args, r.err)


def test_evidence_pages_of_works_whose_ids_sanitise_alike_do_not_overwrite(text_dir, cli,
                                                                           tmp_path):
    """ownerA/same and ownerB/same both became ...-same.html, so the second page replaced
    the first and the result listed one file twice: a rights holder's evidence was lost."""
    work = tmp_path / "psalm.txt"
    work.write_text(kjv(19, 104), encoding="utf-8")
    for ext_id in ("ownerA/same", "ownerB/same", "ownerB_same"):
        r = cli("--data-dir", text_dir, "works", "add", work, "--external-id", ext_id,
                "--category", "literary")
        assert r.code == 0, r.err
    q = tmp_path / "q.txt"
    q.write_text(filler(30) + "\n\n" + " ".join(kjv(19, 104).split()[:120]))
    ev = tmp_path / "ev"
    r = cli("--data-dir", text_dir, "screen", "text", q, "--json", "--evidence", ev)
    assert r.code == 0, r.err
    (res,) = lines(r.out)
    pages = res["evidence"]
    assert len(pages) == 3 and len(set(pages)) == 3
    assert sorted(p.name for p in ev.iterdir()) == sorted(Path(p).name for p in pages)
    shown = {re.search(r"<h2>Registered work: (.*?)</h2>",
                       Path(p).read_text(encoding="utf-8")).group(1) for p in pages}
    assert shown == {"ownerA/same", "ownerB/same", "ownerB_same"}
