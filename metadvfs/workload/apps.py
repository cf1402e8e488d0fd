"""The app catalog: load and validate app profiles (``envs/apps/*.yaml``, schema ``metadvfs.app/1``).

An app profile is metadata (used for task similarity) plus a list of phases that drive the seeded demand
generator in :mod:`metadvfs.workload.generator`. The file format is described field by field in
``envs/README.md``; the demand model and the provenance of the numbers in ``docs/workloads.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from pathlib import Path
from typing import Any

from metadvfs.errors import MetaDVFSError, unknown_name
from metadvfs.io import document_format, parse_document
from metadvfs.paths import data_dir
from metadvfs.workload.types import CATEGORIES, INTERACTIONS, AppMetadata, AppProfile, NetworkSpec, PhaseSpec

APP_SCHEMA = "metadvfs.app/1"
"""Schema id every app file must carry in its ``schema`` field."""

APP_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")
"""File suffixes :func:`load_app` accepts for a path."""

MAX_FPS = 240.0
"""Upper bound for ``target_fps`` and phase ``fps``, frames/s."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = (
    "schema", "name", "display_name", "metadata", "android", "phases", "notes", "input", "frame_ar1", "network",
)  # fmt: skip
_NETWORK_KEYS = ("rx_mbps", "tx_mbps", "awake_fraction", "source")
MAX_APP_MBPS = 1000.0
"""Largest allowed ``network.rx_mbps`` / ``tx_mbps``, Mbit/s (far above any app's stream; 8K video is ~100)."""

FRAME_AR1_MAX = 0.99
"""Largest allowed ``frame_ar1`` (a unit-variance AR(1) needs ``|rho| < 1``)."""
_ANDROID_KEYS = ("packages", "activity")
_JAVA_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_META_KEYS = ("category", "interaction", "target_fps", "cpu_intensity", "gpu_intensity")
_META_OPTIONAL = ("display_rate",)
_PHASE_KEYS = ("name", "weight", "duration_s", "fps", "ui_mc", "gpu_mc", "worker_mc_per_s", "bg_mc_per_s")
_DIST_KEYS = ("mean", "cv")


def apps_dir() -> Path:
    """Return the catalog directory (``envs/apps``)."""
    return data_dir("envs") / "apps"


def list_apps() -> list[str]:
    """List the catalog app names (file stems of ``envs/apps/*.yaml``), sorted."""
    directory = apps_dir()
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_app(name_or_path: str | Path) -> AppProfile:
    """Load and validate an app profile.

    Args:
        name_or_path: A catalog name (``"tiktok"``, see :func:`list_apps`) or a path to a ``.yaml``,
            ``.yml`` or ``.json`` app file.

    Returns:
        The validated profile (cached per file and modification time).

    Raises:
        MetaDVFSError: Unknown app name, missing file, or a malformed profile (one line naming the file and
            the field).
    """
    path = _resolve(name_or_path)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise MetaDVFSError(f"{path}: cannot read app file: {exc.strerror}") from None
    app = _load_cached(str(path), mtime)
    if path.parent == apps_dir() and app.name != path.stem:
        raise MetaDVFSError(f"{path}: field 'name': {app.name!r} must equal the catalog file stem {path.stem!r}")
    return app


def app_to_dict(app: AppProfile) -> dict[str, Any]:
    """Summarise a profile as a JSON-able dict.

    Args:
        app: The profile.

    Returns:
        ``{"name", "display_name", "category", "interaction", "target_fps", "cpu_intensity",
        "gpu_intensity", "phases", "network", "path"}`` with ``phases`` the list of phase names and ``network``
        the ``network:`` section as a dict (Mbit/s, share, source) or ``None``.
    """
    m = app.metadata
    return {
        "name": app.name,
        "display_name": app.display_name,
        "category": m.category,
        "interaction": m.interaction,
        "target_fps": m.target_fps,
        "cpu_intensity": m.cpu_intensity,
        "gpu_intensity": m.gpu_intensity,
        "phases": [p.name for p in app.phases],
        "network": None if app.network is None else dataclasses.asdict(app.network),
        "path": app.path,
    }


