"""The Android-only commands of the twin phone, as POSIX ``sh`` scripts generated for one twin.

Every script has the twin's host paths baked in (no environment lookups), so a phone process that clears its
environment still reaches the twin's tools and state. They run as ordinary host processes:

- ``sh``: the phone's shell. Rewrites phone paths (``sed``) in ``-c`` strings, in the script file it is given
  (in place, see docs/twin.md) and in its other arguments, then runs the host ``/bin/sh``.
- ``su``: Magisk-style ``su [-c CMD] [0|root] [CMD ARGS...]``; fails with "Permission denied" under the
  ``permission_denied`` fault.
- ``getprop``/``setprop``/``start``/``stop``: properties are files in ``<twin>/props``; ``init.svc.<name>``
  holds service states.
- ``dumpsys``, ``cmd``, ``am``, ``monkey``, ``pm``: print state files the simulator driver keeps current in
  ``<twin>/state`` and leave requests in ``<twin>/requests`` for the driver.
- ``id``, ``whoami``, ``getenforce``, ``setenforce``.

Root is a convention: ``su`` sets ``TWIN_UID=0`` and the tools that need root check it (see docs/twin.md for
what is and is not enforced).
"""

from __future__ import annotations

import shutil

HOST_TOOLS: tuple[str, ...] = (
    "awk", "base64", "basename", "cat", "chmod", "chown", "cmp", "cp", "cut", "date", "dd", "df", "diff",
    "dirname", "du", "echo", "egrep", "env", "expr", "false", "fgrep", "find", "grep", "head", "hostname",
    "kill", "ln", "ls", "md5sum", "mkdir", "mkfifo", "mktemp", "mv", "nice", "nohup", "od", "pgrep", "pidof",
    "pkill", "printf", "ps", "pwd", "readlink", "realpath", "rm", "rmdir", "sed", "seq", "setsid", "sha1sum",
    "sha256sum", "sleep", "sort", "stat", "tac", "tail", "tee", "test", "timeout", "touch", "tr", "true",
    "uname", "uniq", "wc", "which", "xargs", "yes",
)  # fmt: skip
"""Host programs the phone may run (roughly Android's toybox set). Each gets a small ``exec`` wrapper script
in ``<twin>/hostbin`` and ``/system/bin`` (regular files, so writing to them cannot modify host binaries)."""


def shq(s: str) -> str:
    """Quote ``s`` for POSIX sh (single quotes)."""
    return "'" + s.replace("'", "'\\''") + "'"


def host_tool(name: str) -> str:
    """Absolute host path of a required program (``/usr/bin/<name>`` style)."""
    p = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if p is None:
        from metadvfs.errors import MetaDVFSError

        raise MetaDVFSError(f"twin: the host program {name!r} is required but not found in /usr/bin:/bin")
    return p


def sh_wrapper(
    host_sh: str, sed: str, grep: str, mktemp: str, sed_exprs: list[str], grep_pat: str, exec_dir: str
) -> str:
    """The phone's ``sh``: map phone paths, then run the host shell."""
    defs = "".join(f"E{i}={shq(e)}\n" for i, e in enumerate(sed_exprs))
    args = " ".join(f'-e "$E{i}"' for i in range(len(sed_exprs)))
    return f"""#!{host_sh}
# MetaDVFS twin: the phone's sh. Maps on-phone paths to the twin root (docs/twin.md), then runs {host_sh}.
{defs}G={shq(grep_pat)}
_sed() {{ {shq(sed)} -E {args} "$@"; }}
_map() {{ printf '%s\\n' "$1" | _sed; }}
_script() {{
  # Rewrite a script file in place (atomic; sed -i) or, if that is not allowed, into a private copy.
  if [ -f "$1" ] && [ -r "$1" ] && {shq(grep)} -Eq "$G" "$1" 2>/dev/null; then
    if _sed -i "$1" 2>/dev/null; then printf '%s' "$1"; return; fi
    _tmp=$({shq(mktemp)} {shq(exec_dir + "/script.XXXXXX")}) \\
      && _sed "$1" > "$_tmp" && {{ printf '%s' "$_tmp"; return; }}
  fi
  printf '%s' "$1"
}}
_n=$#; _st=opt; _c=0; _op=0
for _a in "$@"; do
  case $_st in
    opt)
      case $_a in
        --) _st=operand; set -- "$@" "$_a" ;;
        -o|+o) _st=optarg; set -- "$@" "$_a" ;;
        -*c*) _c=1; set -- "$@" "$_a" ;;
        -*|+*) set -- "$@" "$_a" ;;
        *) _op=1; _st=rest
           if [ $_c = 1 ]; then set -- "$@" "$(_map "$_a")"; else set -- "$@" "$(_script "$(_map "$_a")")"; fi ;;
      esac ;;
    optarg) _st=opt; set -- "$@" "$_a" ;;
    operand) _op=1; _st=rest
       if [ $_c = 1 ]; then set -- "$@" "$(_map "$_a")"; else set -- "$@" "$(_script "$(_map "$_a")")"; fi ;;
    rest) set -- "$@" "$(_map "$_a")" ;;
  esac
done
shift $_n
if [ $_op = 0 ] && [ $_c = 0 ]; then
  # Commands on stdin: map them line by line through a FIFO, so the shell (not sed) decides when the session
  # ends: after "exit" the stream closes although stdin is still open. (sed is run directly, not through the
  # _sed function: a function in the background keeps saved copies of stdout open and the stream never ends.)
  _f=$({shq(mktemp)} -u {shq(exec_dir + "/stdin.XXXXXX")}) && mkfifo "$_f" || exit 1
  exec 4<&0
  {shq(sed)} -u -E {args} <&4 > "$_f" 2>/dev/null 4<&- &
  exec 3< "$_f" 4<&-
  rm -f "$_f"
  exec {shq(host_sh)} "$@" <&3 3<&-
fi
exec {shq(host_sh)} "$@"
"""


