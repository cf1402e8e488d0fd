from __future__ import annotations

from pathlib import Path

import pytest

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.config import config_from_dict, config_to_dict, load_config

REPO = Path(__file__).resolve().parents[2]


SHIPPED = sorted(p.name for p in (REPO / "configs").glob("*.yaml") if p.name != "peer-tuning.yaml")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_validate_and_are_listed(name: str) -> None:
    cfg = load_config(REPO / "configs" / name)
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert f"| `{name}` |" in (REPO / "configs" / "README.md").read_text()


@pytest.mark.parametrize(
    ("data", "msg"),
    [
        ({"ppo": {"n_stepz": 3}}, "^ppo: unknown key 'n_stepz'"),
        ({"sede": 3}, "^unknown key 'sede'"),  # old code: ": unknown key" (an empty field path at the top level)
        ({"ppo": {"gamma": 2}}, r"ppo.gamma: must be in \[0.0, 1.0\]"),
        ({"mode": "solo"}, "mode: must be one of"),
        ({"network": {"head": [64, "a"]}}, "network.head"),
        ({"groups": "many"}, "groups"),
        ({"network": {"units": 16, "out_dim": 15, "wiring": "ncp"}}, "out_dim"),
        ({"network": {"wiring": "sparse"}}, "wiring"),
        ({"total_steps": True}, "expected an integer"),
        ({"algo": "dqn", "env": {"action_mode": "absolute"}}, "dqn needs"),
    ],
)
def test_bad_configs(data: dict, msg: str) -> None:
    with pytest.raises(MetaDVFSError, match=msg):
        config_from_dict(data, "x.yaml")


def test_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("ppo: [1, 2\n", encoding="utf-8")
    with pytest.raises(MetaDVFSError, match="invalid YAML"):
        load_config(p)
    with pytest.raises(MetaDVFSError, match="not found"):
        load_config(tmp_path / "nope.yaml")