def parse_app(data: Any, source: str) -> AppProfile:
    """Validate a parsed app document (a dict from YAML/JSON) and build the profile.

    Args:
        data: The parsed document.
        source: File name used in error messages (and stored as ``path``).

    Returns:
        The profile (``path`` set to ``source``).

    Raises:
        MetaDVFSError: One line naming ``source`` and the first bad field.
    """
    if data is None:
        raise MetaDVFSError(f"{source}: empty app file; expected a mapping with schema {APP_SCHEMA!r}")
    if not isinstance(data, dict):
        raise MetaDVFSError(
            f"{source}: app file must be a mapping with schema {APP_SCHEMA!r}, got {type(data).__name__}"
        )
    schema = data.get("schema")
    if schema != APP_SCHEMA:
        found = "none" if schema is None else repr(schema)
        raise MetaDVFSError(f"{source}: field 'schema': found {found}, expected {APP_SCHEMA!r}")
    _check_keys(data, _TOP_KEYS, source, "")
    for key in ("name", "metadata", "phases"):
        if key not in data:
            raise MetaDVFSError(f"{source}: missing required field {key!r}")
    name = data["name"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise MetaDVFSError(f"{source}: field 'name': {name!r} must be a non-empty name of [A-Za-z0-9_.-]")
    display_name = data.get("display_name", name)
    if not isinstance(display_name, str):
        raise MetaDVFSError(f"{source}: field 'display_name' must be a string")
    notes = data.get("notes", "")
    if notes is None:
        notes = ""
    if not isinstance(notes, str):
        raise MetaDVFSError(f"{source}: field 'notes' must be a string")
    metadata = _parse_metadata(data["metadata"], source)
    phases = _parse_phases(data["phases"], source)
    input_spec = None
    if data.get("input") is not None:
        from metadvfs.workload.input_events import parse_input_spec

        input_spec = parse_input_spec(data["input"], source, [p.name for p in phases])
    packages, activity = _parse_android(data.get("android"), source)
    frame_ar1 = data.get("frame_ar1")
    if frame_ar1 is not None:
        frame_ar1 = _in_range(frame_ar1, source, "frame_ar1", 0.0, FRAME_AR1_MAX)
    return AppProfile(
        name=name,
        display_name=display_name,
        metadata=metadata,
        phases=phases,
        notes=notes.strip(),
        path=source,
        input=input_spec,
        packages=packages,
        activity=activity,
        frame_ar1=frame_ar1,
        network=None if data.get("network") is None else _parse_network(data["network"], source),
    )


def _parse_network(data: Any, source: str) -> NetworkSpec:
    """The optional ``network`` section: bitrates (Mbit/s), the radio's awake share and the numbers' source."""
    if not isinstance(data, dict):
        raise MetaDVFSError(f"{source}: field 'network' must be a mapping with {', '.join(_NETWORK_KEYS)}")
    _check_keys(data, _NETWORK_KEYS, source, "network.")
    for key in _NETWORK_KEYS:
        if key not in data:
            raise MetaDVFSError(f"{source}: missing required field 'network.{key}'")
    src = data["source"]
    if not isinstance(src, str) or not src.strip():
        raise MetaDVFSError(f"{source}: field 'network.source' must be a URL or 'estimated: <method>'")
    return NetworkSpec(
        rx_mbps=_in_range(data["rx_mbps"], source, "network.rx_mbps", 0.0, MAX_APP_MBPS),
        tx_mbps=_in_range(data["tx_mbps"], source, "network.tx_mbps", 0.0, MAX_APP_MBPS),
        awake_fraction=_in_range(data["awake_fraction"], source, "network.awake_fraction", 0.0, 1.0),
        source=src.strip(),
    )


def _parse_android(data: Any, source: str) -> tuple[tuple[str, ...], str | None]:
    """The optional ``android`` block: ``packages`` (non-empty list of package names) and ``activity``."""
    if data is None:
        return (), None
    if not isinstance(data, dict):
        raise MetaDVFSError(f"{source}: field 'android' must be a mapping with 'packages' and optional 'activity'")
    _check_keys(data, _ANDROID_KEYS, source, "android.")
    packages = data.get("packages")
    if not isinstance(packages, list) or not packages:
        raise MetaDVFSError(f"{source}: field 'android.packages' must be a non-empty list of package names")
    for i, pkg in enumerate(packages):
        if not isinstance(pkg, str) or not _JAVA_NAME_RE.match(pkg):
            raise MetaDVFSError(f"{source}: field 'android.packages[{i}]': {pkg!r} is not a package name (a.b.c)")
    if len(set(packages)) != len(packages):
        raise MetaDVFSError(f"{source}: field 'android.packages': a package is listed twice")
    activity = data.get("activity")
    if activity is not None and (not isinstance(activity, str) or not _JAVA_NAME_RE.match(activity)):
        raise MetaDVFSError(f"{source}: field 'android.activity': {activity!r} is not a class name (a.b.C)")
    return tuple(packages), activity


def package_index() -> dict[str, str]:
    """Android package name -> catalog app name, from the catalog app files' ``android.packages``.

    Returns:
        One entry per listed package (a package listed by two apps belongs to the first, in catalog order).
    """
    out: dict[str, str] = {}
    for name in list_apps():
        for pkg in load_app(name).packages:
            out.setdefault(pkg, name)
    return out


# --------------------------------------------------------------------------------------------- internals


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.lower().endswith(APP_SUFFIXES)
    )
    if not looks_like_path:
        known = list_apps()
        if text not in known:
            raise unknown_name("app", text, known, "an app profile file (mygame.yaml; format in envs/README.md)")
        return apps_dir() / f"{text}.yaml"
    path = Path(text).expanduser()
    if path.suffix.lower() not in APP_SUFFIXES:
        raise MetaDVFSError(f"{path}: unknown app file suffix {path.suffix!r}; use one of {', '.join(APP_SUFFIXES)}")
    if not path.is_file():
        raise MetaDVFSError(f"{path}: app file not found")
    return path.resolve()


