"""The runner's step log on the host: a copy and a replayable recorded trace; bad logs are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from metadvfs.errors import MetaDVFSError
from metadvfs.runner.logs import write_run_logs

HEADER = "step,t_s,dt_s,app,package,frames,ui_mc,gpu_mc,worker_mc,bg_mc,phase,decide_us"
ROWS = [
    "1,0.1,0.1,tiktok,com.zhiliaoapp.musically,5,7.0,5.6,0.0,49.8,frames,13.2",
    "2,0.2,0.1,tiktok,com.zhiliaoapp.musically,0,0.0,5.6,10.1,51.4,idle,12.9",
]
PLAN = "metadvfs-runner-plan 1\ndevice pixel6\ninterval_ms 100\n"


def test_log_becomes_a_replayable_trace_and_a_cut_row_is_dropped(tmp_path: Path) -> None:
    from metadvfs.workload.trace import read_trace

    text = "\n".join([HEADER, *ROWS, "3,0.3,0.1,tik"]) + "\n"  # the last row was cut by a copy taken mid-write
    res = write_run_logs(text, PLAN, tmp_path / "out")
    assert res["steps"] == 2 and res["app"] == "tiktok" and res["decide_us_median"] == pytest.approx(13.05)
    df, meta = read_trace(res["trace"])
    assert meta.device == "pixel6" and meta.tick_s == 0.1 and meta.source == "recorded" and len(df) == 2
    assert list(df["frames"]) == [5, 0] and list(df["phase"].astype(str)) == ["frames", "idle"]


def test_not_a_runner_log(tmp_path: Path) -> None:
    with pytest.raises(MetaDVFSError, match="column 'app' missing"):
        write_run_logs("step,t_s,dt_s\n1,0.1,0.1\n", PLAN, tmp_path / "out")
