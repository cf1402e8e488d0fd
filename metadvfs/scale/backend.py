"""The ``--ray`` option: which Ray cluster to use, and connecting to it with a one-line error on failure.

Accepted values:

- ``auto``: the cluster of ``RAY_ADDRESS`` or of a local ``ray start --head`` if one runs, else a new local
  instance with every CPU of this machine (what ``ray.init()`` does);
- ``local`` / ``local:N``: a new local instance with all / ``N`` CPUs (tests use ``local:2``);
- ``HOST:PORT`` (a head started with ``ray start --head``, port 6379 by default) or ``ray://HOST:PORT``
  (Ray Client, port 10001): an existing cluster. The port is probed first (3 s), so an unreachable address
  fails at once instead of after Ray's own connection retries.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from metadvfs.errors import MetaDVFSError

INSTALL_HINT = "Ray is not installed; install metadvfs[ray] (pip install 'metadvfs[ray]')"
PROBE_TIMEOUT_S = 3.0


def require_ray() -> Any:
    """Import and return the ``ray`` module.

    Raises:
        MetaDVFSError: Ray is not installed (one line naming the extra to install).
    """
    try:
        import ray
    except ImportError:
        raise MetaDVFSError(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class RaySpec:
    """A parsed ``--ray`` value.

    Attributes:
        kind: ``auto``, ``local`` or ``address``.
        address: Cluster address (``address`` kind).
        num_cpus: CPUs of a new local instance (``local`` kind; None = all).
    """

    kind: str
    address: str | None = None
    num_cpus: int | None = None


def parse_ray(value: str) -> RaySpec:
    """Parse a ``--ray`` value (see the module docstring).

    Raises:
        MetaDVFSError: Malformed value.
    """
    v = value.strip()
    if v == "auto":
        return RaySpec("auto")
    if v == "local" or v.startswith("local:"):
        if v == "local":
            return RaySpec("local")
        try:
            n = int(v.split(":", 1)[1])
        except ValueError:
            n = 0
        if not 1 <= n <= 4096:
            raise MetaDVFSError(f"--ray: local:N needs N in [1, 4096], got {v!r}")
        return RaySpec("local", num_cpus=n)
    host_port = v.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MetaDVFSError(f"--ray: expected auto, local[:N], HOST:PORT or ray://HOST:PORT, got {value!r}")
    return RaySpec("address", address=v)


def probe(address: str) -> None:
    """Open and close a TCP connection to a ``HOST:PORT`` / ``ray://HOST:PORT`` address.

    Raises:
        MetaDVFSError: Nothing answers within :data:`PROBE_TIMEOUT_S` seconds.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise MetaDVFSError(
            f"--ray: cannot reach Ray at {address} ({exc.strerror or exc.__class__.__name__}); "
            "start the head with `ray start --head` or check the address"
        ) from None


def worker_env() -> dict[str, str]:
    """Environment of Ray workers: one torch/OpenMP thread, and this checkout on ``PYTHONPATH``."""
    from metadvfs.paths import PACKAGE_DIR

    env = {"OMP_NUM_THREADS": "1", "METADVFS_TORCH_THREADS": os.environ.get("METADVFS_TORCH_THREADS", "1")}
    paths = [str(PACKAGE_DIR.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def connect(value: str) -> Any:
    """Connect to (or start) the Ray cluster named by a ``--ray`` value; returns the ``ray`` module.

    Reuses an existing connection of this process.

    Raises:
        MetaDVFSError: Ray missing, malformed value, unreachable address or a failed start.
    """
    spec = parse_ray(value)
    ray = require_ray()
    if ray.is_initialized():
        return ray
    if spec.kind == "address":
        assert spec.address is not None
        probe(spec.address)
    kwargs: dict[str, Any] = {
        "runtime_env": {"env_vars": worker_env()},
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "warning",
        "configure_logging": True,
    }
    if spec.kind == "local":
        kwargs["address"] = "local"
        kwargs["num_cpus"] = spec.num_cpus
    elif spec.kind == "address":
        kwargs["address"] = spec.address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise MetaDVFSError(f"--ray {value}: could not start or join Ray ({first})") from None
    return ray
