"""Procedurally generated training tasks: device variants around the real SoC families and app variants.

**Devices.** A generated phone copies the structure of a *base* phone (cluster layout, core counts, OPP
count and the shapes of its frequency and power tables, throttle rules) drawn from the base list, and
samples its numbers within the range its pool spans over the base phones, widened by a margin on each side
(additive margins for temperatures). The functions default to the ``family`` pool and :data:`MARGIN` (10 %);
training configs default to the ``all`` pool with 25 % (:class:`metadvfs.learn.config.GeneratedConfig`). Sampled:

- per CPU domain: fmax (the OPP table is scaled to it), one core's busy power at fmax (the power, idle and
  static tables are scaled to it, which keeps the energy-per-cycle curve's shape), IPC;
- GPU: fmax (table and Mali DVFS rows scaled), power at fmax, throughput;
- thermal: die and skin heat capacities, die-to-skin and skin-to-ambient resistances, the skin throttle point
  (all skin rules move with it, ±:data:`SKIN_MARGIN_C`), the die throttle point (±:data:`DIE_MARGIN_C`);
- base power.

With ``structure=True`` (config ``generated.structure``) a generated phone also samples each CPU cluster's core
count and OPP count, uniformly within the pool's min..max for that domain widened by the margin; core counts are
redrawn until the phone's CPU count lies within the pool's CPU counts widened the same way
(:func:`structure_ranges`), and a cluster's table is resampled to its OPP count (:func:`_resample`). The cluster
layout (which domains exist), the GPU table and the display stay the base phone's. Its other draws come from the
same stream as without it, so the two variants of a phone differ only in core and OPP counts.

Throttle caps move with their domain's table, so a cap keeps its place in the table. Every sampled value
lies within its documented range (:func:`family_ranges`, ``docs/learner.md``), and the ranges contain the base
phones by construction (tested). Catalog thermal constants are themselves estimates (``devices/*.yaml``
``estimated:``), so their ranges are the estimate ±10 %.

**Apps.** A generated app copies a base app's phases and draws: one per-frame work factor for ui and one for
GPU work (:data:`WORK_RANGE`), one for worker/background rates, a weight factor per phase
(:data:`WEIGHT_RANGE`: the phase mix) and a frame target from :data:`FPS_TARGETS` (phases that ran at the base
target run at the new one). Categories and interaction stay the base app's.

**GPU-bound apps.** With ``gpu_bound=p`` (config ``generated.gpu_bound``) a share ``p`` of the generated apps are
GPU-bound games: instead of the GPU work factor, such an app draws a GPU demand at its frame target, log-uniform
in :data:`GPU_DEMAND_RANGE` (GPU-Mc per second), and every phase's GPU work is scaled by the one factor that
puts its heaviest frame-target phase at that demand (phases keep their ratios, as in the GPU sizing rule of
``docs/workloads.md``). The range runs from a game no heavier than the heaviest UI frame the sizing rule allows to
one that saturates the strongest catalog GPU at its top OPP. Which apps are GPU-bound comes from its own random
stream, so every other draw is that of the same app without it.

**Pools.** ``family`` ranges come from the drawn base phone's SoC family; ``all`` ranges come from every base
phone (the structure still from the drawn base), which is what lets generated phones cover a newer SoC generation
than its family's known phones (``experiments/results/generator_ranges``).

**Names** say how to regenerate: ``gen<seed><f|a><margin %>[s].<i>.<base>+<base>...`` for a phone and
``genapp<seed>[b<gpu-bound %>].<i>.<base>+...`` for an app, so a checkpoint trained on generated tasks lists them in
``model.json`` and every process rebuilds identical profiles (:func:`resolve_generated_device`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import zlib
from collections.abc import Sequence

import numpy as np

from metadvfs.catalog.types import ClusterSpec, DeviceProfile
from metadvfs.errors import MetaDVFSError
from metadvfs.workload.types import AppProfile

MARGIN = 0.10
"""Relative widening of each family range (both sides)."""
SKIN_MARGIN_C = 2.0
DIE_MARGIN_C = 5.0
WORK_RANGE = (0.6, 1.6)
"""Factor range of per-frame ui / GPU work and of worker / background rates of a generated app."""
WEIGHT_RANGE = (0.5, 2.0)
"""Factor range of each phase's weight (the phase mix)."""
GPU_DEMAND_RANGE = (140.0, 2200.0)
"""GPU demand of a GPU-bound generated app at its frame target, GPU-Mc/s (log-uniform). Low end: the heaviest UI
frame the GPU sizing rule allows (2.44 GPU-Mc, ``docs/workloads.md``) at 60 fps = 146 GPU-Mc/s. High end: the
strongest catalog GPU at its top OPP, the Pixel 8's Mali-G715 (throughput 2.442 x 890 MHz = 2173 GPU-Mc/s,
``devices/pixel8.yaml``). Both rounded outwards; a design choice, not a measurement."""
FPS_TARGETS = (30.0, 60.0, 90.0, 120.0)
FPS_PROBS = (0.2, 0.5, 0.15, 0.15)

