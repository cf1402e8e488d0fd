"""Run provenance: the commit recorded is the one the run started on."""

from __future__ import annotations

import metadvfs.provenance as prov


def test_run_record_keeps_the_commit_it_started_on(monkeypatch) -> None:
    monkeypatch.setattr(prov, "git_commit", lambda root=prov.SOURCE_ROOT: "aaaa")
    rec = prov.RunRecord("metadvfs evaluate")
    monkeypatch.setattr(prov, "git_commit", lambda root=prov.SOURCE_ROOT: "bbbb")  # a merge during the run
    f = rec.fields(wall_s=1.0)
    assert f["git_commit"] == "aaaa" and f["command"] == "metadvfs evaluate" and f["wall_s"] == 1.0
