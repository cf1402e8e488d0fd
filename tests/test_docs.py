"""Every document the code, configs and docs cite is in the repository; no placeholder text remains."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"(?<![\w./-])((?:\.\./|[\w-]+/)*[\w-]+\.md)\b")


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:  # not a git checkout (e.g. an sdist): walk the tree
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [ROOT / line for line in out.stdout.splitlines() if (ROOT / line).is_file()]


WRITTEN_REPORTS = {"guard.md"}
"""Reports the code writes that no tracked file is an example of (``metadvfs guard`` writes ``guard.md``)."""


def test_cited_documents_exist() -> None:
    files = _tracked()
    names = {p.name for p in files}
    missing = []
    for f in files:
        if f.suffix not in {".py", ".md", ".yaml", ".toml", ".sh"} or "tests" in f.relative_to(ROOT).parts[:1]:
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        assert "/work/shared/docs" not in text, f"{f.relative_to(ROOT)} cites a document outside the repository"
        for m in CITE.finditer(text):
            ref = m.group(1)
            if ref.startswith(("docs/", "../")):
                ok = any((base / ref).is_file() for base in (ROOT, f.parent))
            elif "/" in ref:  # a path in the tree, or an output the code writes (out/guard.md)
                ok = any((base / ref).is_file() for base in (ROOT, f.parent))
                ok = ok or Path(ref).name in names or Path(ref).name in WRITTEN_REPORTS
            else:  # a bare name: a document of the repository or a report the code writes (results.md, guard.md)
                ok = ref in names or ref in WRITTEN_REPORTS
            if not ok:
                missing.append(f"{f.relative_to(ROOT)}: {ref}")
    assert not missing, missing


def test_no_placeholders_in_documents() -> None:
    docs = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *ROOT.glob("docs/*.md"), *ROOT.glob("experiments/*.md")]
    for f in [d for d in docs if d.is_file()]:
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"\b[A-Z]+_ROWS\b|\bTODO\b|\bTBD\b|\bFIXME\b", text), f
