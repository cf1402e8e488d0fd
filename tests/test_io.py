"""The one document reader: duplicate keys rejected with file and line for every kind of file the package reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from metadvfs.errors import MetaDVFSError
from metadvfs.io import parse_document, read_document
from metadvfs.paths import data_dir


def test_parse_document_rejects_duplicates_with_line() -> None:
    with pytest.raises(MetaDVFSError, match=r"^f\.yaml: duplicate key 'a' at line 3$"):
        parse_document("a: 1\nb: {a: 2}\na: 3\n", "f.yaml")
    with pytest.raises(MetaDVFSError, match=r"^f\.json: duplicate key 'a' at line 3$"):
        parse_document('{"a": 1,\n "b": {"a": 2, "s": "a\\":"},\n "a": 3}', "f.json", "json")
    with pytest.raises(MetaDVFSError, match=r"duplicate key 'k' at line 2$"):
        parse_document('{"x": [{"k": 1,\n"k": 2}]}', "f.json", "json")
    assert parse_document('{"a": 1e5, "b": [1, {"a": 1}], "c": null}', "f", "json") == {
        "a": 1e5,
        "b": [1, {"a": 1}],
        "c": None,
    }
    assert parse_document("a: 1\nb:\n  a: 2\n", "f") == {"a": 1, "b": {"a": 2}}


def test_parse_document_syntax_errors_name_the_line() -> None:
    with pytest.raises(MetaDVFSError, match=r"^f: invalid YAML at line 2"):
        parse_document("a: [1\n", "f")
    with pytest.raises(MetaDVFSError, match=r"^f: invalid JSON at line 2"):
        parse_document('{"a": 1,\n ]', "f", "json")
    with pytest.raises(MetaDVFSError, match="file not found"):
        read_document("/nonexistent/x.yaml")


def _dup_yaml(src: Path, dst: Path, line: str) -> tuple[Path, int]:
    text = src.read_text(encoding="utf-8").rstrip("\n") + "\n"
    dst.write_text(text + line + "\n", encoding="utf-8")
    return dst, text.count("\n") + 1


def test_devices_apps_configs_reject_duplicate_keys(tmp_path: Path) -> None:
    from metadvfs.catalog.devices import load_device
    from metadvfs.learn.config import load_config
    from metadvfs.workload.apps import load_app

    p, n = _dup_yaml(data_dir("devices") / "pixel6.yaml", tmp_path / "dev.yaml", "base_power_mw: 1")
    with pytest.raises(MetaDVFSError, match=rf"dev\.yaml: duplicate key 'base_power_mw' at line {n}"):
        load_device(p)
    app_file = next(iter(sorted((data_dir("envs") / "apps").glob("*.yaml"))))
    p, n = _dup_yaml(app_file, tmp_path / "app.yaml", "name: again")
    with pytest.raises(MetaDVFSError, match=rf"app\.yaml: duplicate key 'name' at line {n}"):
        load_app(p)
    p, n = _dup_yaml(data_dir("configs") / "quickstart.yaml", tmp_path / "cfg.yaml", "seed: 3")
    with pytest.raises(MetaDVFSError, match=rf"cfg\.yaml: duplicate key 'seed' at line {n}"):
        load_config(p)


def _dup_json(path: Path, key: str) -> None:
    """Repeat ``key`` at the end of the top-level object of a JSON file written one key per line."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    text = json.dumps(doc, indent=1)
    path.write_text(text[: text.rstrip().rfind("}")].rstrip() + f',\n "{key}": 1\n}}\n', encoding="utf-8")


def test_manifests_and_checkpoints_reject_duplicate_keys(tiny_model: Path, tmp_path: Path) -> None:
    from metadvfs.export.exporter import export_governor
    from metadvfs.export.manifest import load_manifest
    from metadvfs.learn.checkpoint import load_checkpoint

    gov = tmp_path / "gov"
    export_governor(tiny_model, "pixel3", gov)
    _dup_json(gov / "manifest.json", "kind")
    with pytest.raises(MetaDVFSError, match=r"manifest\.json: duplicate key 'kind' at line \d+"):
        load_manifest(gov)
    d = tmp_path / "m"
    shutil.copytree(tiny_model, d)
    _dup_json(d / "model.json", "schema")
    with pytest.raises(MetaDVFSError, match=r"model\.json: corrupt: duplicate key 'schema' at line \d+"):
        load_checkpoint(d)
    shutil.copy(tiny_model / "model.json", d / "model.json")
    _dup_yaml(tiny_model / "config.yaml", d / "config.yaml", "seed: 1")
    with pytest.raises(MetaDVFSError, match=r"config\.yaml: corrupt: duplicate key 'seed' at line \d+"):
        load_checkpoint(d)