_DEV_RE = re.compile(r"^gen(\d+)([fa])(\d+)(s?)\.(\d+)\.([a-z0-9_+]+)$")
POOLS = {"f": "family", "a": "all"}
_APP_RE = re.compile(r"^genapp(\d+)(?:b(\d+))?\.(\d+)\.([a-z0-9_+]+)$")


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(str(p).encode()) for p in parts])


def _scalars(d: DeviceProfile) -> dict[str, float]:
    t = d.thermal
    out: dict[str, float] = {
        "gpu_fmax_khz": float(d.gpu.fmax_khz),
        "gpu_pmax_mw": float(max(d.gpu.power_mw)),
        "gpu_throughput": float(d.gpu.throughput),
        "c_die_j_per_c": t.c_die_j_per_c,
        "c_skin_j_per_c": t.c_skin_j_per_c,
        "r_die_skin_c_per_w": t.r_die_skin_c_per_w,
        "r_skin_amb_c_per_w": t.r_skin_amb_c_per_w,
        "skin_throttle_c": t.skin_throttle_c,
        "die_throttle_c": t.die_throttle_c,
        "base_power_mw": d.base_power_mw,
    }
    for c in d.clusters:
        out[f"{c.domain}_fmax_khz"] = float(c.fmax_khz)
        out[f"{c.domain}_pmax_mw"] = float(c.power_mw[-1])
        out[f"{c.domain}_ipc"] = float(c.ipc)
    return out


def family_ranges(
    bases: Sequence[DeviceProfile], family: str | None, margin: float = MARGIN
) -> dict[str, tuple[float, float]]:
    """Sampling range of every generated device parameter.

    Args:
        bases: Base phones.
        family: SoC family whose phones set the ranges (``None``: every base phone, the ``all`` pool).
        margin: Relative widening of each range on both sides (temperatures use :data:`SKIN_MARGIN_C` /
            :data:`DIE_MARGIN_C` scaled by ``margin / MARGIN``).

    Returns:
        ``{parameter: (lo, hi)}``: min and max over the phones widened by ``margin``. Units in the names.
    """
    members = [b for b in bases if family is None or b.metadata.soc_family == family]
    if not members:
        raise MetaDVFSError(f"generated devices: no base phone of family {family!r}")
    vals: dict[str, list[float]] = {}
    for b in members:
        for k, v in _scalars(b).items():
            vals.setdefault(k, []).append(v)
    out: dict[str, tuple[float, float]] = {}
    for k, seen in vals.items():
        lo, hi = min(seen), max(seen)
        t = margin / MARGIN
        if k == "skin_throttle_c":
            out[k] = (lo - SKIN_MARGIN_C * t, hi + SKIN_MARGIN_C * t)
        elif k == "die_throttle_c":
            out[k] = (lo - DIE_MARGIN_C * t, hi + DIE_MARGIN_C * t)
        else:
            out[k] = (lo * (1 - margin), hi * (1 + margin))
    return out