def su_script(host_sh: str, bin_dir: str, state_dir: str, root: str) -> str:
    """Magisk-style ``su``."""
    return f"""#!{host_sh}
# MetaDVFS twin: su (Magisk syntax: su [-c CMD] | su [0|root] [CMD ARGS...]).
if [ -e {shq(state_dir + "/no_root")} ]; then echo "Permission denied" >&2; exit 1; fi
TWIN_UID=0; USER=root; HOME={shq(root)}; export TWIN_UID USER HOME
_cmd=; _hc=0
while [ $# -gt 0 ]; do
  case $1 in
    -c|--command) _hc=1; _cmd=$2; shift; [ $# -gt 0 ] && shift; break ;;
    --command=*) _hc=1; _cmd=${{1#--command=}}; shift; break ;;
    -|-l|--login|-m|-p|--preserve-environment|-mm|-M|--mount-master) shift ;;
    -s|--shell|-Z|--context|-t|--target) shift; [ $# -gt 0 ] && shift ;;
    0|root) shift ;;
    --) shift; break ;;
    -*) echo "su: invalid option: $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $_hc = 1 ]; then exec {shq(bin_dir + "/sh")} -c "$_cmd"; fi
if [ $# -gt 0 ]; then exec "$@"; fi
exec {shq(bin_dir + "/sh")}
"""


def getprop_script(host_sh: str, props: str) -> str:
    """``getprop [NAME [DEFAULT]]``."""
    return f"""#!{host_sh}
# MetaDVFS twin: getprop (properties are files in the twin's props directory).
P={shq(props)}
if [ $# -eq 0 ]; then
  for _f in "$P"/*; do
    [ -f "$_f" ] || continue
    printf '[%s]: [%s]\\n' "${{_f##*/}}" "$(cat "$_f")"
  done
  exit 0
fi
case $1 in ''|*/*|.*) echo "${{2-}}"; exit 0 ;; esac
if [ -f "$P/$1" ]; then cat "$P/$1"; echo; else echo "${{2-}}"; fi
"""


