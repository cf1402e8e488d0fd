"""Small on-phone helper processes that keep slow work out of the control step.

Two costs dominate a naive control step: spawning ``dumpsys`` (tens of ms on a phone) and ``su`` (a new root
shell per call, plus a Magisk notification). Both are moved into long-lived background shell scripts,
started once with ``nohup`` and talking to the host through files in :data:`AGENT_DIR`:

- the **frame poller** (shell user) runs ``dumpsys SurfaceFlinger --latency <layer>`` about every
  ``period_s`` into ``sf.txt`` (first lines ``seq <n>`` and ``layer <name>``), and about once a second the
  foreground app and the layer list into ``fg.txt``; the layer comes from ``sf.layer``, written by the host;
  each step the host reads these files with shell builtins inside its single read round trip. Frame
  timestamps are absolute, so a dump that is a few tens of ms old loses no frames: they are counted at the
  next step;
- the **applier** (root) reads write requests from the root-only FIFO ``cmd.fifo`` in the root-owned 0700
  directory :data:`ROOT_AGENT_DIR`: a line ``<seq> <id> <value> ...`` where each id is an index into the
  whitelist of nodes baked into the script and each value must be one of that node's table values; it writes
  them in order and records ``<seq> <errors>`` in :data:`ACK_PATH` (0644, in a root-owned 0711 directory of its
  own: the host reads it as the shell user). The host sends a request as root (one ``echo`` through ``su``;
  the shell user can neither open the FIFO nor touch the pid file), and reads the acknowledgement in the next
  read. It is started and stopped by :mod:`metadvfs.deploy.applier`.

Both exit on their own when the host's heartbeat (``heartbeat``, written in every read) has not changed for
a few seconds (poller) or when told to (applier: ``quit``; the watchdog also stops it, SIGTERM then SIGKILL,
and waits until it is gone before it restores: :func:`metadvfs.deploy.ondevice.stop_command`).
"""

from __future__ import annotations

import re
import time

from metadvfs.adb.link import AdbLink
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.adb.shellsafe import check_path, q
from metadvfs.errors import MetaDVFSError

AGENT_DIR = "/data/local/tmp/metadvfs"
ROOT_AGENT_DIR = "/data/local/metadvfs"
"""Root-owned (0700) directory of the root helpers (see :mod:`metadvfs.deploy.ondevice`)."""
ACK_DIR = "/data/local/metadvfs-ack"
"""Root-owned 0711 directory holding only the applier's ``ack`` (0644), which the unprivileged step read reads."""
HEARTBEAT_PATH = f"{AGENT_DIR}/heartbeat"
SF_PATH = f"{AGENT_DIR}/sf.txt"
FG_PATH = f"{AGENT_DIR}/fg.txt"
LAYER_PATH = f"{AGENT_DIR}/sf.layer"
POLLER_SCRIPT = f"{AGENT_DIR}/poller.sh"
POLLER_PID = f"{AGENT_DIR}/poller.pid"
POLLER_STOP = f"{AGENT_DIR}/poller.stop"
APPLIER_SCRIPT = f"{ROOT_AGENT_DIR}/applier.sh"
APPLIER_PID = f"{ROOT_AGENT_DIR}/applier.pid"
FIFO_PATH = f"{ROOT_AGENT_DIR}/cmd.fifo"
ACK_PATH = f"{ACK_DIR}/ack"
FG_MARK_WINDOW = "@@metadvfs-window"
FG_MARK_LIST = "@@metadvfs-layers"
FG_COMMAND = "dumpsys activity activities | grep -E 'mResumedActivity|topResumedActivity'"
FG_WINDOW_COMMAND = "dumpsys window | grep mCurrentFocus"


def poller_script(period_s: float = 0.1, fg_every: int = 10, idle_limit: int = 40) -> str:
    """The frame-poller script (see the module docstring).

    Args:
        period_s: Pause between two ``dumpsys --latency`` calls, s.
        fg_every: Refresh ``fg.txt`` every this many iterations.
        idle_limit: Exit after this many iterations without a heartbeat change.
    """
    for p in (HEARTBEAT_PATH, SF_PATH, FG_PATH, LAYER_PATH, POLLER_PID, POLLER_STOP):
        check_path(p)
    return f"""#!/system/bin/sh
# metadvfs frame poller (generated): SurfaceFlinger frame timing and foreground app for the host.
echo $$ > {q(POLLER_PID)}
i=0; n=0; last=none
while [ ! -f {q(POLLER_STOP)} ]; do
  cur=$(cat {q(HEARTBEAT_PATH)} 2>/dev/null)
  if [ "$cur" = "$last" ]; then n=$((n+1)); else n=0; last=$cur; fi
  [ $n -ge {idle_limit} ] && break
  if [ $((i % {fg_every})) -eq 0 ]; then
    {{ {FG_COMMAND}; echo {FG_MARK_WINDOW}; {FG_WINDOW_COMMAND}; echo {FG_MARK_LIST}; \
dumpsys SurfaceFlinger --list; }} > {q(FG_PATH)}.tmp 2>&1
    mv -f {q(FG_PATH)}.tmp {q(FG_PATH)}
  fi
  L=
  [ -f {q(LAYER_PATH)} ] && IFS= read -r L < {q(LAYER_PATH)}
  if [ -n "$L" ]; then
    {{ echo "seq $i"; echo "layer $L"; dumpsys SurfaceFlinger --latency "$L"; }} > {q(SF_PATH)}.tmp 2>&1
    mv -f {q(SF_PATH)}.tmp {q(SF_PATH)}
  fi
  i=$((i+1))
  sleep {period_s:g}
done
rm -f {q(POLLER_PID)} {q(POLLER_STOP)}
"""


