"""Compile device profiles into padded numpy arrays for the batched simulator.

Every environment ``n`` of a batch has its own device. Per-domain tables are padded to the longest OPP table
of the batch; ``n_opp`` says how many entries are real. Domains are ordered (little, mid, big, gpu); an absent
domain (Pixel 3 has no mid cluster) has ``mask == 0``, one fake OPP and zero power, and never receives work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from metadvfs.catalog.types import CPU_DOMAINS, DeviceProfile

N_DOMAINS = 4
GPU = 3

# columns of DeviceArrays.idle_par (read by metadvfs.sim.kernel.fused_step)
I_CORE_RES_S, I_EXIT_S, I_CLUSTER_RES_S, I_CORE_OFF_MW = 0, 1, 2, 3
IDLE_PAR = 4
NO_IDLE_STATES = (np.inf, 0.0, np.inf, 0.0)
"""``idle_par`` of a domain without deep idle states (the GPU, absent clusters, clusters without data)."""


def _idle_row(dev: DeviceProfile, dom: str) -> tuple[float, float, float, float]:
    c = dev.cluster(dom)
    st = None if c is None else c.idle_states
    if st is None:
        return NO_IDLE_STATES
    return (
        st.core_off_min_residency_us / 1e6,
        st.exit_active_us / 1e6,
        st.cluster_off_min_residency_us / 1e6,
        st.core_off_mw,
    )


@dataclass(frozen=True)
class DeviceArrays:
    """Padded per-environment device parameters (leading axis = environment).

    Attributes:
        freq_mhz: (N, 4, K) OPP frequencies, MHz (padded with the last real value).
        p_active_mw: (N, 4, K) active power of one busy core (CPU) or the busy GPU at each OPP, mW.
        n_opp: (N, 4) number of real OPPs (1 for absent domains).
        mask: (N, 4) 1.0 where the domain exists.
        cores: (N, 4) cores per domain (1 for the GPU and for absent domains).
        ipc: (N, 4) reference work per cycle (CPU ``ipc``, GPU ``throughput``).
        idle_mw: (N, 4, K) idle power per core (CPU) or of the idle GPU at each OPP, mW (padded like
            ``p_active_mw``).
        static_mw: (N, 4, K) cluster power while awake at each OPP, mW (0 for the GPU).
        idle_par: (N, 4, IDLE_PAR) deep idle states per domain (columns ``I_*``; docs/simulator.md 6.1): core
            power-down min residency (s, ``inf`` without the state), time charged active per wake-up from it (s),
            cluster power-down min residency (s, ``inf``: never), power of a core in the state (mW).
        fmax_mhz: (N, 4) highest OPP, MHz.
        p_max_mw: (N, 4) domain power with every core busy at the top OPP, mW (for normalisation).
        base_mw: (N,) rest-of-phone power, mW: the profile's ``base_power_mw`` plus ``net_mw``.
        worker_dom: (N,) domain index that runs worker threads (mid, or big without mid).
        refresh_hz: (N,) display refresh rate (``metadata.display_refresh_hz``), Hz: the vsync grid frames are
            presented on.
        ambient_c, skin_throttle_c, die_throttle_c: (N,) temperatures, degC.
        thermal: (N, 4) ``(c_die, c_skin, r_die_skin, r_skin_amb)`` in J/degC and degC/W.
        rule_sensor: (N, R) 0 = die, 1 = skin; padded rules have ``rule_trip = inf``.
        rule_trip, rule_clear: (N, R) degC.
        rule_cap: (N, R, 4) highest allowed OPP index while the rule is active.
        names: device name per environment.
        net_mw: (N,) the part of ``base_mw`` that is the app's network (Wi-Fi radio) power, mW
            (:func:`with_network`; zeros from :func:`compile_devices`).
    """

    freq_mhz: np.ndarray
    p_active_mw: np.ndarray
    n_opp: np.ndarray
    mask: np.ndarray
    cores: np.ndarray
    ipc: np.ndarray
    idle_mw: np.ndarray
    static_mw: np.ndarray
    idle_par: np.ndarray
    fmax_mhz: np.ndarray
    p_max_mw: np.ndarray
    base_mw: np.ndarray
    worker_dom: np.ndarray
    refresh_hz: np.ndarray
    ambient_c: np.ndarray
    skin_throttle_c: np.ndarray
    die_throttle_c: np.ndarray
    thermal: np.ndarray
    rule_sensor: np.ndarray
    rule_trip: np.ndarray
    rule_clear: np.ndarray
    rule_cap: np.ndarray
    names: tuple[str, ...]
    net_mw: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of environments."""
        return int(self.n_opp.shape[0])

    @property
    def max_opp(self) -> int:
        """Padded OPP axis length K."""
        return int(self.freq_mhz.shape[2])


