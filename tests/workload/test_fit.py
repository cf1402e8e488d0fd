"""``metadvfs trace fit``: a profile fitted to a trace reproduces the trace's demand; bad input exits 2."""

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
from metadvfs.workload.apps import load_app, parse_app
from metadvfs.workload.fit import FitOptions, fit_profile
from metadvfs.workload.generator import generate_arrays, generate_trace
from metadvfs.workload.input_events import FLAG_TOUCH, track_from_json
from metadvfs.workload.trace import trace_to_arrays, write_trace

TICK = 0.01
FIT_S = 1800.0  # the "recorded" trace the profile is fitted to
CMP_TICKS = 360_000  # one hour of each workload for the comparison (generation takes ~0.1 s)


def _stats(a: dict[str, np.ndarray]) -> dict[str, float]:
    """Frame-rate demand, per-frame work distribution and burstiness of a workload."""
    n = a["frames"].shape[0]
    dur = n * TICK
    has = a["frames"] > 0
    out: dict[str, float] = {"fps": float(a["frames"].sum()) / dur}
    for col in ("ui_mc", "gpu_mc"):
        per = a[col][has] / a["frames"][has]
        out[col] = float(a[col].sum() / a["frames"].sum())
        for q in (10, 50, 90):
            out[f"{col}_p{q}"] = float(np.percentile(per, q))
    for col in ("worker_mc", "bg_mc"):
        out[col] = float(a[col].sum()) / dur
    sec = round(1.0 / TICK)
    m = n // sec
    cpu = (a["ui_mc"] + a["worker_mc"] + a["bg_mc"])[: m * sec].reshape(m, sec).sum(axis=1)
    frames = a["frames"][: m * sec].reshape(m, sec).sum(axis=1)
    out["cpu_1s_cv"] = float(cpu.std() / cpu.mean())  # burstiness: spread of 1-s CPU demand
    out["fps_1s_cv"] = float(frames.std() / frames.mean())
    one = a["frames"] == 1
    z = np.log(a["ui_mc"][one][a["ui_mc"][one] > 0])
    out["ui_lag1"] = float(np.corrcoef(z[:-1], z[1:])[0, 1])  # consecutive frame ticks (scene persistence)
    out["touch_share"] = float(np.mean((a["input"] & FLAG_TOUCH) > 0))
    return out


