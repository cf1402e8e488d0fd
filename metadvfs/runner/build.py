"""Build the on-phone runner (``metadvfs/runner/csrc``) with Zig's C toolchain (``ziglang`` from PyPI).

One command builds it for a phone (``aarch64``) or for this machine and the twin (``x86_64``)::

    python -m ziglang cc -target aarch64-linux-musl -static -O2 -s -std=c11 -D_DEFAULT_SOURCE \
        -Wall -Wextra -Werror -o metadvfs-runner runner.c weights.c policy.c plan.c sense.c -lm

``metadvfs build-runner`` runs exactly :func:`build_command`. Binaries are never committed: they are built into a
cache directory keyed by the SHA-256 of the sources, the target and the Zig version (:func:`runner_binary`), so a
changed source is rebuilt and an unchanged one is reused. The first build of a target also builds musl once
(about two minutes on a 2-core machine; Zig caches it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from metadvfs.errors import MetaDVFSError

CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = ("runner.c", "weights.c", "policy.c", "plan.c", "sense.c")
HEADERS = ("mdvfs.h", "plan.h", "sense.h")
TARGETS = {"aarch64": "aarch64-linux-musl", "x86_64": "x86_64-linux-musl"}
BINARY = "metadvfs-runner"
CFLAGS = ("-static", "-O2", "-s", "-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror")


def zig_version() -> str | None:
    """The ``ziglang`` package's Zig version, or ``None`` when it is not installed."""
    try:
        r = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def host_target() -> str | None:
    """This machine's target name (``x86_64`` or ``aarch64``), or ``None`` when the runner does not build for it."""
    m = os.uname().machine
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(m)


def build_command(target: str, out: str | Path) -> list[str]:
    """The compiler command line for ``target`` (``aarch64`` or ``x86_64``), run in :data:`CSRC`."""
    if target not in TARGETS:
        raise MetaDVFSError(f"--target: must be one of {', '.join(TARGETS)}, got {target!r}")
    return [sys.executable, "-m", "ziglang", "cc", "-target", TARGETS[target], *CFLAGS, "-o", str(out), *SOURCES, "-lm"]


def source_digest() -> str:
    """SHA-256 over the runner's sources and headers (the build cache key)."""
    h = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        h.update(name.encode() + b"\0" + (CSRC / name).read_bytes())
    return h.hexdigest()


def cache_dir() -> Path:
    """``$METADVFS_CACHE_DIR``, else ``$XDG_CACHE_HOME/metadvfs``, else ``~/.cache/metadvfs``."""
    env = os.environ.get("METADVFS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "metadvfs"


def build(target: str, out: str | Path) -> Path:
    """Compile the runner for ``target`` into ``out`` (atomically: a temporary name, then a rename).

    Raises:
        MetaDVFSError: ``ziglang`` missing or the compiler failed (its first error line quoted).
    """
    if zig_version() is None:
        raise MetaDVFSError("the runner needs Zig's C compiler: pip install ziglang (in the dev extra)")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    r = subprocess.run(build_command(target, tmp), cwd=CSRC, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        first = next((ln for ln in r.stderr.splitlines() if "error" in ln), r.stderr.strip()[:200] or "no output")
        raise MetaDVFSError(f"building the runner for {target} failed: {first}")
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return out


def runner_binary(target: str) -> Path:
    """The runner for ``target``, built on first use into :func:`cache_dir` (reused while the sources match)."""
    if target not in TARGETS:
        raise MetaDVFSError(f"--target: must be one of {', '.join(TARGETS)}, got {target!r}")
    ver = zig_version()
    if ver is None:
        raise MetaDVFSError("the runner needs Zig's C compiler: pip install ziglang (in the dev extra)")
    key = hashlib.sha256(f"{source_digest()}:{target}:{ver}".encode()).hexdigest()[:16]
    path = cache_dir() / "runner" / f"{key}-{target}" / BINARY
    if not path.is_file():
        build(target, path)
    return path


def install(target: str, dest: str | Path) -> Path:
    """Build (or reuse) the runner for ``target`` and copy it to ``dest`` (a file or a directory)."""
    src = runner_binary(target)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / BINARY
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return dest
