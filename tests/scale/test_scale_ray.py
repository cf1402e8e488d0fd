"""Scale-out on a local Ray instance with 2 CPUs: same numbers as serial, killed workers resume, sweep.

Marked ``ray`` (deselected by default; run with ``pytest -m ray``); skipped when Ray is not installed.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch as th
from typer.testing import CliRunner

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")

from metadvfs.cli import app  # noqa: E402
from metadvfs.scale.runner import RayRunner, SerialRunner  # noqa: E402

cli = CliRunner()


@pytest.fixture(scope="module")
def ray_runner():
    r = RayRunner("local:2", max_retries=3)
    yield r
    ray.shutdown()


def _weights(d: Path) -> dict[str, th.Tensor]:
    return th.load(d / "models" / "all.pt", weights_only=True)


def _same(a: Path, b: Path) -> bool:
    x, y = _weights(a), _weights(b)
    return x.keys() == y.keys() and all(th.equal(x[k], y[k]) for k in x)


def test_train_seeds_same_weights_serial_and_ray(ray_runner: RayRunner, tmp_path: Path, write_cfg) -> None:
    from metadvfs.learn.config import load_config
    from metadvfs.scale.jobs import seed_variants, train_many

    cfgs = seed_variants([load_config(write_cfg(tmp_path / "tiny.yaml", total_steps=1024))], [0, 1])
    ser = train_many(SerialRunner(), cfgs, [tmp_path / "serial" / c.name for c in cfgs])
    ray_res = train_many(ray_runner, cfgs, [tmp_path / "ray" / c.name for c in cfgs])
    assert [r["status"] for r in ray_res] == ["trained", "trained"]
    assert {r["pid"] for r in ray_res}.isdisjoint({os.getpid()})  # ran in Ray workers
    for c, s, r in zip(cfgs, ser, ray_res, strict=True):
        assert _same(Path(s["path"]), Path(r["path"])), c.name
    assert not _same(Path(ser[0]["path"]), Path(ser[1]["path"]))


def test_eval_shards_same_numbers_serial_and_ray(ray_runner: RayRunner, tmp_path: Path, tiny_model: Path) -> None:
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.scale.jobs import evaluate_sharded, shard_plan

    m = load_checkpoint(tiny_model)
    names = list(m.doc["tasks"])
    plan = shard_plan(m, [], ["oracle", "ondemand"])
    a = evaluate_sharded(SerialRunner(), plan, names, 2, 4.0, tmp_path / "serial")
    b = evaluate_sharded(ray_runner, plan, names, 2, 4.0, tmp_path / "ray")
    assert a.raw == b.raw
    assert a.summary() == b.summary()


def test_killed_worker_is_retried_and_resumes(ray_runner: RayRunner, tmp_path: Path, write_cfg) -> None:
    """SIGKILL the worker after its first checkpoint: Ray reruns the unit, which resumes from the checkpoint
    and ends with exactly the weights of an uninterrupted run."""
    from metadvfs.learn.config import load_config
    from metadvfs.scale.jobs import train_many

    cfg = load_config(write_cfg(tmp_path / "tiny.yaml", total_steps=8192, checkpoint_every_steps=1024))
    ref = train_many(SerialRunner(), [cfg], [tmp_path / "ref"])[0]
    dest = tmp_path / "ray" / "run"
    out: dict[str, object] = {}
    th_ = threading.Thread(target=lambda: out.update(r=train_many(ray_runner, [cfg], [dest])[0]))
    th_.start()
    marker, state = dest.parent / ".run.worker.json", dest / "train_state" / "run.json"
    deadline = time.monotonic() + 240
    while not (marker.is_file() and state.is_file()) and time.monotonic() < deadline and th_.is_alive():
        time.sleep(0.05)
    assert state.is_file(), "no checkpoint appeared"
    pid = json.loads(marker.read_text())["pid"]
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    th_.join(timeout=300)
    r = out["r"]
    assert r["status"] == "resumed" and r["pid"] != pid  # type: ignore[index]
    assert _same(Path(ref["path"]), dest)


def test_cli_evaluate_with_ray(tmp_path: Path, tiny_model: Path, ray_runner: RayRunner) -> None:
    res = cli.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_model),
            "--baselines",
            "schedutil",
            "--seeds",
            "1",
            "--seconds",
            "3",
            "--ray",
            "local:2",
            "--storage",
            str(tmp_path / "s"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {r["method"] for r in doc["tasks"]} == {"metadvfs", "stock", "schedutil"}  # stock: the reference, always run
    assert (tmp_path / "s" / "evaluate" / tiny_model.name / "results.csv").is_file()


def test_sweep_writes_a_loadable_best_config(tmp_path: Path, write_cfg, ray_runner: RayRunner) -> None:
    from metadvfs.learn.config import load_config

    cfg = write_cfg(tmp_path / "tiny.yaml", total_steps=1024, checkpoint_every_steps=0)
    space = tmp_path / "space.yaml"
    space.write_text("ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}\nppo.n_epochs: {choice: [1, 2]}\n")
    best = tmp_path / "best.yaml"
    res = cli.invoke(
        app,
        [
            "sweep",
            "--config",
            str(cfg),
            "--space",
            str(space),
            "--samples",
            "3",
            "--rungs",
            "2",
            "--ray",
            "local:2",
            "--storage",
            str(tmp_path / "s"),
            "--out",
            str(best),
            "--eval-seeds",
            "1",
            "--eval-seconds",
            "3",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    b = load_config(best)
    assert b.name == "tiny-best"
    assert b.ppo.learning_rate == pytest.approx(doc["best"]["params"]["ppo.learning_rate"])
    assert b.ppo.n_epochs == doc["best"]["params"]["ppo.n_epochs"]
    sweep = json.loads(Path(doc["sweep_json"]).read_text())
    assert len(sweep["trials"]) == 3 and all(t["error"] is None for t in sweep["trials"])
    assert max(t["rungs"] for t in sweep["trials"]) == 2
    assert all(s >= 0.0 for t in sweep["trials"] for s in t["scores"])


def test_sweep_same_seed_same_samples(tmp_path: Path, write_cfg, ray_runner: RayRunner) -> None:
    cfg = write_cfg(tmp_path / "tiny.yaml", total_steps=256, checkpoint_every_steps=0)
    space = tmp_path / "space.yaml"
    space.write_text("ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}\nppo.gamma: {uniform: [0.8, 0.95]}\n")

    def params(i: int) -> list[dict]:
        res = cli.invoke(
            app,
            [
                "sweep",
                "--config",
                str(cfg),
                "--space",
                str(space),
                "--samples",
                "2",
                "--rungs",
                "1",
                "--storage",
                str(tmp_path / f"s{i}"),
                "--eval-seeds",
                "1",
                "--eval-seconds",
                "2",
                "--seed",
                "7",
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout.strip().splitlines()[-1])
        return sorted(
            (t["params"] for t in json.loads(Path(doc["sweep_json"]).read_text())["trials"]),
            key=lambda p: p["ppo.learning_rate"],
        )

    assert params(0) == params(1)
