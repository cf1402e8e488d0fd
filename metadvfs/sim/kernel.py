"""The per-tick inner loop of the simulator, compiled with numba.

One call advances N environments by T ticks at fixed OPPs (see :mod:`metadvfs.sim.core` for the model).
It is the only implementation of the per-tick physics; the tests cross-check it against a plain-Python
transcription of the same equations.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def step_kernel(
    speed: np.ndarray,
    rate: np.ndarray,
    cap: np.ndarray,
    f_ratio: np.ndarray,
    work: np.ndarray,
    share_c: np.ndarray,
    frames: np.ndarray,
    ui_pf: np.ndarray,
    gpu_pf: np.ndarray,
    ui_dom: np.ndarray,
    pos: np.ndarray,
    n_ticks: int,
    q: np.ndarray,
    util: np.ndarray,
    alpha: float,
    fps: np.ndarray,
    busy_sum: np.ndarray,
    crit_sum: np.ndarray,
    counts: np.ndarray,
    late_dom: np.ndarray,
) -> None:
    """Advance every environment ``n_ticks`` ticks (in place).

    Args:
        speed: (N, 4) Mc/s of one core (GPU: of the GPU) at the applied OPP.
        rate: (N, 4) Mc/s of the whole domain (speed x cores).
        cap: (N, 4) Mc one domain retires per tick (all cores).
        f_ratio: (N, 4) f / fmax (frequency invariance).
        work: (N, L, 4) work per tick and domain, Mc.
        share_c: (N, L, 4) share of the domain's work on its busiest CPU, times the core count.
        frames: (N, L) frames requested per tick.
        ui_pf: (N, L) ui work per frame, Mc.
        gpu_pf: (N, L) GPU work per frame, GPU Mc.
        ui_dom: (N, L) domain of the ui thread.
        pos: (N,) first tick to simulate per environment.
        n_ticks: Ticks to advance.
        q: (N, 4) backlog, Mc (updated).
        util: (N, 4) PELT utilisation (updated; the GPU column is overwritten by the caller).
        alpha: PELT decay per tick.
        fps: (N,) frame-rate target (deadline = 1 / fps).
        busy_sum: (N, 4) out: sum over ticks of the domain busy fraction.
        crit_sum: (N, 4) out: sum over ticks of the busiest-CPU busy fraction.
        counts: (N, 3) out: frames requested, presented (1/slots each), janky.
        late_dom: (N, 4) out: frames late because of each domain.
    """
    n = speed.shape[0]
    for i in range(n):
        p0 = pos[i]
        for dd in range(4):
            busy_sum[i, dd] = 0.0
            crit_sum[i, dd] = 0.0
            late_dom[i, dd] = 0.0
        req = 0.0
        pres = 0.0
        jank = 0.0
        fps_i = fps[i]
        inv_cap = np.empty(4)
        for dd in range(4):
            inv_cap[dd] = 1.0 / cap[i, dd]
        for k in range(n_ticks):
            t = p0 + k
            qp_ui = 0.0
            dom = ui_dom[i, t]
            qp_gpu = q[i, 3]
            for dd in range(4):
                qp = q[i, dd]
                if dd == dom:
                    qp_ui = qp
                c = cap[i, dd]
                qn = qp + work[i, t, dd] - c
                if qn < 0.0:
                    qn = 0.0
                busy = (qp + work[i, t, dd] - qn) * inv_cap[dd]
                q[i, dd] = qn
                busy_sum[i, dd] += busy
                cr = busy * share_c[i, t, dd]
                if cr > 1.0:
                    cr = 1.0
                crit_sum[i, dd] += cr
                util[i, dd] = alpha * util[i, dd] + (1.0 - alpha) * cr * f_ratio[i, dd]
            nf = frames[i, t]
            if nf > 0.0:
                t_cpu = ui_pf[i, t] / speed[i, dom] + qp_ui / rate[i, dom]
                t_gpu = (gpu_pf[i, t] + qp_gpu) / speed[i, 3]
                stage = t_cpu if t_cpu > t_gpu else t_gpu
                slots = np.ceil(stage * fps_i - 1e-9)
                if slots < 1.0:
                    slots = 1.0
                req += nf
                pres += nf / slots
                if slots > 1.0:
                    jank += nf
                if t_cpu * fps_i > 1.0 + 1e-9:
                    late_dom[i, dom] += nf
                if t_gpu * fps_i > 1.0 + 1e-9:
                    late_dom[i, 3] += nf
        counts[i, 0] = req
        counts[i, 1] = pres
        counts[i, 2] = jank
