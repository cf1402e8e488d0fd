"""The run plan (``plan.txt``) of the on-phone runner, written from what the ADB deploy itself uses.

Every node comes from the same discovery and binding (:mod:`metadvfs.adb.binding`), every write from the same
write plan (:func:`metadvfs.adb.control.domain_nodes`: userspace/``scaling_setspeed`` or ``min = max`` clamps,
table values in node units only), every codec constant from the governor's manifest, and the power model from the
device profile (as :func:`metadvfs.adb.sampler.step_reading` uses it). One ``key value...`` per line; paths are
phone paths (validated, no whitespace). Every path the runner uses is in the plan (none is compiled in), so the
twin's path mapping, which rewrites the phone paths of the text written to the phone, covers the runner too::

    metadvfs-runner-plan 1
    plan|weights|home <path>               the plan's own path, the weight file, the run directory
    device <name> / profile_hash <hash>    must equal the weight file's (else the runner refuses, exit 2)
    interval_ms <ms>  limit_s <s, 0: none>  fg_period_s <s>  default_fps <fps>
    throttle <skin degC> <die degC>        thermal hand-back point
    codec <fmax_mhz x4> <n_opp x4> <p_max_mw x4> <mask x4> <ambient> <die_throttle> <skin_throttle>
    heartbeat <path>                       written every step (the watchdog's and the frame poller's)
    sf_file|fg_file|layer_file <path>      the frame poller's files (metadvfs.adb.agents)
    restore_script <path>; sh <path>       the stock restore.sh, run with the phone's sh after the runner's restore
    stat /proc/stat;  gpu_util <path>;  die <path>...;  skin <path>;  cooling <path>...
    odpm <path>...;  rail <domain|-> <name>;  battery <current_now> <voltage_now>
    base_power_mw <mW>  gpu_throughput <x>
    cpus <d> <cpu>...;  cur <d> <path> <scale to kHz>;  table <d> <kHz>...;  cores <d> <cores> <ipc>
    pfreq|pbusy|pidle|pstatic <d> <per OPP>...   the profile's power model
    write <d> userspace|clamp <min> <max> <setspeed|-> <governor|-> <node values>...
    app <name> <target_fps> <package>...
"""

from __future__ import annotations

import re
from typing import Any

from metadvfs.adb import agents
from metadvfs.adb.binding import Binding
from metadvfs.adb.control import DomainNodes
from metadvfs.adb.shellsafe import check_path
from metadvfs.deploy import ondevice as od
from metadvfs.errors import MetaDVFSError
from metadvfs.export.manifest import GovernorManifest

HOME = f"{od.ROOT_DIR}/runner"
PLAN_PATH = f"{HOME}/plan.txt"
WEIGHTS_PATH = f"{HOME}/policy.bin"
BINARY_PATH = f"{HOME}/metadvfs-runner"
STATUS_PATH = f"{HOME}/status"
STOP_PATH = f"{HOME}/stop"
PID_PATH = od.RUNNER_PID
LOG_PATH = f"{HOME}/steps.csv"
OUT_PATH = f"{HOME}/runner.out"
_WORD = re.compile(r"^[A-Za-z0-9_.:@+=,-]{1,200}$")


def _word(v: str, what: str) -> str:
    if not _WORD.match(v):
        raise MetaDVFSError(f"runner plan: {what} {v!r} cannot be written as one plan word")
    return v


def _path(p: str) -> str:
    return check_path(p)


def _nums(values: Any) -> str:
    return " ".join(f"{float(v):.10g}" for v in values)


def _per_opp(v: float | tuple[float, ...], n: int) -> list[float]:
    return [float(v)] * n if not isinstance(v, (tuple, list)) else [float(x) for x in v]


