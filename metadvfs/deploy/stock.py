"""The persistent stock snapshot: what a phone looked like before the first deploy changed anything.

The first deploy writes it, before its first change, to the phone (``/data/local/metadvfs/stock.json`` plus the
rendered ``restore.sh``, root-owned, 0600/0700) and to the host (``$METADVFS_STATE_DIR``, else
``$XDG_STATE_HOME/metadvfs``, else ``~/.local/state/metadvfs``: ``stock/<serial>.json``, 0600 in a 0700
directory). Every later deploy, the on-phone watchdog, the Magisk boot script and ``metadvfs deploy --restore``
restore from it; it is removed only after a host has restored the phone and read every setting back equal
to it. A snapshot read back (from the phone or the host) is validated field by field before any command is
built from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from metadvfs.adb.control import Controller
from metadvfs.adb.link import AdbLink
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.adb.shellsafe import check_name, check_path, check_prop, check_prop_value, write_cmd
from metadvfs.deploy.services import Services, add_state_reads, platform_restore_commands, state_differences
from metadvfs.errors import MetaDVFSError

SCHEMA = "metadvfs.stock/1"
STATE_ENV = "METADVFS_STATE_DIR"
_TARGET_RE = re.compile(r"^[A-Za-z0-9_.:@/-]{1,200}$")


@dataclass
class StockState:
    """Stock values of every setting a deploy may change.

    Attributes:
        codename: The phone's codename.
        serial: The serial it was taken through.
        created: UTC time of the snapshot (ISO 8601).
        host: Host name of the computer that took it.
        nodes: ``{path: value}`` (CPU governors as names, limits as integers in node units), in read order.
        pairs: Per domain ``{"governor": path or None, "min": path, "max": path, "lowest": int}``.
        running: Platform services that were running.
        props: ``{property: stock value}`` ("" when unset).
        restarts: ``[ctl property, target]`` issued after restoring the properties.
    """

    codename: str
    serial: str
    created: str = ""
    host: str = ""
    nodes: dict[str, str] = field(default_factory=dict)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    props: dict[str, str] = field(default_factory=dict)
    restarts: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        """JSON text (one object, schema ``metadvfs.stock/1``)."""
        doc = {
            "schema": SCHEMA,
            "codename": self.codename,
            "serial": self.serial,
            "created": self.created,
            "host": self.host,
            "nodes": self.nodes,
            "pairs": self.pairs,
            "running": self.running,
            "props": self.props,
            "restarts": [list(r) for r in self.restarts],
        }
        return json.dumps(doc, indent=1) + "\n"

    def describe(self) -> str:
        """One line: where and when it was taken."""
        return f"stock snapshot of {self.codename} taken {self.created or '?'} on {self.host or '?'}"


def from_session(controller: Controller, services: Services, codename: str, serial: str) -> StockState:
    """Build the snapshot from a controller and services that have taken theirs."""
    snap = controller.snapshot_
    st = services.state
    if snap is None or st is None:
        raise MetaDVFSError("internal: take the controller and service snapshots first")
    pairs = []
    for dn in controller.plan:
        pairs.append(
            {
                "governor": dn.governor_node,
                "min": dn.min_node,
                "max": dn.max_node,
                "lowest": min(dn.table[0], int(snap.nodes[dn.min_node])),
            }
        )
    stock = StockState(
        codename=codename,
        serial=serial,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        host=socket.gethostname()[:64],
        nodes=dict(snap.nodes),
        pairs=pairs,
        running=list(st.running),
        props=dict(st.props),
        restarts=[(c, t) for c, t in st.restart_ok] if st.props else [],
    )
    return validate(json.loads(stock.to_json()), "the new stock snapshot")


def validate(doc: Any, where: str) -> StockState:
    """Check a parsed snapshot field by field (paths, names, digits) before anything is built from it.

    Raises:
        MetaDVFSError: Names ``where`` and the first bad field.
    """

    def bad(fld: str, why: str) -> MetaDVFSError:
        return MetaDVFSError(f"{where}: field {fld}: {why} (delete it only if the phone is known to be at stock)")

    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise bad("schema", f"must be {SCHEMA!r}")
    for k in ("codename", "serial", "created", "host"):
        if not isinstance(doc.get(k), str):
            raise bad(k, "must be a string")
    nodes = doc.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        raise bad("nodes", "must be a non-empty object")
    try:
        for p, v in nodes.items():
            check_path(p)
            if p.endswith("scaling_governor"):
                check_name(v, p)
            elif not isinstance(v, str) or not v.isdigit() or len(v) > 12:
                raise bad(f"nodes.{p}", f"must be digits, got {v!r}")
        pairs = doc.get("pairs")
        if not isinstance(pairs, list):
            raise bad("pairs", "must be a list")
        for i, pr in enumerate(pairs):
            if not isinstance(pr, dict) or set(pr) != {"governor", "min", "max", "lowest"}:
                raise bad(f"pairs[{i}]", "must have governor, min, max, lowest")
            for k in ("min", "max") + (("governor",) if pr["governor"] is not None else ()):
                if pr[k] not in nodes:
                    raise bad(f"pairs[{i}].{k}", f"{pr[k]!r} is not in nodes")
            if isinstance(pr["lowest"], bool) or not isinstance(pr["lowest"], int) or not 0 <= pr["lowest"] < 10**12:
                raise bad(f"pairs[{i}].lowest", "must be a non-negative integer")
        running = doc.get("running")
        if not isinstance(running, list):
            raise bad("running", "must be a list")
        for s in running:
            check_name(s, "service")
        props = doc.get("props")
        if not isinstance(props, dict):
            raise bad("props", "must be an object")
        for n, v in props.items():
            check_prop(n)
            check_prop_value(v, n)
        restarts = doc.get("restarts")
        if not isinstance(restarts, list):
            raise bad("restarts", "must be a list")
        for r in restarts:
            if not (isinstance(r, list) and len(r) == 2 and isinstance(r[1], str) and _TARGET_RE.match(r[1])):
                raise bad("restarts", f"bad entry {r!r}")
            check_prop(r[0])
    except MetaDVFSError as exc:
        if str(exc).startswith(where):
            raise
        raise MetaDVFSError(f"{where}: {exc}") from None
    return StockState(
        codename=doc["codename"],
        serial=doc["serial"],
        created=doc["created"],
        host=doc["host"],
        nodes=dict(nodes),
        pairs=[dict(p) for p in pairs],
        running=list(running),
        props=dict(props),
        restarts=[(r[0], r[1]) for r in restarts],
    )


def parse(text: str, where: str) -> StockState:
    """Parse and validate snapshot JSON text."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetaDVFSError(f"{where}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    return validate(doc, where)


