"""Online adaptation on a phone: ``metadvfs adapt --serial S --app PKG --minutes M``.

A model is adapted on a real (rooted) phone, or the ADB twin, through ``metadvfs/LiveDVFS-v0``
(:class:`~metadvfs.environment.live_env.LiveDVFSEnv`: the simulator's observation/action codec and reward), with
the same PPO set-up as simulated adaptation (:func:`metadvfs.meta.fast.make_adapter`: ``context`` fits only the
metadata context, ``finetune`` every weight) and the same safety as ``metadvfs deploy``: the phone's session is a
:class:`~metadvfs.deploy.session.ControlSession` (claim, persistent stock snapshot, on-device watchdog, applier,
restore and verification on every exit path), SIGINT/SIGTERM end the run cleanly
(:func:`metadvfs.deploy.run.stop_signals`), the skin/die throttle points of the profile hand the phone back to
the stock governor and end the run.

Order (nothing on the phone changes before the model, the app and the phone are checked):

1. check the arguments, load the model, resolve ``--app`` (a package listed by a catalog app's
   ``android.packages``, a catalog app name, or an app profile file) — locally;
2. connect, take root, discover the phone and its profile (by codename, or ``--device``, which must list it),
   encode the (device, app) task with the model's metadata encoder (the model must be able to), check the
   package is installed — reads only;
3. bring the app to the foreground if it is not (``monkey -p PKG``);
4. claim the phone and snapshot it, measure the stock governor for ``stock_seconds`` (reads only: the PPR
   reference of the reward and the stock QoE of the floor), take the phone over;
5. adapt for the budget: ``ceil(minutes * 60 / decision_interval / rollout)`` PPO rollouts of ``rollout``
   decisions; **phone-minutes** = decisions on the phone x decision interval (the stock measurement is
   reported apart);
6. restore the phone and verify it; then write the adapted checkpoint, ``governor/`` (the format ``metadvfs
   export`` writes; ``metadvfs deploy`` runs it), ``adaptation.json`` and ``steps.csv``.

**QoE floor** (as :class:`metadvfs.meta.fast.QoEFloorVecEnv` in simulation): every ``floor_interval_s`` the
mean QoE of the policy's own decisions is compared with the stock governor's QoE (measured in step 4) minus
``qoe_margin``; below it, the phone's stock governors get frequency control back for the next interval
(:meth:`~metadvfs.deploy.session.ControlSession.hand_back`: the snapshot's governors and limits are written
back, the session stays), then the policy takes over again. Those decisions carry no policy gradient
(:func:`metadvfs.meta.fast.neutralise_fallback`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from metadvfs.errors import MetaDVFSError
from metadvfs.meta.fast import CONTEXT_LR
from metadvfs.paths import source_name

ONLINE_METHODS = ("context", "finetune")
"""Methods of online adaptation (the start point is the metadata-routed model, as in simulation)."""
MAX_MINUTES = 24 * 60.0
"""Longest online adaptation, phone-minutes."""
STOCK_SECONDS_RANGE = (1.0, 600.0)
"""Allowed length of the stock-governor measurement, s."""
REPORT_SCHEMA = "metadvfs.adapt-online/1"
"""Schema of ``adaptation.json`` of an online run."""


@dataclass(frozen=True)
class PhoneApp:
    """The app adapted to.

    Attributes:
        package: Android package that is run on the phone.
        spec: App as a task spec takes it (catalog name or absolute profile path).
        profile: Its app profile (metadata and demand model).
    """

    package: str
    spec: str
    profile: Any


def resolve_app(app: str) -> PhoneApp:
    """``--app``: an app profile file, a catalog app name or a package listed by a catalog app.

    Raises:
        MetaDVFSError: Unknown package or app, or a profile without ``android.packages``.
    """
    from metadvfs.adb.shellsafe import check_package
    from metadvfs.workload.apps import list_apps, load_app, package_index

    p = Path(app)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        prof = load_app(p)
        spec = str(p.resolve())
    elif app in list_apps():
        prof, spec = load_app(app), app
    else:
        try:
            check_package(app)
        except MetaDVFSError:
            raise MetaDVFSError(
                f"--app {app!r}: not a package name, catalog app ({', '.join(list_apps())}) or app profile file"
            ) from None
        name = package_index().get(app)
        if name is None:
            raise MetaDVFSError(
                f"--app {app}: unknown package (no app file lists it under android.packages); pass an app profile "
                "file that lists it"
            )
        return PhoneApp(app, name, load_app(name))
    if not prof.packages:
        raise MetaDVFSError(f"--app {app}: the app profile lists no android.packages (needed to run it on a phone)")
    return PhoneApp(prof.packages[0], spec, prof)


def installed_packages(link: Any) -> set[str]:
    """Packages installed on the phone (``pm list packages``)."""
    out = link.shell("pm list packages 2>/dev/null")
    return {ln.strip()[len("package:") :] for ln in out.splitlines() if ln.strip().startswith("package:")}


def foreground_package(link: Any) -> str | None:
    """The resumed app's package (``None`` on the lock screen)."""
    from metadvfs.adb import agents
    from metadvfs.adb.parsers import parse_foreground

    return parse_foreground(link.shell(agents.FG_COMMAND))


