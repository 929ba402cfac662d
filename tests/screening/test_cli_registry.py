"""The CLI's registry, keys, audit and configuration commands, and every kind of bad input
they are given: manifests, conflicts, corrections, withdrawals, data dirs and settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps


def test_bad_manifest_rows_are_reported_and_good_rows_import(cli, work_files, tmp_path):
    shutil.copy(work_files / "coffee.png", tmp_path / "coffee.png")
    (tmp_path / "broken.png").write_bytes(b"nope")
    (tmp_path / "m.csv").write_text(
        "path,external_id,title,owner,category\n"
        "coffee.png,W-1,Coffee,Acme,photo\n"
        "missing.png,W-2,Missing,Acme,photo\n"
        "broken.png,W-3,Broken,Acme,photo\n"
        ",W-4,No path,Acme,photo\n"
        "coffee.png,W-1,Dup,Acme,photo\n"
        "coffee.png,W-5,Too,many,fields,here\n"
        "coffee.png,W-6,Coffee again,Acme,photo\n")
    d = tmp_path / "data"
    r = cli("--data-dir", d, "works", "import", tmp_path / "m.csv")
    assert r.code == 2
    assert "row 8: W-6: note: the same content is also registered as W-1;" in r.err
    assert "row 3: W-2:" in r.err and "no such file" in r.err
    assert r.err.count("missing.png") == 1  # the file is named once, not twice
    assert "row 4: W-3:" in r.err and "not a recognised image" in r.err
    assert "row 5: -: empty path" in r.err
    assert "already used on row 2" in r.err
    assert "row 7" in r.err and "more fields" in r.err
    listed = cli("--data-dir", d, "works", "list")
    assert listed.out.count("\n") == 2 and "W-1" in listed.out and "W-6" in listed.out


@pytest.mark.parametrize("content,message", [
    (b"", "no header"),
    (b"path,external_id\nx.png,W\n", "lacks column(s) title, owner, category"),
    ("path,external_id,title,owner,category\nx,W,caf\xe9,o,c\n".encode("latin-1"), "not UTF-8"),
])
def test_malformed_manifest(cli, tmp_path, content, message):
    (tmp_path / "m.csv").write_bytes(content)
    r = cli("--data-dir", tmp_path / "data", "works", "import", tmp_path / "m.csv")
    assert r.code == 2 and message in r.err and "Traceback" not in r.err


def test_conflicting_content_needs_replace(cli, data_dir, work_files, tmp_path):
    def blobs() -> list[Path]:
        return sorted(p for p in (data_dir / "blobs").rglob("*") if p.is_file())

    kept = blobs()
    new = tmp_path / "rocket_flipped.png"
    ImageOps.flip(Image.open(work_files / "rocket.png")).save(new)
    r = cli("--data-dir", data_dir, "works", "add", new, "--external-id", "W-coffee",
            "--title", "Coffee")
    assert r.code == 4 and "--replace" in r.err
    assert blobs() == kept  # a refused upload leaves nothing in the blob store
    r = cli("--data-dir", data_dir, "works", "add", work_files / "rocket.png",
            "--external-id", "W-coffee", "--title", "Coffee", "--replace")
    assert r.code == 0 and json.loads(r.out)["outcome"] == "replaced"


def test_add_refuses_a_corrupt_work_and_keeps_the_registry(cli, data_dir, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    r = cli("--data-dir", data_dir, "works", "add", tmp_path / "bad.png", "--external-id", "X")
    assert r.code == 2 and "bad.png: not a recognised image format" in r.err
    assert "X\t" not in cli("--data-dir", data_dir, "works", "list").out


def test_unknown_data_dir(cli, tmp_path, queries):
    r = cli("--data-dir", tmp_path / "nowhere", "screen", "image", queries / "unrelated.png")
    assert r.code == 5 and "does not exist" in r.err
    (tmp_path / "afile").write_text("x")
    r = cli("--data-dir", tmp_path / "afile", "works", "list")
    assert r.code == 5 and "not a directory" in r.err


def test_a_damaged_or_newer_registry_is_a_clear_error_and_is_left_as_it_was(cli, data_dir,
                                                                             tmp_path):
    import sqlite3

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "registry.sqlite3").write_bytes(b"not a database at all\n")
    r = cli("--data-dir", bad, "works", "list")
    assert r.code == 5 and "file is not a database" in r.err and "Traceback" not in r.err
    assert (bad / "registry.sqlite3").read_bytes() == b"not a database at all\n"
    # a registry written by a newer ipscreen (a schema revision this one does not know)
    db = data_dir / "registry.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.close()
    r = cli("--data-dir", data_dir, "works", "list")
    assert r.code == 5 and "schema revision '9999_future'" in r.err and "newer" in r.err
    assert "Traceback" not in r.err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("9999_future",)]
        assert conn.execute("SELECT count(*) FROM works").fetchone()[0] == 4
    conn.close()


def test_huge_dimensions_work_registration_refused(cli, data_dir, tmp_path):
    from tests.models.test_imaging import _huge_png

    (tmp_path / "bomb.png").write_bytes(_huge_png(10_000, 10_000))
    r = cli("--data-dir", data_dir, "works", "add", tmp_path / "bomb.png", "--external-id", "B")
    assert r.code == 2 and "decompression bomb" in r.err


def test_data_dir_from_environment(cli, work_files, tmp_path, monkeypatch):
    monkeypatch.setenv("IPSCREEN_DATA_DIR", str(tmp_path / "envdata"))
    r = cli("works", "add", work_files / "coffee.png", "--external-id", "ENV-1")
    assert r.code == 0 and (tmp_path / "envdata" / "registry.sqlite3").exists()
    assert "ENV-1" in cli("works", "list").out


@pytest.mark.parametrize(("name", "value", "says"), [
    ("IPSCREEN_BLOCK_THRESHOLD", "7", "block_threshold"),
    ("IPSCREEN_TEXT_PROBE_TOKENS", "4", "text_probe_tokens must be 0"),
    ("IPSCREEN_TEXT_PROBE_TOKENS", "999", "text_probe_tokens"),
    ("IPSCREEN_DENSE_FACTORY", "garbage", "could not parse index string garbage"),
    ("IPSCREEN_TEXT_WINDOW_FACTORY", "IVF10,PQ7", "multiple of the number of subquantizers"),
])
def test_absurd_settings_are_clear_errors(cli, tmp_path, monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    r = cli("--data-dir", tmp_path, "works", "list")
    assert r.code == 1 and "invalid setting" in r.err and "Traceback" not in r.err
    assert says in r.err


@pytest.mark.parametrize(("args", "message"), [
    (["works", "add"], "Missing argument 'FILE'"),
    (["works", "list", "--status", "bogus"], "status must be active or withdrawn"),
    (["works", "update", "W-astronaut"], "give at least one of --title"),
    (["works", "frobnicate"], "No such command"),
])
def test_usage_errors_are_messages_not_tracebacks(cli, tmp_path, args, message):
    # typer vendors its own click: its usage errors used to escape main() as tracebacks
    r = cli("--data-dir", tmp_path / "data", *args)
    assert r.code == 2 and message.lower() in r.err.lower(), r.err


def test_metadata_correction_update_show_and_reimport(cli, data_dir, work_files, tmp_path):
    before = json.loads(cli("--data-dir", data_dir, "index", "status").out)
    r = cli("--data-dir", data_dir, "works", "update", "W-rocket", "--owner", "Rocket Lab",
            "--registration-no", "REG-2")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["outcome"] == "updated" and out["changed"] == ["owner", "registration_no"]
    shown = json.loads(cli("--data-dir", data_dir, "works", "show", "W-rocket").out)
    assert (shown["owner"], shown["registration_no"], shown["title"]) == \
        ("Rocket Lab", "REG-2", "Rocket")
    listed = cli("--data-dir", data_dir, "works", "list", "--owner", "Rocket Lab").out
    assert listed.count("\n") == 1 and listed.startswith("W-rocket\t")
    # no index work for a metadata change: the registry revision and indexes are as before
    assert json.loads(cli("--data-dir", data_dir, "index", "status").out) == before
    r = cli("--data-dir", data_dir, "works", "update", "W-404", "--owner", "x")
    assert r.code == 3 and "no work with external_id 'W-404'" in r.err
    # re-importing the original manifest: a no-op that says the metadata differs ...
    r = cli("--data-dir", data_dir, "works", "import", work_files / "manifest.csv")
    assert r.code == 0 and "4 unchanged" in r.err
    assert "W-rocket: note: same content, registered with another owner, registration_no" \
        in r.err and "W-coffee: note" not in r.err
    # ... and with --replace, the manifest's description wins again
    r = cli("--data-dir", data_dir, "works", "import", "--replace",
            work_files / "manifest.csv")
    assert r.code == 0 and "3 unchanged, 1 updated" in r.err, r.err
    shown = json.loads(cli("--data-dir", data_dir, "works", "show", "W-rocket").out)
    assert shown["owner"] == "Acme Studios"
    history = [json.loads(x) for x in
               cli("--data-dir", data_dir, "works", "history", "W-rocket").out.splitlines()]
    assert [h["action"] for h in history] == ["created", "updated", "updated"]
    assert "owner: 'Rocket Lab' -> 'Acme Studios'" in history[-1]["detail"]
    assert json.loads(cli("--data-dir", data_dir, "index", "status").out) == before


def test_withdraw_many_reports_unknown_ids_and_withdraws_the_rest(cli, data_dir, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("W-coffee\n\nW-chelsea\n")
    r = cli("--data-dir", data_dir, "works", "withdraw", "W-astronaut", "W-nope",
            "--from-file", ids, "--reason", "licence ended")
    assert r.code == 3 and "W-nope: no work with external_id 'W-nope'" in r.err
    assert "1 of 4 works could not be withdrawn" in r.err
    assert [json.loads(x)["external_id"] for x in r.out.splitlines()] == \
        ["W-astronaut", "W-coffee", "W-chelsea"]
    status = json.loads(cli("--data-dir", data_dir, "index", "status").out)
    assert all(i["works"] == 1 for i in status["indexes"].values())
    history = cli("--data-dir", data_dir, "works", "history", "W-coffee").out
    assert json.loads(history.splitlines()[-1])["detail"] == "licence ended"
    r = cli("--data-dir", data_dir, "works", "withdraw")
    assert r.code == 2 and "name at least one work" in r.err


def test_keys_create_list_revoke_and_their_bad_input(cli, tmp_path, monkeypatch):
    d = tmp_path / "data"
    r = cli("--data-dir", d, "keys", "create", "--name", "ci", "--tenant", "acme",
            "--scope", "screen", "--scope", "register", "--rate", "60")
    assert r.code == 0, r.err
    made = json.loads(r.out)
    assert made["key"].startswith(f"ips_{made['prefix']}_") and made["scopes"] == [
        "register", "screen"] and made["rate_per_minute"] == 60
    listed = cli("--data-dir", d, "keys", "list").out
    assert made["prefix"] in listed and made["key"] not in listed  # only its hash is kept
    assert made["expires_at"] is None and made["expired"] is False
    trial = json.loads(cli("--data-dir", d, "keys", "create", "--name", "trial", "--tenant",
                           "acme", "--scope", "screen", "--expires-in-days", "30").out)
    from datetime import datetime, timedelta
    left = datetime.fromisoformat(trial["expires_at"]) - datetime.fromisoformat(
        trial["created_at"])
    assert abs(left - timedelta(days=30)) < timedelta(seconds=5)
    assert trial["rate_per_minute"] == 600  # the setting's default
    assert cli("--data-dir", d, "keys", "revoke", trial["prefix"]).code == 0
    revoked = json.loads(cli("--data-dir", d, "keys", "revoke", made["prefix"]).out)
    assert revoked["revoked"] is True
    bad = [(["--name", "ci", "--tenant", "acme", "--scope", "root"], "scopes must be"),
           (["--name", " ", "--tenant", "acme", "--scope", "screen"], "a key needs a name"),
           (["--name", "ci", "--tenant", "", "--scope", "screen"], "a key needs a tenant"),
           (["--name", "ci", "--tenant", "acme", "--scope", "screen", "--rate", "0"],
            "between 1 and 1,000,000"),
           (["--name", "ci", "--tenant", "a" * 201, "--scope", "screen"],
            "tenant is longer than 200 characters"),
           (["--name", "ci", "--tenant", "acme", "--scope", "screen", "--expires-in-days",
             "0"], "expires_in_days must be above 0 and at most 3,650"),
           (["--name", "ci", "--tenant", "acme", "--scope", "screen", "--expires-in-days",
             "nan"], "got nan"),
           # a byte that is not UTF-8 in an argument reaches Python as a lone surrogate
           (["--name", "ci\udcff", "--tenant", "acme", "--scope", "screen"],
            "name contains an unpaired UTF-16 surrogate (U+DCFF) at character 2")]
    for args, says in bad:
        r = cli("--data-dir", d, "keys", "create", *args)
        assert r.code == 2 and says in r.err and "Traceback" not in r.err, (args, r.err)
    assert len(cli("--data-dir", d, "keys", "list").out.splitlines()) == 2
    # a key that names no rate gets DEFAULT_RATE_PER_MINUTE (the setting was read nowhere)
    monkeypatch.setenv("IPSCREEN_DEFAULT_RATE_PER_MINUTE", "42")
    made = json.loads(cli("--data-dir", d, "keys", "create", "--name", "slow", "--tenant",
                          "acme", "--scope", "screen").out)
    assert made["rate_per_minute"] == 42
    r = cli("--data-dir", d, "keys", "revoke", "nope")
    assert r.code == 3 and "no API key with prefix 'nope'" in r.err


@pytest.mark.parametrize("args", [["works", "show", "W-\udcff"],
                                  ["works", "history", "W-\udcff"],
                                  ["works", "withdraw", "W-\udcff"],
                                  ["works", "withdraw", "W-coffee", "--reason", "\udce9t\udce9"],
                                  ["works", "list", "--owner", "Acme \udcff"],
                                  ["keys", "revoke", "\udcff"]])
def test_arguments_that_are_not_utf8_are_refused_with_their_name(cli, data_dir, args):
    """Before, each of these died in the database driver with a UnicodeEncodeError
    traceback (exit 1); the works are untouched."""
    r = cli("--data-dir", data_dir, *args)
    assert r.code == 2 and "unpaired UTF-16 surrogate" in r.err and "not UTF-8" in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    listed = [json.loads(x) for x in cli("--data-dir", data_dir, "works", "list", "--json")
              .out.splitlines()]
    assert {w["status"] for w in listed} == {"active"}


def test_audit_lists_the_services_decisions_with_filters(cli, tmp_path):
    from screening.access import AccessStore
    from screening.registry.database import open_engine

    d = tmp_path / "data"
    made = json.loads(cli("--data-dir", d, "keys", "create", "--name", "ci", "--tenant",
                          "acme", "--scope", "screen").out)
    store = AccessStore(open_engine(f"sqlite:///{d / 'registry.sqlite3'}"))
    info = store.verify(made["key"])
    named = [{"matches": [], "licensed": []},
             {"matches": [{"external_id": "W-1", "score": 0.97},
                          {"external_id": 'W-"1"', "score": 0.2}], "licensed": []},
             {"matches": [{"external_id": "W-10", "score": 0.6}], "licensed": ["W-1"]}]
    for i, decision in enumerate(["clear", "block", "review"]):
        store.audit(f"req-{i}", info, "screen/text", f"{i:064x}", decision, i / 3,
                    {"index_revision": i}, matches=named[i])
    r = cli("--data-dir", d, "audit")
    rows = [json.loads(x) for x in r.out.splitlines()]
    assert r.code == 0 and [e["decision"] for e in rows] == ["clear", "block", "review"]
    assert rows[1]["versions"] == {"index_revision": 1} and rows[1]["key"] == made["prefix"]
    one = cli("--data-dir", d, "audit", "--input-sha256", f"{1:064X}").out.splitlines()
    assert [json.loads(x)["request_id"] for x in one] == ["req-1"]
    latest = [json.loads(x)["request_id"] for x in
              cli("--data-dir", d, "audit", "--limit", "2").out.splitlines()]
    assert latest == ["req-1", "req-2"]
    assert cli("--data-dir", d, "audit", "--tenant", "globex").out == ""
    # every decision about one work: matched (req-1) or set aside by a licence (req-2),
    # and not works whose ids merely contain it (W-10, W-"1")
    about = [json.loads(x) for x in
             cli("--data-dir", d, "audit", "--external-id", "W-1").out.splitlines()]
    assert [e["request_id"] for e in about] == ["req-1", "req-2"]
    assert about[0]["matches"][0] == {"external_id": "W-1", "score": 0.97}
    assert [json.loads(x)["request_id"] for x in cli(
        "--data-dir", d, "audit", "--external-id", 'W-"1"').out.splitlines()] == ["req-1"]
    assert cli("--data-dir", d, "audit", "--external-id", "W-1%").out == ""
    r = cli("--data-dir", d, "audit", "--limit", "0")
    assert r.code == 2 and "limit must be between 1 and 1,000,000" in r.err


def test_a_refused_write_is_one_line_and_keeps_the_registry(data_dir, work_files, tmp_path):
    """A full disk (here a real file-size limit, RLIMIT_FSIZE, so the kernel refuses the
    write with EFBIG as it would with ENOSPC) gave an OSError or SQLite "database or disk
    is full" traceback; now it is one line, exit 5, and nothing half-written is left."""
    import shlex

    big = tmp_path / "big.png"
    ImageOps.mirror(ImageOps.grayscale(Image.open(work_files / "astronaut.png"))
                    ).resize((900, 900)).save(big)
    db = data_dir / "registry.sqlite3"
    limit = db.stat().st_size + 96 * 1024
    assert big.stat().st_size > limit

    before = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*") if p.is_file()
                    and "-wal" not in p.name and "-shm" not in p.name)
    # the shell sets the limit (a preexec_fn is unsafe: this test process has threads); a
    # SIGXFSZ ignored before exec stays ignored, so the write fails with EFBIG
    cmd = (f"trap '' XFSZ; ulimit -f {limit // 1024}; exec {shlex.quote(sys.executable)} "
           f"-m screening.cli --data-dir {shlex.quote(str(data_dir))} works add "
           f"{shlex.quote(str(big))} --external-id W-big")
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert r.returncode == 5, r.stderr
    assert r.stderr.startswith("error: storage refused a write: File too large")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    after = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*") if p.is_file()
                   and "-wal" not in p.name and "-shm" not in p.name)
    assert after == before  # no temp file, no orphan blob
    listed = subprocess.run([sys.executable, "-m", "screening.cli", "--data-dir",
                             str(data_dir), "works", "list"], capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0 and "W-big" not in listed.stdout
    assert len(listed.stdout.splitlines()) == 4