# ---------------------------------------------------------------------------------------------- commands
def restore_commands(stock: StockState) -> list[tuple[str, str, bool]]:
    """``(label, command, optional)`` that put every setting back, valid from any current state.

    Per CPU policy: the stock governor; per limit pair: ``min = lowest``, ``max = stock``, ``min = stock``; then
    the properties, the restarts (optional) and the services.
    """
    cmds: list[tuple[str, str, bool]] = []
    for pr in stock.pairs:
        if pr["governor"] is not None:
            cmds.append((pr["governor"], write_cmd(pr["governor"], stock.nodes[pr["governor"]]), False))
        cmds.append((pr["min"], write_cmd(pr["min"], int(pr["lowest"])), False))
        cmds.append((pr["max"], write_cmd(pr["max"], stock.nodes[pr["max"]]), False))
        cmds.append((pr["min"], write_cmd(pr["min"], stock.nodes[pr["min"]]), False))
    return cmds + platform_restore_commands(stock.props, stock.restarts, stock.running)


def restore_script(stock: StockState) -> str:
    """``restore.sh``: the restore commands as a POSIX sh script (a failing command does not stop the others)."""
    body = "\n".join(f"{c} 2>/dev/null" for _l, c, _o in restore_commands(stock))
    return f"#!/system/bin/sh\n# metadvfs: restore the {stock.describe()}\n{body}\n"


def verify(link: AdbLink, stock: StockState) -> list[str]:
    """Read every node, service and property back (one root round trip).

    Returns:
        ``"<what>: <read> != stock <value>"`` for every difference (empty: the phone is at stock).
    """
    s = Script()
    paths = list(stock.nodes)
    for i, p in enumerate(paths):
        s.cat(f"n{i}", p)
    add_state_reads(s, stock.running, stock.props)
    r = parse_sections(link.root_shell(s.text()), s)
    bad = []
    for i, p in enumerate(paths):
        got = r[f"n{i}"].text.strip()
        if r[f"n{i}"].failed or got != stock.nodes[p]:
            bad.append(f"{p}: {got[:40]!r} != stock {stock.nodes[p]!r}")
    return bad + state_differences(r, stock.running, stock.props)


# ---------------------------------------------------------------------------------------------- host copy
def state_dir() -> Path:
    """Host directory of deploy state (``$METADVFS_STATE_DIR``, ``$XDG_STATE_HOME/metadvfs``, ``~/.local/state``)."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "metadvfs"


def host_copy_path(serial: str) -> Path:
    """Host copy of a phone's snapshot (the serial with unsafe characters replaced)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", serial)[:80] or "phone"
    return state_dir() / "stock" / f"{safe}.json"


def save_host_copy(stock: StockState) -> Path:
    """Write the host copy atomically (0600 in a 0700 directory)."""
    path = host_copy_path(stock.serial)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, stock.to_json().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def load_host_copy(serial: str) -> StockState | None:
    """The host copy for ``serial`` (``None`` when there is none)."""
    path = host_copy_path(serial)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MetaDVFSError(f"{path}: cannot read ({exc.strerror})") from None
    return parse(text, str(path))


def drop_host_copy(serial: str) -> None:
    """Remove the host copy (after a verified restore)."""
    with contextlib.suppress(FileNotFoundError):
        host_copy_path(serial).unlink()