def bring_to_front(link: Any, package: str, timeout_s: float = 5.0) -> None:
    """Launch ``package`` (``monkey -p``) unless it is in the foreground; wait until it is.

    Raises:
        MetaDVFSError: It did not come to the foreground within ``timeout_s``.
    """
    from metadvfs.adb.shellsafe import check_package, q

    if foreground_package(link) == package:
        return
    link.shell(f"monkey -p {q(check_package(package))} -c android.intent.category.LAUNCHER 1 >/dev/null 2>&1")
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if foreground_package(link) == package:
            return
        time.sleep(0.2)
    raise MetaDVFSError(f"{package} did not come to the foreground within {timeout_s:g} s (launch it, then retry)")


class PhoneGuard(gym.Wrapper):  # type: ignore[type-arg]
    """QoE floor, stop requests and the per-decision log around a :class:`LiveDVFSEnv`.

    After a stop (thermal hand-back, SIGINT/SIGTERM) :meth:`reset` does not take the phone again: it returns
    the last observation, and the learner's callback ends the run.

    Args:
        env: The live environment.
        qoe_margin: Floor = stock QoE - margin (``None``: no floor).
        interval_steps: Decisions per checked interval (and per stock interval).
        stop: Shared stop request (``{"reason": ...}``).
    """

    def __init__(self, env: Any, qoe_margin: float | None, interval_steps: int, stop: dict[str, str]):
        super().__init__(env)
        self.live = env.unwrapped
        self.qoe_margin = qoe_margin
        self.interval = max(1, int(interval_steps))
        self.stop = stop
        self.floor: float | None = None
        self.left = 0
        self.acc = 0.0
        self.cnt = 0
        self.masks: list[np.ndarray] = []
        self.steps: list[dict[str, Any]] = []
        self.last_obs: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Start (first call) or continue; never takes the phone again after a stop."""
        if self.stop.get("reason") and self.last_obs is not None:
            return self.last_obs, {}
        obs, info = self.env.reset(**kwargs)
        stock = self.live.stock_qoe
        if self.qoe_margin is not None and self.floor is None and stock is not None:
            self.floor = float(stock) - self.qoe_margin
        self.last_obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """One decision (ignored while the stock governor has control), then the floor check."""
        fallback = self.left > 0
        obs, reward, term, trunc, info = self.env.step(action)
        self.last_obs = obs
        self.masks.append(np.array([fallback]))
        if fallback:
            self.left -= 1
            if self.left == 0 and not info["handback"]:
                self.live.take_back()
        else:
            self.acc += float(info["qoe"])
            self.cnt += 1
            if self.cnt >= self.interval:
                if self.floor is not None and self.acc / self.cnt < self.floor and not info["handback"]:
                    self.live.hand_back()
                    self.left = self.interval
                self.acc, self.cnt = 0.0, 0
        if info["handback"]:
            self.stop.setdefault(
                "reason",
                f"thermal hand-back (skin {info['temp_skin_c']:.1f} C / die {info['temp_die_c']:.1f} C reached the "
                "profile's throttle point)",
            )
        r = float(reward)
        row = {"step": len(self.steps) + 1, "stock_control": fallback, "reward": r}
        for k in ("qoe", "ppr_norm", "power_w", "fps", "temp_skin_c", "temp_die_c", "step_ms", "app"):
            row[k] = info[k]
        for d, f in info["freq_mhz"].items():
            row[f"{d}_mhz"] = f
        self.steps.append(row)
        return obs, r, term, trunc, info


class _Online(BaseCallback):
    """Ends the run on a stop request, reports progress, logs a curve point and fixes fallback decisions."""

    def __init__(
        self,
        guard: PhoneGuard,
        dt: float,
        progress: Callable[[int], None] | None,
        on_step: Callable[[dict[str, Any]], None] | None,
    ):
        super().__init__()
        self.guard = guard
        self.dt = dt
        self.progress = progress
        self.on_step_cb = on_step
        self.curve: list[list[float]] = []
        self._from = 0

    def _on_step(self) -> bool:
        if self.progress is not None:
            self.progress(int(self.model.num_timesteps))
        if self.on_step_cb is not None and self.guard.steps:
            self.on_step_cb(self.guard.steps[-1])
        return not self.guard.stop.get("reason")

    def _on_rollout_end(self) -> None:
        from metadvfs.meta.fast import neutralise_fallback
        from metadvfs.meta.measure import phone_minutes

        buf = self.model.rollout_buffer  # type: ignore[attr-defined]
        neutralise_fallback(buf, self.guard.masks[-buf.buffer_size :])
        own = [s for s in self.guard.steps[self._from :] if not s["stock_control"]]
        self._from = len(self.guard.steps)
        if own:
            ppr = float(np.mean([s["ppr_norm"] for s in own]))
            qoe = float(np.mean([s["qoe"] for s in own]))
            self.curve.append([round(phone_minutes(len(self.guard.steps), self.dt), 4), ppr, qoe])


def _encoder_for(model: Any, app: PhoneApp) -> Callable[[Any], np.ndarray]:
    """``profile -> metadata row`` of the model for (profile, app); a one-line error if it cannot encode it."""
    from metadvfs.tasks.task import Task

    def encode(profile: Any) -> np.ndarray:
        try:
            return np.asarray(model.encode(Task(profile, app.profile)), dtype=np.float32)
        except (MetaDVFSError, KeyError) as exc:
            why = f"its encoder has no range for {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            raise MetaDVFSError(
                f"model {model.path} cannot encode device {profile.name} with app {app.profile.name}: {why}"
            ) from None

    return encode


def _load_model(model_ref: str | Path) -> Any:
    """Load a checkpoint that online adaptation can start from (PPO, the codec's observation rows)."""
    import torch as th

    from metadvfs.environment import codec
    from metadvfs.learn.checkpoint import load_checkpoint
    from metadvfs.learn.trainer import torch_threads

    th.set_num_threads(torch_threads())
    model = load_checkpoint(model_ref)
    if model.doc["algo"] != "ppo":
        raise MetaDVFSError(f"{model.path}: adaptation supports PPO checkpoints (this one is {model.doc['algo']})")
    if int(model.doc["obs"]["obs_dim"]) != codec.OBS_DIM:
        raise MetaDVFSError(
            f"{model.path}: observation rows of {model.doc['obs']['obs_dim']} values, codec has {codec.OBS_DIM}"
        )
    return model


def _start_point(model: Any, profile: Any, app: PhoneApp, method: str) -> tuple[str, bool, dict[str, Any]]:
    """The metadata-routed model for (profile, app): ``(id, conditioned, weights)``.

    Raises:
        MetaDVFSError: Context adaptation of an unconditioned model.
    """
    from metadvfs.tasks.task import Task

    gid = model.model_for(Task(profile, app.profile))
    use_meta = bool(next(m for m in model.doc["models"] if m["id"] == gid)["use_meta"])
    if method == "context" and not use_meta:
        raise MetaDVFSError(f"--method context: the routed model {gid} of {model.path} is not metadata-conditioned")
    return gid, use_meta, {k: v.detach().clone() for k, v in model.policies[gid].state_dict().items()}


def check_arguments(minutes: float, method: str, qoe_margin: float | None, rollout: int, stock_seconds: float) -> None:
    """One-line errors for bad arguments (before anything is loaded or connected)."""
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
        raise MetaDVFSError(f"--minutes: must be in (0, {MAX_MINUTES:g}] phone-minutes, got {minutes}")
    if method not in ONLINE_METHODS:
        raise MetaDVFSError(f"--method: must be one of {', '.join(ONLINE_METHODS)} on a phone, got {method!r}")
    if qoe_margin is not None and not 0 <= qoe_margin <= 1:
        raise MetaDVFSError(f"--qoe-margin: must be in [0, 1] (negative: no floor), got {qoe_margin}")
    if not 8 <= rollout <= 100_000:
        raise MetaDVFSError(f"--rollout: must be in [8, 100000] decisions, got {rollout}")
    lo, hi = STOCK_SECONDS_RANGE
    if not lo <= stock_seconds <= hi:
        raise MetaDVFSError(f"--stock-seconds: must be in [{lo:g}, {hi:g}] s, got {stock_seconds}")


def adapt_online(
    model_ref: str | Path,
    serial: str,
    app: str,
    minutes: float,
    out: str | Path | None = None,
    method: str = "finetune",
    device: str | None = None,
    seed: int = 0,
    rollout: int = 32,
    qoe_margin: float | None = 0.05,
    floor_interval_s: float = 1.0,
    context_lr: float = CONTEXT_LR,
    stock_seconds: float = 10.0,
    keep_thermal: bool = False,
    timeout_s: float = 5.0,
    progress: Callable[[float, float], None] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    handle_signals: bool = True,
    status: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Adapt a model on a phone for ``minutes`` phone-minutes and write an exportable governor.

    Args:
        model_ref: Checkpoint directory or shipped model name (PPO).
        serial: ``HOST:PORT`` or USB serial of the rooted phone (or twin).
        app: Package, catalog app name or app profile file (see :func:`resolve_app`).
        minutes: Budget, phone-minutes (> 0; decisions x decision interval).
        out: Output directory (default ``runs/adapt-<device>-<app>-<UTC time>``): the adapted checkpoint,
            ``governor/``, ``adaptation.json``, ``steps.csv``.
        method: ``context`` or ``finetune``.
        device: Device profile name or file (must list the phone's codename; default: by codename).
        seed: PPO seed.
        rollout: Decisions per PPO update.
        qoe_margin: QoE floor below the measured stock QoE (``None``: no floor).
        floor_interval_s: Length of a checked interval (and of a stock interval), s.
        context_lr: Adam step size of context adaptation (:data:`metadvfs.meta.fast.CONTEXT_LR`).
        stock_seconds: Length of the stock-governor measurement before the takeover, s.
        keep_thermal: Leave thermal daemons and properties alone.
        timeout_s: ADB timeout of every call, s.
        progress: ``(phone-minutes done, phone-minutes of the budget's decisions)`` callback.
        on_step: Called after every decision with its log row.
        handle_signals: Turn SIGINT/SIGTERM into a clean stop (main thread only).
        status: Called with a line when a stage starts after every check passed (stock measurement and takeover,
            restore, writing), so a refusal stays one line.

    Returns:
        The report (also written to ``adaptation.json``).

    Raises:
        MetaDVFSError: Bad arguments, unreachable phone, unknown or missing package, a model that cannot encode
            the device (nothing changed on the phone), or a failure during the run (the message says how the
            phone was restored; :class:`~metadvfs.deploy.session.NotRestored` when it could not be verified).
    """
    import contextlib

    from stable_baselines3.common.vec_env import DummyVecEnv

    from metadvfs.core.options import EnvOptions
    from metadvfs.deploy.run import stop_signals
    from metadvfs.environment.live_env import LiveDVFSEnv
    from metadvfs.meta import fast
    from metadvfs.meta.measure import phone_minutes

    check_arguments(minutes, method, qoe_margin, rollout, stock_seconds)
    phone_app = resolve_app(app)
    model = _load_model(model_ref)
    say = status or (lambda _msg: None)
    cfg = model.cfg
    dt = float(cfg.env.decision_interval_s)
    decisions = max(1, math.ceil(minutes * 60.0 / dt / rollout)) * rollout
    opts = EnvOptions.build(cfg.env, episode_seconds=(decisions + 1) * dt)
    env = LiveDVFSEnv(
        serial, device, meta=_encoder_for(model, phone_app), options=opts, ref_seconds=stock_seconds,
        keep_thermal=keep_thermal, timeout_s=timeout_s,
    )  # fmt: skip
    stop: dict[str, str] = {}
    try:
        if phone_app.package not in installed_packages(env.link):
            raise MetaDVFSError(f"--app {app}: package {phone_app.package} is not installed on {env.link.serial}")
        gid, use_meta, init = _start_point(model, env.profile, phone_app, method)
        context_only = method == "context"
        bring_to_front(env.link, phone_app.package)
        guard = PhoneGuard(env, qoe_margin, round(floor_interval_s / dt), stop)
        venv = DummyVecEnv([lambda: guard])
        c = fast.adapter_config(cfg, rollout, 1, context_only, context_lr)
        algo = fast.make_adapter(c, venv, init, use_meta, seed, context_only, context_lr)
        total_min = phone_minutes(decisions, dt)
        cb = _Online(guard, dt, (lambda n: progress(phone_minutes(n, dt), total_min)) if progress else None, on_step)
        say(f"claiming the phone, measuring its stock governor for {stock_seconds:g} s, then adapting ({method})")
        started = time.monotonic()
        with stop_signals(stop) if handle_signals else contextlib.nullcontext():
            algo.learn(decisions, callback=cb, progress_bar=False)
        wall_s = time.monotonic() - started
    except BaseException as exc:
        changed = env.session is not None and env.session.changed
        env.close()
        if changed and isinstance(exc, MetaDVFSError):
            raise env.restore_report.error_after(exc) from None
        raise
    say("restoring the phone")
    env.close()
    restore = env.restore_report
    sd = fast.adapted_weights(algo)
    n = len(guard.steps)
    device_spec = str(Path(device).resolve()) if device and Path(device).is_file() else env.profile.name
    spec = f"{device_spec}:{phone_app.spec}"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out_dir = (
        Path(out) if out is not None else Path("runs") / f"adapt-{env.profile.name}-{phone_app.profile.name}-{stamp}"
    )
    from metadvfs.tasks.task import Task

    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "serial": serial,
        "device": env.profile.name,
        "app": phone_app.profile.name,
        "package": phone_app.package,
        "task": spec,
        "model": source_name(model.path),
        "routed_model": gid,
        "extrapolated": [f.to_dict() for f in model.out_of_range(Task(env.profile, phone_app.profile))],
        "method": method,
        "seed": seed,
        "rollout": rollout,
        "decision_interval_s": dt,
        "budget_phone_minutes": minutes,
        "budget_decisions": decisions,
        "decisions": n,
        "phone_minutes": round(phone_minutes(n, dt), 4),
        "wall_s": round(wall_s, 2),
        "reason": stop.get("reason", "done"),
        "stock": {"seconds": stock_seconds, "ppr": env.ppr_ref, "qoe": env.stock_qoe},
        "qoe_floor": guard.floor,
        "stock_control_share": round(sum(bool(s["stock_control"]) for s in guard.steps) / max(1, n), 4),
        "curve": cb.curve,
        "curve_note": "per PPO rollout: mean ppr_norm (PPR / stock PPR) and QoE of the policy's own (sampled) "
        "decisions on the phone; not held-out episodes",
        "restore": restore.to_dict(),
        "out": str(out_dir),
    }
    say(f"writing the adapted model and its governor to {out_dir}")
    _write_outputs(out_dir, model, spec, sd, use_meta, device_spec, env.fixed_meta, report, guard.steps)
    if not (restore.by in ("host", "nothing") and restore.verified):
        from metadvfs.deploy.session import NotRestored

        raise NotRestored(f"adaptation written to {out_dir}, but the phone was not restored: {restore.describe()}")
    return report


def _write_outputs(
    out: Path, model: Any, spec: str, sd: dict[str, Any], use_meta: bool, device_spec: str, meta_row: Any,
    report: dict[str, Any], steps: list[dict[str, Any]],
) -> None:  # fmt: skip
    """Adapted checkpoint in ``out``, its governor in ``out/governor``, the report and the decision log.

    The governor's metadata vector for the app (the name deploy's sampler gives the package: its catalog app,
    else ``default``) is the row the model was adapted with.
    """
    import pandas as pd

    from metadvfs.adb.apps import catalog_app
    from metadvfs.export.exporter import export_governor
    from metadvfs.io import write_text_atomic, write_with
    from metadvfs.meta.adapt import save_adapted

    info = {k: report[k] for k in ("serial", "package", "method", "decisions", "phone_minutes", "reason")}
    save_adapted(out, model, spec, sd, use_meta, {"online": info})
    key = catalog_app(report["package"]) or "default"
    gov = export_governor(out, device_spec, out / "governor", meta_overrides={key: meta_row})
    report["governor_meta_key"] = key
    report["governor"] = gov["dir"]
    if steps:
        df = pd.DataFrame(steps)
        write_with(out / "steps.csv", lambda p: df.to_csv(p, index=False))
    write_text_atomic(out / "adaptation.json", json.dumps(report, indent=1, default=float) + "\n")