def structure_ranges(
    bases: Sequence[DeviceProfile], family: str | None, margin: float = MARGIN
) -> dict[str, tuple[int, int]]:
    """Core-count and OPP-count ranges per CPU domain, and the phone's total CPU count, over the pool's phones.

    Each range is min..max over the phones that have the domain (``total``: over all of them), widened by
    ``margin`` (the low end rounds down, the high end up; at least one core and two OPPs).

    Args:
        bases: Base phones.
        family: SoC family whose phones set the ranges (``None``: every base phone).
        margin: Relative widening.

    Returns:
        ``{"<domain>_cores" | "<domain>_n_opp": (lo, hi)}`` inclusive for the domains some member has, and
        ``total_cores``.
    """
    vals: dict[str, list[int]] = {}
    for b in bases:
        if family is None or b.metadata.soc_family == family:
            for c in b.clusters:
                vals.setdefault(f"{c.domain}_cores", []).append(c.cores)
                vals.setdefault(f"{c.domain}_n_opp", []).append(len(c.freqs_khz))
            vals.setdefault("total_cores", []).append(sum(c.cores for c in b.clusters))
    return {
        k: (
            max(2 if k.endswith("n_opp") else 1, int(np.floor(min(v) * (1 - margin)))),
            int(np.ceil(max(v) * (1 + margin))),
        )
        for k, v in vals.items()
    }


def _resample(c: ClusterSpec, n: int) -> ClusterSpec:
    """``c`` with ``n`` OPPs, its power tables interpolated at them (the endpoints keep their values).

    The new frequencies are evenly spaced by index between the lowest and the highest OPP (kHz; the inner ones
    rounded to 1 MHz).
    """
    if n == len(c.freqs_khz):
        return c
    f0 = np.asarray(c.freqs_khz, dtype=float)
    f = np.interp(np.linspace(0.0, len(f0) - 1.0, n), np.arange(len(f0)), f0)
    mid = [round(x / 1000.0) * 1000 for x in f[1:-1]]
    freqs = (c.freqs_khz[0], *mid, c.freqs_khz[-1])  # the endpoints exactly: fmax scaling and caps stay the same
    if any(b <= a for a, b in itertools.pairwise(freqs)):
        freqs = tuple(int(x) for x in f)

    def at(v: Sequence[float]) -> tuple[float, ...]:
        return tuple(float(x) for x in np.interp(np.asarray(freqs, dtype=float), f0, np.asarray(v, dtype=float)))

    return dataclasses.replace(c, freqs_khz=freqs, power_mw=at(c.power_mw), idle_mw=at(c.idle_mw),
                               static_mw=at(c.static_mw))  # fmt: skip


def _scale_khz(freqs: Sequence[int], f: float) -> tuple[int, ...]:
    out = [max(1000, round(x * f / 1000.0) * 1000) for x in freqs]
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + 1000)
    return tuple(out)


