"""The one observation/action codec, shared by the simulated and the live (ADB) paths.

Observation: a device-agnostic feature vector over the canonical domains (little, mid, big, gpu). Each
domain contributes five features, then six global features follow (:data:`FEATURES`). Absent domains
(e.g. Pixel 3's mid cluster) have ``present = 0`` and zeros elsewhere. All features are clipped to
``[0, 2]``.

Action: one choice per domain. ``relative`` mode (default): 0 = one OPP down, 1 = stay, 2 = one OPP up,
clipped at the table ends. ``absolute`` mode with ``L`` levels: choice ``a`` selects OPP
``round(a / (L - 1) * (n_opp - 1))``. ``margin`` mode with ``L`` levels: choice ``a`` selects a headroom factor
``m_a`` (:func:`margins`: ``L - 1`` factors geometric from :data:`MARGIN_LOW` to :data:`MARGIN_HIGH`, then
``inf``: the top OPP, race to idle) and the lowest OPP with ``f >= m_a * u * fmax``, where ``u`` is the domain's
frequency-invariant utilisation (CPU: the kernel's ``busy * f / fmax``; GPU: devfreq busy fraction times
``f / fmax``). That is the rule of the kernel's schedutil
(``get_next_freq``: ``1.25 * fmax * util / max``) and devfreq ``simple_ondemand`` with a learned headroom instead
of a fixed one: a choice means the same slack on every phone, whatever its OPP table. Choices for absent domains
are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metadvfs.core.domains import DOMAINS, N_DOMAINS

__all__ = [
    "ACTION_MODES",
    "DOMAIN_FEATURES",
    "DOMAIN_NAMES",
    "FEATURES",
    "GLOBAL_FEATURES",
    "MARGIN_HIGH",
    "MARGIN_LOW",
    "OBS_DIM",
    "OBS_HIGH",
    "OBS_LOW",
    "CodecSpec",
    "Reading",
    "action_nvec",
    "decode",
    "encode",
    "margins",
    "pad_tables",
]

DOMAIN_NAMES: tuple[str, ...] = DOMAINS
DOMAIN_FEATURES: tuple[str, ...] = ("present", "util", "freq", "level", "power")
GLOBAL_FEATURES: tuple[str, ...] = ("fps", "qoe", "power_total", "temp_die", "temp_skin", "throttled")
FEATURES: tuple[str, ...] = (
    *(f"{d}_{f}" for d in DOMAIN_NAMES for f in DOMAIN_FEATURES),
    *GLOBAL_FEATURES,
)
OBS_DIM = len(FEATURES)
OBS_LOW = 0.0
OBS_HIGH = 2.0
ACTION_MODES = ("relative", "absolute", "margin")
MARGIN_LOW = 0.6
"""Smallest headroom factor of ``margin`` mode (below 1: run slower than the measured demand)."""
MARGIN_HIGH = 2.4
"""Largest headroom factor of ``margin`` mode (a saturated domain at ``f`` asks for ``2.4 f``)."""


@dataclass(frozen=True)
class CodecSpec:
    """Per-environment normalisation constants (from a device profile or an export manifest).

    Attributes:
        mask: (N, 4) 1 where the domain exists.
        fmax_mhz: (N, 4) top OPP, MHz.
        n_opp: (N, 4) OPP count.
        p_max_mw: (N, 4) domain power with all cores busy at the top OPP, mW.
        ambient_c: (N,) ambient temperature, degC.
        die_throttle_c: (N,) die throttle point, degC.
        skin_throttle_c: (N,) first skin throttle point, degC.
        freq_mhz: (N, 4, K) OPP tables, MHz ascending, padded with the last real value (needed by ``margin``
            mode only).
    """

    mask: np.ndarray
    fmax_mhz: np.ndarray
    n_opp: np.ndarray
    p_max_mw: np.ndarray
    ambient_c: np.ndarray
    die_throttle_c: np.ndarray
    skin_throttle_c: np.ndarray
    freq_mhz: np.ndarray | None = None

    @classmethod
    def of(cls, arrays: object) -> CodecSpec:
        """The spec of compiled device arrays (:class:`~metadvfs.sim.device_arrays.DeviceArrays`).

        Any object with the same attribute names works; the simulated env and the phone side both build their
        spec here.
        """
        return cls(**{name: getattr(arrays, name) for name in cls.__dataclass_fields__})

    @property
    def p_total_max_mw(self) -> np.ndarray:
        """(N,) sum of the domains' maximum power, mW."""
        return self.p_max_mw.sum(axis=1)


@dataclass(frozen=True)
class Reading:
    """Raw physical readings of N phones at one decision point.

    Attributes:
        util: (N, 4) kernel utilisation, 0..1.
        freq_mhz: (N, 4) current frequencies, MHz.
        level: (N, 4) current OPP indices.
        power_mw: (N, 4) power per domain over the last interval, mW.
        power_total_mw: (N,) SoC + rest power over the last interval, mW.
        fps: (N,) presented frames per second over the last interval.
        fps_target: (N,) requested frames per second over the last interval (app target when unknown).
        qoe: (N,) ``min(1, fps / fps_target)`` over the last interval (1 with nothing requested).
        temp_die_c: (N,) die temperature, degC.
        temp_skin_c: (N,) skin temperature, degC.
        throttled: (N,) thermal throttling active.
    """

    util: np.ndarray
    freq_mhz: np.ndarray
    level: np.ndarray
    power_mw: np.ndarray
    power_total_mw: np.ndarray
    fps: np.ndarray
    fps_target: np.ndarray
    qoe: np.ndarray
    temp_die_c: np.ndarray
    temp_skin_c: np.ndarray
    throttled: np.ndarray


