"""Metadata coverage: which fields of a new phone or app lie outside what a model was trained on.

A governor is extrapolating on such a task (the held-out Pixel 8's GPU is beyond every other phone's); the user is
told so by ``evaluate``, ``export`` and ``adapt`` and in their JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.metadata import RANGE_TOLERANCE, UNKNOWN, MetadataEncoder, OutOfRange, device_features
from metadvfs.learn.tasks import build_tasks, fit_encoder

ROOT = Path(__file__).resolve().parents[2]


def _enc() -> tuple[MetadataEncoder, dict, dict]:
    from metadvfs.learn.metadata import task_metadata

    a, b = build_tasks(["pixel3:tiktok", "pixel6:3dmark"])
    return fit_encoder([a, b]), task_metadata(a), task_metadata(b)


def test_inside_edges_tolerance_constant_fields_and_unknown_categories() -> None:
    enc, ra, rb = _enc()
    assert enc.out_of_range(ra) == [] and enc.out_of_range(rb) == []
    k = "gpu_capacity_gcps"
    lo, hi = enc.lo[k], enc.hi[k]
    span = hi - lo
    assert span > 0
    assert enc.out_of_range({**ra, k: hi + 0.9 * RANGE_TOLERANCE * span}) == []  # within the tolerance
    got = enc.out_of_range({**ra, k: hi + 1.1 * RANGE_TOLERANCE * span})
    assert got == [OutOfRange(k, hi + 1.1 * RANGE_TOLERANCE * span, lo, hi)]
    assert enc.out_of_range({**ra, k: lo - 1.1 * RANGE_TOLERANCE * span})[0].field == k
    # a field both training tasks share (display refresh here) is flagged at any other value
    c = next(f for f in enc.spec.numeric if enc.lo[f] == enc.hi[f])
    assert [f.field for f in enc.out_of_range({**ra, c: enc.lo[c] + 1.0})] == [c]
    # a category outside the vocabulary (encoded as unknown) is flagged, the numbers still checked
    got = enc.out_of_range({**ra, "soc_family": "exynos", k: 10 * hi})
    assert [f.field for f in got] == ["soc_family", k] and got[0].value == "exynos"
    assert "not a known category" in got[0].describe() and "trained on" in got[1].describe()
    assert enc.out_of_range({**ra, "soc_family": UNKNOWN})[0].field == "soc_family"


def test_only_restricts_the_fields_and_missing_fields_are_errors() -> None:
    enc, ra, _ = _enc()
    dev = device_features(build_tasks(["pixel8:tiktok"])[0].device)
    got = enc.out_of_range(dev, "pixel8", only=enc.spec.device_fields)
    assert got and all(f.field in enc.spec.device_fields for f in got)
    with pytest.raises(MetaDVFSError, match="pixel8: metadata field 'app_category' missing"):
        enc.out_of_range(dev, "pixel8")
    with pytest.raises(MetaDVFSError, match="not fitted"):
        MetadataEncoder().out_of_range(ra)


def test_model_flags_an_unseen_phone_but_not_a_recombination_of_its_tasks(tiny_model: Path) -> None:
    m = load_checkpoint(tiny_model)  # trained on pixel3:tiktok and pixel6:3dmark
    ex = m.extrapolated(build_tasks(["pixel6:tiktok", "pixel3:3dmark", "pixel8:3dmark", "pixel3:tiktok"]))
    assert list(ex) == ["pixel8:3dmark"]
    fields = {f.field for f in ex["pixel8:3dmark"]}
    assert "gpu_capacity_gcps" in fields  # Pixel 8's GPU is beyond both training phones'
    assert not fields - m.encoder.spec.device_fields  # 3DMark itself was trained on


def test_evaluate_and_export_report_it(tiny_model: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from metadvfs.cli import app as cli

    r = CliRunner().invoke(
        cli,
        ["evaluate", "--model", str(tiny_model), "--tasks", "pixel8:tiktok,pixel6:tiktok", "--baselines", "stock",
         "--seeds", "1", "--seconds", "2", "--out", str(tmp_path / "ev"), "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "note: pixel8:tiktok lies outside the tasks tiny was trained on" not in r.stdout  # notes go to stderr
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(doc["extrapolated"]) == ["pixel8:tiktok"]
    assert "note: pixel8:tiktok lies outside" in r.stderr and "gpu_capacity_gcps" in r.stderr
    r = CliRunner().invoke(cli, ["export", "--model", str(tiny_model), "--device", "pixel8", "--out",
                                 str(tmp_path / "gov"), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "gpu_capacity_gcps" in {f["field"] for f in json.loads(r.stdout)["extrapolated"]}
    r = CliRunner().invoke(cli, ["export", "--model", str(tiny_model), "--device", "pixel6", "--out",
                                 str(tmp_path / "gov6")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "lies outside" not in r.output


def test_a_copied_phone_with_a_bigger_gpu_is_flagged_with_its_file_name(tiny_model: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "devices" / "pixel6.yaml").read_text())
    doc["name"] = "labphone"
    doc["gpu"]["throughput"] = 3 * float(doc["gpu"]["throughput"])
    p = tmp_path / "labphone.yaml"
    p.write_text(yaml.safe_dump(doc))
    m = load_checkpoint(tiny_model)
    got = m.out_of_range(build_tasks([f"{p}:tiktok"])[0])
    assert [f.field for f in got] == ["gpu_capacity_gcps"]


def test_tasks_outside_alike_share_one_note(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from metadvfs.cli_common import note_extrapolation

    m = load_checkpoint(tiny_model)  # trained on pixel3:tiktok and pixel6:3dmark
    out = note_extrapolation(m, ["pixel8:tiktok", "pixel8:3dmark", "pixel8:weibo", "pixel3:tiktok"])
    assert set(out) == {"pixel8:tiktok", "pixel8:3dmark", "pixel8:weibo"}
    assert out["pixel8:tiktok"] == out["pixel8:3dmark"] != out["pixel8:weibo"]  # weibo's app fields too
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0].startswith("note: pixel8:tiktok, pixel8:3dmark lie outside the tasks ")
    assert "Their zero-shot quality" in err[0]
    assert err[1].startswith("note: pixel8:weibo lies outside") and "Its zero-shot quality" in err[1]