def _domain_tables(
    dev: DeviceProfile,
) -> list[tuple[list[float], list[float], int, float, list[float], list[float]]]:
    """Per canonical domain: (freqs MHz, active mW, cores, ipc, idle mW per OPP, static mW per OPP)."""
    out = []
    for dom in CPU_DOMAINS:
        c = dev.cluster(dom)
        if c is None:
            out.append(([1.0], [0.0], 1, 1.0, [0.0], [0.0]))
        else:
            out.append(
                (
                    [f / 1000.0 for f in c.freqs_khz],
                    list(c.power_mw),
                    c.cores,
                    c.ipc,
                    list(c.idle_mw),
                    list(c.static_mw),
                )
            )
    g = dev.gpu
    zeros = [0.0] * len(g.freqs_khz)
    out.append(([f / 1000.0 for f in g.freqs_khz], list(g.power_mw), 1, g.throughput, list(g.idle_mw), zeros))
    return out


def cap_index(freqs_khz: tuple[int, ...], cap_khz: int) -> int:
    """Highest OPP index whose frequency is <= ``cap_khz`` (0 if the cap is below every OPP)."""
    idx = int(np.searchsorted(np.asarray(freqs_khz), cap_khz, side="right")) - 1
    return max(idx, 0)


def _rule_caps(dev: DeviceProfile) -> list[tuple[int, float, float, list[int]]]:
    rules = []
    for r in dev.thermal.rules:
        caps = []
        for dom in (*CPU_DOMAINS, "gpu"):
            spec = dev.gpu if dom == "gpu" else dev.cluster(dom)
            if spec is None:
                caps.append(0)
            elif dom in r.caps_khz:
                caps.append(cap_index(spec.freqs_khz, r.caps_khz[dom]))
            else:
                caps.append(len(spec.freqs_khz) - 1)
        rules.append((0 if r.sensor == "die" else 1, float(r.trip_c), float(r.clear_c), caps))
    return rules


_SINGLE: dict[int, tuple[DeviceProfile, DeviceArrays]] = {}


def _single(dev: DeviceProfile) -> DeviceArrays:
    hit = _SINGLE.get(id(dev))
    if hit is None or hit[0] is not dev:
        hit = (dev, _build((dev,)))
        _SINGLE[id(dev)] = hit
    return hit[1]


def compile_devices(devices: list[DeviceProfile] | tuple[DeviceProfile, ...]) -> DeviceArrays:
    """Stack device parameters into padded arrays, one row per environment.

    Args:
        devices: One profile per environment (repeats allowed).

    Returns:
        The padded arrays.
    """
    devices = tuple(devices)
    if len(devices) == 1:
        return _single(devices[0])
    return _build(devices)


def _build(devices: tuple[DeviceProfile, ...]) -> DeviceArrays:
    n = len(devices)
    tables = [_domain_tables(d) for d in devices]
    k = max(len(t[0]) for tab in tables for t in tab)
    rules = [_rule_caps(d) for d in devices]
    r = max(1, max(len(x) for x in rules))
    freq = np.zeros((n, N_DOMAINS, k))
    pact = np.zeros((n, N_DOMAINS, k))
    n_opp = np.zeros((n, N_DOMAINS), dtype=np.int64)
    cores = np.ones((n, N_DOMAINS))
    ipc = np.ones((n, N_DOMAINS))
    idle = np.zeros((n, N_DOMAINS, k))
    static = np.zeros((n, N_DOMAINS, k))
    idle_par = np.array([[*(_idle_row(d, dom) for dom in CPU_DOMAINS), NO_IDLE_STATES] for d in devices])
    mask = np.zeros((n, N_DOMAINS))
    rule_sensor = np.zeros((n, r), dtype=np.int64)
    rule_trip = np.full((n, r), np.inf)
    rule_clear = np.full((n, r), np.inf)
    rule_cap = np.zeros((n, r, N_DOMAINS), dtype=np.int64)
    for i, (dev, tab) in enumerate(zip(devices, tables, strict=True)):
        present = dev.domain_mask
        for d, (fr, pw, nc, ip, idl, st) in enumerate(tab):
            m = len(fr)
            freq[i, d, :m] = fr
            freq[i, d, m:] = fr[-1]
            pact[i, d, :m] = pw
            pact[i, d, m:] = pw[-1]
            n_opp[i, d] = m
            cores[i, d] = nc
            ipc[i, d] = ip
            idle[i, d, :m] = idl
            idle[i, d, m:] = idl[-1]
            static[i, d, :m] = st
            static[i, d, m:] = st[-1]
            mask[i, d] = 1.0 if present[d] else 0.0
        rule_cap[i] = (n_opp[i] - 1)[None, :]
        for j, (sensor, trip, clear, caps) in enumerate(rules[i]):
            rule_sensor[i, j] = sensor
            rule_trip[i, j] = trip
            rule_clear[i, j] = clear
            rule_cap[i, j] = caps
    fmax = freq[np.arange(n)[:, None], np.arange(N_DOMAINS)[None, :], n_opp - 1]
    top = (np.arange(n)[:, None], np.arange(N_DOMAINS)[None, :], n_opp - 1)
    p_max = (pact[top] * cores + static[top]) * mask
    worker_dom = np.array([1 if d.cluster("mid") is not None else 2 for d in devices], dtype=np.int64)
    th = np.array(
        [
            (
                d.thermal.c_die_j_per_c,
                d.thermal.c_skin_j_per_c,
                d.thermal.r_die_skin_c_per_w,
                d.thermal.r_skin_amb_c_per_w,
            )
            for d in devices
        ]
    )
    return DeviceArrays(
        freq_mhz=freq,
        p_active_mw=pact,
        n_opp=n_opp,
        mask=mask,
        cores=cores,
        ipc=ipc,
        idle_mw=idle,
        static_mw=static,
        idle_par=idle_par,
        fmax_mhz=fmax,
        p_max_mw=p_max,
        base_mw=np.array([d.base_power_mw for d in devices], dtype=float),
        worker_dom=worker_dom,
        refresh_hz=np.array([float(d.metadata.display_refresh_hz) for d in devices]),
        ambient_c=np.array([d.thermal.ambient_c for d in devices], dtype=float),
        skin_throttle_c=np.array([d.thermal.skin_throttle_c for d in devices], dtype=float),
        die_throttle_c=np.array([d.thermal.die_throttle_c for d in devices], dtype=float),
        thermal=th,
        rule_sensor=rule_sensor,
        rule_trip=rule_trip,
        rule_clear=rule_clear,
        rule_cap=rule_cap,
        names=tuple(d.name for d in devices),
    )


