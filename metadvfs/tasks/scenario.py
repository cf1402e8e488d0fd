"""Scenarios: named task sets with a session length and an ambient temperature (``envs/scenarios/*.yaml``).

A scenario file (schema ``metadvfs.scenario/1``) names which phones (``devices``: catalog names, profile paths or
shell patterns such as ``pixel*``; ``all`` for the whole catalog), which ``apps``, how long a session lasts
(``duration_s``) and at which ambient temperature(s) (``ambient_c``: one number or a list, degC)::

    schema: metadvfs.scenario/1
    name: thermal-35c
    description: 10-minute sessions in a 35 degC room
    devices: all
    apps: [3dmark, tiktok]
    duration_s: 600
    ambient_c: 35

It expands to the task names ``DEVICE:APP@<ambient>C`` that ``metadvfs replay --scenario``, ``metadvfs evaluate
--tasks scenario:NAME`` and :func:`metadvfs.learn.tasks.parse_task_names` understand. Every problem is one line
naming the file, the field and the allowed values.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metadvfs.errors import MetaDVFSError, unknown_name
from metadvfs.io import parse_document
from metadvfs.paths import data_dir
from metadvfs.tasks.task import AMBIENT_RANGE_C, ambient_suffix, check_ambient

SCHEMA = "metadvfs.scenario/1"
DURATION_RANGE_S = (1.0, 3600.0)
"""Allowed session length, s (the replay and evaluate limits)."""
_KEYS = {"schema", "name", "description", "devices", "apps", "duration_s", "ambient_c", "notes"}


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    Attributes:
        name: Scenario name.
        description: Free text.
        devices: Device names or profile paths (patterns already expanded against the catalog).
        apps: App names or app-profile paths.
        duration_s: Session length, s.
        ambient_c: Ambient temperatures, degC (one task set per value).
        path: File it was read from.
    """

    name: str
    description: str
    devices: tuple[str, ...]
    apps: tuple[str, ...]
    duration_s: float
    ambient_c: tuple[float, ...]
    path: Path

    def task_names(self) -> list[str]:
        """``DEVICE:APP@<ambient>C`` for every device, app and ambient (ambient-major, then device, then app)."""
        return [f"{d}:{a}{ambient_suffix(t)}" for t in self.ambient_c for d in self.devices for a in self.apps]


def scenarios_dir() -> Path:
    """Directory of the shipped scenarios (``envs/scenarios``)."""
    return data_dir("envs") / "scenarios"


def list_scenarios() -> list[str]:
    """Names (file stems) of the shipped scenarios."""
    root = scenarios_dir()
    if not root.is_dir():
        return []
    return sorted(p.stem for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))


def _resolve(name_or_path: str | Path) -> Path:
    s = str(name_or_path)
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    if any(c in s for c in seps) or s.lower().endswith((".yaml", ".yml")):
        return Path(s).expanduser()
    if s not in list_scenarios():
        raise unknown_name("scenario", s, list_scenarios())
    for ext in (".yaml", ".yml"):
        p = scenarios_dir() / f"{s}{ext}"
        if p.is_file():
            return p
    raise unknown_name("scenario", s, list_scenarios())  # pragma: no cover - listed but vanished


def _str_list(doc: dict[str, Any], key: str, where: str) -> list[str]:
    v = doc.get(key)
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() for x in v):
        raise MetaDVFSError(f"{where}: field '{key}': must be a non-empty string or list of strings, got {v!r}")
    return [x.strip() for x in v]


def _expand_devices(patterns: list[str], where: str) -> tuple[str, ...]:
    from metadvfs.catalog.devices import list_devices, load_device

    catalog = list_devices()
    out: list[str] = []
    for pat in patterns:
        if pat == "all":
            out.extend(catalog)
        elif any(ch in pat for ch in "*?["):
            hits = fnmatch.filter(catalog, pat)
            if not hits:
                raise MetaDVFSError(f"{where}: field 'devices': pattern {pat!r} matches no device of {catalog}")
            out.extend(hits)
        else:
            try:
                load_device(pat)
            except MetaDVFSError as exc:
                raise MetaDVFSError(f"{where}: field 'devices': {exc}") from None
            out.append(pat)
    return tuple(dict.fromkeys(out))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario.

    Args:
        name_or_path: A shipped scenario name (``thermal-35c``, see :func:`list_scenarios`) or a file path.

    Returns:
        The scenario.

    Raises:
        MetaDVFSError: Unknown name, unreadable file or an invalid field (one line naming file and field).
    """
    from metadvfs.workload.apps import load_app

    path = _resolve(name_or_path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MetaDVFSError(f"{where}: cannot read scenario file: {exc.strerror}") from None
    doc = parse_document(text, where)  # the project's one reader: duplicate keys rejected, line named
    if not isinstance(doc, dict):
        raise MetaDVFSError(f"{where}: must be a YAML mapping (schema {SCHEMA})")
    bad = sorted(set(doc) - _KEYS)
    if bad:
        raise MetaDVFSError(f"{where}: unknown field(s) {bad}; allowed: {sorted(_KEYS)}")
    if doc.get("schema") != SCHEMA:
        raise MetaDVFSError(f"{where}: field 'schema': must be {SCHEMA!r}, got {doc.get('schema')!r}")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MetaDVFSError(f"{where}: field 'name': must be a non-empty string")
    desc = doc.get("description", "")
    if not isinstance(desc, str):
        raise MetaDVFSError(f"{where}: field 'description': must be a string")
    devices = _expand_devices(_str_list(doc, "devices", where), where)
    apps = _str_list(doc, "apps", where)
    for a in apps:
        try:
            load_app(a)
        except MetaDVFSError as exc:
            raise MetaDVFSError(f"{where}: field 'apps': {exc}") from None
    lo, hi = DURATION_RANGE_S
    dur = doc.get("duration_s")
    if isinstance(dur, bool) or not isinstance(dur, (int, float)) or not lo <= float(dur) <= hi:
        raise MetaDVFSError(
            f"{where}: field 'duration_s': must be a number of seconds in [{lo:g}, {hi:g}], got {dur!r}"
        )
    amb = doc.get("ambient_c")
    amb_list = amb if isinstance(amb, list) else [amb]
    lo_a, hi_a = AMBIENT_RANGE_C
    rng = f"[{lo_a:g}, {hi_a:g}]"
    if not amb_list:
        raise MetaDVFSError(f"{where}: field 'ambient_c': give a number or a list of numbers of degC in {rng}")
    ambients: list[float] = []
    for v in amb_list:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MetaDVFSError(f"{where}: field 'ambient_c': must be a number of degC in {rng}, got {v!r}")
        ambients.append(check_ambient(v, f"{where}: field 'ambient_c'"))
    return Scenario(
        name=name.strip(),
        description=desc.strip(),
        devices=devices,
        apps=tuple(apps),
        duration_s=float(dur),
        ambient_c=tuple(dict.fromkeys(ambients)),
        path=path,
    )
