from __future__ import annotations

from pathlib import Path

import numpy as np

from metadvfs.learn.checkpoint import load_checkpoint
from metadvfs.learn.tasks import all_task_names, build_tasks
from metadvfs.tasks.generator import is_generated_task


def test_default_model_loads_and_routes_every_catalog_task() -> None:
    m = load_checkpoint("default")
    assert m.doc["schema"] == "metadvfs.model/1"
    # every catalog task, plus the config's generated tasks (their names regenerate them)
    real = [t for t in m.doc["tasks"] if not is_generated_task(t)]
    gen = [t for t in m.doc["tasks"] if is_generated_task(t)]
    assert sorted(real) == sorted(all_task_names()) and len(gen) == m.cfg.generated.tasks > 0
    assert len(build_tasks(gen)) == len(gen)
    ids = {m.model_for(t) for t in build_tasks(all_task_names())}
    assert ids <= {x["id"] for x in m.doc["models"]}
    rng = np.random.default_rng(0)
    obs = {
        "obs": rng.uniform(0, 1, (4, m.window, 26)).astype(np.float32),
        "meta": np.stack([m.encode(t) for t in build_tasks(all_task_names()[:4])]),
    }
    a = m.act(m.model_for(build_tasks(["pixel6:tiktok"])[0]), obs)
    assert a.shape == (4, 4) and (a >= 0).all() and (a < m.doc["action"]["n"][0]).all()


def test_default_model_exports(tmp_path: Path) -> None:
    from metadvfs.export.exporter import export_governor

    res = export_governor("default", "pixel3", tmp_path / "g")
    assert res["device"] == "pixel3" and (tmp_path / "g" / "policy.onnx").is_file()
