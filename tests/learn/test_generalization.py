"""Metadata schema 2 (measured features, unknown codes, versioning) and routing of tasks not in the catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.checkpoint import LoadedModel, load_checkpoint
from metadvfs.learn.metadata import (
    SCHEMA_V1,
    SCHEMA_V2,
    MetadataEncoder,
    demand_features,
    epc_slope,
    raw_metadata,
    task_metadata,
)
from metadvfs.learn.tasks import all_task_names, build_tasks, encode_tasks, fit_encoder
from metadvfs.tasks.task import make_task

ROOT = Path(__file__).resolve().parents[2]


def _copy_device(tmp: Path, src: str, name: str, **meta: object) -> Path:
    doc = yaml.safe_load((ROOT / "devices" / f"{src}.yaml").read_text())
    doc["name"] = name
    doc["metadata"].update(meta)
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _copy_app(tmp: Path, src: str, name: str, scale_gpu: float = 1.0, **meta: object) -> Path:
    doc = yaml.safe_load((ROOT / "envs" / "apps" / f"{src}.yaml").read_text())
    doc["name"] = name
    doc["metadata"].update(meta)
    for ph in doc["phases"]:
        ph["gpu_mc"]["mean"] *= scale_gpu
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_v2_features_are_physical_and_measured() -> None:
    t = make_task("pixel6", "3dmark")
    r = task_metadata(t)
    c = t.device.cluster("big")
    assert c is not None
    assert r["big_capacity_gcps"] == pytest.approx(c.cores * c.fmax_khz / 1e6 * c.ipc)
    assert r["big_pmax_w"] == pytest.approx(c.power_mw[-1] / 1000)
    assert r["big_epc_slope"] > 0  # a cycle costs more at a higher clock (voltage)
    assert r["sustained_power_w"] > 0
    # measured demand: 3DMark asks for more GPU work per frame than TikTok, and about 60 fps in its scenes
    tk = task_metadata(make_task("pixel6", "tiktok"))
    assert r["gpu_mc_per_frame"] > 2 * tk["gpu_mc_per_frame"]
    assert 40 < r["fps_demand"] <= 60.5
    assert 0 <= tk["idle_fraction"] <= 1 and tk["burstiness"] > 0
    assert task_metadata(t) == r  # deterministic (fixed observation seed)


def test_epc_slope_and_demand_features_by_hand() -> None:
    # e = P/f: 100 mW at 1 GHz -> 0.1 nJ, 400 mW at 2 GHz -> 0.2 nJ: slope 0.1 nJ/cycle/GHz
    assert epc_slope([1_000_000, 2_000_000], [100.0, 400.0]) == pytest.approx(0.1)
    arr = {
        "frames": np.array([1, 0] * 50),
        "ui_mc": np.array([2.0, 0.0] * 50),
        "gpu_mc": np.array([3.0, 0.0] * 50),
        "worker_mc": np.zeros(100),
        "bg_mc": np.zeros(100),
    }
    f = demand_features(arr, 0.01)
    assert f["fps_demand"] == pytest.approx(50.0)
    assert f["ui_mc_per_frame"] == pytest.approx(2.0) and f["gpu_mc_per_frame"] == pytest.approx(3.0)
    assert f["burstiness"] == pytest.approx(0.0) and f["idle_fraction"] == 0.0


def test_unknown_categories_encode_and_missing_numeric_is_an_error() -> None:
    tasks = build_tasks(all_task_names())
    enc = fit_encoder(tasks)
    assert enc.schema == SCHEMA_V2
    raw = task_metadata(tasks[0])
    x = enc.transform({**raw, "soc_family": "exynos", "app_category": "game"}, "x.yaml")
    names = enc.feature_names
    assert x[names.index("soc_family=unknown")] == 1.0 and x[names.index("app_category=unknown")] == 1.0
    assert x[names.index("soc_family=snapdragon")] == 0.0
    raw.pop("big_epc_slope")
    with pytest.raises(MetaDVFSError, match=r"x\.yaml: metadata field 'big_epc_slope' missing"):
        enc.transform(raw, "x.yaml")
    with pytest.raises(MetaDVFSError, match="not finite"):
        enc.transform({**task_metadata(tasks[0]), "fps_demand": float("nan")}, "x.yaml")


def test_v1_encoder_is_kept() -> None:
    """A schema-1 encoder (the one of the model shipped before 2026-12-04, kept in tests/learn/data) still loads and
    encodes as it did, so checkpoints trained with it keep working."""
    import json

    state = json.loads((Path(__file__).parent / "data" / "encoder_v1.json").read_text())
    enc = MetadataEncoder.from_state(state)
    assert enc.schema == SCHEMA_V1 and enc.dim == 40
    assert enc.state_dict() == state
    # schema-1 vectors are what they were: one-hot + min-max of the profile fields
    t = make_task("pixel6", "tiktok")
    raw = raw_metadata(t.device, t.app)
    v = enc.transform(raw, t.name)
    i = enc.feature_names.index("year")
    assert v[i] == pytest.approx((raw["year"] - state["lo"]["year"]) / (state["hi"]["year"] - state["lo"]["year"]))
    # unknown values are no longer an error in schema 1 either: the one-hot block is zero
    u = enc.transform({**raw, "soc_family": "exynos"}, "x")
    idx = [enc.feature_names.index(f"soc_family={c}") for c in ("snapdragon", "tensor")]
    assert u[idx].sum() == 0.0
    with pytest.raises(MetaDVFSError, match="schema"):
        MetadataEncoder.from_state({**state, "schema": "metadvfs.metadata/0"})
    with pytest.raises(MetaDVFSError, match="differ"):
        MetadataEncoder.from_state({**state, "numeric": state["numeric"][:-1]})


def test_v2_state_roundtrip() -> None:
    tasks = build_tasks(["pixel3:tiktok", "pixel8:3dmark"])
    enc = fit_encoder(tasks)
    enc2 = MetadataEncoder.from_state(enc.state_dict())
    assert np.array_equal(encode_tasks(tasks, enc), encode_tasks(tasks, enc2))


def test_routing_new_task_goes_to_shared_model_unless_close_to_fine_tune(tmp_path: Path) -> None:
    from metadvfs.meta.guard import task_model_id, write_guarded_checkpoint

    # the shipped model with task-specific fine-tunes for two of its tasks (as `metadvfs guard` writes them)
    src = load_checkpoint("default")
    sd = src.policies["all"].state_dict()
    fts = {t: (task_model_id(t), sd, True) for t in ("pixel4:kwai", "pixel8:bilibili")}
    m = load_checkpoint(write_guarded_checkpoint(src, tmp_path / "guarded", fts))
    ft = {str(x["id"]) for x in m.doc["models"] if len(x["tasks"]) == 1}
    assert "ft-pixel4-kwai" in ft
    # an exact copy of a fine-tuned task under new names is close to it: its fine-tune drives it
    dev = _copy_device(tmp_path, "pixel4", "myphone")
    app = _copy_app(tmp_path, "kwai", "myvideo")
    assert m.model_for(make_task(str(dev), str(app))) == "ft-pixel4-kwai"
    # a new 3D game (unknown category, lighter GPU work) on a new Tensor phone: the shared model
    game = _copy_app(tmp_path, "3dmark", "mygame", scale_gpu=0.8, category="game")
    tensor = _copy_device(tmp_path, "pixel8", "mytensor", soc_family="exynos")
    for d in (str(tensor), str(dev), "pixel4", "pixel8"):
        assert m.model_for(make_task(d, str(game))) == "all", d
    # every catalog task keeps its own model
    for x in m.doc["models"]:
        for t in x["tasks"]:
            assert m.model_for(make_task(*t.split(":"))) == x["id"]
    # a profile file keeping a catalog name: the same contents is that task; other contents are a new task
    # (old code matched by name alone: an edited copy of kwai.yaml drove pixel4:kwai's fine-tune, with no note)
    (tmp_path / "same").mkdir()
    (tmp_path / "edited").mkdir()
    same = make_task("pixel4", str(_copy_app(tmp_path / "same", "kwai", "kwai")))
    edited = make_task("pixel4", str(_copy_app(tmp_path / "edited", "kwai", "kwai", scale_gpu=20.0, category="game")))
    assert same.name == edited.name == "pixel4:kwai"
    assert m.is_training_task(same) and m.model_for(same) == "ft-pixel4-kwai" and m.out_of_range(same) == []
    assert not m.is_training_task(edited) and m.model_for(edited) == "all"
    assert {f.field for f in m.out_of_range(edited)} >= {"app_category", "gpu_mc_per_frame"}


def test_missing_numeric_profile_field_is_one_line_cli_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from metadvfs.cli import app as cli

    doc = yaml.safe_load((ROOT / "devices" / "pixel6.yaml").read_text())
    doc["name"] = "broken"
    del doc["thermal"]["skin_throttle_c"]
    p = tmp_path / "broken.yaml"
    p.write_text(yaml.safe_dump(doc))
    r = CliRunner().invoke(cli, ["adapt", "--device", str(p), "--app", "tiktok", "--budget-minutes", "1"])
    assert r.exit_code == 2
    assert "broken.yaml" in r.output and "skin_throttle_c" in r.output and "Traceback" not in r.output


def test_adapt_budget_must_be_positive_cli() -> None:
    from typer.testing import CliRunner

    from metadvfs.cli import app as cli

    r = CliRunner().invoke(cli, ["adapt", "--device", "pixel6", "--app", "tiktok", "--budget-minutes", "0"])
    assert r.exit_code == 2 and "--budget-minutes: must be > 0" in r.output and "Traceback" not in r.output


def _loaded(names: list[str]) -> LoadedModel:
    """A one-model checkpoint stub over ``names`` (routing and range checks need no policy)."""
    from metadvfs.learn.config import load_config

    enc = fit_encoder(build_tasks(names))
    doc = {"tasks": names, "models": [{"id": "all", "tasks": names}]}
    return LoadedModel(Path("."), doc, load_config("quickstart"), enc, {})


def test_an_edited_copy_is_a_new_task_even_in_fields_constant_in_training(tmp_path: Path) -> None:
    """Old code (encoded vectors compared): one phone in training maps its refresh rate and base power to a
    constant, so an edited pixel6.yaml still named pixel6 counted as the training task and got no note."""
    m = _loaded(["pixel6:tiktok", "pixel6:3dmark"])
    for name in ("pixel6", "myphone"):
        doc = yaml.safe_load((ROOT / "devices" / "pixel6.yaml").read_text())
        doc["name"] = name
        doc["metadata"]["display_refresh_hz"] = 144
        doc["base_power_mw"] = 2000
        (tmp_path / name).mkdir()
        p = tmp_path / name / "p.yaml"
        p.write_text(yaml.safe_dump(doc))
        t = make_task(str(p), "tiktok")
        assert not m.is_training_task(t)
        assert [f.field for f in m.out_of_range(t)] == ["display_refresh_hz", "base_power_w"]
    assert m.is_training_task(make_task("pixel6", "tiktok")) and m.out_of_range(make_task("pixel6", "tiktok")) == []


def test_a_training_task_whose_profile_file_is_gone_is_still_known_by_name(tmp_path: Path) -> None:
    """A checkpoint copied without one training task's profile file: the other tasks are not rebuilt (old code
    rebuilt every training task and raised 'app file not found' for a catalog task)."""
    p = _copy_app(tmp_path, "kwai", "myvideo")
    m = _loaded(["pixel6:tiktok", f"pixel6:{p}"])
    p.unlink()
    t = make_task("pixel6", "tiktok")
    assert m.model_for(t) == "all" and m.is_training_task(t) and m.out_of_range(t) == []
