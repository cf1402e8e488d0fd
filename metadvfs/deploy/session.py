"""Own a phone while a governor runs: claim, persistent snapshot, take over, heartbeat, restore on every exit path.

Order of :meth:`ControlSession.prepare` and :meth:`ControlSession.start` (nothing is written to a setting before
the persistent snapshot exists):

1. claim the phone (:mod:`metadvfs.deploy.claim`: an atomic ``mkdir`` as root; waits for an earlier run's
   watchdog to restore and release it, takes over a stale claim, refuses while another deploy runs);
2. finish an earlier run's restore: if the phone holds a persistent stock snapshot (:mod:`metadvfs.deploy.stock`)
   stop the earlier run's applier and runner if they are still alive (and wait until they are gone), restore
   from it and read everything back; if only the host copy exists, compare the phone with it; refuse
   (naming each difference, nothing changed) when the phone is not at that stock;
3. snapshot every node the controller may write and every service/property of the family's plan (reads);
4. write the snapshot to the phone (``stock.json`` + ``restore.sh``, root-only; plus a Magisk boot script when
   ``/data/adb/service.d`` exists) and to the host;
5. start the frame poller (shell user), then write and start the root watchdog;
6. stop the overriding services and set the properties (one ``su`` round trip);
7. switch userspace-capable policies to the ``userspace`` governor;
8. start the root applier, which from then on performs the per-decision writes (:mod:`metadvfs.deploy.applier`).

Every setup round trip also advances the root heartbeat, so a deploy that starts meanwhile sees a live owner.
:meth:`ControlSession.restore` is idempotent: it reconnects if the link was lost, stops the applier (``quit``; if it
does not exit: SIGTERM, SIGKILL, and a wait until it is gone), runs the snapshot's restore commands, verifies
nodes, services and properties, stops the watchdog and the poller, and, only when everything matched, removes
the snapshot (phone and host) and releases the claim. If the phone cannot be reached, the watchdog restores it
once the heartbeat has been silent for ``heartbeat_timeout_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from metadvfs.adb import agents
from metadvfs.adb.binding import Binding
from metadvfs.adb.control import Controller
from metadvfs.adb.link import AdbLink, AdbLinkError
from metadvfs.adb.sampler import RawSample, Sampler
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.adb.shellsafe import q
from metadvfs.deploy import applier, claim
from metadvfs.deploy import ondevice as od
from metadvfs.deploy import stock as stk
from metadvfs.deploy import watchdog as wd
from metadvfs.deploy.services import Services, plan_for
from metadvfs.errors import MetaDVFSError

ROOT_BEAT_S = 0.5
"""Longest gap between two root heartbeats during a run, s (the watchdog restores after 3 s of silence)."""


class NotAtStock(MetaDVFSError):
    """The phone's settings differ from its saved stock snapshot; nothing was changed (exit status 2)."""


class NotRestored(MetaDVFSError):
    """The phone was changed and the host could not verify it is back at stock (exit status 4)."""

    exit_code = 4


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

    def describe(self) -> str:
        """One clause saying how the phone was given back (for error messages)."""
        if self.by == "host" and self.verified:
            return "phone restored and verified"
        return f"restore: {self.by}{' (' + self.error + ')' if self.error else ''}" + (
            f"; mismatches: {'; '.join(self.mismatches[:3])}" if self.mismatches else ""
        )

    def error_after(self, exc: MetaDVFSError) -> MetaDVFSError:
        """The error to raise for ``exc`` after this restore: :class:`NotRestored` (exit 4) unless verified."""
        cls = MetaDVFSError if self.by == "host" and self.verified else NotRestored
        return cls(f"{exc} ({self.describe()})")

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {"by": self.by, "verified": self.verified, "mismatches": self.mismatches, "error": self.error}