def setprop_script(host_sh: str, props: str, mktemp: str, mv: str) -> str:
    """``setprop NAME VALUE`` (``ctl.start``/``ctl.stop``/``ctl.restart`` change ``init.svc.<name>``)."""
    return f"""#!{host_sh}
# MetaDVFS twin: setprop.
P={shq(props)}
_fail() {{ printf "Failed to set property '%s' to '%s'.\\nSee dmesg for error reason.\\n" "$1" "$2" >&2; exit 1; }}
if [ $# -ne 2 ]; then echo "usage: setprop NAME VALUE" >&2; exit 1; fi
case $1 in ''|*/*|.*|*' '*) _fail "$1" "$2" ;; esac
case $1 in ro.*) [ -f "$P/$1" ] && _fail "$1" "$2" ;; init.svc.*) _fail "$1" "$2" ;; esac
if [ "${{TWIN_UID:-2000}}" != 0 ]; then
  case $1 in persist.*|vendor.*|ctl.*|sys.*|ro.*) _fail "$1" "$2" ;; esac
fi
_put() {{ _t=$({shq(mktemp)} "$P/.set.XXXXXX") && printf '%s' "$2" > "$_t" && {shq(mv)} -f "$_t" "$P/$1"; }}
case $1 in
  ctl.stop) [ -f "$P/init.svc.$2" ] && _put "init.svc.$2" stopped; exit 0 ;;
  ctl.start|ctl.restart) [ -f "$P/init.svc.$2" ] && _put "init.svc.$2" running; exit 0 ;;
  ctl.*) exit 0 ;;
esac
_put "$1" "$2" || _fail "$1" "$2"
"""


def startstop_script(host_sh: str, props: str, state: str, mktemp: str, mv: str) -> str:
    """``start NAME...`` / ``stop NAME...`` (the script checks its own name)."""
    return f"""#!{host_sh}
# MetaDVFS twin: start/stop of init services (state in init.svc.<name>).
P={shq(props)}
_me=${{0##*/}}
if [ "${{TWIN_UID:-2000}}" != 0 ]; then echo "$_me: must be root" >&2; exit 1; fi
if [ "$_me" = stop ]; then _st=stopped; else _st=running; fi
for _s in "$@"; do
  case $_s in ''|*/*|.*) continue ;; esac
  if [ -f "$P/init.svc.$_s" ]; then
    _t=$({shq(mktemp)} "$P/.set.XXXXXX") && printf '%s' "$_st" > "$_t" && {shq(mv)} -f "$_t" "$P/init.svc.$_s"
  fi
done
exit 0
"""


def dumpsys_script(host_sh: str, state: str, requests: str, touch: str) -> str:
    """``dumpsys SurfaceFlinger|activity|window|battery|thermalservice ...``."""
    sf = state + "/sf"
    return f"""#!{host_sh}
# MetaDVFS twin: dumpsys (outputs kept current by the simulator driver).
S={shq(state)}
R={shq(requests)}
F={shq(sf)}
_req() {{ {shq(touch)} "$R/$1"; }}
if [ $# -eq 0 ] || [ "$1" = -l ]; then
  echo "Currently running services:"
  for s in SurfaceFlinger activity battery thermalservice window; do echo "  $s"; done
  exit 0
fi
_svc=$1; shift
case $_svc in
  SurfaceFlinger)
    case ${{1-}} in
      --latency)
        if [ $# -lt 2 ]; then cat "$F/latency"
        elif [ "$2" = "$(cat "$F/frame_layer")" ]; then cat "$F/latency"
        else cat "$F/period"; fi ;;
      --latency-clear) _req sf-clear ;;
      --list) cat "$F/layers" ;;
      '') cat "$F/summary" ;;
      *) echo "MetaDVFS twin: dumpsys SurfaceFlinger $1 is not emulated" ;;
    esac ;;
  activity) cat "$S/activity" ;;
  window) cat "$S/window" ;;
  battery)
    case ${{1-}} in
      unplug|reset) _req "battery-$1" ;;
      set) _req battery-set ;;
      *) cat "$S/battery" ;;
    esac ;;
  thermalservice) cat "$S/thermalservice" ;;
  *) echo "Can't find service: $_svc" ;;
esac
exit 0
"""


def cmd_script(host_sh: str, state: str, bin_dir: str) -> str:
    """``cmd`` (``package list packages``, ``thermalservice``/``power`` accepted), ``pm`` delegates to it."""
    return f"""#!{host_sh}
# MetaDVFS twin: cmd / pm.
S={shq(state)}
_me=${{0##*/}}
if [ "$_me" = pm ]; then set -- package "$@"; fi
case ${{1-}} in
  package)
    case "${{2-}} ${{3-}}" in
      "list packages") sed 's/^/package:/' "$S/packages" ;;
      *) echo "MetaDVFS twin: cmd package ${{2-}} is not emulated" ;;
    esac ;;
  thermalservice|power) exit 0 ;;
  activity) shift; exec {shq(bin_dir + "/am")} "$@" ;;
  '') echo "usage: cmd SERVICE ..." >&2; exit 1 ;;
  *) echo "cmd: Can't find service: $1" >&2; exit 20 ;;
esac
"""


