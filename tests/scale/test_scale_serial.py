"""Scale-out without Ray: the serial runner, resumable units, the storage root, sweep spaces, bad input.

None of these tests needs Ray; the ones about a missing Ray hide it (``sys.modules["ray"] = None``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch as th
import yaml
from typer.testing import CliRunner

from metadvfs.cli import app
from metadvfs.errors import MetaDVFSError
from metadvfs.scale.backend import INSTALL_HINT, connect, parse_ray
from metadvfs.scale.runner import SerialRunner, Unit, make_runner
from metadvfs.scale.storage import check_storage

runner = CliRunner()


def _one_line_error(res, *needles: str) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in res.output
    return lines[0]


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)


# --- --ray values and a missing Ray -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "address", "cpus"),
    [
        ("auto", "auto", None, None),
        ("local", "local", None, None),
        ("local:2", "local", None, 2),
        ("10.0.0.5:6379", "address", "10.0.0.5:6379", None),
        ("ray://head:10001", "address", "ray://head:10001", None),
    ],
)
def test_parse_ray(value: str, kind: str, address: str | None, cpus: int | None) -> None:
    s = parse_ray(value)
    assert (s.kind, s.address, s.num_cpus) == (kind, address, cpus)


@pytest.mark.parametrize("value", ["", "local:0", "local:x", "head", "head:99999", "ray://:10001"])
def test_parse_ray_rejects(value: str) -> None:
    with pytest.raises(MetaDVFSError, match="--ray"):
        parse_ray(value)


def test_missing_ray_is_one_line(no_ray: None) -> None:
    with pytest.raises(MetaDVFSError, match=r"install metadvfs\[ray\]"):
        make_runner("auto")
    assert isinstance(make_runner(None), SerialRunner)  # serial runs need no Ray


def test_cli_train_with_ray_but_without_ray_installed(no_ray: None, tmp_path: Path, write_cfg) -> None:
    cfg = write_cfg(tmp_path / "tiny.yaml")
    res = runner.invoke(app, ["train", "--config", str(cfg), "--ray", "auto", "--storage", str(tmp_path / "s")])
    assert INSTALL_HINT in _one_line_error(res, "install metadvfs[ray]")
    assert not (tmp_path / "s" / "train").exists()


def test_cli_sweep_without_ray_installed(no_ray: None, tmp_path: Path, write_cfg) -> None:
    cfg = write_cfg(tmp_path / "tiny.yaml")
    space = tmp_path / "space.yaml"
    space.write_text("ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}\n")
    res = runner.invoke(app, ["sweep", "--config", str(cfg), "--space", str(space), "--storage", str(tmp_path / "s")])
    _one_line_error(res, "install metadvfs[ray]")
    assert not (tmp_path / "s").exists()


def test_package_imports_without_ray(no_ray: None) -> None:
    import importlib

    for mod in (
        "metadvfs.scale.runner",
        "metadvfs.scale.jobs",
        "metadvfs.scale.space",
        "metadvfs.scale.sweep",
        "metadvfs.cli_scale",
    ):
        importlib.reload(importlib.import_module(mod))


def test_unreachable_address_is_one_line(tmp_path: Path, write_cfg) -> None:
    pytest.importorskip("ray")
    with pytest.raises(MetaDVFSError, match=r"cannot reach Ray at 127\.0\.0\.1:1"):
        connect("127.0.0.1:1")
    cfg = write_cfg(tmp_path / "tiny.yaml")
    res = runner.invoke(
        app, ["train", "--config", str(cfg), "--seeds", "0,1", "--ray", "127.0.0.1:1", "--storage", str(tmp_path / "s")]
    )
    _one_line_error(res, "cannot reach Ray")
    assert not (tmp_path / "s").exists()


# --- storage ------------------------------------------------------------------------------------------------


def test_storage_created_and_probed(tmp_path: Path) -> None:
    p = check_storage(tmp_path / "a" / "b")
    assert p.is_dir() and p.is_absolute() and list(p.iterdir()) == []


@pytest.mark.parametrize("kind", ["file", "readonly", "uri"])
def test_unwritable_storage(tmp_path: Path, kind: str, write_cfg) -> None:
    if kind == "file":
        (tmp_path / "f").write_text("x")
        bad = str(tmp_path / "f" / "sub")
    elif kind == "readonly":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only directories")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        bad = str(ro / "sub")
    else:
        bad = "s3://bucket/runs"
    with pytest.raises(MetaDVFSError, match="--storage"):
        check_storage(bad)
    cfg = write_cfg(tmp_path / "tiny.yaml")
    res = runner.invoke(app, ["train", "--config", str(cfg), "--seeds", "0,1", "--storage", bad])
    _one_line_error(res, "--storage")
    if kind != "uri":
        assert not Path(bad).exists()


def test_bad_seeds_option(tmp_path: Path, write_cfg) -> None:
    cfg = write_cfg(tmp_path / "tiny.yaml")
    for bad in ("x", "1,1", "-3"):
        res = runner.invoke(app, ["train", "--config", str(cfg), "--seeds", bad, "--storage", str(tmp_path / "s")])
        _one_line_error(res, "--seeds")
    assert not (tmp_path / "s").exists()


# --- serial runner and units --------------------------------------------------------------------------------


def test_serial_runner_order_and_progress() -> None:
    seen: list[tuple[str, int, int]] = []
    units = [Unit(f"u{i}", "operator:pow", {}) for i in range(2)]  # positional-only: kwargs reach the function
    with pytest.raises(TypeError):
        SerialRunner().run(units)
    units = [Unit(f"u{i}", "json:dumps", {"obj": [i, i * i]}) for i in range(4)]
    assert SerialRunner().run(units, lambda k, i, n: seen.append((k, i, n))) == ["[0, 0]", "[1, 1]", "[2, 4]", "[3, 9]"]
    assert seen[-1] == ("u3", 4, 4)


def _weights(d: Path) -> dict[str, th.Tensor]:
    return th.load(d / "models" / "all.pt", weights_only=True)


def test_train_unit_reuses_and_resumes_exactly(tmp_path: Path, tiny_model: Path, write_cfg) -> None:
    """An interrupted run (checkpoint on disk) is resumed by the unit and ends with the uninterrupted weights."""
    from metadvfs.learn.config import config_to_dict, load_config
    from metadvfs.learn.trainer import train
    from metadvfs.scale.units import train_unit

    cfg = load_config(write_cfg(tmp_path / "tiny.yaml"))
    dest = tmp_path / "run"

    def stop(mid: str, done: int, total: int, r: float) -> None:
        if done > 1024:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, dest, progress=stop, tensorboard=False)
    assert (dest / "train_state" / "run.json").is_file() and not (dest / "model.json").exists()
    r = train_unit(config_to_dict(cfg), str(dest))
    assert r["status"] == "resumed"
    a, b = _weights(dest), _weights(tiny_model)
    assert all(th.equal(a[k], b[k]) for k in a)
    assert train_unit(config_to_dict(cfg), str(dest))["status"] == "reused"
    assert not (tmp_path / ".run.worker.json").exists()


def test_train_unit_restarts_partial_without_checkpoint(tmp_path: Path, write_cfg) -> None:
    from metadvfs.learn.config import config_to_dict, load_config
    from metadvfs.scale.units import train_unit

    cfg = load_config(write_cfg(tmp_path / "tiny.yaml", total_steps=256, checkpoint_every_steps=0))
    dest = tmp_path / "run"
    dest.mkdir()
    (dest / "config.resolved.json").write_text("{}")
    assert train_unit(config_to_dict(cfg), str(dest))["status"] == "trained"
    assert (dest / "model.json").is_file()


def test_cli_train_several_seeds_serial(tmp_path: Path, write_cfg) -> None:
    cfg = write_cfg(tmp_path / "tiny.yaml", total_steps=256, checkpoint_every_steps=0)
    res = runner.invoke(app, ["train", "--config", str(cfg), "--seeds", "3-4", "--storage", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    for s in (3, 4):
        d = tmp_path / "s" / "train" / f"tiny-seed{s}"
        assert json.loads((d / "config.resolved.json").read_text())["seed"] == s
        assert (d / "model.json").is_file()
    a, b = _weights(tmp_path / "s/train/tiny-seed3"), _weights(tmp_path / "s/train/tiny-seed4")
    assert not all(th.equal(a[k], b[k]) for k in a)  # the seed reaches the run


def test_sharded_evaluation_matches_evaluate(tmp_path: Path, tiny_model: Path) -> None:
    """(method, task) shards give the numbers of the one-batch evaluation; a rerun reuses the stored shards."""
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.evaluate import ModelDriver, evaluate
    from metadvfs.scale.jobs import evaluate_sharded, shard_plan

    m = load_checkpoint(tiny_model)
    names = list(m.doc["tasks"])
    ref = evaluate([ModelDriver(m, [t for t in names for _ in range(2)])], ["oracle"], names, 2, 4.0)
    plan = shard_plan(m, [], ["oracle"])
    got = evaluate_sharded(SerialRunner(), plan, names, 2, 4.0, tmp_path / "shards")
    assert list(got.raw) == list(ref.raw)
    for meth in ref.raw:
        for a, b in zip(got.raw[meth], ref.raw[meth], strict=True):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), meth
    shards = sorted(p.name for p in (tmp_path / "shards").iterdir())
    assert len(shards) == len(plan) * len(names) and not [s for s in shards if s.endswith(".tmp")]
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "shards").iterdir()}
    again = evaluate_sharded(SerialRunner(), plan, names, 2, 4.0, tmp_path / "shards")
    assert again.raw == got.raw and {p: p.stat().st_mtime_ns for p in stamp} == stamp


def test_shards_of_a_model_replaced_in_place_are_recomputed(tmp_path: Path, tiny_model: Path) -> None:
    """A shard is keyed by the model's weights, not only its path: new weights in the same directory (a re-train, a
    new shipped model) are evaluated again; its logs or its baselines/ changing are not a new model."""
    import shutil

    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.scale.jobs import evaluate_sharded, shard_plan

    d = tmp_path / "model"
    shutil.copytree(tiny_model, d)
    m = load_checkpoint(d)
    names = list(m.doc["tasks"])[:1]
    plan = [x for x in shard_plan(m, [], []) if x[0] in ("metadvfs", "stock", "schedutil")]
    first = evaluate_sharded(SerialRunner(), plan, names, 1, 4.0, tmp_path / "shards")
    shard = tmp_path / "shards" / f"metadvfs__{names[0].replace(':', '-')}.json"
    stamp = shard.stat().st_mtime_ns
    (d / "baselines" / "joint").mkdir(parents=True)
    (d / "baselines" / "joint" / "model.json").write_text("{}")
    (d / "tb").mkdir(exist_ok=True)
    (d / "tb" / "events.json").write_text("{}")
    evaluate_sharded(SerialRunner(), plan, names, 1, 4.0, tmp_path / "shards")
    assert shard.stat().st_mtime_ns == stamp
    pt = sorted((d / "models").glob("*.pt"))[0]
    sd = th.load(pt, weights_only=True)
    th.save({k: (v + 0.5 if v.is_floating_point() else v) for k, v in sd.items()}, pt)
    again = evaluate_sharded(SerialRunner(), plan, names, 1, 4.0, tmp_path / "shards")
    assert shard.stat().st_mtime_ns != stamp
    assert again.raw["stock"] == first.raw["stock"] and again.raw["metadvfs"] != first.raw["metadvfs"]


# --- sweep spaces and scoring -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        ({"ppo.lr": {"uniform": [0.1, 0.2]}}, "unknown key 'ppo.lr'"),
        ({"ppo": {"gama": {"uniform": [0.1, 0.2]}}}, "unknown key 'ppo.gama'"),
        ({"ppo.gamma": {"uniform": [0.9, 0.9]}}, "empty range"),
        ({"network.units": {"randint": [64, 16]}}, "empty range"),
        ({"ppo.n_epochs": {"choice": []}}, "empty"),
        ({"ppo.learning_rate": {"loguniform": [0.0, 0.1]}}, "lo must be > 0"),
        ({"ppo.gamma": {"normal": [0.9, 0.1]}}, "expected one of"),
        ({"tasks": {"choice": [["pixel3:tiktok"]]}}, "cannot be searched"),
        ({"ppo.gamma": {"uniform": [0.5, 1.5]}}, "rejected by the config"),
        ({"network.units": {"uniform": [16, 64]}}, "rejected by the config"),
    ],
)
def test_bad_space(tmp_path: Path, write_cfg, space: dict, needle: str) -> None:
    pytest.importorskip("ray")
    cfg = write_cfg(tmp_path / "tiny.yaml")
    sp = tmp_path / "space.yaml"
    sp.write_text(yaml.safe_dump(space))
    res = runner.invoke(app, ["sweep", "--config", str(cfg), "--space", str(sp), "--storage", str(tmp_path / "s")])
    line = _one_line_error(res, needle)
    assert str(sp) in line
    assert not (tmp_path / "s").exists()  # nothing written before the space is valid


def test_space_parses_nested_and_dotted(tmp_path: Path, write_cfg) -> None:
    from metadvfs.learn.config import config_to_dict, load_config
    from metadvfs.scale.space import apply, load_space

    base = config_to_dict(load_config(write_cfg(tmp_path / "tiny.yaml")))
    sp = tmp_path / "space.yaml"
    sp.write_text("ppo:\n  gamma: {uniform: [0.8, 0.95]}\nnetwork.units: {randint: [16, 32]}\n")
    dims = load_space(sp, base)
    assert [(d.key, d.dist, d.args) for d in dims] == [
        ("ppo.gamma", "uniform", (0.8, 0.95)),
        ("network.units", "randint", (16, 32)),
    ]
    out = apply(base, {"ppo.gamma": 0.9, "network.units": 20})
    assert out["ppo"]["gamma"] == 0.9 and out["network"]["units"] == 20 and base["network"]["units"] == 16


def test_score_zeroes_tasks_below_the_qoe_floor() -> None:
    from metadvfs.learn.evaluate import EvalResult
    from metadvfs.scale.sweep import score_result

    def r(ppr: float, qoe: float) -> dict[str, float]:
        return {"ppr": ppr, "qoe": qoe, "jank_pct": 0.0, "energy_j": 1.0, "avg_power_w": 1.0, "max_temp_c": 30.0}

    raw = {
        "metadvfs": [r(1.2, 0.95), r(1.4, 0.97), r(2.0, 0.5), r(2.0, 0.5)],
        "stock": [r(1.0, 0.95), r(1.0, 0.95), r(1.0, 0.9), r(1.0, 0.9)],
        "schedutil": [r(0.5, 0.5), r(0.5, 0.5), r(0.5, 0.5), r(0.5, 0.5)],  # reported next to it, not the reference
    }
    s = score_result(EvalResult(["a:x", "b:y"], [1, 2], 5.0, raw), "metadvfs")
    assert s["ppr_norm"] == pytest.approx((1.3 + 2.0) / 2)
    assert s["qoe_ok_frac"] == 0.5
    assert s["score"] == pytest.approx(1.3 / 2)


def _tree(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")} if root.exists() else {}


def test_evaluate_bad_storage_fails_before_any_work(tmp_path: Path, tiny_model: Path) -> None:
    (tmp_path / "f").write_text("x")
    before = _tree(tiny_model / "eval")  # the shared tiny model may already hold another test's report
    res = runner.invoke(
        app, ["evaluate", "--model", str(tiny_model), "--seeds", "1", "--storage", str(tmp_path / "f" / "s")]
    )
    _one_line_error(res, "--storage")
    assert _tree(tiny_model / "eval") == before


def test_evaluate_with_ray_but_without_ray_installed(no_ray: None, tmp_path: Path, tiny_model: Path) -> None:
    res = runner.invoke(app, ["evaluate", "--model", str(tiny_model), "--ray", "auto", "--storage", str(tmp_path)])
    _one_line_error(res, "install metadvfs[ray]")
    assert list(tmp_path.iterdir()) == []


def test_scaled_evaluate_with_learned_baselines_matches_plain(tmp_path: Path, tiny_model: Path) -> None:
    """Baselines trained as units (then sharded evaluation) give the numbers of the plain ``evaluate``."""
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        shutil.copytree(tiny_model, d, ignore=shutil.ignore_patterns("baselines", "eval"))
    common = ["--baselines", "schedutil,standalone,ztt", "--seeds", "1", "--seconds", "3", "--json"]
    plain = runner.invoke(app, ["evaluate", "--model", str(a), *common])
    assert plain.exit_code == 0, plain.output
    scaled = runner.invoke(app, ["evaluate", "--model", str(b), *common, "--storage", str(tmp_path / "s")])
    assert scaled.exit_code == 0, scaled.output
    assert "learned-baseline training(s) on the serial runner" in scaled.stderr
    pa, pb = json.loads(plain.stdout), json.loads(scaled.stdout)
    assert pa["summary"]["methods"].keys() == pb["summary"]["methods"].keys() >= {"metadvfs", "standalone", "ztt"}
    for m, e in pa["summary"]["methods"].items():
        for k, v in e.items():
            assert pb["summary"]["methods"][m][k] == pytest.approx(v, rel=1e-9, abs=1e-12), (m, k)
    assert (b / "baselines" / "standalone" / "model.json").is_file()
    assert not list((b / "baselines").rglob("*.partial"))


def test_guard_with_storage_runs_as_a_unit_and_is_reused(tmp_path: Path, tiny_model: Path) -> None:
    import shutil

    m = tmp_path / "m"
    shutil.copytree(tiny_model, m, ignore=shutil.ignore_patterns("baselines", "eval"))
    args = ["guard", "--model", str(m), "--seeds", "2", "--seconds", "3", "--storage", str(tmp_path / "s"), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    dest = tmp_path / "s" / "guard" / "m-guarded"
    assert (dest / "model.json").is_file() and (dest / "guard.json").is_file()
    stamp = (dest / "guard.json").stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert (dest / "guard.json").stat().st_mtime_ns == stamp  # reused, not recomputed
    budget = runner.invoke(app, [*args, "--steps", "64"])  # another fine-tuning budget: not the stored guard
    assert budget.exit_code == 0, budget.output
    assert json.loads(budget.stdout)["finetune_steps"] == 64 != json.loads(first.stdout)["finetune_steps"]
    assert json.loads((dest / "guard.json").read_text())["finetune_steps"] == 64


def test_checkpoint_chunks_do_not_change_the_weights(tmp_path: Path, write_cfg) -> None:
    """Learning in checkpoint chunks (whole PPO rollouts) ends with the same weights as one chunk: an experiment
    may checkpoint its long units without changing their numbers."""
    from metadvfs.learn.config import load_config
    from metadvfs.learn.trainer import train

    runs = {}
    for every in (0, 256):
        cfg = load_config(write_cfg(tmp_path / f"c{every}.yaml", total_steps=1024, checkpoint_every_steps=every))
        runs[every] = _weights(train(cfg, tmp_path / f"r{every}", tensorboard=False))
    assert runs[0].keys() == runs[256].keys() and all(th.equal(runs[0][k], runs[256][k]) for k in runs[0])