def applier_script(nodes: list[str], tables: list[tuple[int, ...]]) -> str:
    """The root applier script: a whitelist of writable nodes (ids are list indices) and each node's values.

    Args:
        nodes: Writable nodes.
        tables: Allowed values of each node (same order), e.g. its OPP table in node units.
    """
    if len(nodes) != len(tables):
        raise MetaDVFSError("internal: one value table per applier node")
    for p in (*nodes, FIFO_PATH, ACK_PATH, APPLIER_PID):
        check_path(p)
    cases = []
    for i, (p, tab) in enumerate(zip(nodes, tables, strict=True)):
        if not tab or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in tab):
            raise MetaDVFSError(f"internal: bad value table for {p}")
        allowed = "|".join(str(int(v)) for v in sorted(set(tab)))
        cases.append(
            f'      {i}) case $v in {allowed}) echo "$v" > {q(p)} || err=$((err+1)) ;; *) err=$((err+1)) ;; esac ;;'
        )
    body = "\n".join(cases)
    return f"""#!/system/bin/sh
# metadvfs applier (generated): writes frequency requests from {FIFO_PATH} to whitelisted nodes and values only.
umask 077
echo $$ > {q(APPLIER_PID)}.tmp && mv -f {q(APPLIER_PID)}.tmp {q(APPLIER_PID)}
# the acknowledgement is readable by the host's unprivileged read (created once; echo keeps its mode, no process)
rm -f {q(ACK_PATH)}; : > {q(ACK_PATH)}; chmod 644 {q(ACK_PATH)}
# read and write end held open: no EOF between requests, and no request is lost while this loop works
exec 3<> {q(FIFO_PATH)}
while IFS= read -r line <&3; do
  set -f; set -- $line; set +f
  [ $# -ge 1 ] || continue
  seq=$1; shift
  [ "$seq" = quit ] && break
  case $seq in ''|*[!0-9]*) continue ;; esac
  err=0
  while [ $# -ge 2 ]; do
    id=$1; v=$2; shift 2
    case $v in ''|*[!0-9]*) err=$((err+1)); continue ;; esac
    case $id in
{body}
      *) err=$((err+1)) ;;
    esac
  done
  echo "$seq $err" > {q(ACK_PATH)}
done
rm -f {q(APPLIER_PID)}
"""


def wait_for(link: AdbLink, path: str, present: bool, timeout_s: float, as_root: bool = False) -> bool:
    """Poll until ``path`` exists and is non-empty (``present``) or is gone; returns whether that happened."""
    deadline = time.monotonic() + timeout_s
    while True:
        s = Script().cat("p", path)
        r = parse_sections((link.root_shell if as_root else link.shell)(s.text()), s)
        exists = not r["p"].failed and r["p"].text.strip() != ""
        if exists == present:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def prepare_dir(link: AdbLink) -> None:
    """Create the agent directory as the shell user (so the shell user can write the host-side files)."""
    link.shell(f"mkdir -p {q(AGENT_DIR)}")


def start_poller(link: AdbLink, period_s: float = 0.1, as_root: bool = False) -> None:
    """Push and start the frame poller (stops a previous one first).

    Raises:
        MetaDVFSError: It did not write its pid file within 3 s.
    """
    prepare_dir(link)
    stop_poller(link)
    link.push_text(poller_script(period_s), POLLER_SCRIPT, 0o755)
    cmd = (
        f"rm -f {q(POLLER_STOP)} {q(SF_PATH)} {q(FG_PATH)} {q(LAYER_PATH)}; echo start > {q(HEARTBEAT_PATH)}; "
        f"nohup sh {q(POLLER_SCRIPT)} > /dev/null 2>&1 &"
    )
    (link.root_shell if as_root else link.shell)(cmd)
    if not wait_for(link, POLLER_PID, True, 3.0):
        raise MetaDVFSError(f"the frame poller did not start (no {POLLER_PID} after 3 s)")


def stop_poller(link: AdbLink, timeout_s: float = 2.0) -> None:
    """Ask a running poller to exit and wait for it (best effort)."""
    s = Script().cat("p", POLLER_PID)
    r = parse_sections(link.shell(s.text()), s)
    if r["p"].failed:
        return
    link.shell(f"echo 1 > {q(POLLER_STOP)}")
    wait_for(link, POLLER_PID, False, timeout_s)


def applier_request(seq: int, pairs: list[tuple[int, int]]) -> str:
    """The shell command (run as root) that sends one request to the applier."""
    body = " ".join(f"{int(i)} {int(v)}" for i, v in pairs)
    line = f"{int(seq)} {body}".strip()
    if not re.fullmatch(r"[0-9 ]+", line):
        raise MetaDVFSError(f"internal: bad applier request {line!r}")
    return f"[ -f {q(APPLIER_PID)} ] && [ -p {q(FIFO_PATH)} ] && echo {q(line)} > {q(FIFO_PATH)}"


def parse_fg_file(text: str) -> tuple[str, str, str]:
    """Split ``fg.txt`` into (activity dump, window dump, layer list)."""
    act, _, rest = text.partition(FG_MARK_WINDOW)
    win, _, layers = rest.partition(FG_MARK_LIST)
    return act, win, layers


def parse_sf_file(text: str) -> tuple[int, str, str] | None:
    """Split ``sf.txt`` into (seq, layer, latency dump); ``None`` when it is not a complete poller dump."""
    lines = text.split("\n", 2)
    if len(lines) < 3 or not lines[0].startswith("seq ") or not lines[1].startswith("layer "):
        return None
    try:
        seq = int(lines[0][4:].strip())
    except ValueError:
        return None
    return seq, lines[1][6:], lines[2]
