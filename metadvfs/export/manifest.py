"""Governor directories (schema ``metadvfs.governor/1``): load, validate, write.

A governor directory holds ``manifest.json`` and, for kind ``onnx``, the model file. The manifest fixes
everything the phone side needs without the simulator or torch: the device it was built for (name,
codenames, profile hash), the cpufreq policy and OPP table of each domain, the codec constants (the same
:class:`~metadvfs.environment.codec.CodecSpec` the simulated environment used), the metadata vector per app, the
decision interval and the thermal hand-back point. Fields::

    {"schema": "metadvfs.governor/1", "package_version": str, "kind": "onnx" | "rule",
     "rule": null | "schedutil" | "performance" | "powersave" | "fixed:<0..1>",
     "device": {"name": str, "codenames": [str], "profile_hash": str},
     "domains": {"little"|"mid"|"big": {"cpufreq_policy": "policyN", "freqs_khz": [int]},
                 "gpu": {"family": "adreno"|"mali", "freqs_khz": [int]}},
     "codec": {"window": int, "action_mode": "relative"|"absolute"|"margin", "levels": int, "obs_dim": 26,
               "mask": [4], "fmax_mhz": [4], "n_opp": [4], "p_max_mw": [4],
               "ambient_c": float, "die_throttle_c": float, "skin_throttle_c": float},
     "meta": {"<app>": [M floats], ..., "default": [M floats]},
     "decision_interval_s": float, "throttle": {"skin_c": float, "die_c": float},
     "model_file": "policy.onnx" | null, "files": {"<file name>": "sha256:<64 hex>"}}

``files`` holds the SHA-256 of every file the manifest names (the model file); :func:`load_manifest` and
:func:`check_files` (run again by ``deploy`` just before it takes the phone over) refuse a directory whose
files do not match, e.g. another device's ``policy.onnx`` copied in.

Every problem is a one-line :class:`~metadvfs.errors.MetaDVFSError` naming ``<dir>/manifest.json`` and the field.
This module imports neither torch nor the simulator (only :func:`write_rule_governor` loads a device profile).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metadvfs.core import codec
from metadvfs.core.codec import CodecSpec
from metadvfs.core.domains import DOMAINS
from metadvfs.errors import MetaDVFSError
from metadvfs.io import parse_document

SCHEMA = "metadvfs.governor/1"
RULE_ACTION_MODES = ("relative", "absolute")
"""Action modes a kind-``rule`` governor can express (its rules pick OPPs, not headroom factors)."""
MANIFEST_NAME = "manifest.json"
KINDS = ("onnx", "rule")
BASE_RULES = ("schedutil", "performance", "powersave")
DOMAIN_KEYS = DOMAINS
GPU_FAMILIES = ("adreno", "mali")
_TOP_KEYS = (
    "schema",
    "package_version",
    "kind",
    "rule",
    "device",
    "domains",
    "codec",
    "meta",
    "decision_interval_s",
    "throttle",
    "model_file",
    "files",
)
_CODEC_KEYS = (
    "window",
    "action_mode",
    "levels",
    "obs_dim",
    "mask",
    "fmax_mhz",
    "n_opp",
    "p_max_mw",
    "ambient_c",
    "die_throttle_c",
    "skin_throttle_c",
)


@dataclass(frozen=True)
class DomainEntry:
    """One domain of the manifest.

    Attributes:
        name: ``little``, ``mid``, ``big`` or ``gpu``.
        freqs_khz: OPP table, kHz ascending.
        cpufreq_policy: ``policyN`` (CPU domains).
        family: ``adreno`` or ``mali`` (GPU).
    """

    name: str
    freqs_khz: tuple[int, ...]
    cpufreq_policy: str | None = None
    family: str | None = None


@dataclass(frozen=True)
class CodecBlock:
    """The manifest's codec constants (see :mod:`metadvfs.environment.codec`)."""

    window: int
    action_mode: str
    levels: int
    obs_dim: int
    mask: tuple[float, ...]
    fmax_mhz: tuple[float, ...]
    n_opp: tuple[int, ...]
    p_max_mw: tuple[float, ...]
    ambient_c: float
    die_throttle_c: float
    skin_throttle_c: float

    def spec(self, tables_khz: Sequence[Sequence[int]] = ()) -> codec.CodecSpec:
        """As a :class:`~metadvfs.environment.codec.CodecSpec` for one phone (arrays (1, 4) / (1,)).

        Args:
            tables_khz: The 4 domains' OPP tables, kHz (empty for absent domains); without them each table is its
                top OPP alone (enough for ``relative`` and ``absolute`` decoding, not for ``margin``).
        """
        tables = [[f / 1000.0 for f in t] for t in tables_khz] or [[f] for f in self.fmax_mhz]
        return codec.CodecSpec(
            freq_mhz=codec.pad_tables(tables),
            mask=np.array([self.mask], dtype=float),
            fmax_mhz=np.array([self.fmax_mhz], dtype=float),
            n_opp=np.array([self.n_opp], dtype=np.int64),
            p_max_mw=np.array([self.p_max_mw], dtype=float),
            ambient_c=np.array([self.ambient_c]),
            die_throttle_c=np.array([self.die_throttle_c]),
            skin_throttle_c=np.array([self.skin_throttle_c]),
        )

    @property
    def nvec(self) -> list[int]:
        """Choices per domain (the ``MultiDiscrete`` sizes)."""
        return codec.action_nvec(self.action_mode, self.levels)