def generate_device(
    bases: Sequence[str], index: int, seed: int, pool: str = "family", margin: float = MARGIN, structure: bool = False
) -> DeviceProfile:
    """One generated phone (deterministic in its arguments).

    Args:
        bases: Catalog names of the real phones to generate around.
        index: Variant number.
        seed: Generator seed.
        pool: ``family`` (ranges from the base phone's SoC family) or ``all`` (ranges from every base phone;
            the structure still comes from the drawn base phone).
        margin: Relative widening of the ranges (0..1).
        structure: Also sample each CPU cluster's core count and OPP count (:func:`structure_ranges`) instead of
            copying the base's; every other draw is the same as without it.

    Returns:
        A device profile named by :func:`device_name` (in memory only).
    """
    from metadvfs.catalog.devices import load_device

    profs = [load_device(b) for b in bases]
    if not profs:
        raise MetaDVFSError("generated devices: empty base list")
    if pool not in POOLS.values() or not 0 <= margin <= 1:
        raise MetaDVFSError(f"generated devices: pool must be family|all and margin in [0, 1], got {pool}, {margin}")
    rng = _rng("device", seed, index, pool, margin, *bases)
    base = profs[int(rng.integers(len(profs)))]
    rng_ = family_ranges(profs, base.metadata.soc_family if pool == "family" else None, margin)

    def draw(k: str) -> float:
        lo, hi = rng_[k]
        return float(rng.uniform(lo, hi))

    counts = {c.domain: c.cores for c in base.clusters}
    opps = {c.domain: len(c.freqs_khz) for c in base.clusters}
    if structure:
        srng = _rng("structure", seed, index, pool, margin, *bases)  # its own stream: the other draws stay the same
        sr = structure_ranges(profs, base.metadata.soc_family if pool == "family" else None, margin)

        def pick(k: str, keep: int) -> int:
            return int(srng.integers(sr[k][0], sr[k][1] + 1)) if k in sr else keep

        lo, hi = sr["total_cores"]
        for _ in range(1000):  # per-cluster counts in range whose sum is a plausible CPU count
            draw_n = {d: pick(f"{d}_cores", n) for d, n in counts.items()}
            if lo <= sum(draw_n.values()) <= hi:
                counts = draw_n
                break
        opps = {d: pick(f"{d}_n_opp", n) for d, n in opps.items()}
    clusters = []
    fscale: dict[str, float] = {}
    first = 0
    for c0 in base.clusters:
        c = _resample(c0, opps[c0.domain])
        f = draw(f"{c.domain}_fmax_khz") / c.fmax_khz
        p = draw(f"{c.domain}_pmax_mw") / c.power_mw[-1]
        fscale[c.domain] = f
        clusters.append(
            dataclasses.replace(
                c,
                cores=counts[c.domain],
                cpus=f"{first}-{first + counts[c.domain] - 1}" if counts[c.domain] > 1 else str(first),
                ipc=round(draw(f"{c.domain}_ipc"), 4),
                freqs_khz=_scale_khz(c.freqs_khz, f),
                power_mw=tuple(x * p for x in c.power_mw),
                idle_mw=tuple(x * p for x in c.idle_mw),
                static_mw=tuple(x * p for x in c.static_mw),
                idle_states=None
                if c.idle_states is None
                else dataclasses.replace(c.idle_states, core_off_mw=c.idle_states.core_off_mw * p),
            )
        )
        first += counts[c.domain]
    g = base.gpu
    gf = draw("gpu_fmax_khz") / g.fmax_khz
    gp = draw("gpu_pmax_mw") / max(g.power_mw)
    fscale["gpu"] = gf
    gpu = dataclasses.replace(
        g,
        freqs_khz=_scale_khz(g.freqs_khz, gf),
        power_mw=tuple(x * gp for x in g.power_mw),
        idle_mw=tuple(x * gp for x in g.idle_mw),
        throughput=round(draw("gpu_throughput"), 4),
        mali_dvfs=tuple(
            dataclasses.replace(m, freq_khz=f2)
            for m, f2 in zip(g.mali_dvfs, _scale_khz([m.freq_khz for m in g.mali_dvfs], gf), strict=True)
        ),
    )
    t = base.thermal
    skin = draw("skin_throttle_c")
    die = draw("die_throttle_c")
    ds, dd = skin - t.skin_throttle_c, die - t.die_throttle_c
    rules = tuple(
        dataclasses.replace(
            r,
            trip_c=r.trip_c + (ds if r.sensor == "skin" else dd),
            clear_c=r.clear_c + (ds if r.sensor == "skin" else dd),
            caps_khz={k: int(v * fscale.get(k, 1.0)) for k, v in r.caps_khz.items()},
        )
        for r in t.rules
    )
    thermal = dataclasses.replace(
        t,
        c_die_j_per_c=draw("c_die_j_per_c"),
        c_skin_j_per_c=draw("c_skin_j_per_c"),
        r_die_skin_c_per_w=draw("r_die_skin_c_per_w"),
        r_skin_amb_c_per_w=draw("r_skin_amb_c_per_w"),
        skin_throttle_c=skin,
        die_throttle_c=die,
        shutdown_c=max(t.shutdown_c, skin + 5.0),
        rules=rules,
    )
    return dataclasses.replace(
        base,
        name=device_name(bases, index, seed, pool, margin, structure),
        display_name=f"generated {base.metadata.soc_family} phone {index} (base {base.name}, seed {seed})",
        codenames=(),
        clusters=tuple(clusters),
        gpu=gpu,
        thermal=thermal,
        base_power_mw=draw("base_power_mw"),
        estimated={"*": f"generated by metadvfs.tasks.generator around {base.name} (family ranges of {bases})"},
        path=None,
    )