def with_network(dev: DeviceArrays, net_mw: np.ndarray) -> DeviceArrays:
    """``dev`` with each environment's network (Wi-Fi radio) power added to its rest-of-phone power.

    Network power is whole-phone power outside the SoC rails (docs/simulator.md), so it joins ``base_mw``: the
    kernel adds it to the total power and to the skin's heat input, never to the domains' (SoC) power.

    Args:
        dev: Compiled device arrays (``net_mw`` unset or zero).
        net_mw: (N,) network power per environment, mW (:func:`metadvfs.sim.network.network_power_mw`).

    Returns:
        A copy with ``base_mw`` raised by ``net_mw`` and ``net_mw`` recorded.
    """
    net = np.asarray(net_mw, dtype=float).reshape(dev.n)
    prev = np.zeros(dev.n) if dev.net_mw is None else dev.net_mw
    return dataclasses.replace(dev, base_mw=dev.base_mw - prev + net, net_mw=net)


def thermal_step_matrices(thermal: np.ndarray, dt_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact zero-order-hold discretisation of the two-node RC thermal model.

    State ``x = (T_die, T_skin)`` in degC. Continuous model::

        C_d dT_d/dt = P_soc - (T_d - T_s) / R_ds
        C_s dT_s/dt = (T_d - T_s) / R_ds - (T_s - T_amb) / R_sa + P_base

    With inputs constant over ``dt_s``: ``x' = Phi x + G_soc P_soc + G_base P_base + G_amb T_amb``.

    Args:
        thermal: (N, 4) ``(c_die, c_skin, r_die_skin, r_skin_amb)``.
        dt_s: Step length, s.

    Returns:
        ``Phi`` (N, 2, 2), ``G`` (N, 2, 3) for inputs ``(P_soc W, P_base W, T_amb degC)``, and the
        steady-state check matrix (N, 2, 3) (``-A^-1 B``) used by tests.
    """
    uniq, inv = np.unique(thermal, axis=0, return_inverse=True)  # phones share RC parameters: solve each once
    inv = inv.reshape(-1)
    n = uniq.shape[0]
    phi = np.zeros((n, 2, 2))
    gam = np.zeros((n, 2, 3))
    ss = np.zeros((n, 2, 3))
    for i in range(n):
        cd, cs, rds, rsa = uniq[i]
        a = np.array([[-1 / (cd * rds), 1 / (cd * rds)], [1 / (cs * rds), -(1 / rds + 1 / rsa) / cs]])
        b = np.array([[1 / cd, 0.0, 0.0], [0.0, 1 / cs, 1 / (rsa * cs)]])
        lam, vec = np.linalg.eig(a)
        lam = lam.real
        vec = vec.real
        e = vec @ np.diag(np.exp(lam * dt_s)) @ np.linalg.inv(vec)
        ainv = np.linalg.inv(a)
        phi[i] = e
        gam[i] = ainv @ (e - np.eye(2)) @ b
        ss[i] = -ainv @ b
    return phi[inv], gam[inv], ss[inv]
