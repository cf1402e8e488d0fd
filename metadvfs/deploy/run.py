"""``metadvfs deploy``: run an exported governor on a phone, and give the phone back afterwards.

Flow: load and validate the governor directory (hash of every file it names); check that its throttle points
are not above the device profile's and that its decisions are in range on probe inputs; connect; discover the
phone; check that it is the phone the governor was built for (codename, cpufreq policies, OPP tables, GPU family
and table); take root; claim the phone and finish an earlier run's restore (:mod:`metadvfs.deploy.session`);
snapshot every setting the run touches and save the snapshot on the phone and the host; hash the governor's
files again; then, unless ``dry_run``, take the phone over
(:class:`~metadvfs.deploy.session.ControlSession`) and run the control loop at the manifest's decision
interval. Every step is one read round trip (with the watchdog heartbeat), the codec encode, the governor's
decision, the codec decode and one write round trip (only when a level changes); its duration is measured.

The loop ends when ``seconds`` have elapsed, on Ctrl-C or SIGTERM, when the skin or die temperature reaches the
manifest's throttle point (hand-back to the stock governor), when the ADB link is lost, or on an error. In
every case the stock settings are restored and verified (or, if the phone is unreachable, restored by the
on-device watchdog). The run is logged as a ``metadvfs.trace/1`` trace plus a per-step CSV and a summary.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metadvfs.adb.binding import Binding, bind, profile_for_codename
from metadvfs.adb.discovery import Layout, discover
from metadvfs.adb.link import AdbLink, AdbLinkError
from metadvfs.core.domains import DOMAINS
from metadvfs.deploy.record import TraceRow, trace_row, write_recorded_trace
from metadvfs.deploy.session import ControlSession
from metadvfs.environment import codec
from metadvfs.errors import MetaDVFSError
from metadvfs.export.manifest import GovernorManifest, check_files
from metadvfs.export.runtime import GovernorRuntime
from metadvfs.io import write_text_atomic, write_with

DOMAIN_SHORT = DOMAINS


def check_match(m: GovernorManifest, layout: Layout, serial: str = "phone") -> None:
    """Check that the phone is the one the governor was built for.

    Raises:
        MetaDVFSError: Codename, a cpufreq policy, an OPP table or the GPU differs (names the first difference).
    """
    if layout.codename not in m.codenames:
        raise MetaDVFSError(
            f"{serial} is {layout.codename!r} ({layout.model or 'unknown model'}), but governor {m.path} was built "
            f"for {m.device_name} ({', '.join(m.codenames)})"
        )
    for key, e in m.domains.items():
        if key == "gpu":
            if layout.gpu.family != e.family:
                raise MetaDVFSError(f"{serial}: GPU is {layout.gpu.family}, governor {m.path} expects {e.family}")
            if tuple(layout.gpu.freqs_khz) != e.freqs_khz:
                raise MetaDVFSError(
                    f"{serial}: GPU table {list(layout.gpu.freqs_khz)} kHz differs from the governor's "
                    f"{list(e.freqs_khz)}"
                )
            continue
        p = layout.policy(e.cpufreq_policy or "")
        if p is None:
            have = ", ".join(x.name for x in layout.policies)
            raise MetaDVFSError(f"{serial}: no cpufreq {e.cpufreq_policy} ({key} cluster); phone has {have}")
        if tuple(p.freqs_khz) != e.freqs_khz:
            raise MetaDVFSError(
                f"{serial}: {p.path} table {list(p.freqs_khz)} kHz differs from the governor's {key} table "
                f"{list(e.freqs_khz)}"
            )


def profile_for_manifest(m: GovernorManifest, codename: str) -> tuple[Any, list[str]]:
    """The device profile for a manifest: by name (hash-checked), else by codename."""
    from metadvfs.catalog.devices import load_device, profile_hash

    notes: list[str] = []
    try:
        prof = load_device(m.device_name)
    except MetaDVFSError:
        prof = profile_for_codename(codename)
        notes.append(f"profile {m.device_name!r} not found; using {prof.name} (by codename)")
    if profile_hash(prof) != m.profile_hash:
        notes.append(
            f"profile {prof.name} changed since export (hash {profile_hash(prof)} != {m.profile_hash}); its power "
            "model is used only for unmetered domains and trace units"
        )
    return prof, notes


def check_throttle(m: GovernorManifest, profile: Any) -> None:
    """Refuse hand-back points above the device profile's.

    Deploy may switch the phone's own thermal control off, so the manifest's points are then the only protection.

    Raises:
        MetaDVFSError: Names the field, its value and the profile's bound.
    """
    th = profile.thermal
    for fld, got, bound in (
        ("throttle.skin_c", m.throttle_skin_c, float(th.skin_throttle_c)),
        ("throttle.die_c", m.throttle_die_c, float(th.die_throttle_c)),
    ):
        if got > bound + 1e-9:
            raise MetaDVFSError(
                f"{m.path}/manifest.json: {fld} is {got:g} degC, above the {profile.name} profile's {bound:g} degC "
                f"(allowed: <= {bound:g})"
            )


def probe_actions(runtime: GovernorRuntime, n_random: int = 6, seed: int = 0) -> None:
    """Decide on probe inputs before anything is written.

    Every decision must be in the action space and decode to valid OPP levels (every decision of the run is
    checked again before its write).

    Raises:
        MetaDVFSError: The governor produced an out-of-range action or level (nothing was written).
    """
    m = runtime.manifest
    spec = m.codec_spec()
    rng = np.random.default_rng(seed)
    shape = (m.codec.window, codec.OBS_DIM)
    windows = [np.zeros(shape, np.float32), np.full(shape, 0.5, np.float32), np.ones(shape, np.float32)]
    windows += [rng.random(shape, dtype=np.float32) for _ in range(n_random)]
    n_opp = np.asarray(m.codec.n_opp)
    cur = np.maximum(n_opp - 1, 0) // 2
    metas = [m.meta_for(None), *[v for k, v in sorted(m.meta.items()) if k != "default"][:3]]
    util_cols = [codec.FEATURES.index(f"{d}_util") for d in codec.DOMAIN_NAMES]
    for w in windows:
        util = np.clip(w[-1, util_cols], 0.0, 1.0)[None].astype(float)  # margin mode decodes on utilisation
        for meta in metas:
            try:
                action = runtime.act(w, meta)
            except MetaDVFSError as exc:
                raise MetaDVFSError(f"{m.path}: refused before any write: {exc}") from None
            levels = codec.decode(action[None], cur[None], spec, m.codec.action_mode, m.codec.levels, util)[0]
            for d in range(4):
                if n_opp[d] > 0 and not 0 <= int(levels[d]) < n_opp[d]:
                    raise MetaDVFSError(
                        f"{m.path}: refused before any write: action {action.tolist()} decodes to level "
                        f"{int(levels[d])} of {DOMAIN_SHORT[d]} (allowed 0..{n_opp[d] - 1})"
                    )


@contextlib.contextmanager
def stop_signals(flag: dict[str, str]) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into a stop request (a second SIGINT raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_int(signum: int, frame: object) -> None:
        if flag.get("reason"):
            raise KeyboardInterrupt
        flag["reason"] = "interrupted (SIGINT)"

    def on_term(signum: int, frame: object) -> None:
        flag["reason"] = "terminated (SIGTERM)"

    old_int = signal.signal(signal.SIGINT, on_int)
    old_term = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _stats_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median": math.nan, "p95": math.nan, "max": math.nan}
    a = np.asarray(values) * 1000.0
    return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def deploy(
    governor: str | Path,
    serial: str,
    seconds: float | None = None,
    dry_run: bool = False,
    out_dir: str | Path | None = None,
    keep_thermal: bool = False,
    method: str = "auto",
    timeout_s: float = 5.0,
    watchdog: bool = True,
    heartbeat_timeout_s: float = 3.0,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    link: AdbLink | None = None,
    handle_signals: bool = True,
) -> dict[str, Any]:
    """Deploy a governor directory to a phone (see the module docstring).

    Args:
        governor: Governor directory (schema ``metadvfs.governor/1``).
        serial: ``HOST:PORT`` or USB serial.
        seconds: Run length, s (``None``: until Ctrl-C / SIGTERM / thermal hand-back).
        dry_run: Check and report what would change; write nothing.
        out_dir: Where to write ``trace.csv``, ``steps.csv`` and ``summary.json`` (default
            ``runs/deploy-<device>-<UTC time>``; not used by a dry run).
        keep_thermal: Leave thermal daemons/properties alone.
        method: CPU write method (``auto``, ``clamp``, ``userspace``).
        timeout_s: ADB timeout of every call, s.
        watchdog: Start the on-device watchdog.
        heartbeat_timeout_s: Heartbeat silence after which the watchdog restores, s.
        on_step: Called after every step with a status dict (live view).
        on_ready: Called once before the loop with the plan (device, governor, changes).
        link: An already connected link (tests, benchmarks).
        handle_signals: Install SIGINT/SIGTERM handlers (main thread only).

    Returns:
        Summary dict (``reason``, ``restore``, loop timing, means, output paths).

    Raises:
        MetaDVFSError: Bad governor directory, wrong phone, no root, missing/garbled nodes; when raised after the
            phone was changed, the message says how it was restored.
    """
    if seconds is not None and not 0 < seconds <= 7 * 24 * 3600:
        raise MetaDVFSError(f"--seconds: must be > 0, got {seconds:g}")
    runtime = GovernorRuntime(governor)
    m = runtime.manifest
    own = link is None
    link = link or AdbLink(serial, timeout_s=timeout_s).connect()
    session: ControlSession | None = None
    try:
        layout = discover(link)
        check_match(m, layout, link.serial)
        profile, notes = profile_for_manifest(m, layout.codename)
        check_throttle(m, profile)
        probe_actions(runtime)
        binding = bind(layout, profile)
        notes += list(layout.notes)
        session = ControlSession(
            link,
            binding,
            method=method,
            keep_thermal=keep_thermal,
            watchdog=watchdog,
            heartbeat_timeout_s=heartbeat_timeout_s,
        )
        changes = session.prepare(dry_run=dry_run)
        plan = {
            "governor": str(m.path),
            "governor_kind": m.kind,
            "governor_desc": runtime.describe(),
            "decision_interval_s": m.decision_interval_s,
            "device": profile.name,
            "codename": layout.codename,
            "serial": link.serial,
            "root": link.root_mode,
            "power_source": layout.power.kind,
            "changes": changes,
            "notes": notes,
        }
        if dry_run:
            snap = dict(session.controller.snapshot_.nodes)  # type: ignore[union-attr]
            return {"dry_run": True, **plan, "notes": notes + session.notes, "snapshot": snap}
        check_files(m)  # the files still are the ones load_manifest hashed (nothing swapped meanwhile)
        if on_ready is not None:
            on_ready(plan)
        flag: dict[str, str] = {}
        with stop_signals(flag) if handle_signals else contextlib.nullcontext():
            result = _loop(session, runtime, binding, seconds, flag, on_step)
        return _finish(session, plan, result, out_dir, binding)
    except BaseException as exc:
        if session is None:
            raise
        if not session.changed:
            session.restore()  # releases the claim
            raise
        report = session.restore()
        if isinstance(exc, MetaDVFSError):
            raise report.error_after(exc) from None
        raise
    finally:
        if session is not None and (session.changed or session.claimed):
            session.restore()
        if own:
            link.close()


def _loop(
    session: ControlSession,
    runtime: GovernorRuntime,
    binding: Binding,
    seconds: float | None,
    flag: dict[str, str],
    on_step: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    m = runtime.manifest
    spec = m.codec_spec()
    interval = m.decision_interval_s
    window = np.zeros((m.codec.window, codec.OBS_DIM), dtype=np.float32)
    rows: list[TraceRow] = []
    steps: list[dict[str, Any]] = []
    t_read: list[float] = []
    t_decide: list[float] = []
    t_write: list[float] = []
    t_loop: list[float] = []
    writes = 0
    reason = "done"
    session.start()
    started = time.monotonic()
    prev = session.read()
    next_t = time.monotonic()
    n = 0
    try:
        while True:
            if flag.get("reason"):
                reason = flag["reason"]
                break
            if seconds is not None and n * interval >= seconds - 1e-9:
                break
            next_t += interval
            while True:  # wait for the next tick, beating at least once a second
                delay = next_t - time.monotonic()
                if delay <= 0 or flag.get("reason"):
                    break
                if delay > 1.0:
                    time.sleep(0.9)
                    session.beat()
                else:
                    time.sleep(delay)
            if flag.get("reason"):
                continue
            t0 = time.perf_counter()
            cur = session.read()
            sr = session.sampler.reading(prev, cur)
            prev = cur
            obs = codec.encode(sr.reading, spec)[0]
            if n == 0:
                window[:] = obs
            else:
                window[:-1] = window[1:]
                window[-1] = obs
            t1 = time.perf_counter()
            hot = sr.temp_skin_c >= m.throttle_skin_c or sr.temp_die_c >= m.throttle_die_c
            if hot:
                reason = (
                    f"thermal hand-back (skin {sr.temp_skin_c:.1f} C / die {sr.temp_die_c:.1f} C reached the "
                    f"throttle point {m.throttle_skin_c:g} / {m.throttle_die_c:g} C)"
                )
                break
            action = runtime.act(window, m.meta_for(sr.app))
            levels = codec.decode(
                action[None], sr.level[None], spec, m.codec.action_mode, m.codec.levels, sr.reading.util
            )[0]
            t2 = time.perf_counter()
            w = session.apply(levels)
            t3 = time.perf_counter()
            writes += w
            n += 1
            t_read.append(t1 - t0)
            t_decide.append(t2 - t1)
            t_write.append(t3 - t2)
            t_loop.append(t3 - t0)
            rows.append(trace_row(binding, sr, interval))
            step = {
                "step": n,
                "t_s": time.monotonic() - started,
                "step_ms": (t3 - t0) * 1000.0,
                "read_ms": (t1 - t0) * 1000.0,
                "decide_ms": (t2 - t1) * 1000.0,
                "write_ms": (t3 - t2) * 1000.0,
                "writes": w,
                "power_w": sr.power_total_mw / 1000.0,
                "fps": sr.fps,
                "frames": sr.frames,
                "presented": sr.presented,
                "qoe": float(sr.reading.qoe[0]),
                "temp_die_c": sr.temp_die_c,
                "temp_skin_c": sr.temp_skin_c,
                "throttled": sr.throttled,
                "app": sr.app or sr.foreground or "",
            }
            for d, name in enumerate(DOMAIN_SHORT):
                step[f"{name}_mhz"] = float(sr.freq_khz[d] / 1000.0)
                step[f"{name}_util"] = float(sr.reading.util[0, d])
                step[f"{name}_level"] = int(sr.level[d])
                step[f"{name}_action"] = int(action[d])
                step[f"{name}_target"] = int(levels[d])
            steps.append(step)
            if on_step is not None:
                on_step(step)
    except AdbLinkError as exc:
        reason = f"lost ADB link ({exc})"
    return {
        "reason": reason,
        "steps": n,
        "duration_s": time.monotonic() - started,
        "rows": rows,
        "step_log": steps,
        "writes": writes,
        "loop_ms": _stats_ms(t_loop),
        "read_ms": _stats_ms(t_read),
        "decide_ms": _stats_ms(t_decide),
        "write_ms": _stats_ms(t_write),
        "write_ms_when_writing": _stats_ms([t for t, s in zip(t_write, steps, strict=True) if s["writes"] > 0]),
        "loop_ms_when_writing": _stats_ms([t for t, s in zip(t_loop, steps, strict=True) if s["writes"] > 0]),
        "app": max(
            (s["app"] for s in steps if s["app"]), key=lambda a: sum(1 for s in steps if s["app"] == a), default=""
        ),
    }


def _finish(
    session: ControlSession, plan: dict[str, Any], result: dict[str, Any], out_dir: str | Path | None, b: Binding
) -> dict[str, Any]:
    report = session.restore()
    steps = result.pop("step_log")
    rows = result.pop("rows")
    summary: dict[str, Any] = {
        **plan,
        **result,
        "restore": report.to_dict(),
        "notes": plan["notes"] + session.notes,
    }
    if steps:
        df = pd.DataFrame(steps)
        summary["mean_power_w"] = float(df["power_w"].mean())
        summary["mean_fps"] = float(df["presented"].sum() / max(result["duration_s"], 1e-9))
        summary["max_temp_die_c"] = float(df["temp_die_c"].max())
        summary["max_temp_skin_c"] = float(df["temp_skin_c"].max())
    if out_dir is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        out_dir = Path("runs") / f"deploy-{plan['device']}-{stamp}"
    out = Path(out_dir)
    summary["out"] = str(out)
    if steps:
        df = pd.DataFrame(steps)
        write_with(out / "steps.csv", lambda p: df.to_csv(p, index=False))
        app = result["app"] or "unknown"
        write_recorded_trace(
            rows,
            plan["decision_interval_s"],
            out / "trace.csv",
            b,
            app,
            session.sampler.target_fps,
            {"governor": str(plan["governor"]), "recorded_by": "metadvfs deploy"},
        )
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=_json_default) + "\n")
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