def device_name(
    bases: Sequence[str], index: int, seed: int, pool: str = "family", margin: float = MARGIN, structure: bool = False
) -> str:
    """``gen<seed><f|a><margin %>[s].<index>.<bases>``: enough to regenerate the phone (``s``: ``structure``)."""
    p = next(k for k, v in POOLS.items() if v == pool)
    return f"gen{seed}{p}{round(100 * margin)}{'s' if structure else ''}.{index}.{'+'.join(bases)}"


def app_name(bases: Sequence[str], index: int, seed: int, gpu_bound: float = 0.0) -> str:
    """``genapp<seed>[b<gpu_bound %>].<index>.<bases>``: enough to regenerate the app."""
    share = f"b{round(100 * gpu_bound)}" if gpu_bound > 0 else ""
    return f"genapp{seed}{share}.{index}.{'+'.join(bases)}"


def generate_app(bases: Sequence[str], index: int, seed: int, gpu_bound: float = 0.0) -> AppProfile:
    """One generated app (deterministic in ``bases``, ``index``, ``seed`` and ``gpu_bound``).

    Args:
        bases: Catalog app names to generate around.
        index: Variant number.
        seed: Generator seed.
        gpu_bound: Probability that the app is a GPU-bound game (its GPU demand drawn from
            :data:`GPU_DEMAND_RANGE`), in [0, 1]; whole percents (it is part of the name).

    Returns:
        An app profile named :func:`app_name`.
    """
    from metadvfs.workload.apps import MAX_FPS, load_app

    if not 0.0 <= gpu_bound <= 1.0:
        raise MetaDVFSError(f"generated.gpu_bound: must be in [0, 1], got {gpu_bound}")
    apps = [load_app(b) for b in bases]
    if not apps:
        raise MetaDVFSError("generated apps: empty base list")
    rng = _rng("app", seed, index, *bases)
    base = apps[int(rng.integers(len(apps)))]
    gpu_bound = round(100 * gpu_bound) / 100.0  # what the name keeps
    ui_f, gpu_f, bg_f = (float(rng.uniform(*WORK_RANGE)) for _ in range(3))
    target = float(rng.choice(FPS_TARGETS, p=FPS_PROBS))
    old = base.metadata.target_fps
    bound_rng = _rng("app-gpu-bound", seed, index, *bases)  # its own stream: the draws above stay the same
    demand = float(np.exp(bound_rng.uniform(*np.log(GPU_DEMAND_RANGE))))
    heaviest = base.heaviest_target_gpu_mc()
    bound = bool(bound_rng.random() < gpu_bound) and heaviest > 0
    if bound:
        gpu_f = demand / target / heaviest
    phases = []
    for ph in base.phases:
        w = float(rng.uniform(*WEIGHT_RANGE))
        fps = min(MAX_FPS, target if abs(ph.fps - old) < 1e-9 else ph.fps)
        phases.append(
            dataclasses.replace(
                ph,
                weight=ph.weight * w,
                fps=fps,
                ui_mc=(ph.ui_mc[0] * ui_f, ph.ui_mc[1]),
                gpu_mc=(ph.gpu_mc[0] * gpu_f, ph.gpu_mc[1]),
                worker_mc_per_s=(ph.worker_mc_per_s[0] * bg_f, ph.worker_mc_per_s[1]),
                bg_mc_per_s=(ph.bg_mc_per_s[0] * bg_f, ph.bg_mc_per_s[1]),
            )
        )
    m = base.metadata
    meta = dataclasses.replace(
        m,
        target_fps=target,
        cpu_intensity=float(np.clip(m.cpu_intensity * ui_f, 0.0, 1.0)),
        gpu_intensity=float(np.clip(m.gpu_intensity * gpu_f, 0.0, 1.0)),
    )
    name = app_name(bases, index, seed, gpu_bound)
    return dataclasses.replace(
        base,
        name=name,
        display_name=f"generated app {index} (base {base.name}, seed {seed})",
        metadata=meta,
        phases=tuple(phases),
        notes=f"generated by metadvfs.tasks.generator from {base.name}: ui x{ui_f:.2f}, gpu x{gpu_f:.2f}"
        + (f" (GPU-bound: {demand:.0f} GPU-Mc/s at the target)" if bound else "")
        + f", worker/bg x{bg_f:.2f}, target {target:g} fps",
        path=None,
    )


