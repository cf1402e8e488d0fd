"""``metadvfs/LiveDVFS-v0``: the DVFS environment on a real (or twin) phone over ADB.

Same spaces, codec and reward as ``metadvfs/DVFS-v0`` for the device, so a policy trained in simulation can be
fine-tuned on the phone: observations come from :class:`~metadvfs.adb.sampler.Sampler` readings encoded with
:func:`metadvfs.core.codec.encode` and the device profile's :class:`~metadvfs.core.codec.CodecSpec`
(built as the simulated env builds it); actions are decoded with :func:`~metadvfs.core.codec.decode` and
written by the same :class:`~metadvfs.deploy.session.ControlSession` as ``metadvfs deploy`` (snapshot, on-device
watchdog, restore on :meth:`LiveDVFSEnv.close`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metadvfs.catalog.types import DeviceProfile
from metadvfs.core import codec
from metadvfs.core.domains import DOMAINS, N_DOMAINS
from metadvfs.core.options import EnvOptions
from metadvfs.core.reward import compute_reward, step_ppr
from metadvfs.errors import MetaDVFSError


class LiveDVFSEnv(gym.Env):
    """A phone reached over ADB, controlled by the agent.

    ## Description
    Every decision interval the agent picks a frequency move per domain (little, mid, big, GPU); the env writes
    the resulting OPPs to the phone (cpufreq ``userspace``/min-max clamp, GPU min/max), waits for the next tick,
    reads the phone once (``/proc/stat``, frequencies, GPU utilisation, thermal zones, ODPM or battery power,
    SurfaceFlinger frame timing) and returns the observation and reward.

    ## Action Space
    As ``metadvfs/DVFS-v0``: ``MultiDiscrete([3] * 4)`` (relative) or ``MultiDiscrete([L] * 4)`` (absolute).

    ## Observation Space
    As ``metadvfs/DVFS-v0``: ``Dict(obs=Box(0, 2, (window, 26)), meta=Box(0, 2, (M,)))``. ``meta`` is the
    device + app metadata vector of the given ``app``, or of the detected foreground app (a default vector for
    apps outside the catalog), unless ``meta`` fixes it (a model's own encoding of the task; then its box is the
    learner's metadata bounds).

    ## Rewards
    :func:`metadvfs.core.reward.compute_reward` with the measured QoE, ``PPR = QoE * target_fps / P`` and
    the skin temperature against the profile's skin throttle point. ``PPR_ref`` is ``ppr_ref`` if given, else
    the mean PPR measured on the phone under its stock governor for ``ref_seconds`` before the first episode
    (the phone-side analogue of the simulated env's schedutil reference). The phone is claimed before that
    measurement; its mean QoE is kept as ``stock_qoe`` (``None`` when ``ppr_ref`` was given).

    ## Stock control
    :meth:`hand_back` gives frequency control back to the stock governors for a while (the session, watchdog and
    snapshot stay); until :meth:`take_back`, :meth:`step` checks the action but does not apply it, and
    ``info["stock_control"]`` is True.

    ## Episode End
    Truncated after ``episode_seconds``, or early when the skin or die temperature reaches the profile's
    throttle point (the phone is then handed back to the stock governor until the next reset;
    ``info["handback"]`` is True). Never terminated.

    ## Info
    ``power_w``, ``energy_j``, ``fps``, ``fps_requested``, ``frames_janky``, ``qoe``, ``ppr_norm``,
    ``thermal_penalty``, ``temp_die_c``, ``temp_skin_c``, ``throttled``, ``freq_mhz``, ``step_ms``, ``app``,
    ``task``, ``handback``.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | serial | (required) | ``HOST:PORT`` or USB serial |
    | device | None | device profile or profile name/path (must list the phone's codename; default: by codename) |
    | app | None | catalog app for ``meta`` (default: the detected foreground app) |
    | meta | None | fixed metadata row, or a function of the resolved device profile returning it |
    | decision_interval_s | 0.1 | decision interval, s |
    | episode_seconds | 60 | episode length, s |
    | options | None | :class:`~metadvfs.core.options.EnvOptions` (its fields may also be given as keywords) |
    | reward_weights | None | dict of :class:`~metadvfs.core.reward.RewardWeights` fields |
    | action_mode / levels / window | "relative" / 8 / 1 | as DVFS-v0 |
    | ppr_ref | None | reference PPR, frames/J (default: measured under the stock governor) |
    | ref_seconds | 10 | length of that measurement, s |
    | keep_thermal | False | leave thermal daemons alone |
    | method | "auto" | CPU write method (auto, clamp, userspace) |
    | timeout_s | 5 | ADB timeout, s |

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium convention)

    def __init__(
        self,
        serial: str,
        device: str | DeviceProfile | None = None,
        app: str | None = None,
        *,
        meta: np.ndarray | Callable[[DeviceProfile], np.ndarray] | None = None,
        options: EnvOptions | None = None,
        ppr_ref: float | None = None,
        ref_seconds: float = 10.0,
        keep_thermal: bool = False,
        method: str = "auto",
        timeout_s: float = 5.0,
        **env_options: Any,
    ) -> None:
        from metadvfs.adb.binding import bind, profile_codec_spec
        from metadvfs.adb.discovery import discover
        from metadvfs.adb.link import AdbLink
        from metadvfs.deploy.record import resolve_profile

        opts = EnvOptions.build(options, **env_options)
        if ppr_ref is not None and not ppr_ref > 0:
            raise MetaDVFSError("ppr_ref: must be > 0")
        if ppr_ref is not None and opts.reward_weights.qoe_floor > 0:
            raise MetaDVFSError(
                "reward_weights.qoe_floor > 0 compares with the QoE measured under the stock governor: omit ppr_ref"
            )
        self.options = opts
        self.interval = float(opts.decision_interval_s)
        self.n_steps = max(1, round(opts.episode_seconds / opts.decision_interval_s))
        self.weights = opts.reward_weights
        self.action_mode = action_mode = opts.action_mode
        self.levels = levels = opts.levels
        self.window = window = opts.window
        self.ppr_ref = ppr_ref
        self.ref_seconds = ref_seconds
        self.keep_thermal = keep_thermal
        self.method = method
        self.link = AdbLink(serial, timeout_s=timeout_s).connect()
        try:
            self.link.require_root()
            layout = discover(self.link)
            profile = device if isinstance(device, DeviceProfile) else resolve_profile(layout.codename, device)
            self.profile: DeviceProfile = profile
            self.binding = bind(layout, self.profile)
            for d, dom in enumerate(DOMAINS):
                want = (
                    self.profile.gpu.freqs_khz
                    if dom == "gpu"
                    else (c.freqs_khz if (c := self.profile.cluster(dom)) else ())
                )
                if tuple(self.binding.tables_khz[d]) != tuple(want):
                    raise MetaDVFSError(
                        f"{serial}: {dom} OPP table {list(self.binding.tables_khz[d])} kHz differs from profile "
                        f"{self.profile.name} ({list(want)}); the codec would mis-map levels"
                    )
            row = meta(self.profile) if callable(meta) else meta
            self.fixed_meta = None if row is None else np.asarray(row, dtype=np.float32).reshape(-1)
        except BaseException:
            self.link.close()
            raise
        self.codec_spec = profile_codec_spec(self.profile)
        self.fixed_app = app
        self._meta_cache: dict[str | None, np.ndarray] = {}
        if self.fixed_meta is None:
            meta_box = spaces.Box(0.0, 2.0, (self._meta(app).shape[0],), np.float32)
        else:
            from metadvfs.learn.wrappers import META_HIGH, META_LOW

            meta_box = spaces.Box(META_LOW, META_HIGH, self.fixed_meta.shape, np.float32)
        self.observation_space = spaces.Dict(
            {"obs": spaces.Box(codec.OBS_LOW, codec.OBS_HIGH, (window, codec.OBS_DIM), np.float32), "meta": meta_box}
        )
        self.action_space = spaces.MultiDiscrete(codec.action_nvec(action_mode, levels))
        self.session: Any = None
        self.hist = np.zeros((window, codec.OBS_DIM), dtype=np.float32)
        self._prev: Any = None
        self._last: Any = None
        self._t = 0
        self._next_t = 0.0
        self._handback = False
        self._stock_control = False
        self.stock_qoe: float | None = None
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ helpers
    def _meta(self, app: str | None) -> np.ndarray:
        if app not in self._meta_cache:
            from metadvfs.tasks.metadata import metadata_vector
            from metadvfs.tasks.task import stand_in_app
            from metadvfs.workload.apps import list_apps, load_app

            prof = load_app(app) if app in list_apps() else stand_in_app(app or "default", 60.0)
            self._meta_cache[app] = metadata_vector(self.profile, prof)
        return self._meta_cache[app]

    def _new_session(self) -> Any:
        from metadvfs.deploy.session import ControlSession

        return ControlSession(
            self.link, self.binding, method=self.method, keep_thermal=self.keep_thermal, watchdog=True
        )

    def _measure_ref(self) -> float:
        """Mean PPR under the stock governor over ``ref_seconds`` (reads only); keeps the mean QoE in ``stock_qoe``."""
        from metadvfs.adb.sampler import Sampler

        s = Sampler(self.link, self.binding)
        prev = s.sample()
        vals, qoes = [], []
        end = time.monotonic() + self.ref_seconds
        while time.monotonic() < end:
            time.sleep(self.interval)
            cur = s.sample()
            sr = s.reading(prev, cur)
            prev = cur
            vals.append(float(step_ppr(sr.reading.qoe, np.array([s.target_fps]), sr.reading.power_total_mw)[0]))
            qoes.append(float(sr.reading.qoe[0]))
        ref = float(np.mean(vals)) if vals else 0.0
        self.stock_qoe = float(np.mean(qoes)) if qoes else None
        if not ref > 0:
            raise MetaDVFSError("could not measure a reference PPR under the stock governor; pass ppr_ref")
        return ref

    def _beat_loop(self) -> None:
        from metadvfs.adb.link import AdbLinkError

        while not self._beat_stop.wait(0.5):
            sess = self.session
            if sess is None or sess.report is not None:
                continue
            try:
                sess.beat()
            except (AdbLinkError, MetaDVFSError):
                return

    def _observe(self) -> tuple[Any, np.ndarray]:
        cur = self.session.read()
        sr = self.session.sampler.reading(self._prev, cur)
        self._prev = cur
        return sr, codec.encode(sr.reading, self.codec_spec)[0]

    def _obs(self, sr: Any) -> dict[str, np.ndarray]:
        if self.fixed_meta is not None:
            return {"obs": self.hist.copy(), "meta": self.fixed_meta.copy()}
        app = self.fixed_app if self.fixed_app is not None else (sr.app if sr is not None else None)
        return {"obs": self.hist.copy(), "meta": self._meta(app).astype(np.float32).copy()}

    def _wait(self) -> None:
        self._next_t += self.interval
        delay = self._next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next_t = time.monotonic()

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Take the phone over (first call or after a hand-back) and start an episode."""
        super().reset(seed=seed)
        if self._closed:
            raise MetaDVFSError("LiveDVFS env is closed")
        if self.session is None or self.session.report is not None:
            self.session = self._new_session()
            try:
                self.session.prepare()  # claim first: the stock measurement must not see another run's governor
                if self.ppr_ref is None:
                    self.ppr_ref = self._measure_ref()
                self.session.start()
            except BaseException:
                self.session.restore()
                raise
        self._stock_control = False
        if self._beat_thread is None:
            self._beat_thread = threading.Thread(target=self._beat_loop, name="metadvfs-heartbeat", daemon=True)
            self._beat_thread.start()
        self._handback = False
        self._prev = self.session.read()
        self._next_t = time.monotonic()
        self._wait()
        sr, obs = self._observe()
        self._last = sr
        self.hist[:] = obs
        self._t = 0
        return self._obs(sr), {"task": f"{self.profile.name}:live", "app": sr.app or sr.foreground}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply one decision and observe the next interval."""
        if self.session is None or self._handback:
            raise MetaDVFSError("call reset() first (the phone was handed back to the stock governor)")
        a = np.asarray(action, dtype=np.int64).reshape(1, N_DOMAINS)
        if not self.action_space.contains(a[0]):
            raise MetaDVFSError(f"action {a[0].tolist()} is outside {self.action_space}")
        t0 = time.perf_counter()
        if not self._stock_control:
            want = codec.decode(
                a, self._last.level[None], self.codec_spec, self.action_mode, self.levels, self._last.reading.util
            )[0]
            self.session.apply(want)
        t1 = time.perf_counter()
        self._wait()
        t2 = time.perf_counter()
        sr, obs = self._observe()
        t3 = time.perf_counter()
        self._last = sr
        if self.window > 1:
            self.hist[:-1] = self.hist[1:]
        self.hist[-1] = obs
        self._t += 1
        r = sr.reading
        target = np.array([self.session.sampler.target_fps])
        ppr = step_ppr(r.qoe, target, r.power_total_mw)
        reward, parts = compute_reward(
            r.qoe,
            ppr,
            np.array([self.ppr_ref]),
            r.temp_skin_c,
            self.codec_spec.skin_throttle_c,
            self.weights,
            qoe_ref=None if self.stock_qoe is None else np.array([self.stock_qoe]),
        )
        hot = sr.temp_skin_c >= float(self.profile.thermal.skin_throttle_c) or sr.temp_die_c >= float(
            self.profile.thermal.die_throttle_c
        )
        truncated = self._t >= self.n_steps
        if hot:
            self.session.restore()
            self._handback = True
            truncated = True
        info: dict[str, Any] = {
            "power_w": sr.power_total_mw / 1000.0,
            "energy_j": sr.power_total_mw / 1000.0 * sr.dt_s,
            "fps": sr.presented / sr.dt_s,
            "fps_requested": sr.frames / sr.dt_s,
            "frames_janky": float(sr.frames - sr.presented),
            "qoe": float(r.qoe[0]),
            "ppr_norm": float(parts["ppr_norm"][0]),
            "thermal_penalty": float(parts["thermal"][0]),
            "temp_die_c": sr.temp_die_c,
            "temp_skin_c": sr.temp_skin_c,
            "throttled": bool(sr.throttled),
            "freq_mhz": dict(zip(DOMAINS, (sr.freq_khz / 1000.0).tolist(), strict=True)),
            "step_ms": ((t1 - t0) + (t3 - t2)) * 1000.0,
            "app": sr.app or sr.foreground,
            "task": f"{self.profile.name}:live",
            "handback": hot,
            "stock_control": self._stock_control,
        }
        return self._obs(sr), float(reward[0]), False, bool(truncated), info

    def hand_back(self) -> None:
        """Give frequency control back to the stock governors until :meth:`take_back` (see Stock control)."""
        if self.session is None or self._handback:
            raise MetaDVFSError("call reset() first (the phone was handed back to the stock governor)")
        if not self._stock_control:
            self.session.hand_back()
            self._stock_control = True

    def take_back(self) -> None:
        """End :meth:`hand_back`: the agent's actions are applied again from the next step."""
        if self._stock_control and self.session is not None and not self._handback:
            self.session.take_back()
        self._stock_control = False

    def close(self) -> None:
        """Restore the phone's stock settings, stop the watchdog and close the link (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._beat_stop.set()
        if self._beat_thread is not None:
            self._beat_thread.join(timeout=2.0)
        try:
            if self.session is not None:
                self.restore_report = self.session.restore()
        finally:
            self.link.close()
        super().close()

    def __del__(self) -> None:  # best effort if the user forgets close()
        with contextlib.suppress(Exception):  # nothing sensible to do in a finaliser
            if not getattr(self, "_closed", True):
                self.close()
