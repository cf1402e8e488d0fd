"""Running the simulator kernel on several threads: environments split into contiguous row blocks.

:func:`~metadvfs.sim.kernel.fused_step` releases the GIL (``nogil=True``) and every environment's step reads only its
own rows and the shared read-only tables, so blocks of rows can run concurrently on Python threads. Each environment
is computed by the same compiled code whatever the block it falls in, so the results are bit-identical for every
thread count (a test checks it).

The thread count is a knob: ``SIM_THREADS_ENV`` (``METADVFS_SIM_THREADS``) sets the process default, a
:class:`~metadvfs.sim.core.SimCore` can override it (``core.threads``), and ``metadvfs bench --threads N`` measures
it. The default is 1: training and evaluation already run several processes side by side (Ray, parallel seeds), and
on a shared machine extra threads compete with them.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from metadvfs.errors import MetaDVFSError
from metadvfs.sim.kernel import fused_step

SIM_THREADS_ENV = "METADVFS_SIM_THREADS"
"""Environment variable with the default kernel thread count (an integer in ``THREADS_RANGE``)."""
THREADS_RANGE = (1, 256)
"""Allowed kernel thread counts."""
MIN_TICKS_PER_THREAD = 2048
"""Fewest environment-ticks a thread gets per kernel call (about 0.2 ms of work); smaller calls run on fewer threads,
since handing a block to a thread costs tens of microseconds."""

SHARED_PARAMS = frozenset(
    {"freq", "p_active", "p_idle", "p_static", "idle_par", "demand", "n_ticks", "tick_s", "alpha"}
)
"""Parameters of :func:`~metadvfs.sim.kernel.fused_step` that are not per environment (no leading N axis)."""

_PARAMS = tuple(inspect.signature(fused_step.py_func).parameters)
_PER_ENV = tuple(p not in SHARED_PARAMS for p in _PARAMS)
_N_TICKS = _PARAMS.index("n_ticks")
_POOL: list[ThreadPoolExecutor | None] = [None]
_POOL_SIZE = [0]
_POOL_PID = [0]
_POOL_LOCK = threading.Lock()


def check_threads(value: object, field: str = "threads") -> int:
    """A validated kernel thread count.

    Args:
        value: An integer (or its decimal string).
        field: Name used in the error message.

    Returns:
        The thread count.

    Raises:
        MetaDVFSError: Not an integer in ``THREADS_RANGE``.
    """
    lo, hi = THREADS_RANGE
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if isinstance(value, bool) or not lo <= n <= hi:
        raise MetaDVFSError(f"{field}: must be an integer in [{lo}, {hi}], got {value!r}")
    return n


def default_threads() -> int:
    """The process default kernel thread count: ``METADVFS_SIM_THREADS`` or 1."""
    raw = os.environ.get(SIM_THREADS_ENV)
    return 1 if raw is None or raw.strip() == "" else check_threads(raw, SIM_THREADS_ENV)


def _pool(workers: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        pool = _POOL[0]
        if pool is not None and _POOL_PID[0] != os.getpid():
            pool = None  # inherited through fork: its threads do not exist in this process
        if pool is None or _POOL_SIZE[0] < workers:
            if pool is not None:
                pool.shutdown(wait=True)
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metadvfs-sim")
            _POOL[0] = pool
            _POOL_SIZE[0] = workers
            _POOL_PID[0] = os.getpid()
        return pool


def blocks(n: int, n_ticks: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous row blocks ``[lo, hi)`` for one kernel call (one block when the call is too small to split).

    Args:
        n: Environments.
        n_ticks: Ticks per environment in the call.
        threads: Thread budget.

    Returns:
        At most ``threads`` blocks covering ``range(n)`` in order.
    """
    k = max(1, min(threads, n * max(1, n_ticks) // MIN_TICKS_PER_THREAD, n))
    return [(j * n // k, (j + 1) * n // k) for j in range(k)]


def run_kernel(args: Sequence[Any], threads: int, kernel: Callable[..., None] = fused_step) -> None:
    """Call ``kernel`` (default :func:`~metadvfs.sim.kernel.fused_step`) on ``args``, split over ``threads`` threads.

    Args:
        args: The kernel's arguments in order (per-environment arrays with a leading N axis).
        threads: Thread budget (1: one plain call).
        kernel: A GIL-releasing kernel with :func:`~metadvfs.sim.kernel.fused_step`'s parameters.
    """
    n = len(args[0])
    parts = blocks(n, int(args[_N_TICKS]), threads) if threads > 1 else [(0, n)]
    if len(parts) == 1:
        kernel(*args)
        return
    chunks = [[a[lo:hi] if per else a for a, per in zip(args, _PER_ENV, strict=True)] for lo, hi in parts]
    pool = _pool(len(chunks) - 1)
    futures: list[Future[None]] = [pool.submit(kernel, *c) for c in chunks[1:]]
    kernel(*chunks[0])
    for fut in futures:
        fut.result()