@functools.lru_cache(maxsize=1024)
def resolve_generated_device(name: str) -> DeviceProfile | None:
    """The generated phone a name describes, or ``None`` if it is not a generated name."""
    m = _DEV_RE.match(name)
    if m is None:
        return None
    return generate_device(
        m.group(6).split("+"),
        int(m.group(5)),
        int(m.group(1)),
        POOLS[m.group(2)],
        int(m.group(3)) / 100.0,
        structure=m.group(4) == "s",
    )


@functools.lru_cache(maxsize=1024)
def resolve_generated_app(name: str) -> AppProfile | None:
    """The generated app a name describes, or ``None`` if it is not a generated name."""
    m = _APP_RE.match(name)
    if m is None:
        return None
    return generate_app(m.group(4).split("+"), int(m.group(3)), int(m.group(1)), int(m.group(2) or 0) / 100.0)


def is_generated_task(name: str) -> bool:
    """Whether a ``DEVICE:APP`` name involves a generated phone or app (those are never evaluation tasks)."""
    dev, _, app = name.partition(":")
    return bool(_DEV_RE.match(dev) or _APP_RE.match(app))


def generated_task_names(
    devices: int,
    apps: int,
    tasks: int,
    seed: int,
    base_devices: Sequence[str],
    base_apps: Sequence[str],
    pool: str = "family",
    margin: float = MARGIN,
    structure: bool = False,
    gpu_bound: float = 0.0,
) -> list[str]:
    """Names of ``tasks`` generated training tasks.

    Each task pairs a generated phone with a real or generated app, or a real phone with a generated app
    (never two real ones: those are the catalog tasks). Deterministic in the arguments.

    Args:
        devices: Generated phones (0: only real phones, with generated apps).
        apps: Generated apps (0: only real apps, with generated phones).
        tasks: Number of task names to return (distinct).
        seed: Generator seed.
        base_devices: Real phones to generate around (and to pair generated apps with).
        base_apps: Real apps to generate around (and to pair generated phones with).
        pool: Device parameter ranges from the base phone's ``family`` or from ``all`` base phones.
        margin: Relative widening of the device ranges.
        structure: Generated phones also sample their core and OPP counts (names marked ``s``).
        gpu_bound: Share of generated apps that are GPU-bound games (names marked ``b<percent>``).

    Returns:
        ``DEVICE:APP`` names.
    """
    if tasks <= 0:
        return []
    if devices <= 0 and apps <= 0:
        raise MetaDVFSError("generated: tasks > 0 needs devices > 0 or apps > 0")
    bd, ba = "+".join(base_devices), "+".join(base_apps)
    gdev = [device_name(base_devices, i, seed, pool, margin, structure) for i in range(devices)]
    gapp = [app_name(base_apps, i, seed, gpu_bound) for i in range(apps)]
    pairs = [(d, a) for d in gdev for a in [*base_apps, *gapp]] + [(d, a) for d in base_devices for a in gapp]
    if tasks > len(pairs):
        raise MetaDVFSError(f"generated.tasks: at most {len(pairs)} distinct tasks for these counts, got {tasks}")
    order = _rng("tasks", seed, bd, ba).permutation(len(pairs))[:tasks]
    return [f"{pairs[i][0]}:{pairs[i][1]}" for i in sorted(order)]
