"""``metadvfs deploy`` argument errors are one line with exit status 2 (docs/deploy.md, section 5)."""

from __future__ import annotations

from typer.testing import CliRunner

from metadvfs.cli import app


def test_deploy_needs_a_governor_unless_restoring() -> None:
    res = CliRunner().invoke(app, ["deploy", "--serial", "127.0.0.1:9"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--governor: required (or --restore)" in lines[0]


def test_restore_of_an_unreachable_phone_is_one_line() -> None:
    res = CliRunner().invoke(app, ["deploy", "--restore", "--serial", "127.0.0.1:9", "--timeout", "1"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0]
