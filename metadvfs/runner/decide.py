"""Drive the runner's ``decide`` and ``bench`` modes (parity tests, ``metadvfs bench-governor``).

``decide`` reads records from stdin: a route name (32 bytes, NUL-padded; an app name or ``default``), a stream id
(u32) and the (K, 26) float32 window; it answers 4 int32 choices per record. Within a stream, a window that is the
previous one moved by one row costs one row projection (the runner's streaming path); any other window is
projected in full. It reports ``records N incremental M`` on stderr.
"""

from __future__ import annotations

import json
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metadvfs.errors import MetaDVFSError


@dataclass(frozen=True)
class DecideResult:
    """Actions of the runner for a batch of records.

    Attributes:
        actions: (N, 4) int64 choices.
        incremental: Records decided on the streaming path (one new row).
    """

    actions: np.ndarray
    incremental: int


def runner_decide(binary: str | Path, weights: str | Path, obs: np.ndarray, routes: list[str], streams: np.ndarray
                  ) -> DecideResult:  # fmt: skip
    """Actions of the C runner for windows ``obs`` (N, K, 26), each with its route name and stream id.

    Raises:
        MetaDVFSError: The runner refused the weight file or failed (its message quoted).
    """
    obs = np.ascontiguousarray(obs, dtype="<f4")
    if obs.ndim != 3 or len(routes) != len(obs) or len(streams) != len(obs):
        raise MetaDVFSError("runner_decide: obs (N, K, 26), routes (N) and streams (N) must agree")
    parts = []
    for i in range(len(obs)):
        parts.append(routes[i].encode().ljust(32, b"\0")[:32] + struct.pack("<I", int(streams[i])) + obs[i].tobytes())
    r = subprocess.run([str(binary), "decide", str(weights)], input=b"".join(parts), capture_output=True, timeout=600)
    if r.returncode != 0:
        raise MetaDVFSError(r.stderr.decode(errors="replace").strip().splitlines()[-1] if r.stderr else "runner failed")
    acts = np.frombuffer(r.stdout, dtype="<i4").reshape(-1, 4).astype(np.int64)
    words = r.stderr.decode().split()
    inc = int(words[words.index("incremental") + 1]) if "incremental" in words else 0
    return DecideResult(acts, inc)


def runner_bench(binary: str | Path, weights: str | Path, repeats: int) -> dict[str, object]:
    """The runner's own latency benchmark (one JSON object): median/p95 decision ns, reference ns, peak RSS kB."""
    r = subprocess.run([str(binary), "bench", str(weights), str(repeats)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise MetaDVFSError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "runner bench failed")
    return dict(json.loads(r.stdout))


def runner_reference_us(binary: str | Path, repeats: int = 2000) -> float:
    """Median time of the runner's reference computation (256x256 float32 matrix-vector product), microseconds."""
    r = subprocess.run([str(binary), "ref", str(repeats)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise MetaDVFSError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "runner ref failed")
    return float(json.loads(r.stdout)["ref_ns_median"]) / 1000.0