def am_script(host_sh: str, state: str, requests: str, mktemp: str, mv: str) -> str:
    """``am start -n PKG/ACT`` and ``monkey -p PKG ...``: bring a catalog app to the foreground."""
    return f"""#!{host_sh}
# MetaDVFS twin: am start / monkey -p (switch the foreground app; the driver switches the simulated workload).
S={shq(state)}
R={shq(requests)}
_me=${{0##*/}}
_pkg=
if [ "$_me" = monkey ]; then
  while [ $# -gt 0 ]; do case $1 in -p) _pkg=$2; shift ;; esac; shift; done
else
  case ${{1-}} in
    start|start-activity) shift ;;
    force-stop|kill) exit 0 ;;
    *) echo "MetaDVFS twin: am ${{1-}} is not emulated" >&2; exit 1 ;;
  esac
  while [ $# -gt 0 ]; do
    case $1 in -n) _pkg=${{2%%/*}}; shift ;; -W|-S|-R|--user) ;; -*) ;; *) [ -z "$_pkg" ] && _pkg=${{1%%/*}} ;; esac
    shift
  done
fi
if [ -z "$_pkg" ] || ! grep -qx "$_pkg" "$S/packages"; then
  echo "Error: Activity not started, unable to resolve Intent"; exit 1
fi
_t=$({shq(mktemp)} "$R/.fg.XXXXXX") && printf '%s' "$_pkg" > "$_t" && {shq(mv)} -f "$_t" "$R/foreground"
if [ "$_me" = monkey ]; then echo "Events injected: 1"; else echo "Starting: Intent {{ pkg=$_pkg }}"; fi
"""


def id_script(host_sh: str) -> str:
    """``id`` / ``whoami`` (shell uid 2000, root after su)."""
    return f"""#!{host_sh}
# MetaDVFS twin: id / whoami.
if [ "${{TWIN_UID:-2000}}" = 0 ]; then _u=0; _n=root; _ctx=u:r:magisk:s0; else _u=2000; _n=shell; _ctx=u:r:shell:s0; fi
if [ "${{0##*/}}" = whoami ]; then echo $_n; exit 0; fi
case ${{1-}} in
  -u) echo $_u ;;
  -un|-nu) echo $_n ;;
  -g) echo $_u ;;
  *) echo "uid=$_u($_n) gid=$_u($_n) groups=$_u($_n) context=$_ctx" ;;
esac
"""


def selinux_script(host_sh: str) -> str:
    """``getenforce`` / ``setenforce``."""
    return f"""#!{host_sh}
# MetaDVFS twin: SELinux stays Enforcing (setenforce is accepted for root and ignored).
if [ "${{0##*/}}" = getenforce ]; then echo Enforcing; exit 0; fi
if [ "${{TWIN_UID:-2000}}" != 0 ]; then
  echo "setenforce: Couldn't set enforcing status to '${{1-}}': Permission denied" >&2; exit 1
fi
exit 0
"""


def hash_script(host_sh: str, target: str, grep: str, sed: str, root: str) -> str:
    """``md5sum``/``sha1sum``/``sha256sum`` that hash the phone's view of a file (twin root mapped back to ``/``).

    Text pushed to the phone and scripts the phone's ``sh`` ran hold host paths on the host; hashing what the
    phone user pushed keeps integrity checks of pushed files working.
    """
    root_re = root.replace(".", "\\.")
    return f"""#!{host_sh}
# MetaDVFS twin: {target.rsplit("/", 1)[-1]} of the phone's view of each file.
for _a in "$@"; do case $_a in -*) exec {shq(target)} "$@" ;; esac; done
[ $# -eq 0 ] && exec {shq(target)}
_rc=0
for _f in "$@"; do
  if [ -f "$_f" ] && {shq(grep)} -qF {shq(root)} "$_f" 2>/dev/null; then
    _h=$({shq(sed)} -e {shq(f"s#{root_re}/#/#g")} -e {shq(f"s#{root_re}#/#g")} "$_f" | {shq(target)}) || _rc=1
    printf '%s  %s\\n' "${{_h%% *}}" "$_f"
  else
    {shq(target)} "$_f" || _rc=1
  fi
done
exit $_rc
"""


def host_wrapper(host_sh: str, target: str) -> str:
    """A wrapper that runs one host program."""
    return f'#!{host_sh}\nexec {shq(target)} "$@"\n'