def _recorded_style(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays with the phase labels `metadvfs record` writes (``frames`` / ``idle``), i.e. no phase information."""
    out = dict(arrays)
    out["phase_id"] = (arrays["frames"] == 0).astype(np.int64)
    out["phase_names"] = np.array(["frames", "idle"])
    return out


def _fit(app: str, recorded: bool) -> tuple[dict, dict]:
    df, meta = generate_trace(app, FIT_S, seed=11)
    arrays = trace_to_arrays(df)
    if recorded:
        arrays = _recorded_style(arrays)
    events = track_from_json(meta.input, "t")
    return fit_profile(arrays, meta.tick_s, meta.target_fps, events, FitOptions(name=f"{app}_fit"))


# relative tolerances (and absolute ones for correlations / shares); the fitted profile is compared with the original
# on one hour each from the same seed, so the phase process's seed-to-seed spread stays small
TOL_LABELS = {"mean": 0.06, "quantile": 0.12, "burst": 0.2, "lag1": 0.06, "touch": 0.35}
TOL_AUTO = {"mean": 0.12, "quantile": 0.2, "burst": 0.45, "lag1": 0.12, "touch": 0.6}


def _check(orig: dict[str, float], fitted: dict[str, float], tol: dict[str, float], label: str) -> None:
    for key, val in orig.items():
        got = fitted[key]
        if key in ("fps", "ui_mc", "gpu_mc", "worker_mc", "bg_mc"):
            assert got == pytest.approx(val, rel=tol["mean"]), f"{label} {key}: {got:.3g} vs {val:.3g}"
        elif "_p" in key:
            assert got == pytest.approx(val, rel=tol["quantile"]), f"{label} {key}: {got:.3g} vs {val:.3g}"
        elif key.endswith("_1s_cv"):
            assert got == pytest.approx(val, rel=tol["burst"]), f"{label} {key}: {got:.3g} vs {val:.3g}"
        elif key == "ui_lag1":
            assert abs(got - val) <= tol["lag1"], f"{label} {key}: {got:.3g} vs {val:.3g}"
        elif key == "touch_share" and val > 0:
            assert got == pytest.approx(val, rel=tol["touch"]), f"{label} {key}: {got:.3g} vs {val:.3g}"


@pytest.mark.parametrize("app", ["tiktok", "taobao", "3dmark"])
def test_round_trip_with_phase_labels(app: str) -> None:
    """A generated app's trace (phase labels kept) -> fit -> regenerate: same demand within TOL_LABELS."""
    doc, report = _fit(app, recorded=False)
    assert report["mode"] == "labels"
    original = load_app(app)
    assert [p["name"] for p in doc["phases"]] == [p.name for p in original.phases]
    for p, o in zip(doc["phases"], original.phases, strict=True):
        assert p["fps"] == pytest.approx(o.fps, rel=0.03, abs=0.2)
        assert p["ui_mc"]["mean"] == pytest.approx(o.ui_mc[0], rel=0.15)
        assert p["duration_s"][0] >= o.duration_s[0] - 0.05 and p["duration_s"][1] <= o.duration_s[1] + 0.05
    assert doc["frame_ar1"] == pytest.approx(0.9, abs=0.08)
    fitted = parse_app(doc, "fitted")
    _check(
        _stats(generate_arrays(app, CMP_TICKS, 5)),
        _stats(generate_arrays(fitted, CMP_TICKS, 5)),
        TOL_LABELS,
        app,
    )


@pytest.mark.parametrize("app", ["weibo", "3dmark"])
def test_round_trip_recorded_labels(app: str) -> None:
    """With only frames/idle labels (as `metadvfs record` writes) the phases are segmented; demand within TOL_AUTO."""
    doc, report = _fit(app, recorded=True)
    assert report["mode"] == "automatic segmentation"
    assert 2 <= len(doc["phases"]) <= 6
    fitted = parse_app(doc, "fitted")
    _check(
        _stats(generate_arrays(app, CMP_TICKS, 5)),
        _stats(generate_arrays(fitted, CMP_TICKS, 5)),
        TOL_AUTO,
        app,
    )


def test_round_trip_at_record_interval() -> None:
    """A trace at `metadvfs record`'s 100 ms rows: the profile regenerated at 10 ms has the same demand at 100 ms."""
    from metadvfs.workload.trace import resample_arrays

    coarse = resample_arrays(generate_arrays("weibo", 180_000, 11), TICK, 0.1)
    doc, _ = fit_profile(coarse, 0.1, 60.0, None, FitOptions(name="weibo_100ms"))
    fitted = parse_app(doc, "fitted")
    a = resample_arrays(generate_arrays("weibo", CMP_TICKS, 5), TICK, 0.1)
    b = resample_arrays(generate_arrays(fitted, CMP_TICKS, 5), TICK, 0.1)
    for col in ("frames", "ui_mc", "gpu_mc", "worker_mc", "bg_mc"):
        assert b[col].mean() == pytest.approx(a[col].mean(), rel=0.06), col
        busy = a[col] > 0
        cv_a = a[col][busy].std() / a[col][busy].mean()
        cv_b = b[col][b[col] > 0].std() / b[col][b[col] > 0].mean()
        assert cv_b == pytest.approx(cv_a, rel=0.2), f"{col} 100-ms cv {cv_b:.3f} vs {cv_a:.3f}"


def test_fit_recovers_a_changed_frame_ar1() -> None:
    """The fitted autocorrelation follows the trace, not the generator's default (the check can fail)."""
    base = load_app("tiktok")
    for rho in (0.3, 0.7):
        app = dataclasses.replace(base, frame_ar1=rho)
        a = generate_arrays(app, 180_000, 2)
        doc, _ = fit_profile(a, TICK, 60.0, None, FitOptions(name="x"))
        assert doc["frame_ar1"] == pytest.approx(rho, abs=0.1)


def test_fit_input_section() -> None:
    doc, report = _fit("tiktok", recorded=False)
    spec = doc["input"]
    assert report["input_events"] > 0
    assert spec["launch_s"] == pytest.approx(1.0, abs=0.02)
    assert spec["move_hz"] == pytest.approx(60.0, rel=0.02)
    assert spec["phases"]["swipe"].get("at_entry") is True
    assert "at_entry" not in spec["phases"]["video"]
    lo, hi = spec["phases"]["swipe"]["contact_s"]
    assert 0.09 <= lo <= hi <= 0.31


# ------------------------------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fit") / "kwai.csv"
    df, meta = generate_trace("kwai", 120.0, seed=3)
    write_trace(df, meta, path)
    return path


def test_cli_fit_writes_a_loadable_profile(trace_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "apps" / "kwai_fit.yaml"
    res = CliRunner().invoke(trace_app, ["fit", "--trace", str(trace_file), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["mode"] == "labels" and set(report["phases"]) <= {p.name for p in load_app("kwai").phases}
    prof = load_app(out)
    assert prof.name == "kwai_fit" and prof.metadata.target_fps == 60.0
    res = CliRunner().invoke(trace_app, ["validate", str(trace_file)])
    assert res.exit_code == 0


def _bad_trace(tmp_path: Path, trace_file: Path, kind: str) -> Path:
    lines = trace_file.read_text().splitlines()
    bad = tmp_path / f"{kind}.csv"
    if kind == "schema":
        lines[0] = lines[0].replace("metadvfs.trace/2", "metadvfs.trace/9")
    elif kind == "empty":
        lines = lines[:2]
    elif kind == "unsorted":
        a, b = lines[5].split(",", 1), lines[6].split(",", 1)
        lines[5], lines[6] = f"{b[0]},{a[1]}", f"{a[0]},{b[1]}"
    elif kind == "events":
        meta = json.loads(lines[0][len("# metadvfs-trace ") :])
        meta["input"]["t_s"][1], meta["input"]["t_s"][2] = meta["input"]["t_s"][2], meta["input"]["t_s"][1]
        lines[0] = "# metadvfs-trace " + json.dumps(meta)
    bad.write_text("\n".join(lines) + "\n")
    return bad


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("schema", "trace schema: found 'metadvfs.trace/9'"),
        ("empty", "zero rows"),
        ("unsorted", "not strictly increasing"),
        ("events", "times must be sorted"),
    ],
)
def test_cli_fit_bad_input(trace_file: Path, tmp_path: Path, kind: str, needle: str) -> None:
    bad = _bad_trace(tmp_path, trace_file, kind)
    out = tmp_path / "out.yaml"
    res = CliRunner().invoke(trace_app, ["fit", "--trace", str(bad), "--out", str(out)])
    assert res.exit_code == 2
    assert needle in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".out.yaml.*"))


