"""Frequency writes, snapshots and restores.

Write method per CPU policy (the portable recipe of ``docs/deploy.md``):

- ``userspace`` (where the policy offers the ``userspace`` governor and ``scaling_setspeed``): the governor is
  switched to ``userspace`` once, then each decision writes ``scaling_setspeed``;
- ``clamp`` (otherwise, e.g. GKI Tensor kernels): the governor stays and each decision writes
  ``scaling_min_freq = scaling_max_freq = f``, writing ``scaling_max_freq`` first when raising and
  ``scaling_min_freq`` first when lowering, so the kernel never sees ``min > max``.

The GPU is always clamped the same way through its min/max nodes (Mali ``scaling_{min,max}_freq`` in kHz,
exact table values only; KGSL ``devfreq/{min,max}_freq`` in Hz). Every value written is checked against the
discovered table and every path and value is quoted. All writes of one decision go in one round trip: through
``su`` (setup, restore), or, during a run, as one request to the on-phone root applier
(:mod:`metadvfs.adb.agents`), which writes only whitelisted nodes and only their table values, and whose
FIFO only root can open.

A restore writes, per node, ``min = lowest table value``, then ``max = stock max``, then ``min = stock min``
(valid from any state), and the stock governor back; it is also rendered as a shell script for the on-device
watchdog.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from metadvfs.adb import agents
from metadvfs.adb.binding import Binding
from metadvfs.adb.link import AdbLink
from metadvfs.adb.parsers import parse_int, parse_word
from metadvfs.adb.sections import Script, Section, parse_sections
from metadvfs.adb.shellsafe import check_name, check_path, check_value, q, write_cmd
from metadvfs.core.domains import DOMAINS
from metadvfs.errors import MetaDVFSError

METHODS = ("auto", "clamp", "userspace")


@dataclass(frozen=True)
class DomainNodes:
    """The nodes written for one domain.

    Attributes:
        domain: Canonical domain index (0..3).
        method: ``userspace`` or ``clamp``.
        min_node: Lower-limit node.
        max_node: Upper-limit node.
        setspeed_node: ``scaling_setspeed`` (``userspace`` only).
        governor_node: ``scaling_governor`` (CPU only).
        table: Allowed values in node units, ascending (index = OPP level).
    """

    domain: int
    method: str
    min_node: str
    max_node: str
    setspeed_node: str | None
    governor_node: str | None
    table: tuple[int, ...]


@dataclass
class Snapshot:
    """Stock values of everything the controller may change.

    Attributes:
        nodes: ``{path: value}`` in read order (limits as integers in node units, governors as names).
        tables: ``{limit node: its table}`` (for the lowest-value step of a restore).
    """

    nodes: dict[str, str] = field(default_factory=dict)
    tables: dict[str, tuple[int, ...]] = field(default_factory=dict)


def domain_nodes(binding: Binding, method: str = "auto") -> list[DomainNodes]:
    """The write plan of every present domain.

    Args:
        binding: The bound phone.
        method: ``auto`` (userspace where available), ``clamp`` or ``userspace`` (error where unavailable).

    Returns:
        One entry per present domain, CPU domains first.
    """
    if method not in METHODS:
        raise MetaDVFSError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")
    out = []
    for d, p in enumerate(binding.policies):
        if p is None:
            continue
        use_us = p.userspace and method in ("auto", "userspace")
        if method == "userspace" and not p.userspace:
            raise MetaDVFSError(f"{p.path}: no userspace governor/scaling_setspeed; use the clamp method")
        out.append(
            DomainNodes(
                domain=d,
                method="userspace" if use_us else "clamp",
                min_node=check_path(p.node("scaling_min_freq")),
                max_node=check_path(p.node("scaling_max_freq")),
                setspeed_node=check_path(p.node("scaling_setspeed")) if use_us else None,
                governor_node=check_path(p.node("scaling_governor")),
                table=p.freqs_khz,
            )
        )
    g = binding.layout.gpu
    out.append(
        DomainNodes(
            domain=3,
            method="clamp",
            min_node=check_path(g.min_node),
            max_node=check_path(g.max_node),
            setspeed_node=None,
            governor_node=None,
            table=g.node_table,
        )
    )
    return out


class Controller:
    """Applies OPP levels to a phone, snapshots and restores its settings.

    Args:
        link: Connected link with root.
        binding: The bound phone.
        method: See :func:`domain_nodes`.
    """

    def __init__(self, link: AdbLink, binding: Binding, method: str = "auto") -> None:
        self.link = link
        self.b = binding
        self.plan = domain_nodes(binding, method)
        self._cur: dict[int, tuple[int, int]] = {}  # domain -> (min, max) in node units as last written/read
        self._setspeed: dict[int, int] = {}
        self.snapshot_: Snapshot | None = None
        self.writes = 0
        self.transport = "su"
        self.seq = 0
        self._sent_t: dict[int, float] = {}

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> Snapshot:
        """Read the stock value of every node the controller may write (one round trip).

        Raises:
            MetaDVFSError: A node is missing, unreadable or holds garbage.
        """
        s = Script()
        paths: list[str] = []
        for dn in self.plan:
            for path in (dn.governor_node, dn.min_node, dn.max_node):
                if path is not None:
                    paths.append(path)
        for i, path in enumerate(paths):
            s.cat(f"n{i}", path)
        r = parse_sections(self.link.read_shell(s.text()), s)
        snap = Snapshot()
        for i, path in enumerate(paths):
            sec = r[f"n{i}"]
            if sec.failed:
                why = "missing" if sec.missing else "permission denied" if sec.denied else sec.text.strip()[:80]
                raise MetaDVFSError(f"{path}: cannot read for the snapshot ({why})")
            if path.endswith("scaling_governor"):
                snap.nodes[path] = check_name(parse_word(sec.text, path), path)
            else:
                snap.nodes[path] = str(parse_int(sec.text, path, 0, 10**11))
        for dn in self.plan:
            snap.tables[dn.min_node] = dn.table
            snap.tables[dn.max_node] = dn.table
            self._cur[dn.domain] = (int(snap.nodes[dn.min_node]), int(snap.nodes[dn.max_node]))
        self.snapshot_ = snap
        return snap

    # ------------------------------------------------------------------ take over
    def takeover_commands(self) -> list[tuple[str, str]]:
        """``(node, command)`` pairs that switch userspace policies to the userspace governor."""
        return [
            (dn.governor_node, write_cmd(dn.governor_node, "userspace"))
            for dn in self.plan
            if dn.method == "userspace" and dn.governor_node is not None
        ]

    def take_over(self) -> None:
        """Switch userspace policies to the userspace governor (one round trip)."""
        cmds = self.takeover_commands()
        if cmds:
            self._run_writes(cmds)

    # ------------------------------------------------------------------ apply
    @property
    def write_nodes(self) -> list[str]:
        """Every node a decision may write (the applier's whitelist; ids are indices)."""
        out: list[str] = []
        for dn in self.plan:
            if dn.method == "userspace":
                assert dn.setspeed_node is not None
                out.append(dn.setspeed_node)
            else:
                out += [dn.min_node, dn.max_node]
        return out

    @property
    def write_tables(self) -> list[tuple[int, ...]]:
        """The allowed values of each :attr:`write_nodes` entry (its domain's table, node units)."""
        out: list[tuple[int, ...]] = []
        for dn in self.plan:
            out += [dn.table] if dn.method == "userspace" else [dn.table, dn.table]
        return out

    def level_writes(self, levels: np.ndarray) -> list[tuple[str, int]]:
        """``(node, value)`` writes that put each present domain at OPP ``levels[d]`` (only what changes).

        Args:
            levels: (4,) OPP indices into each domain's table.

        Returns:
            Writes in the order they must run (``scaling_max_freq`` first when raising).
        """
        out: list[tuple[str, int]] = []
        for dn in self.plan:
            k = int(levels[dn.domain])
            if not 0 <= k < len(dn.table):
                raise MetaDVFSError(f"level {k} out of range for {dn.max_node} (0..{len(dn.table) - 1})")
            v = check_value(dn.table[k], dn.table, dn.max_node)
            if dn.method == "userspace":
                if self._setspeed.get(dn.domain) != v:
                    assert dn.setspeed_node is not None
                    out.append((dn.setspeed_node, v))
                continue
            mn, mx = self._cur.get(dn.domain, (None, None))
            if mn == v and mx == v:
                continue
            if mx is None or v > mx:
                out += [(dn.max_node, v), (dn.min_node, v)]
            else:
                out += [(dn.min_node, v), (dn.max_node, v)]
        return out

    def level_commands(self, levels: np.ndarray) -> list[tuple[str, str]]:
        """:meth:`level_writes` as ``(node, shell command)`` pairs."""
        return [(node, write_cmd(node, v)) for node, v in self.level_writes(levels)]

    def use_applier(self) -> None:
        """Send decisions to the on-phone root applier (:mod:`metadvfs.adb.agents`) instead of ``su``."""
        self.transport = "agent"

    def apply(self, levels: np.ndarray, prefix: Callable[[], str] | None = None) -> int:
        """Write the levels (one round trip; nothing when nothing changes).

        Args:
            levels: (4,) OPP indices.
            prefix: Called only when a request is sent: a validated root command sent first in the same round
                trip (the session's root heartbeat).

        Returns:
            Number of node writes.
        """
        writes = self.level_writes(levels)
        if writes:
            if self.transport == "agent":
                ids = {n: i for i, n in enumerate(self.write_nodes)}
                self.seq += 1
                req = agents.applier_request(self.seq, [(ids[n], v) for n, v in writes])
                out = self.link.root_shell(f"{prefix()}; {req}" if prefix else req, timeout_s=2.0).strip()
                if out:
                    raise MetaDVFSError(f"sending a request to the applier failed: {out[:100]!r}")
                self._sent_t[self.seq] = time.monotonic()
            else:
                self._run_writes([(n, write_cmd(n, v)) for n, v in writes])
        for dn in self.plan:
            v = dn.table[int(levels[dn.domain])]
            if dn.method == "userspace":
                self._setspeed[dn.domain] = v
            else:
                self._cur[dn.domain] = (v, v)
        self.writes += len(writes)
        return len(writes)

    def check_ack(self, sec: Section | None) -> None:
        """Check the applier's acknowledgement read in the last sample.

        Raises:
            MetaDVFSError: A write failed on the phone, or a request stayed unacknowledged for 2 s.
        """
        if self.transport != "agent" or self.seq == 0:
            return
        acked = _parse_ack(sec.text) if sec is not None and not sec.failed else 0
        for seq in [k for k in self._sent_t if k <= acked]:
            del self._sent_t[seq]
        if self._sent_t and time.monotonic() - min(self._sent_t.values()) > 2.0:
            raise MetaDVFSError(f"the on-phone applier did not acknowledge request {min(self._sent_t)} within 2 s")

    def drain(self, timeout_s: float = 2.0, poll_s: float = 0.02) -> None:
        """Wait until the on-phone applier has written every request sent to it.

        The applier takes requests from its FIFO in order and acknowledges the last one it wrote, so a request
        still queued would land *after* anything written directly (e.g. the stock governors and limits of a
        hand-back) and pin a frequency the stock governor should control. Call this before such writes.

        Args:
            timeout_s: Longest wait for the acknowledgement, s.
            poll_s: Interval between reads of the acknowledgement, s.

        Raises:
            MetaDVFSError: A write failed on the phone, or the last request stayed unacknowledged for ``timeout_s``.
        """
        if self.transport != "agent" or not self._sent_t:
            return
        deadline = time.monotonic() + timeout_s
        while _parse_ack(self.link.shell(f"cat {q(agents.ACK_PATH)} 2>/dev/null")) < self.seq:
            if time.monotonic() > deadline:
                raise MetaDVFSError(
                    f"the on-phone applier did not acknowledge request {self.seq} within {timeout_s:g} s "
                    "(its queued writes could land after the stock settings)"
                )
            time.sleep(poll_s)
        self._sent_t.clear()

    def _run_writes(self, cmds: list[tuple[str, str]]) -> None:
        s = Script()
        for i, (_node, cmd) in enumerate(cmds):
            s.run(f"w{i}", cmd)
        r = parse_sections(self.link.root_shell(s.text()), s)
        for i, (node, cmd) in enumerate(cmds):
            sec = r[f"w{i}"]
            if sec.failed or sec.text.strip():
                why = sec.text.strip().splitlines()[-1][:100] if sec.text.strip() else "failed"
                value = cmd.split()[1]
                raise MetaDVFSError(f"write {value} to {node} failed: {why}")

    # ------------------------------------------------------------------ restore
    def restore_commands(self, snap: Snapshot | None = None) -> list[tuple[str, str]]:
        """Commands that put every snapshotted node back, valid from any current state.

        Per CPU policy: the stock governor first; per limit pair: ``min = lowest``, ``max = stock``,
        ``min = stock``.
        """
        snap = snap or self.snapshot_
        if snap is None:
            return []
        cmds: list[tuple[str, str]] = []
        for dn in self.plan:
            if dn.governor_node is not None and dn.governor_node in snap.nodes:
                cmds.append((dn.governor_node, write_cmd(dn.governor_node, snap.nodes[dn.governor_node])))
            if dn.min_node in snap.nodes and dn.max_node in snap.nodes:
                low = min(dn.table[0], int(snap.nodes[dn.min_node]))
                cmds.append((dn.min_node, write_cmd(dn.min_node, low)))
                cmds.append((dn.max_node, write_cmd(dn.max_node, snap.nodes[dn.max_node])))
                cmds.append((dn.min_node, write_cmd(dn.min_node, snap.nodes[dn.min_node])))
        return cmds

    def restore(self, snap: Snapshot | None = None) -> list[str]:
        """Write the stock values back and verify them (two round trips).

        Returns:
            Mismatches after the restore (``"<node>: <read> != <stock>"``); empty when everything is back.
        """
        snap = snap or self.snapshot_
        if snap is None:
            return []
        cmds = self.restore_commands(snap)
        s = Script()
        for i, (_node, cmd) in enumerate(cmds):
            s.run(f"w{i}", cmd)
        out = parse_sections(self.link.root_shell(s.text()), s)
        errors = [
            f"{node}: {out[f'w{i}'].text.strip()[:80]}" for i, (node, _c) in enumerate(cmds) if out[f"w{i}"].failed
        ]
        mismatches = self.verify(snap)
        self.forget_levels(snap)
        return errors + [m for m in mismatches if m.split(":")[0] not in {e.split(":")[0] for e in errors}]

    def forget_levels(self, snap: Snapshot | None = None) -> None:
        """Take the snapshot's limits as the current ones (after they were written back).

        The next :meth:`apply` then writes every domain again.
        """
        snap = snap or self.snapshot_
        if snap is None:
            return
        self._cur = {dn.domain: (int(snap.nodes[dn.min_node]), int(snap.nodes[dn.max_node])) for dn in self.plan}
        self._setspeed = {}

    def verify(self, snap: Snapshot) -> list[str]:
        """Compare the nodes with the snapshot (one round trip)."""
        s = Script()
        paths = list(snap.nodes)
        for i, p in enumerate(paths):
            s.cat(f"v{i}", p)
        r = parse_sections(self.link.read_shell(s.text()), s)
        bad = []
        for i, p in enumerate(paths):
            got = r[f"v{i}"].text.strip()
            if r[f"v{i}"].failed or got != snap.nodes[p]:
                bad.append(f"{p}: {got[:40]!r} != stock {snap.nodes[p]!r}")
        return bad

    def describe(self) -> list[str]:
        """Human-readable list of what a run changes."""
        lines = []
        for dn in self.plan:
            name = DOMAINS[dn.domain]
            if dn.method == "userspace":
                lines.append(f"{name}: {dn.governor_node} -> userspace; {dn.setspeed_node} per decision")
            else:
                lines.append(f"{name}: {dn.min_node} and {dn.max_node} pinned per decision")
        return lines


def _parse_ack(text: str) -> int:
    """The request number in the applier's acknowledgement ``<seq> <errors>`` (0 when absent or malformed).

    Raises:
        MetaDVFSError: The phone rejected writes of that request.
    """
    parts = text.split()
    if len(parts) != 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return 0
    if int(parts[1]) > 0:
        raise MetaDVFSError(f"the phone rejected {parts[1]} frequency write(s) of request {parts[0]} (applier ack)")
    return int(parts[0])
