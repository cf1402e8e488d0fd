"""Own a phone while a governor runs: snapshot, take over, heartbeat, restore on every exit path.

Order of :meth:`ControlSession.start` (nothing is written before the last read succeeds):

1. snapshot every node the controller may write and every service/property of the family's plan (reads);
2. check that no watchdog of an earlier run is still active (waits for it, or detects a concurrent deploy);
3. start the frame poller (shell user), then push the watchdog script, write the first heartbeat, start the
   watchdog with ``nohup`` as root and wait for its pid file;
4. stop the overriding services and set the properties (one ``su`` round trip);
5. switch userspace-capable policies to the ``userspace`` governor;
6. start the root applier, which from then on performs the per-decision writes (:mod:`metadvfs.adb.agents`).

:meth:`ControlSession.restore` is idempotent: it reconnects if the link was lost, stops the applier, writes
the stock values back (one ``su`` round trip), verifies nodes, services and properties, and stops the
watchdog and the poller. If the phone cannot be reached, the watchdog restores it once the heartbeat has been
silent for ``heartbeat_timeout_s``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from metadvfs.adb import agents
from metadvfs.adb.binding import Binding
from metadvfs.adb.control import Controller
from metadvfs.adb.link import AdbLink, AdbLinkError
from metadvfs.adb.sampler import RawSample, Sampler
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.adb.shellsafe import q
from metadvfs.deploy import watchdog as wd
from metadvfs.deploy.services import Services, plan_for
from metadvfs.errors import MetaDVFSError


@dataclass
class RestoreReport:
    """How a session ended.

    Attributes:
        by: ``host`` (restored and verified by this process), ``watchdog`` (link lost; the on-device watchdog
            restores), ``nothing`` (nothing had been changed) or ``failed``.
        verified: The host read every node back and it matched the snapshot.
        mismatches: Nodes, services or properties that differ from the snapshot after the restore.
        error: Why the host could not restore (``by`` = ``watchdog``/``failed``).
    """

    by: str
    verified: bool
    mismatches: list[str] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {"by": self.by, "verified": self.verified, "mismatches": self.mismatches, "error": self.error}


class ControlSession:
    """Controls one phone; use as a context manager or call :meth:`start` / :meth:`restore`.

    Args:
        link: Connected link.
        binding: The bound phone.
        method: Controller write method (``auto``, ``clamp``, ``userspace``).
        keep_thermal: Leave thermal daemons and properties alone.
        watchdog: Start the on-device watchdog.
        heartbeat_timeout_s: Heartbeat silence after which the watchdog restores, s.
        fg_period_s: Foreground-app re-check period of the sampler, s.
    """

    def __init__(
        self,
        link: AdbLink,
        binding: Binding,
        method: str = "auto",
        keep_thermal: bool = False,
        watchdog: bool = True,
        heartbeat_timeout_s: float = wd.DEFAULT_TIMEOUT_S,
        fg_period_s: float = 1.0,
    ) -> None:
        self.link = link
        self.b = binding
        self.controller = Controller(link, binding, method)
        self.services = Services(link, plan_for(binding.profile, keep_thermal))
        self.sampler = Sampler(
            link, binding, fg_period_s, mode="agent", heartbeat=True, extra_cats={"ack": agents.ACK_PATH}
        )
        self.use_watchdog = watchdog
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.prepared = False
        self.changed = False
        self.watchdog_started = False
        self.applier_started = False
        self.report: RestoreReport | None = None
        self.notes: list[str] = []

    # ------------------------------------------------------------------ setup
    def prepare(self) -> list[str]:
        """Root check and snapshots (reads only).

        Returns:
            Human-readable list of what :meth:`start` and the run will change.
        """
        self.link.require_root()
        self.controller.snapshot()
        self.services.snapshot()
        self.prepared = True
        lines = self.controller.describe() + self.services.describe()
        if self.use_watchdog:
            lines.append(f"watchdog {wd.SCRIPT_PATH} (restores after {self.heartbeat_timeout_s:g} s without heartbeat)")
        return lines

    def start(self) -> None:
        """Take the phone over (see the module docstring for the order)."""
        if not self.prepared:
            self.prepare()
        if self.use_watchdog:
            self._check_previous_watchdog()
        self.changed = True  # from here on, restore() puts everything back
        self.sampler.start()
        if self.use_watchdog:
            self._start_watchdog()
        cmds = self.services.stop_commands()
        if cmds:
            self._run(cmds, "stopping platform services")
        self.controller.take_over()
        agents.start_applier(self.link, self.controller.write_nodes)
        self.applier_started = True
        self.controller.use_applier()

    def _run(self, cmds: list[tuple[str, str, bool]], what: str) -> list[str]:
        s = Script()
        for i, (_label, cmd, _opt) in enumerate(cmds):
            s.run(f"c{i}", cmd)
        r = parse_sections(self.link.root_shell(s.text()), s)
        errors = []
        for i, (label, _cmd, optional) in enumerate(cmds):
            if r[f"c{i}"].failed and not optional:
                errors.append(f"{label}: {r[f'c{i}'].text.strip()[:80]}")
        if errors and what:
            raise MetaDVFSError(f"{what} failed: {errors[0]}")
        return errors

    def _check_previous_watchdog(self) -> None:
        s = Script().cat("pid", wd.PID_PATH).cat("hb", agents.HEARTBEAT_PATH)
        r = parse_sections(self.link.read_shell(s.text()), s)
        if r["pid"].failed:
            return
        first = r["hb"].text.strip()
        deadline = time.monotonic() + self.heartbeat_timeout_s + 3.0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            s = Script().cat("pid", wd.PID_PATH).cat("hb", agents.HEARTBEAT_PATH)
            r = parse_sections(self.link.read_shell(s.text()), s)
            if r["pid"].failed:
                return
            if r["hb"].text.strip() != first:
                raise MetaDVFSError(
                    f"another metadvfs deploy is controlling {self.link.serial} (its heartbeat {agents.HEARTBEAT_PATH} "
                    "is advancing); stop it first"
                )
        # a live watchdog exits within heartbeat_timeout_s of the last heartbeat: this pid file is stale
        self.link.root_shell(f"rm -f {q(wd.PID_PATH)}")
        self.notes.append(f"removed a stale {wd.PID_PATH}")

    def _start_watchdog(self) -> None:
        restore = [c for _n, c in self.controller.restore_commands()] + [
            c for _l, c, _o in self.services.restore_commands()
        ]
        script = wd.watchdog_script(restore, self.heartbeat_timeout_s)
        agents.prepare_dir(self.link)
        self.link.push_text(script, wd.SCRIPT_PATH, 0o755)
        self.sampler.beat()  # the heartbeat file belongs to the shell user
        out = self.link.root_shell(f"rm -f {q(wd.STOP_PATH)} {q(wd.STATUS_PATH)}; {wd.start_command()}")
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            s = Script().cat("pid", wd.PID_PATH)
            r = parse_sections(self.link.read_shell(s.text()), s)
            if not r["pid"].failed and r["pid"].text.strip().isdigit():
                self.watchdog_started = True
                return
            time.sleep(0.05)
        raise MetaDVFSError(
            f"the on-device watchdog did not start (no {wd.PID_PATH} after 3 s; shell said {out.strip()[:80]!r})"
        )

    # ------------------------------------------------------------------ steps
    def read(self) -> RawSample:
        """One sample (with the heartbeat and the applier's acknowledgement in the same round trip)."""
        raw = self.sampler.sample()
        self.controller.check_ack(raw.extra.get("ack"))
        return raw

    def beat(self) -> None:
        """A heartbeat on its own (used while waiting longer than a second between decisions)."""
        self.sampler.beat()

    def apply(self, levels: np.ndarray) -> int:
        """Write OPP levels (see :meth:`~metadvfs.adb.control.Controller.apply`)."""
        return self.controller.apply(levels)

    # ------------------------------------------------------------------ restore
    def restore(self) -> RestoreReport:
        """Put the phone back (idempotent); see the module docstring."""
        if self.report is not None:
            return self.report
        if not self.changed and not self.watchdog_started:
            self.report = RestoreReport(by="nothing", verified=True)
            return self.report
        try:
            if not self.link.connected and not self.link.reconnect(attempts=5, delay_s=0.3):
                raise AdbLinkError(f"cannot reconnect to {self.link.serial}")
            if self.applier_started:
                agents.stop_applier(self.link)
                self.applier_started = False
            self.controller.transport = "su"
            cmds = [(n, c, False) for n, c in self.controller.restore_commands()]
            cmds += self.services.restore_commands()
            errors = self._run(cmds, "") if cmds else []
            mismatches = list(errors)
            if self.controller.snapshot_ is not None:
                mismatches += self.controller.verify(self.controller.snapshot_)
            mismatches += self.services.verify()
            if self.watchdog_started:
                self._stop_watchdog()
            self.sampler.stop()
            self.report = RestoreReport(by="host", verified=not mismatches, mismatches=mismatches)
        except MetaDVFSError as exc:
            by = "watchdog" if self.watchdog_started else "failed"
            self.report = RestoreReport(by=by, verified=False, error=str(exc))
        return self.report

    def _stop_watchdog(self) -> None:
        self.link.root_shell(f"echo 1 > {q(wd.STOP_PATH)}")
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            s = Script().cat("pid", wd.PID_PATH)
            r = parse_sections(self.link.read_shell(s.text()), s)
            if r["pid"].failed:
                return
            time.sleep(0.1)
        self.notes.append("the watchdog did not confirm its exit within 2.5 s")

    def __enter__(self) -> ControlSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
