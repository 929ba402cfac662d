"""The scan driver's bookkeeping, without Ray: what counts as done, a damaged plan or part,
and how the pending items are cut into blocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from screening.errors import InvalidInputError
from screening.scan.runner import MAX_BLOCK_ROWS, ScanOptions, _plan, block_rows, done_mask


def _part(path: Path, indexes: list[int]) -> None:
    pq.write_table(pa.table({"index": pa.array(indexes, pa.int64())}), path)


def test_done_is_what_the_readable_parts_hold_and_a_damaged_part_is_set_aside(tmp_path, capsys):
    parts = tmp_path / "parts"
    parts.mkdir()
    _part(parts / "part-a-000000.parquet", [0, 1, 2])
    _part(parts / "part-a-000001.parquet", [7, 99])  # 99: not an item of this scan
    (parts / "part-b-000000.parquet").write_bytes(b"PAR1 cut short by a crash")
    done = done_mask(parts, 10)
    assert np.flatnonzero(done).tolist() == [0, 1, 2, 7]
    assert not (parts / "part-b-000000.parquet").exists()
    assert (parts / "part-b-000000.bad").exists()  # kept for a look, no longer counted
    assert "unreadable" in capsys.readouterr().err


def test_a_damaged_plan_is_a_clear_error_and_is_left_alone(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("some words")
    out = tmp_path / "out"
    opts = ScanOptions(src, out)
    assert _plan(opts, "hash") == 1
    plan = json.loads((out / "scan.json").read_text())
    assert plan["items"] == 1 and plan["profile"] == "hash"
    assert _plan(opts, "hash") == 1  # the same scan again: the plan is reused
    with pytest.raises(InvalidInputError, match="another profile"):
        _plan(opts, "accurate")
    (out / "scan.json").write_text('{"format": 1, "sou')
    with pytest.raises(InvalidInputError, match="damaged"):
        _plan(opts, "hash")
    assert (out / "scan.json").read_text() == '{"format": 1, "sou'


@pytest.mark.parametrize(("count", "workers", "batch", "part", "want"), [
    (120, 2, 5, 10, 10),             # a part is the most a block holds
    (100_000, 2, 64, 2048, MAX_BLOCK_ROWS),    # ... and so is MAX_BLOCK_ROWS when parts are larger
    (1_000_000, 8, 64, 5000, MAX_BLOCK_ROWS),
    (400, 2, 10, 2048, 50),          # about four blocks a worker
    (30, 4, 64, 2048, 64),           # never less than a worker's batch
    (1, 1, 1, 1, 1),
])
def test_blocks_share_the_work_out(tmp_path, count, workers, batch, part, want):
    opts = ScanOptions(tmp_path, tmp_path, batch_size=batch, part_rows=part)
    assert block_rows(opts, count, workers) == want
