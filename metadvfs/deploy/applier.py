"""Start and stop the on-phone root applier (:func:`metadvfs.adb.agents.applier_script`).

The script, its pid file, its FIFO and its acknowledgement live in the root-owned 0700 directory
(:mod:`metadvfs.deploy.ondevice`); the FIFO is created by root with mode 0600, so only root can send requests.
Stopping sends ``quit``; if the applier does not exit, it is stopped as root and waited for
(:func:`metadvfs.deploy.ondevice.stop_helpers`: SIGTERM, SIGKILL), but only the pid its pid file names and only
while ``/proc/<pid>/cmdline`` shows it is the applier.
"""

from __future__ import annotations

from metadvfs.adb import agents
from metadvfs.adb.link import AdbLink
from metadvfs.adb.shellsafe import q
from metadvfs.deploy import ondevice as od
from metadvfs.errors import MetaDVFSError


def start_applier(link: AdbLink, nodes: list[str], tables: list[tuple[int, ...]], beat: str = "") -> None:
    """Write and start the root applier with a node whitelist and per-node value tables.

    Args:
        link: Link with root.
        nodes: Writable nodes (ids are indices).
        tables: Allowed values per node.
        beat: Shell run first in the same round trip (the session's heartbeat), or "".

    Raises:
        MetaDVFSError: It did not start within 3 s.
    """
    od.root_write(link, agents.APPLIER_SCRIPT, agents.applier_script(nodes, tables), 0o700)
    f = q(agents.FIFO_PATH)
    link.root_shell(
        f"{beat + '; ' if beat else ''}umask 077; rm -f {f} {q(agents.ACK_PATH)}; mkfifo -m 600 {f}; chmod 600 {f}; "
        f"nohup sh {q(agents.APPLIER_SCRIPT)} > /dev/null 2>&1 &"
    )
    if not agents.wait_for(link, agents.APPLIER_PID, True, 3.0, as_root=True):
        raise MetaDVFSError(f"the root applier did not start (no {agents.APPLIER_PID} after 3 s)")


def stop_applier(link: AdbLink, timeout_s: float = 2.0) -> bool:
    """Tell the applier to exit (``quit``) and wait; if it does not, stop it and wait until it is gone.

    Args:
        link: Link with root.
        timeout_s: Wait for the ``quit`` to be obeyed, s.

    Returns:
        Whether the applier is gone (``False`` only if it outlived SIGKILL: blocked in a write).
    """
    f = q(agents.FIFO_PATH)
    # O_RDWR open never blocks, even if the applier has just exited (the message may then be lost: kill below)
    link.root_shell(f"[ -f {q(agents.APPLIER_PID)} ] && [ -p {f} ] && echo quit 1<> {f}; true")
    gone = agents.wait_for(link, agents.APPLIER_PID, False, timeout_s, as_root=True)
    if not gone:
        gone = not od.stop_helpers(link, [od.APPLIER])
    link.root_shell(f"rm -f {f}")
    return gone
