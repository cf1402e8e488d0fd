"""Trace files: round trips, validation errors, CLI, resampling."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metadvfs.cli_trace import trace_app
from metadvfs.errors import MetaDVFSError
from metadvfs.workload.generator import generate_arrays, generate_trace
from metadvfs.workload.trace import (
    CSV_MAGIC,
    read_trace,
    resample_arrays,
    trace_to_arrays,
    validate_trace,
    write_trace,
)
from metadvfs.workload.types import TRACE_COLUMNS, TraceMeta

KEYS = ("t_s", "frames", "ui_mc", "gpu_mc", "worker_mc", "bg_mc", "phase_id", "phase_names")


@pytest.fixture(scope="module")
def trace() -> tuple[pd.DataFrame, TraceMeta]:
    return generate_trace("kwai", 20.0, seed=3)


def _assert_same_arrays(a: dict, b: dict) -> None:
    for k in KEYS:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert a[k].dtype.kind == b[k].dtype.kind, k


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip(tmp_path: Path, trace, suffix: str) -> None:
    df, meta = trace
    path = tmp_path / f"t{suffix}"
    write_trace(df, meta, path)
    df2, meta2 = read_trace(path)
    assert meta2 == meta
    assert list(df2.columns) == list(TRACE_COLUMNS)
    _assert_same_arrays(trace_to_arrays(df), trace_to_arrays(df2))
    assert list(tmp_path.iterdir()) == [path]  # no temp files left behind


def test_csv_header_line(tmp_path: Path, trace) -> None:
    df, meta = trace
    path = tmp_path / "t.csv"
    write_trace(df, meta, path)
    first, second = path.read_text().splitlines()[:2]
    assert first.startswith(CSV_MAGIC)
    assert json.loads(first[len(CSV_MAGIC) :])["schema"] == "metadvfs.trace/2"
    assert second == ",".join(TRACE_COLUMNS)


def test_recorded_trace_without_phase_list(tmp_path: Path) -> None:
    n = 50
    df = pd.DataFrame(
        {
            "t_s": np.arange(n) * 0.1,
            "frames": np.full(n, 6),
            "ui_mc": np.full(n, 30.0),
            "gpu_mc": np.full(n, 12.0),
            "worker_mc": np.full(n, 40.0),
            "bg_mc": np.full(n, 10.0),
            "phase": ["scroll"] * 25 + ["video"] * 25,
            "note": ["x"] * n,
        }
    )
    meta = TraceMeta(
        schema="metadvfs.trace/1", app="my_app", tick_s=0.1, target_fps=60, source="recorded", device="pixel6"
    )
    path = tmp_path / "rec.csv"
    write_trace(df, meta, path)
    df2, meta2 = read_trace(path)
    assert meta2 == meta
    arrays = trace_to_arrays(df2)
    assert list(arrays["phase_names"]) == ["scroll", "video"]
    assert "note" in df2.columns


# ----------------------------------------------------------------------------------- malformed traces


def _csv_text(trace, n: int = 20) -> tuple[str, list[str]]:
    df, meta = trace
    header = CSV_MAGIC + json.dumps(dataclasses.asdict(meta))
    body = df.head(n).astype({"phase": str}).to_csv(index=False, lineterminator="\n")
    return header, body.splitlines()


def _corrupt(lines: list[str], row: int, col: str, value: str) -> list[str]:
    cols = lines[0].split(",")
    out = list(lines)
    cells = out[row + 1].split(",")
    cells[cols.index(col)] = value
    out[row + 1] = ",".join(cells)
    return out


CASES = {
    "nan": (
        lambda h, ls: [h, *_corrupt(ls, 5, "ui_mc", "nan")],
        r"column 'ui_mc': NaN/missing value at row 5",
    ),
    "empty_cell": (
        lambda h, ls: [h, *_corrupt(ls, 4, "bg_mc", "")],
        r"column 'bg_mc': NaN/missing value at row 4",
    ),
    "inf": (
        lambda h, ls: [h, *_corrupt(ls, 3, "gpu_mc", "inf")],
        r"column 'gpu_mc': infinite value at row 3",
    ),
    "negative": (
        lambda h, ls: [h, *_corrupt(ls, 7, "worker_mc", "-1.5")],
        r"column 'worker_mc': negative value -1.5 at row 7; allowed >= 0",
    ),
    "negative_frames": (
        lambda h, ls: [h, *_corrupt(ls, 2, "frames", "-1")],
        r"column 'frames': negative value",
    ),
    "fractional_frames": (
        lambda h, ls: [h, *_corrupt(ls, 2, "frames", "1.5")],
        r"column 'frames': non-integer value 1.5 at row 2",
    ),
    "text_in_numbers": (
        lambda h, ls: [h, *_corrupt(ls, 6, "ui_mc", "abc")],
        r"column 'ui_mc': non-numeric value 'abc' at row 6",
    ),
    "unsorted": (
        lambda h, ls: [h, ls[0], ls[1], ls[3], ls[2], *ls[4:]],
        r"column 't_s': not strictly increasing at row 2",
    ),
    "gap": (lambda h, ls: [h, ls[0], ls[1], ls[2], *ls[4:]], r"column 't_s': step 0.02 s at row 2 differs"),
    "not_at_zero": (lambda h, ls: [h, ls[0], *ls[2:]], r"column 't_s': first value 0.01 s at row 0"),
    "missing_column": (
        lambda h, ls: [h, *[",".join(c for i, c in enumerate(line.split(",")) if i != 4) for line in ls]],
        r"missing column 'worker_mc'; required columns: t_s, frames",
    ),
    "missing_phase": (
        lambda h, ls: [h, *_corrupt(ls, 1, "phase", "")],
        r"column 'phase': missing label at row 1",
    ),
    "foreign_phase": (
        lambda h, ls: [h, *_corrupt(ls, 1, "phase", "dance")],
        r"column 'phase': label 'dance' at row 1 is not in the trace's phase list",
    ),
    "wrong_schema": (
        lambda h, ls: [h.replace("metadvfs.trace/2", "metadvfs.trace/0"), *ls],
        r"trace schema: found 'metadvfs.trace/0', expected 'metadvfs.trace/1' or 'metadvfs.trace/2'",
    ),
    "no_header": (
        lambda h, ls: list(ls),
        r"found no '# metadvfs-trace' header line.*expected 'metadvfs.trace/2'",
    ),
    "bad_tick": (
        lambda h, ls: [h.replace('"tick_s": 0.01', '"tick_s": 5.0'), *ls],
        r"field 'tick_s': 5 s is out of range; allowed \[0.001, 1\] s",
    ),
    "zero_rows": (lambda h, ls: [h, ls[0]], r"trace has zero rows"),
    "header_only": (lambda h, ls: [h], r"no CSV header row and zero rows"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_csv(tmp_path: Path, trace, case: str) -> None:
    make, pattern = CASES[case]
    header, lines = _csv_text(trace)
    path = tmp_path / f"{case}.csv"
    path.write_text("\n".join(make(header, lines)) + "\n")
    with pytest.raises(MetaDVFSError, match=pattern) as info:
        read_trace(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "\n" not in msg


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("empty.csv", b"", "empty file"),
        ("empty.parquet", b"", "empty file"),
        ("garbage.csv", bytes(range(256)) * 4, "not a CSV trace"),
        ("garbage.parquet", b"PK\x03\x04 not parquet at all" * 10, "not a Parquet trace"),
        ("trace.txt", b"t_s\n0\n", r"unknown trace suffix '.txt'; use one of .csv, .parquet"),
    ],
)
def test_garbage_files(tmp_path: Path, name: str, content: bytes, pattern: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MetaDVFSError, match=pattern) as info:
        read_trace(path)
    assert str(path) in str(info.value)


def test_parquet_without_metadata(tmp_path: Path, trace) -> None:
    df, _ = trace
    path = tmp_path / "plain.parquet"
    df.to_parquet(path)
    with pytest.raises(MetaDVFSError, match=r"found no 'metadvfs' key.*expected 'metadvfs.trace/2'"):
        read_trace(path)


def test_parquet_bad_values(tmp_path: Path, trace) -> None:
    df, meta = trace
    path = tmp_path / "t.parquet"
    write_trace(df, meta, path)
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    bad = table.to_pandas()
    bad.loc[9, "gpu_mc"] = np.nan
    import pyarrow as pa

    t2 = pa.Table.from_pandas(bad, preserve_index=False).replace_schema_metadata(table.schema.metadata)
    pq.write_table(t2, path)
    with pytest.raises(MetaDVFSError, match=r"column 'gpu_mc': NaN/missing value at row 9"):
        read_trace(path)


def test_write_validates_and_writes_nothing(tmp_path: Path, trace) -> None:
    df, meta = trace
    bad = df.copy()
    bad.loc[3, "bg_mc"] = -2.0
    path = tmp_path / "out.csv"
    with pytest.raises(MetaDVFSError, match=r"column 'bg_mc': negative value -2 at row 3"):
        write_trace(bad, meta, path)
    with pytest.raises(MetaDVFSError, match=r"trace schema: found 'x/2'"):
        write_trace(df, dataclasses.replace(meta, schema="x/2"), path)
    with pytest.raises(MetaDVFSError, match="missing column 'phase'"):
        write_trace(df.drop(columns=["phase"]), meta, path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MetaDVFSError, match="is not a directory"):
        write_trace(df, meta, blocker / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_validate_trace_in_memory(trace) -> None:
    df, meta = trace
    validate_trace(df, meta, "mem")
    with pytest.raises(MetaDVFSError, match=r"^mem: trace has zero rows"):
        validate_trace(df.iloc[:0], meta, "mem")
    with pytest.raises(MetaDVFSError, match=r"^mem: .*'source'"):
        validate_trace(df, dataclasses.replace(meta, source="dreamed"), "mem")
    shifted = df.copy()
    shifted["t_s"] = shifted["t_s"] * 1.5
    with pytest.raises(MetaDVFSError, match=r"step 0.015 s at row 1 differs from tick_s 0.01 s"):
        validate_trace(shifted, meta, "mem")


# ----------------------------------------------------------------------------------------------- CLI


def _invoke(args: list[str]):
    return CliRunner().invoke(trace_app, args)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_generate_then_validate(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"g{suffix}"
    res = _invoke(["generate", "--app", "taobao", "--seconds", "10", "--seed", "2", "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.count("\n") == 1 and "1000 rows" in res.stdout and "fps" in res.stdout
    res = _invoke(["validate", str(out)])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"OK {out}")
    res = _invoke(["validate", str(out), "--json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["ok"] is True and doc["rows"] == 1000 and doc["meta"]["app"] == "taobao"


def test_cli_generate_tick_ms(tmp_path: Path) -> None:
    out = tmp_path / "g.csv"
    res = _invoke(
        ["generate", "--app", "3dmark", "--seconds", "5", "--seed", "0", "--tick-ms", "50", "--out", str(out)]
    )
    assert res.exit_code == 0, res.stderr
    df, meta = read_trace(out)
    assert meta.tick_s == 0.05 and len(df) == 100


@pytest.mark.parametrize("case", ["nan", "negative", "unsorted", "missing_column", "wrong_schema"])
def test_cli_validate_rejects(tmp_path: Path, trace, case: str) -> None:
    make, pattern = CASES[case]
    header, lines = _csv_text(trace)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(make(header, lines)) + "\n")
    res = _invoke(["validate", str(path)])
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
    assert str(path) in res.stderr and "Traceback" not in res.stderr
    import re

    assert re.search(pattern, res.stderr)


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02garbage\xff"])
def test_cli_validate_garbage(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.parquet"
    path.write_bytes(content)
    res = _invoke(["validate", str(path)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["--seconds", "0"], "--seconds: 0 must be > 0"),
        (["--seconds", "-3"], "--seconds"),
        (["--tick-ms", "0.5"], r"--tick-ms: 0.5 is out of range; allowed \[1, 1000\] ms"),
        (["--tick-ms", "2000"], "--tick-ms"),
        (["--app", "nope"], "unknown app 'nope'; choose one of"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_cli_generate_bad_options_write_nothing(tmp_path: Path, extra: list[str], pattern: str) -> None:
    out = tmp_path / "o.csv"
    opts = {"--app": "tiktok", "--seconds": "5", "--seed": "1", "--tick-ms": "10"}
    for i in range(0, len(extra), 2):
        opts[extra[i]] = extra[i + 1]
    args = ["generate", *[x for kv in opts.items() for x in kv], "--out", str(out)]
    res = _invoke(args)
    assert res.exit_code == 2
    assert pattern in res.stderr or __import__("re").search(pattern, res.stderr)
    assert res.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_generate_unwritable_destination(tmp_path: Path) -> None:
    blocker = tmp_path / "dir_is_a_file"
    blocker.write_text("x")
    res = _invoke(["generate", "--app", "tiktok", "--seconds", "2", "--seed", "1", "--out", str(blocker / "o.csv")])
    assert res.exit_code == 2 and "is not a directory" in res.stderr and res.stderr.count("\n") == 1
    res = _invoke(["generate", "--app", "tiktok", "--seconds", "2", "--seed", "1", "--out", str(tmp_path / "o.json")])
    assert res.exit_code == 2 and "unknown trace suffix" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir_is_a_file"]


# ------------------------------------------------------------------------------------------ resample


def _totals(a: dict) -> dict:
    return {k: float(np.sum(a[k])) for k in ("frames", "ui_mc", "gpu_mc", "worker_mc", "bg_mc")}


def test_resample_finer_preserves_work_and_frames() -> None:
    coarse = generate_arrays("bilibili", 3000, seed=1, tick_s=0.1)
    fine = resample_arrays(coarse, 0.1, 0.01)
    assert fine["frames"].shape == (30_000,)
    for k, v in _totals(coarse).items():
        assert _totals(fine)[k] == pytest.approx(v, rel=1e-12)
    np.testing.assert_allclose(np.diff(fine["t_s"]), 0.01)
    assert fine["frames"].dtype == np.int64
    # a tick with 6 frames spreads them one per sub-tick, first frame in the first sub-tick
    i = int(np.flatnonzero(coarse["frames"] == 6)[0])
    block = fine["frames"][i * 10 : (i + 1) * 10]
    assert block.sum() == 6 and block.max() == 1 and block[0] == 1
    # ui work follows the frames
    ub = fine["ui_mc"][i * 10 : (i + 1) * 10]
    assert np.all(ub[block == 0] == 0)
    np.testing.assert_array_equal(fine["phase_id"], np.repeat(coarse["phase_id"], 10))


def test_resample_coarser_sums_and_round_trip() -> None:
    a = generate_arrays("weibo", 1005, seed=2)
    c = resample_arrays(a, 0.01, 0.05)
    assert c["frames"].shape == (201,)
    for k, v in _totals(a).items():
        assert _totals(c)[k] == pytest.approx(v, rel=1e-12)
    same = resample_arrays(a, 0.01, 0.01)
    _assert_same_arrays(same, a)


def test_resample_rejects_non_integer_ratio() -> None:
    a = generate_arrays("weibo", 100, seed=2)
    with pytest.raises(MetaDVFSError, match="integer"):
        resample_arrays(a, 0.03, 0.02)
    with pytest.raises(MetaDVFSError, match="integer"):
        resample_arrays(a, 0.02, 0.03)