def encode(r: Reading, spec: CodecSpec) -> np.ndarray:
    """Encode readings as observation vectors.

    Args:
        r: Readings of N phones.
        spec: Their normalisation constants.

    Returns:
        (N, OBS_DIM) float32 features in ``[OBS_LOW, OBS_HIGH]``.
    """
    n = r.util.shape[0]
    m = spec.mask
    per = np.empty((n, N_DOMAINS, len(DOMAIN_FEATURES)))
    per[:, :, 0] = m
    per[:, :, 1] = r.util * m
    per[:, :, 2] = r.freq_mhz / spec.fmax_mhz * m
    per[:, :, 3] = r.level / np.maximum(spec.n_opp - 1, 1) * m
    per[:, :, 4] = np.divide(r.power_mw, spec.p_max_mw, out=np.zeros_like(r.power_mw), where=spec.p_max_mw > 0)
    g = np.empty((n, len(GLOBAL_FEATURES)))
    g[:, 0] = np.divide(r.fps, r.fps_target, out=np.ones_like(r.fps), where=r.fps_target > 0)
    g[:, 1] = r.qoe
    g[:, 2] = r.power_total_mw / spec.p_total_max_mw
    g[:, 3] = (r.temp_die_c - spec.ambient_c) / (spec.die_throttle_c - spec.ambient_c)
    g[:, 4] = (r.temp_skin_c - spec.ambient_c) / (spec.skin_throttle_c - spec.ambient_c)
    g[:, 5] = r.throttled
    obs = np.concatenate([per.reshape(n, -1), g], axis=1)
    return np.clip(obs, OBS_LOW, OBS_HIGH).astype(np.float32)


def pad_tables(tables_mhz: Sequence[Sequence[float]]) -> np.ndarray:
    """The (1, 4, K) ``CodecSpec.freq_mhz`` of one phone from its 4 domains' tables, MHz (empty when absent)."""
    k = max(1, *(len(t) for t in tables_mhz))
    out = np.zeros((1, N_DOMAINS, k))
    for d, t in enumerate(tables_mhz):
        if len(t):
            out[0, d, : len(t)] = t
            out[0, d, len(t) :] = t[-1]
    return out


def margins(levels: int) -> np.ndarray:
    """The ``L`` headroom factors of ``margin`` mode.

    ``L - 1`` factors geometric from MARGIN_LOW to MARGIN_HIGH, then ``inf`` (the top OPP whatever the demand: a
    policy can race to idle, as ``performance`` does).
    """
    return np.append(np.geomspace(MARGIN_LOW, MARGIN_HIGH, max(levels - 1, 1)), np.inf)


def action_nvec(mode: str, levels: int) -> list[int]:
    """``MultiDiscrete`` sizes of the action space (one entry per domain)."""
    return [3] * N_DOMAINS if mode == "relative" else [levels] * N_DOMAINS


def decode(
    action: np.ndarray,
    cur_level: np.ndarray,
    spec: CodecSpec,
    mode: str = "relative",
    levels: int = 8,
    util: np.ndarray | None = None,
) -> np.ndarray:
    """Turn per-domain action choices into OPP indices.

    Args:
        action: (N, 4) integer choices.
        cur_level: (N, 4) current OPP indices.
        spec: Normalisation constants (OPP counts; OPP tables in ``margin`` mode).
        mode: ``relative``, ``absolute`` or ``margin``.
        levels: Number of choices per domain in ``absolute`` and ``margin`` mode.
        util: (N, 4) utilisation as in :class:`Reading` (needed in ``margin`` mode).

    Returns:
        (N, 4) OPP indices within each table (absent domains keep index 0).
    """
    cur_level = np.asarray(cur_level, dtype=np.int64)
    a = np.asarray(action, dtype=np.int64).reshape(cur_level.shape)
    top = spec.n_opp - 1
    if mode == "relative":
        new = cur_level + (a - 1)
    elif mode == "absolute":
        new = np.rint(a / max(levels - 1, 1) * top).astype(np.int64)
    elif mode == "margin":
        if util is None:
            raise ValueError("decode: margin mode needs the utilisation")
        new = _decode_margin(a, cur_level, spec, levels, np.asarray(util, dtype=float))
    else:
        raise ValueError(f"decode: unknown action mode {mode!r}")
    return np.clip(new, 0, top)


def _decode_margin(a: np.ndarray, cur_level: np.ndarray, spec: CodecSpec, levels: int, util: np.ndarray) -> np.ndarray:
    """``margin`` mode: the lowest OPP with ``f >= m_a * u * fmax`` (see the module docstring)."""
    if spec.freq_mhz is None:
        raise ValueError("decode: margin mode needs the OPP tables (CodecSpec.freq_mhz)")
    table = spec.freq_mhz
    top = spec.n_opp - 1
    cur = np.take_along_axis(table, np.clip(cur_level, 0, top)[:, :, None], 2)[:, :, 0]
    u = np.clip(util, 0.0, 1.0)
    gpu = DOMAINS.index("gpu")
    u[:, gpu] = u[:, gpu] * cur[:, gpu] / np.maximum(spec.fmax_mhz[:, gpu], 1e-9)
    m = margins(levels)[np.clip(a, 0, levels - 1)]
    finite = np.isfinite(m)
    target = np.where(finite, m, 0.0) * u * spec.fmax_mhz
    ok = table >= target[:, :, None] * (1.0 - 1e-9)
    return np.where(ok.any(axis=2) & finite, ok.argmax(axis=2), top)
