"""The runner's build: one documented command, a static binary within its budget, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metadvfs.runner.build import CFLAGS, CSRC, SOURCES, build_command


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "metadvfs.cli", *args], capture_output=True, text=True, timeout=600)


def test_build_command_is_the_documented_one(tmp_path: Path) -> None:
    cmd = build_command("aarch64", tmp_path / "r")
    assert cmd[1:5] == ["-m", "ziglang", "cc", "-target"] and cmd[5] == "aarch64-linux-musl"
    assert "-static" in cmd and "-Werror" in cmd and all(s in cmd for s in SOURCES)
    assert all((CSRC / s).is_file() for s in SOURCES)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
    flat = doc.replace("\n", " ")
    assert " ".join(["-target", "aarch64-linux-musl", *CFLAGS]) in flat and " ".join([*SOURCES, "-lm"]) in flat


def test_built_runner_is_static_small_and_versioned(runner_bin: Path) -> None:
    head = runner_bin.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and runner_bin.stat().st_size <= 1 << 20
    r = subprocess.run([str(runner_bin), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("metadvfs-runner ")
    r = subprocess.run([str(runner_bin), "frobnicate"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: usage")
    file_out = subprocess.run(["file", str(runner_bin)], capture_output=True, text=True).stdout
    assert "statically linked" in file_out or "static-pie" in file_out or not file_out


def test_build_runner_cli_bad_target() -> None:
    r = _cli("build-runner", "--target", "arm")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: --target: must be one of aarch64, x86_64 or all, got 'arm'"
    ]


def test_runner_refuses_a_bad_plan(runner_bin: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.txt"
    plan.write_text("metadvfs-runner-plan 1\ninterval_ms 5\n")
    r = subprocess.run([str(runner_bin), "check", str(plan)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and r.stderr.strip() == f"error: {plan}:2: interval_ms: interval_ms must be in [10, 10000]"
    plan.write_text("metadvfs-runner-plan 1\nbogus 1\n")
    r = subprocess.run([str(runner_bin), "check", str(plan)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and r.stderr.strip() == f"error: {plan}:2: bogus: unknown key"


@pytest.mark.slow
def test_aarch64_build_for_pixels(runner_bin: Path) -> None:
    """The phone build: an AArch64 static ELF within the 1 MB budget (first build also builds musl: minutes)."""
    from metadvfs.runner.build import runner_binary

    b = runner_binary("aarch64")
    data = b.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and int.from_bytes(data[18:20], "little") == 183  # EM_AARCH64
    assert len(data) <= 1 << 20


def test_bench_governor_reports_each_path_and_reference(runner_bin: Path, tiny_model: Path, tmp_path: Path) -> None:
    import json

    from metadvfs.export.exporter import export_governor

    export_governor(tiny_model, "pixel6", tmp_path / "gov")
    r = _cli("bench-governor", "--governor", str(tmp_path / "gov"), "--repeats", "200", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["machine"]
    for key in ("decision", "decision_policy_onnx", "streaming_numpy", "runner"):
        assert res[key]["us_median"] > 0 and res[key]["ref_us_median"] > 0 and res[key]["ratio_to_reference"] > 0
    assert (res["decision"]["graph"], res["decision_policy_onnx"]["graph"]) == ("lean", "policy.onnx")
    assert res["runner"]["rss_kb"] <= 4096 and all(n <= 1 << 20 for n in res["runner"]["binary_bytes"].values())