@dataclass(frozen=True)
class GovernorManifest:
    """A loaded, validated governor directory.

    Attributes:
        path: The directory.
        package_version: metadvfs version that wrote it.
        kind: ``onnx`` or ``rule``.
        rule: Rule name for kind ``rule``.
        device_name: Device profile name.
        codenames: Android codenames.
        profile_hash: :func:`~metadvfs.catalog.devices.profile_hash` of the profile.
        domains: ``{domain: DomainEntry}``.
        codec: Codec constants.
        meta: ``{app: metadata vector}`` (includes ``default``).
        decision_interval_s: Decision interval, s.
        throttle_skin_c: Skin temperature that hands the phone back to the stock governor, degC.
        throttle_die_c: Die temperature that hands the phone back, degC.
        model_file: Model path (kind ``onnx``).
        files: ``{file name: "sha256:<hex>"}`` of every file the manifest names.
    """

    path: Path
    package_version: str
    kind: str
    rule: str | None
    device_name: str
    codenames: tuple[str, ...]
    profile_hash: str
    domains: dict[str, DomainEntry]
    codec: CodecBlock
    meta: dict[str, np.ndarray]
    decision_interval_s: float
    throttle_skin_c: float
    throttle_die_c: float
    model_file: Path | None
    files: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def meta_dim(self) -> int:
        """Length M of the metadata vectors."""
        return int(self.meta["default"].shape[0])

    def meta_for(self, app: str | None) -> np.ndarray:
        """Metadata vector of a catalog app (``default`` for unknown apps), float32 (M,)."""
        return self.meta.get(app or "default", self.meta["default"])

    def codec_spec(self) -> CodecSpec:
        """The codec spec of this governor's phone, with its OPP tables (every action mode decodes with it)."""
        return self.codec.spec([self.table(d) for d in range(4)])

    def table(self, d: int) -> tuple[int, ...]:
        """OPP table of canonical domain index ``d`` (empty when absent)."""
        e = self.domains.get(DOMAIN_KEYS[d])
        return e.freqs_khz if e else ()