def render_plan(m: GovernorManifest, b: Binding, plan: list[DomainNodes], limit_s: float = 0.0) -> str:
    """The plan text for governor ``m`` on the bound phone ``b`` with write plan ``plan``.

    Args:
        m: The governor's manifest (codec constants, throttle, interval).
        b: The bound phone.
        plan: The controller's write plan (:func:`metadvfs.adb.control.domain_nodes`).
        limit_s: Stop (and restore) after this many seconds; 0 = run until stopped.

    Returns:
        The plan (one line per setting).
    """
    from metadvfs.workload.apps import list_apps, load_app

    c = m.codec
    prof = b.profile
    lay = b.layout
    lines = [
        "metadvfs-runner-plan 1",
        f"plan {PLAN_PATH}",
        f"weights {WEIGHTS_PATH}",
        f"home {HOME}",
        f"device {_word(m.device_name, 'device')}",
        f"profile_hash {_word(m.profile_hash, 'profile hash')}",
        f"interval_ms {round(m.decision_interval_s * 1000)}",
        f"limit_s {float(limit_s):g}",
        "fg_period_s 1",
        "default_fps 60",
        f"throttle {m.throttle_skin_c:g} {m.throttle_die_c:g}",
        f"codec {_nums(c.fmax_mhz)} {_nums(c.n_opp)} {_nums(c.p_max_mw)} {_nums(c.mask)} "
        f"{c.ambient_c:g} {c.die_throttle_c:g} {c.skin_throttle_c:g}",
        f"heartbeat {od.HEARTBEAT_PATH}",
        f"heartbeat {agents.HEARTBEAT_PATH}",
        f"sf_file {agents.SF_PATH}",
        f"fg_file {agents.FG_PATH}",
        f"layer_file {agents.LAYER_PATH}",
        f"restore_script {od.RESTORE_PATH}",
        "sh /system/bin/sh",
        "stat /proc/stat",
        f"gpu_util {_path(lay.gpu.util_node)}",
        f"base_power_mw {prof.base_power_mw:g}",
        f"gpu_throughput {prof.gpu.throughput:g}",
    ]
    lines += [f"die {_path(z)}" for z in lay.thermal.die_zones]
    if lay.thermal.skin_zone:
        lines.append(f"skin {_path(lay.thermal.skin_zone)}")
    lines += [f"cooling {_path(z)}" for z in lay.thermal.cooling]
    lines += [f"odpm {_path(z)}" for z in lay.power.odpm_nodes]
    lines += [f"rail {b.rail_domain.get(r, '-')} {_word(r, 'rail')}" for r in lay.power.rails]
    if lay.power.kind == "battery" and lay.power.battery_current and lay.power.battery_voltage:
        lines.append(f"battery {_path(lay.power.battery_current)} {_path(lay.power.battery_voltage)}")
    for d in range(4):
        if b.mask[d] <= 0:
            continue
        if d < 3:
            pol = b.policies[d]
            cl = prof.cluster(("little", "mid", "big")[d])
            assert pol is not None and cl is not None
            lines.append(f"cpus {d} {' '.join(str(x) for x in pol.cpus)}")
            lines.append(f"cur {d} {_path(pol.node('scaling_cur_freq'))} 1")
            freqs, busy, idle = cl.freqs_khz, cl.power_mw, cl.idle_mw
            static = _per_opp(cl.static_mw, len(freqs))
            lines.append(f"cores {d} {cl.cores} {cl.ipc:g}")
        else:
            g = prof.gpu
            lines.append(f"cur 3 {_path(lay.gpu.cur_node)} {lay.gpu.scale:.10g}")
            freqs, busy, idle, static = g.freqs_khz, g.power_mw, g.idle_mw, [0.0] * len(g.freqs_khz)
        lines.append(f"table {d} {' '.join(str(x) for x in b.tables_khz[d])}")
        lines.append(f"pfreq {d} {' '.join(str(x) for x in freqs)}")
        lines.append(f"pbusy {d} {_nums(_per_opp(busy, len(freqs)))}")
        lines.append(f"pidle {d} {_nums(_per_opp(idle, len(freqs)))}")
        lines.append(f"pstatic {d} {_nums(static)}")
    for dn in plan:
        opt = [_path(x) if x else "-" for x in (dn.setspeed_node, dn.governor_node)]
        nodes = f"{_path(dn.min_node)} {_path(dn.max_node)} {' '.join(opt)}"
        lines.append(f"write {dn.domain} {dn.method} {nodes} " + " ".join(str(v) for v in dn.table))
    for name in list_apps():
        app = load_app(name)
        pkgs = [_word(p, "package") for p in app.packages][:8]
        lines.append(f"app {_word(name, 'app')} {float(app.metadata.target_fps):g} {' '.join(pkgs)}".rstrip())
    return "\n".join(lines) + "\n"