class ControlSession:
    """Controls one phone; use as a context manager or call :meth:`prepare` / :meth:`start` / :meth:`restore`.

    Args:
        link: Connected link.
        binding: The bound phone.
        method: Controller write method (``auto``, ``clamp``, ``userspace``).
        keep_thermal: Leave thermal daemons and properties alone.
        watchdog: Start the on-device watchdog.
        heartbeat_timeout_s: Heartbeat silence after which the watchdog restores, s.
        fg_period_s: Foreground-app re-check period of the sampler, s.
        clock: Monotonic clock used for the waits, s (tests pass a manual clock).
        sleep: Sleep function used for the waits, s.
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
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1.0 <= heartbeat_timeout_s <= 60.0:
            raise MetaDVFSError(f"heartbeat_timeout_s: must be in [1, 60] s, got {heartbeat_timeout_s:g}")
        self.link = link
        self.b = binding
        self.controller = Controller(link, binding, method)
        self.services = Services(link, plan_for(binding.profile, keep_thermal))
        self.sampler = Sampler(
            link, binding, fg_period_s, mode="agent", heartbeat=True, extra_cats={"ack": agents.ACK_PATH}
        )
        self._root_hb = 0
        self._root_beat_t = -1e9
        self.use_watchdog = watchdog
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.clock = clock
        self.sleep = sleep
        self.token = claim.new_token()
        self.claimed = False
        self.prepared = False
        self.changed = False
        self.watchdog_started = False
        self.applier_started = False
        self.stock: stk.StockState | None = None
        self.saved: stk.StockState | None = None
        self.report: RestoreReport | None = None
        self.notes: list[str] = []

    # ------------------------------------------------------------------ setup
    def prepare(self, dry_run: bool = False) -> list[str]:
        """Root check, claim, earlier restore, snapshots (no setting is changed).

        Args:
            dry_run: Only look (no claim, no restore of an earlier run): report what was found in the notes.

        Returns:
            Human-readable list of what :meth:`start` and the run will change.

        Raises:
            PhoneBusy: Another deploy owns the phone.
            NotAtStock: The phone differs from its saved stock snapshot (each difference named).
        """
        self.link.require_root()
        if dry_run:
            self._look()
        else:
            self.notes += claim.acquire(
                self.link, self.token, self.heartbeat_timeout_s, clock=self.clock, sleep=self.sleep
            )
            self.claimed = True
            try:
                self._finish_earlier()
            except BaseException:
                self._release()
                raise
        try:
            self.controller.snapshot()
            self.services.snapshot()
            self.stock = stk.from_session(self.controller, self.services, self.b.layout.codename, self.link.serial)
        except BaseException:
            self._release()
            raise
        if self.saved is not None:
            self.stock.running = list(dict.fromkeys([*self.saved.running, *self.stock.running]))
        self.prepared = True
        lines = self.controller.describe() + self.services.describe()
        lines.append(f"stock snapshot {od.STOCK_PATH} (root-only) and {stk.host_copy_path(self.link.serial)}")
        if self.use_watchdog:
            lines.append(f"watchdog {wd.SCRIPT_PATH} (restores after {self.heartbeat_timeout_s:g} s without heartbeat)")
        return lines

    def _look(self) -> None:
        st = claim.read_state(self.link)
        if st.held:
            self.notes.append(f"the phone is claimed by another run ({od.CLAIM_DIR}); a deploy would wait or refuse")
        if st.stock:
            self.notes.append(f"an earlier run's stock snapshot is on the phone ({od.STOCK_PATH}); deploy restores it")

    def _finish_earlier(self) -> None:
        """Restore from the phone's persistent snapshot, or check the phone against the host copy."""
        st = claim.read_state(self.link)
        serial = self.link.serial
        if st.stock:
            # an earlier run's applier or runner may still be alive (its watchdog was killed): gone before we restore
            left = od.stop_helpers(self.link, [od.APPLIER, od.RUNNER])
            if left:
                self.notes.append(f"an earlier run's {', '.join(left)} still ran after SIGKILL; restored anyway")
            saved = stk.parse(st.stock, f"{serial}:{od.STOCK_PATH}")
            if saved.codename != self.b.layout.codename:
                raise NotAtStock(
                    f"{serial}:{od.STOCK_PATH} belongs to a {saved.codename!r}, this phone is "
                    f"{self.b.layout.codename!r}; remove it as root only if the phone is at its stock settings"
                )
            self._run(stk.restore_commands(saved), "")
            mism = stk.verify(self.link, saved)
            if mism:
                raise NotAtStock(
                    f"{serial}: after restoring the {saved.describe()} the phone still differs from it: "
                    f"{'; '.join(mism[:4])}{' ...' if len(mism) > 4 else ''} (nothing was changed by this run)"
                )
            self.notes.append(f"finished an earlier run's restore from the {saved.describe()} (verified)")
            self.saved = saved
            return
        host = stk.load_host_copy(serial)
        if host is None:
            return
        mism = stk.verify(self.link, host) if host.codename == self.b.layout.codename else ["codename differs"]
        if mism:
            raise NotAtStock(
                f"{serial}: the phone differs from the saved {host.describe()} ({stk.host_copy_path(serial)}): "
                f"{'; '.join(mism[:4])}{' ...' if len(mism) > 4 else ''}; run metadvfs deploy --restore --serial "
                f"{serial} to put it back, or delete that file if the phone's stock changed (nothing was changed)"
            )
        self.saved = host

    def _release(self) -> None:
        if self.claimed:
            self.claimed = False
            try:
                claim.release(self.link, self.token)
            except MetaDVFSError as exc:
                self.notes.append(f"could not release the claim: {exc}")

    def _beat(self) -> str:
        """A root heartbeat command for the next root round trip (advances the counter)."""
        self._root_hb += 1
        self._root_beat_t = time.monotonic()
        return claim.beat_command(f"r{self._root_hb}")

    def start(self) -> None:
        """Take the phone over (see the module docstring for the order)."""
        self._take_over()
        self.take_back()
        applier.start_applier(self.link, self.controller.write_nodes, self.controller.write_tables, self._beat())
        self.applier_started = True
        self.controller.use_applier()

    def start_untethered(self) -> None:
        """Set the phone up for the on-phone runner: steps 4-6 of :meth:`start` (snapshot, poller, watchdog, services).

        No governor switch and no applier: the runner switches and writes itself, and its heartbeat keeps the
        watchdog and the poller alive once the host has gone.
        """
        self._take_over()

    def _take_over(self) -> None:
        """Steps shared by :meth:`start` and :meth:`start_untethered`: snapshot saved, poller, watchdog, services."""
        if not self.prepared:
            self.prepare()
        assert self.stock is not None
        self._save_stock()
        self.changed = True  # from here on, restore() puts everything back
        self.sampler.start()
        if self.use_watchdog:
            self._start_watchdog()
        cmds = self.services.stop_commands()
        if cmds:
            self._run(cmds, "stopping platform services")

    def _save_stock(self) -> None:
        assert self.stock is not None
        stk.save_host_copy(self.stock)
        boot = q(od.BOOT_DIR)
        cmd = " && ".join(
            [
                self._beat(),
                od.write_command(od.STOCK_PATH, self.stock.to_json()),
                od.write_command(od.RESTORE_PATH, stk.restore_script(self.stock), 0o700),
            ]
        )
        boot_write = od.write_command(od.BOOT_SCRIPT, wd.boot_script(), 0o700)
        cmd += f"; if [ -d {boot} ] && [ ! -L {boot} ]; then {boot_write}; fi"
        out = self.link.root_shell(f"{{ {cmd} ; }} 2>&1 && echo @@ok")
        if "@@ok" not in out:
            raise MetaDVFSError(f"writing the stock snapshot {od.STOCK_PATH} failed: {out.strip()[:100]!r}")

    def _run(self, cmds: list[tuple[str, str, bool]], what: str) -> list[str]:
        s = Script()
        s.run("hb", self._beat())
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

    def _start_watchdog(self) -> None:
        script = wd.watchdog_script(self.token, self.heartbeat_timeout_s)
        od.root_write(self.link, wd.SCRIPT_PATH, script, 0o700)
        out = self.link.root_shell(f"{self._beat()}; {wd.start_command()}")
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            s = Script().run("pid", f'{od.pid_check(wd.PID_PATH, "watchdog.sh")}; echo "$p"')
            r = parse_sections(self.link.root_shell(s.text()), s)
            if not r["pid"].failed and r["pid"].text.strip().isdigit():
                self.watchdog_started = True
                return
            time.sleep(0.05)
        raise MetaDVFSError(
            f"the on-device watchdog did not start (no live {wd.PID_PATH} after 3 s; shell said {out.strip()[:80]!r})"
        )

    # ------------------------------------------------------------------ steps
    def read(self) -> RawSample:
        """One sample as the shell user (with the poller's heartbeat and the applier's acknowledgement).

        The watchdog's root heartbeat goes with every write request and, when no write carried it for
        :data:`ROOT_BEAT_S`, in a root round trip of its own.
        """
        raw = self.sampler.sample()
        self.controller.check_ack(raw.extra.get("ack"))
        self._root_beat_if_due()
        return raw

    def _root_beat_if_due(self) -> None:
        if time.monotonic() - self._root_beat_t >= ROOT_BEAT_S:
            self.link.root_shell(self._beat())

    def beat(self) -> None:
        """A heartbeat on its own (used while waiting longer than a second between decisions)."""
        self.sampler.beat()
        self._root_beat_if_due()

    def apply(self, levels: np.ndarray) -> int:
        """Write OPP levels (see :meth:`~metadvfs.adb.control.Controller.apply`), with the root heartbeat."""
        return self.controller.apply(levels, prefix=self._beat if self.applier_started else None)

    def hand_back(self) -> None:
        """Give frequency control back to the stock governors for a while; the session stays in place.

        Writes the snapshot's governors and limits back (the :meth:`restore` commands of the controller, one
        ``su`` round trip with the root heartbeat) once the applier has acknowledged every request it was sent; the
        claim, the watchdog, the applier, the persistent snapshot and the stopped services stay. :meth:`take_back`
        ends it.

        Raises:
            MetaDVFSError: The applier did not acknowledge its last request within 2 s (the caller restores).
        """
        self.controller.drain()  # a request still queued in the applier would land after the stock settings
        cmds = [(n, c, False) for n, c in self.controller.restore_commands()]
        if cmds:
            self._run(cmds, "handing frequency control back to the stock governor")
        self.controller.forget_levels()

    def take_back(self) -> None:
        """Switch userspace-capable policies to the userspace governor (in :meth:`start` and after :meth:`hand_back`).

        The next :meth:`apply` then writes every domain.
        """
        cmds = [(n, c, False) for n, c in self.controller.takeover_commands()]
        if cmds:
            self._run(cmds, "switching to the userspace governor")

    # ------------------------------------------------------------------ restore
    def restore(self) -> RestoreReport:
        """Put the phone back (idempotent); see the module docstring."""
        if self.report is not None:
            return self.report
        if not self.changed and not self.watchdog_started:
            self._release()
            self.report = RestoreReport(by="nothing", verified=True)
            return self.report
        assert self.stock is not None
        try:
            if not self.link.connected and not self.link.reconnect(attempts=5, delay_s=0.3):
                raise AdbLinkError(f"cannot reconnect to {self.link.serial}")
            if not applier.stop_applier(self.link):
                self.notes.append("the applier still ran after SIGKILL (blocked in the kernel); restored anyway")
            self.applier_started = False
            self.controller.transport = "su"
            errors = self._run(stk.restore_commands(self.stock), "")
            mismatches = list(errors) + stk.verify(self.link, self.stock)
            if self.watchdog_started:
                self._stop_watchdog()
            self.sampler.stop()
            if not mismatches:
                self._forget_stock()
                self._release()
            else:
                self.notes.append(
                    f"the stock snapshot stays on the phone ({od.STOCK_PATH}); the next deploy or "
                    "metadvfs deploy --restore finishes the restore"
                )
            self.report = RestoreReport(by="host", verified=not mismatches, mismatches=mismatches)
        except MetaDVFSError as exc:
            by = "watchdog" if self.watchdog_started else "failed"
            self.report = RestoreReport(by=by, verified=False, error=str(exc))
        return self.report

    def _forget_stock(self) -> None:
        """Remove the snapshot (phone and host) after a verified restore."""
        self.link.root_shell(
            f"rm -f {q(od.STOCK_PATH)} {q(od.RESTORE_PATH)} {q(od.BOOT_SCRIPT)} {q(wd.SCRIPT_PATH)} "
            f"{q(agents.APPLIER_SCRIPT)} {q(agents.ACK_PATH)} {q(wd.STATUS_PATH)}"
        )
        stk.drop_host_copy(self.link.serial)

    def _stop_watchdog(self) -> None:
        self.link.root_shell(f"echo 1 > {q(wd.STOP_PATH)}")
        if not agents.wait_for(self.link, wd.PID_PATH, False, 2.5, as_root=True):
            self.notes.append("the watchdog did not confirm its exit within 2.5 s")
        self.watchdog_started = False

    def __enter__(self) -> ControlSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