class _Check:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, msg: str) -> MetaDVFSError:
        return MetaDVFSError(f"{self.where}: {field}: {msg}")

    def obj(self, v: Any, field: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
        if not isinstance(v, dict):
            raise self.fail(field, f"must be an object, got {type(v).__name__}")
        for k in required:
            if k not in v:
                raise self.fail(f"{field}.{k}" if field else k, "required field is missing")
        extra = [k for k in v if k not in required and k not in optional]
        if extra:
            allowed = ", ".join((*required, *optional))
            raise self.fail(f"{field}.{extra[0]}" if field else extra[0], f"unknown field; allowed: {allowed}")
        return v

    def string(self, v: Any, field: str) -> str:
        if not isinstance(v, str) or not v.strip():
            raise self.fail(field, f"must be a non-empty string, got {v!r}")
        return v

    def integer(self, v: Any, field: str, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise self.fail(field, f"must be an integer in [{lo}, {hi}], got {v!r}")
        return v

    def number(self, v: Any, field: str, lo: float, hi: float) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise self.fail(field, f"must be a number in [{lo:g}, {hi:g}], got {v!r}")
        return float(v)

    def numbers(self, v: Any, field: str, n: int, lo: float, hi: float) -> tuple[float, ...]:
        if not isinstance(v, list) or len(v) != n:
            raise self.fail(field, f"must be a list of {n} numbers, got {v!r}")
        return tuple(self.number(x, f"{field}[{i}]", lo, hi) for i, x in enumerate(v))

    def freqs(self, v: Any, field: str) -> tuple[int, ...]:
        if not isinstance(v, list) or not v:
            raise self.fail(field, "must be a non-empty list of kHz integers")
        out = tuple(self.integer(x, f"{field}[{i}]", 1, 100_000_000) for i, x in enumerate(v))
        if any(b <= a for a, b in itertools.pairwise(out)):
            raise self.fail(field, "must be strictly increasing (kHz)")
        return out


def validate_rule(rule: Any, where: str = "rule") -> str:
    """Check a rule name: ``schedutil``, ``performance``, ``powersave`` or ``fixed:<level in 0..1>``."""
    if isinstance(rule, str):
        if rule in BASE_RULES:
            return rule
        m = re.fullmatch(r"fixed:([0-9]*\.?[0-9]+)", rule)
        if m and 0.0 <= float(m.group(1)) <= 1.0:
            return rule
    raise MetaDVFSError(f"{where}: must be one of {', '.join(BASE_RULES)} or fixed:<level 0..1>, got {rule!r}")


def parse_manifest(doc: Any, directory: Path) -> GovernorManifest:
    """Validate a parsed ``manifest.json``.

    Args:
        doc: The parsed JSON.
        directory: The governor directory (for messages and the model path).

    Returns:
        The manifest.
    """
    where = f"{directory}/{MANIFEST_NAME}"
    ck = _Check(where)
    if not isinstance(doc, dict):
        raise MetaDVFSError(f"{where}: must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA:
        raise ck.fail("schema", f"must be {SCHEMA!r}, got {doc.get('schema')!r}")
    ck.obj(doc, "", _TOP_KEYS)
    version = ck.string(doc["package_version"], "package_version")
    kind = doc["kind"]
    if kind not in KINDS:
        raise ck.fail("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    rule = doc["rule"]
    if kind == "rule":
        rule = validate_rule(rule, f"{where}: rule")
    elif rule is not None:
        raise ck.fail("rule", f"must be null for kind {kind!r}, got {rule!r}")
    dev = ck.obj(doc["device"], "device", ("name", "codenames", "profile_hash"))
    name = ck.string(dev["name"], "device.name")
    if not isinstance(dev["codenames"], list) or not dev["codenames"]:
        raise ck.fail("device.codenames", "must be a non-empty list of strings")
    codenames = tuple(ck.string(c, f"device.codenames[{i}]") for i, c in enumerate(dev["codenames"]))
    phash = ck.string(dev["profile_hash"], "device.profile_hash")
    doms = doc["domains"]
    if not isinstance(doms, dict) or "gpu" not in doms:
        raise ck.fail("domains", "must be an object with at least 'gpu'")
    domains: dict[str, DomainEntry] = {}
    for key, entry in doms.items():
        f = f"domains.{key}"
        if key not in DOMAIN_KEYS:
            raise ck.fail(f, f"unknown domain; allowed: {', '.join(DOMAIN_KEYS)}")
        if key == "gpu":
            e = ck.obj(entry, f, ("family", "freqs_khz"))
            if e["family"] not in GPU_FAMILIES:
                raise ck.fail(f"{f}.family", f"must be one of {', '.join(GPU_FAMILIES)}, got {e['family']!r}")
            domains[key] = DomainEntry(key, ck.freqs(e["freqs_khz"], f"{f}.freqs_khz"), family=e["family"])
        else:
            e = ck.obj(entry, f, ("cpufreq_policy", "freqs_khz"))
            pol = e["cpufreq_policy"]
            if not isinstance(pol, str) or not re.fullmatch(r"policy\d{1,3}", pol):
                raise ck.fail(f"{f}.cpufreq_policy", f"must look like 'policyN', got {pol!r}")
            domains[key] = DomainEntry(key, ck.freqs(e["freqs_khz"], f"{f}.freqs_khz"), cpufreq_policy=pol)
    c = ck.obj(doc["codec"], "codec", _CODEC_KEYS)
    window = ck.integer(c["window"], "codec.window", 1, 64)
    mode = c["action_mode"]
    if mode not in codec.ACTION_MODES:
        raise ck.fail("codec.action_mode", f"must be one of {', '.join(codec.ACTION_MODES)}, got {mode!r}")
    if kind == "rule" and mode not in RULE_ACTION_MODES:
        raise ck.fail(
            "codec.action_mode", f"must be one of {', '.join(RULE_ACTION_MODES)} for kind 'rule', got {mode!r}"
        )
    levels = ck.integer(c["levels"], "codec.levels", 2, 32)
    obs_dim = c["obs_dim"]
    if obs_dim != codec.OBS_DIM or isinstance(obs_dim, bool):
        raise ck.fail("codec.obs_dim", f"must be {codec.OBS_DIM} (this package's codec), got {obs_dim!r}")
    mask = ck.numbers(c["mask"], "codec.mask", 4, 0.0, 1.0)
    fmax = ck.numbers(c["fmax_mhz"], "codec.fmax_mhz", 4, 0.0, 100_000.0)
    n_opp_f = ck.numbers(c["n_opp"], "codec.n_opp", 4, 0, 1000)
    if any(x != int(x) for x in n_opp_f):
        raise ck.fail("codec.n_opp", f"must be integers, got {c['n_opp']!r}")
    n_opp = tuple(int(x) for x in n_opp_f)
    p_max = ck.numbers(c["p_max_mw"], "codec.p_max_mw", 4, 0.0, 1e6)
    amb = ck.number(c["ambient_c"], "codec.ambient_c", -40, 150)
    die = ck.number(c["die_throttle_c"], "codec.die_throttle_c", -40, 200)
    skin = ck.number(c["skin_throttle_c"], "codec.skin_throttle_c", -40, 200)
    if die <= amb or skin <= amb:
        raise ck.fail("codec", "die_throttle_c and skin_throttle_c must be above ambient_c")
    for i, dom in enumerate(DOMAIN_KEYS):
        present = dom in domains
        if (mask[i] == 1.0) != present or mask[i] not in (0.0, 1.0):
            raise ck.fail(f"codec.mask[{i}]", f"is {mask[i]:g} but domain {dom!r} is {'' if present else 'not '}listed")
        if present:
            tab = domains[dom].freqs_khz
            if n_opp[i] != len(tab):
                raise ck.fail(f"codec.n_opp[{i}]", f"is {n_opp[i]} but domains.{dom}.freqs_khz has {len(tab)}")
            if abs(fmax[i] - tab[-1] / 1000.0) > 1e-6 * max(1.0, fmax[i]):
                raise ck.fail(f"codec.fmax_mhz[{i}]", f"is {fmax[i]:g} but domains.{dom} tops at {tab[-1] / 1000:g}")
    block = CodecBlock(window, mode, levels, obs_dim, mask, fmax, n_opp, p_max, amb, die, skin)
    meta_doc = doc["meta"]
    if not isinstance(meta_doc, dict) or "default" not in meta_doc:
        raise ck.fail("meta", "must be an object of app -> vector with a 'default' entry")
    meta: dict[str, np.ndarray] = {}
    dim = None
    for app, vec in meta_doc.items():
        if not isinstance(vec, list) or not vec:
            raise ck.fail(f"meta.{app}", "must be a non-empty list of numbers")
        vals = ck.numbers(vec, f"meta.{app}", len(vec), -1e6, 1e6)
        if dim is not None and len(vals) != dim:
            raise ck.fail(f"meta.{app}", f"has {len(vals)} values, others have {dim}")
        dim = len(vals)
        meta[str(app)] = np.array(vals, dtype=np.float32)
    interval = ck.number(doc["decision_interval_s"], "decision_interval_s", 0.01, 10.0)
    th = ck.obj(doc["throttle"], "throttle", ("skin_c", "die_c"))
    th_skin = ck.number(th["skin_c"], "throttle.skin_c", 0, 200)
    th_die = ck.number(th["die_c"], "throttle.die_c", 0, 200)
    mf = doc["model_file"]
    model: Path | None = None
    if kind == "onnx":
        if not isinstance(mf, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+\.onnx", mf) or mf.startswith("."):
            raise ck.fail("model_file", f"must be a file name like 'policy.onnx' for kind 'onnx', got {mf!r}")
        model = directory / mf
        if not model.is_file():
            raise MetaDVFSError(f"{directory}: model file {mf!r} named in {MANIFEST_NAME} is missing")
    elif mf is not None:
        raise ck.fail("model_file", f"must be null for kind 'rule', got {mf!r}")
    files = _parse_files(ck, doc["files"], mf if kind == "onnx" else None)
    for fname, digest in files.items():
        _check_hash(directory, fname, digest)
    return GovernorManifest(
        path=directory,
        package_version=version,
        kind=kind,
        rule=rule,
        device_name=name,
        codenames=codenames,
        profile_hash=phash,
        domains=domains,
        codec=block,
        meta=meta,
        decision_interval_s=interval,
        throttle_skin_c=th_skin,
        throttle_die_c=th_die,
        model_file=model,
        files=files,
    )


def file_sha256(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _parse_files(ck: _Check, v: Any, model_file: str | None) -> dict[str, str]:
    if not isinstance(v, dict):
        raise ck.fail("files", f"must be an object of file name -> 'sha256:<hex>', got {type(v).__name__}")
    out: dict[str, str] = {}
    for name, digest in v.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", name):
            raise ck.fail("files", f"unsafe file name {name!r}")
        if not isinstance(digest, str) or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise ck.fail(f"files.{name}", f"must be 'sha256:<64 hex digits>', got {digest!r}")
        out[name] = digest
    if model_file is not None and model_file not in out:
        raise ck.fail("files", f"has no hash of the model file {model_file!r} (re-export the governor)")
    return out


def _check_hash(directory: Path, name: str, digest: str) -> None:
    path = directory / name
    try:
        got = file_sha256(path)
    except FileNotFoundError:
        raise MetaDVFSError(f"{path}: listed in {MANIFEST_NAME} files but missing") from None
    except OSError as exc:
        raise MetaDVFSError(f"{path}: cannot read ({exc.strerror})") from None
    if got != digest:
        raise MetaDVFSError(
            f"{path}: SHA-256 {got[7:19]}... differs from {MANIFEST_NAME} files.{name} ({digest[7:19]}...): the "
            "file was changed or copied from another governor; re-export it"
        )


def check_files(m: GovernorManifest) -> None:
    """Hash every file the manifest names again (deploy runs this just before it takes the phone over).

    Raises:
        MetaDVFSError: A file is missing or its hash differs.
    """
    for name, digest in m.files.items():
        _check_hash(m.path, name, digest)


def load_manifest(directory: str | Path) -> GovernorManifest:
    """Load and validate a governor directory's manifest.

    Args:
        directory: The governor directory.

    Returns:
        The manifest.

    Raises:
        MetaDVFSError: Directory or manifest missing, invalid JSON, wrong schema, bad field, missing model.
    """
    d = Path(directory)
    if not d.is_dir():
        raise MetaDVFSError(f"{d}: governor directory not found")
    mpath = d / MANIFEST_NAME
    if not mpath.is_file():
        raise MetaDVFSError(f"{d}: no {MANIFEST_NAME} (not a governor directory written by metadvfs export)")
    try:
        text = mpath.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MetaDVFSError(f"{mpath}: cannot read: {exc}") from None
    doc = parse_document(text, str(mpath), "json")
    return parse_manifest(doc, d)


def codec_block_from_profile(profile: Any, window: int = 1, action_mode: str = "relative", levels: int = 8) -> dict:
    """The manifest ``codec`` block of a device profile, computed as ``EnvBatch`` builds its CodecSpec.

    Args:
        profile: A :class:`~metadvfs.catalog.types.DeviceProfile`.
        window: Observation window K.
        action_mode: ``relative``, ``absolute`` or ``margin``.
        levels: Choices per domain in absolute mode.

    Returns:
        The ``codec`` object.
    """
    from metadvfs.adb.binding import profile_codec_spec

    s = profile_codec_spec(profile)
    return {
        "window": int(window),
        "action_mode": action_mode,
        "levels": int(levels),
        "obs_dim": codec.OBS_DIM,
        "mask": [float(x) for x in s.mask[0]],
        "fmax_mhz": [float(x) for x in s.fmax_mhz[0]],
        "n_opp": [int(x) for x in s.n_opp[0]],
        "p_max_mw": [float(x) for x in s.p_max_mw[0]],
        "ambient_c": float(s.ambient_c[0]),
        "die_throttle_c": float(s.die_throttle_c[0]),
        "skin_throttle_c": float(s.skin_throttle_c[0]),
    }


def manifest_for_profile(
    profile: Any,
    kind: str,
    rule: str | None = None,
    window: int = 1,
    action_mode: str = "relative",
    levels: int = 8,
    decision_interval_s: float = 0.1,
    meta: dict[str, list[float]] | None = None,
    model_file: str | None = None,
) -> dict:
    """A manifest document for a device profile (the exporter fills ``kind``/``model_file``/``meta``).

    Args:
        profile: The device profile.
        kind: ``onnx`` or ``rule``.
        rule: Rule name for kind ``rule``.
        window: Observation window K.
        action_mode: Codec action mode.
        levels: Codec levels.
        decision_interval_s: Decision interval, s.
        meta: ``{app: vector}``; default: every catalog app plus ``default`` from
            :func:`~metadvfs.tasks.metadata.metadata_vector`.
        model_file: Model file name for kind ``onnx``.

    Returns:
        The JSON-able manifest.
    """
    import metadvfs
    from metadvfs.catalog.devices import profile_hash

    if meta is None:
        meta = default_meta(profile)
    domains: dict[str, dict] = {}
    for c in profile.clusters:
        domains[c.domain] = {"cpufreq_policy": f"policy{c.first_cpu}", "freqs_khz": list(c.freqs_khz)}
    domains["gpu"] = {"family": profile.gpu.family, "freqs_khz": list(profile.gpu.freqs_khz)}
    return {
        "schema": SCHEMA,
        "package_version": metadvfs.__version__,
        "kind": kind,
        "rule": rule,
        "device": {"name": profile.name, "codenames": list(profile.codenames), "profile_hash": profile_hash(profile)},
        "domains": {k: domains[k] for k in DOMAIN_KEYS if k in domains},
        "codec": codec_block_from_profile(profile, window, action_mode, levels),
        "meta": meta,
        "decision_interval_s": float(decision_interval_s),
        "throttle": {"skin_c": float(profile.thermal.skin_throttle_c), "die_c": float(profile.thermal.die_throttle_c)},
        "model_file": model_file,
        "files": {},
    }


def default_meta(profile: Any) -> dict[str, list[float]]:
    """Metadata vector of every catalog app on ``profile``, plus ``default`` (an app of unknown category)."""
    from metadvfs.tasks.metadata import metadata_vector
    from metadvfs.tasks.task import stand_in_app
    from metadvfs.workload.apps import list_apps, load_app

    out = {a: [float(x) for x in metadata_vector(profile, load_app(a))] for a in list_apps()}
    out["default"] = [float(x) for x in metadata_vector(profile, stand_in_app("default", 60.0))]
    return out


def write_manifest(directory: str | Path, doc: dict, extra_files: list[str] | None = None) -> Path:
    """Validate ``doc`` and write ``<directory>/manifest.json`` atomically.

    ``files`` is filled with the hash of the model file and of each of ``extra_files`` (e.g. the runner's
    ``policy.bin``), which must already be in ``directory``.

    Returns:
        The manifest path.
    """
    from metadvfs.io import write_text_atomic

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    doc = dict(doc)
    mf = doc.get("model_file")
    doc["files"] = {mf: file_sha256(d / mf)} if isinstance(mf, str) and (d / mf).is_file() else {}
    doc["files"].update({name: file_sha256(d / name) for name in extra_files or []})
    parse_manifest(json.loads(json.dumps(doc)), d)
    path = d / MANIFEST_NAME
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n")
    return path


def write_rule_governor(
    device: Any,
    rule: str,
    out_dir: str | Path,
    window: int = 1,
    action_mode: str = "relative",
    levels: int = 8,
    decision_interval_s: float = 0.1,
) -> Path:
    """Write a kind-``rule`` governor directory for a device (rehearsals on the twin, tests).

    Args:
        device: Device name, profile path or :class:`~metadvfs.catalog.types.DeviceProfile`.
        rule: ``schedutil``, ``performance``, ``powersave`` or ``fixed:<0..1>``.
        out_dir: Directory to create.
        window: Observation window K.
        action_mode: ``relative``, ``absolute`` or ``margin``.
        levels: Choices per domain in absolute mode.
        decision_interval_s: Decision interval, s.

    Returns:
        The directory.
    """
    from metadvfs.catalog.devices import load_device
    from metadvfs.catalog.types import DeviceProfile

    validate_rule(rule)
    if action_mode not in RULE_ACTION_MODES:
        raise MetaDVFSError(
            f"action_mode: must be one of {', '.join(RULE_ACTION_MODES)} for a rule governor, got {action_mode!r}"
        )
    profile = device if isinstance(device, DeviceProfile) else load_device(device)
    doc = manifest_for_profile(
        profile, "rule", rule, window, action_mode, levels, decision_interval_s, meta=None, model_file=None
    )
    write_manifest(out_dir, doc)
    return Path(out_dir)