def test_cli_fit_no_frames_and_bad_out(tmp_path: Path) -> None:
    df, meta = generate_trace("kwai", 10.0, seed=1)
    df["frames"] = 0
    path = tmp_path / "static.csv"
    write_trace(df, meta, path)
    res = CliRunner().invoke(trace_app, ["fit", "--trace", str(path), "--out", str(tmp_path / "o.yaml")])
    assert res.exit_code == 2 and "no frame" in res.output and not (tmp_path / "o.yaml").exists()
    res = CliRunner().invoke(trace_app, ["fit", "--trace", str(path), "--out", str(tmp_path / "o.txt")])
    assert res.exit_code == 2 and ".yaml" in res.output


def test_fit_too_short() -> None:
    a = generate_arrays("kwai", 100, 1)
    with pytest.raises(MetaDVFSError, match="too short"):
        fit_profile(a, TICK, 60.0, None, FitOptions(name="x"))


# ------------------------------------------------------------------------------------------------- Perfetto


def _perfetto_csv(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Frames of a generated workload as the documented Perfetto export: ts/dur ns, the ui work on CPU 4 (MID).

    Frames start at their vsync instants ``k / fps`` (the generator's grid), as FrameTimeline reports them.
    """
    rows = []
    t0 = 123_456_789_000
    for i in np.flatnonzero(arrays["frames"]):
        k = int(arrays["frames"][i])
        fps = float(arrays["frame_fps"][i])
        first = np.ceil(i * TICK * fps - 1e-6)
        for j in range(k):
            ts = t0 + round((first + j) / fps * 1e9)
            rows.append({"ts": ts, "dur": 8_000_000, "cpu": 4, "mcycles": arrays["ui_mc"][i] / k})
    path = tmp_path / "frames.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_perfetto_frames_fit(tmp_path: Path) -> None:
    a = generate_arrays("taobao", 60_000, 3)
    path = _perfetto_csv(tmp_path, a)
    out = tmp_path / "taobao_pf.yaml"
    res = CliRunner().invoke(
        trace_app, ["fit", "--perfetto", str(path), "--device", "pixel6", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    prof = load_app(out)
    g = generate_arrays(prof, CMP_TICKS, 5)
    orig = generate_arrays("taobao", CMP_TICKS, 5)
    fps_o, fps_g = orig["frames"].mean() / TICK, g["frames"].mean() / TICK
    assert fps_g == pytest.approx(fps_o, rel=0.12)
    ui_o, ui_g = orig["ui_mc"].sum() / orig["frames"].sum(), g["ui_mc"].sum() / g["frames"].sum()
    assert ui_g == pytest.approx(ui_o, rel=0.12)  # pixel6 MID ipc is 1.0, so mcycles are reference Mc
    assert prof.metadata.target_fps == 60.0


def test_perfetto_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    out = tmp_path / "o.yaml"
    for text, needle in [
        ("ts,dur\n", "zero frames"),
        ("ts,cpu\n1,2\n", "missing column 'dur'"),
        ("ts,dur\n20,1\n10,1\n", "not sorted"),
        ("ts,dur,cpu,mcycles\n10,1,42,1.0\n", "not a CPU of pixel6"),
    ]:
        path.write_text(text)
        res = CliRunner().invoke(trace_app, ["fit", "--perfetto", str(path), "--device", "pixel6", "--out", str(out)])
        assert res.exit_code == 2 and needle in res.output, res.output
        assert not out.exists()


def test_frame_ar1_field_is_validated_and_optional() -> None:
    doc, _ = _fit("kwai", recorded=False)
    for bad in (1.5, -0.1, "high"):
        with pytest.raises(MetaDVFSError, match="frame_ar1"):
            parse_app({**doc, "frame_ar1": bad}, "f.yaml")
    plain = {k: v for k, v in doc.items() if k != "frame_ar1"}
    assert parse_app(plain, "f.yaml").frame_ar1 is None
    # a catalog app has no frame_ar1: its generated demand is unchanged by the new field
    a = generate_arrays("kwai", 3000, 4)
    b = generate_arrays(parse_app({**plain, "frame_ar1": 0.9}, "f.yaml"), 3000, 4)
    c = generate_arrays(parse_app(plain, "f.yaml"), 3000, 4)
    np.testing.assert_array_equal(b["ui_mc"], c["ui_mc"])
    assert a["ui_mc"].shape == b["ui_mc"].shape


def test_round_trip_through_the_simulator_and_record() -> None:
    """Simulate Weibo on the 60 Hz Pixel 3 at the top OPPs, derive `metadvfs record`'s rows (work done per 100 ms,
    from the simulator's busy fractions and clocks, with record's own `trace_row`), fit, regenerate: the frame rate,
    CPU and GPU demand of the simulated app come back within 10 % (at the top OPPs the phone keeps up: work done =
    demand). A 60 Hz panel, because on 90/120 Hz panels a display-rate app's UI phases draw at the panel's rate
    (docs/workloads.md), so the phone's demand is not the app file's 60 fps demand."""
    from types import SimpleNamespace

    from metadvfs.catalog.devices import load_device
    from metadvfs.deploy.record import rows_to_frame, trace_row
    from metadvfs.sim.batch import TaskBatch
    from metadvfs.tasks.task import make_task

    dev = load_device("pixel3")
    seconds = 900
    batch = TaskBatch([make_task(dev, "weibo")], seconds + 1.0)
    batch.seed([3])
    batch.reset_rows(np.arange(1))
    top = batch.dev.n_opp - 1
    from metadvfs.core.domains import CPU_DOMAINS

    clusters = [dev.cluster(dom) for dom in CPU_DOMAINS]  # canonical little, mid, big (None where absent)
    binding = SimpleNamespace(
        profile=dev,
        policies=tuple(None if c is None else 1 for c in clusters),
        domain_cpus=lambda d: tuple(range(clusters[d].cores)),
    )
    rows = []
    for _ in range(seconds * 10):
        o = batch.core.step(top, 10)  # 10 ticks = one 100 ms row
        sr = SimpleNamespace(
            dt_s=0.1,
            freq_khz=o.freq_mhz[0] * 1000.0,
            busy=o.busy[0],
            busy_max=o.busy_cpu[0],
            frames=o.frames_presented[0],
        )
        rows.append(trace_row(binding, sr, 0.1))  # type: ignore[arg-type]
    doc, report = fit_profile(trace_to_arrays(rows_to_frame(rows, 0.1)), 0.1, 60.0, None, FitOptions(name="w"))
    assert report["mode"] == "automatic segmentation"
    g = generate_arrays(parse_app(doc, "fitted"), CMP_TICKS, 5)
    o = generate_arrays("weibo", CMP_TICKS, 5)
    for key in ("frames", "cpu", "gpu_mc"):
        got, want = ((x["ui_mc"] + x["worker_mc"] + x["bg_mc"]).sum() if key == "cpu" else x[key].sum() for x in (g, o))
        assert got == pytest.approx(want, rel=0.1), f"{key}: fitted {got:.4g} vs simulated app {want:.4g}"