@functools.lru_cache(maxsize=64)
def _load_cached(path_str: str, mtime_ns: int) -> AppProfile:
    del mtime_ns  # part of the cache key only
    path = Path(path_str)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MetaDVFSError(f"{path}: cannot read app file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MetaDVFSError(f"{path}: not a text file (invalid UTF-8); expected YAML or JSON") from None
    if not text.strip():
        raise MetaDVFSError(f"{path}: empty app file; expected a mapping with schema {APP_SCHEMA!r}")
    data = parse_document(text, str(path), document_format(path))
    return parse_app(data, str(path))


def _check_keys(data: dict[str, Any], allowed: tuple[str, ...], source: str, where: str) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise MetaDVFSError(f"{source}: unknown field {where}{unknown[0]!r}; allowed: {', '.join(allowed)}")


def _number(value: Any, source: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetaDVFSError(f"{source}: field {field!r}: {value!r} is not a number")
    out = float(value)
    if not math.isfinite(out):
        raise MetaDVFSError(f"{source}: field {field!r}: {value!r} is not finite")
    return out


def _in_range(value: Any, source: str, field: str, lo: float, hi: float, *, lo_open: bool = False) -> float:
    x = _number(value, source, field)
    ok = (x > lo if lo_open else x >= lo) and x <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        raise MetaDVFSError(f"{source}: field {field!r}: {x:g} is out of range; allowed {bracket}{lo:g}, {hi:g}]")
    return x


def _parse_metadata(data: Any, source: str) -> AppMetadata:
    if not isinstance(data, dict):
        raise MetaDVFSError(f"{source}: field 'metadata' must be a mapping with {', '.join(_META_KEYS)}")
    _check_keys(data, _META_KEYS + _META_OPTIONAL, source, "metadata.")
    for key in _META_KEYS:
        if key not in data:
            raise MetaDVFSError(f"{source}: missing required field 'metadata.{key}'")
    category = _label(data["category"], source, "metadata.category", CATEGORIES)
    interaction = _label(data["interaction"], source, "metadata.interaction", INTERACTIONS)
    return AppMetadata(
        category=category,
        target_fps=_in_range(data["target_fps"], source, "metadata.target_fps", 0.0, MAX_FPS, lo_open=True),
        cpu_intensity=_in_range(data["cpu_intensity"], source, "metadata.cpu_intensity", 0.0, 1.0),
        gpu_intensity=_in_range(data["gpu_intensity"], source, "metadata.gpu_intensity", 0.0, 1.0),
        interaction=interaction,
        display_rate=_flag(data.get("display_rate", False), source, "metadata.display_rate"),
    )


def _flag(value: Any, source: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise MetaDVFSError(f"{source}: field {field!r}: {value!r} is not true or false")
    return value


def _label(value: Any, source: str, field: str, known: tuple[str, ...]) -> str:
    """A categorical label: a known one, or any other lowercase identifier (encoded as ``unknown`` metadata)."""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_]*", value):
        raise MetaDVFSError(
            f"{source}: field {field!r}: {value!r} is not a lowercase identifier (known: {', '.join(known)})"
        )
    return value


def _parse_dist(value: Any, source: str, field: str) -> tuple[float, float]:
    if isinstance(value, dict):
        _check_keys(value, _DIST_KEYS, source, f"{field}.")
        for key in _DIST_KEYS:
            if key not in value:
                raise MetaDVFSError(f"{source}: missing required field '{field}.{key}'")
        mean, cv = value["mean"], value["cv"]
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        mean, cv = value
    else:
        raise MetaDVFSError(f"{source}: field {field!r} must be {{mean: M, cv: C}} or [M, C], got {value!r}")
    return (
        _in_range(mean, source, f"{field}.mean", 0.0, math.inf),
        _in_range(cv, source, f"{field}.cv", 0.0, math.inf),
    )


def _parse_phases(data: Any, source: str) -> tuple[PhaseSpec, ...]:
    if not isinstance(data, list) or not data:
        raise MetaDVFSError(f"{source}: field 'phases' must be a non-empty list of phases")
    phases: list[PhaseSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        where = f"phases[{i}]"
        if not isinstance(item, dict):
            raise MetaDVFSError(f"{source}: field {where!r} must be a mapping")
        _check_keys(item, _PHASE_KEYS, source, f"{where}.")
        for key in _PHASE_KEYS:
            if key not in item:
                raise MetaDVFSError(f"{source}: missing required field '{where}.{key}'")
        name = item["name"]
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise MetaDVFSError(f"{source}: field '{where}.name': {name!r} must be a name of [A-Za-z0-9_.-]")
        if name in seen:
            raise MetaDVFSError(f"{source}: field '{where}.name': duplicate phase name {name!r}")
        seen.add(name)
        where = f"phases[{i}]({name})"
        weight = _number(item["weight"], source, f"{where}.weight")
        if weight <= 0:
            raise MetaDVFSError(f"{source}: field '{where}.weight': {weight:g} must be > 0")
        dur = item["duration_s"]
        if not isinstance(dur, (list, tuple)) or len(dur) != 2:
            raise MetaDVFSError(f"{source}: field '{where}.duration_s' must be [min, max] in seconds, got {dur!r}")
        d_lo = _number(dur[0], source, f"{where}.duration_s[0]")
        d_hi = _number(dur[1], source, f"{where}.duration_s[1]")
        if not 0 < d_lo <= d_hi:
            raise MetaDVFSError(
                f"{source}: field '{where}.duration_s': [{d_lo:g}, {d_hi:g}] needs 0 < min <= max (seconds)"
            )
        phases.append(
            PhaseSpec(
                name=name,
                weight=weight,
                duration_s=(d_lo, d_hi),
                fps=_in_range(item["fps"], source, f"{where}.fps", 0.0, MAX_FPS),
                ui_mc=_parse_dist(item["ui_mc"], source, f"{where}.ui_mc"),
                gpu_mc=_parse_dist(item["gpu_mc"], source, f"{where}.gpu_mc"),
                worker_mc_per_s=_parse_dist(item["worker_mc_per_s"], source, f"{where}.worker_mc_per_s"),
                bg_mc_per_s=_parse_dist(item["bg_mc_per_s"], source, f"{where}.bg_mc_per_s"),
            )
        )
    return tuple(phases)
