"""Streaming decisions in Python from the runner's weight file (numpy only: no torch, no onnxruntime).

The same scheme as the C runner (``metadvfs/runner/csrc/policy.c``): the app's model and its FiLM terms are chosen
once per foreground change (:meth:`StreamingPolicy.route`); each observation row is projected once, when it
arrives, into a ring of the window's projections; a decision runs the recurrence over the window from ``h = 0``
(as the trained policy does: carrying the recurrent state across decisions would change its actions) and the head.
:meth:`StreamingPolicy.act` takes whole windows, as :meth:`metadvfs.export.runtime.GovernorRuntime.act` does, and
projects only the newest row when the window is the previous one moved by one row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metadvfs.core import codec
from metadvfs.errors import MetaDVFSError
from metadvfs.export.weights import WEIGHTS_FILE, RunnerWeights, film, head, project, read_weights, recur


class StreamingPolicy:
    """A governor's policy decided incrementally.

    Args:
        governor: Governor directory (with ``policy.bin``), a weight file, or loaded weights.
    """

    def __init__(self, governor: str | Path | RunnerWeights) -> None:
        if isinstance(governor, RunnerWeights):
            self.w = governor
        else:
            p = Path(governor)
            self.w = read_weights(p / WEIGHTS_FILE if p.is_dir() else p)
        self.k = self.w.window
        self._app: str | None = "\0"
        self._z = np.zeros((self.k, 3 * self.w.hidden), dtype=np.float32)
        self._last: np.ndarray | None = None
        self.incremental = 0
        self.route(None)

    def route(self, app: str | None) -> None:
        """Choose the app's model and its FiLM terms (unknown apps: ``default``); re-project the held window."""
        if app == self._app:
            return
        g, meta = self.w.route(app)
        self._app = app
        self.mw = self.w.models[g]
        self._e, self._gb = film(self.mw, meta)
        if self._last is not None:
            self._z = project(self.w, self.mw, self._last)

    def act(self, obs_window: np.ndarray, app: str | None = None) -> np.ndarray:
        """Decide one step on a (K, 26) window, oldest first, for ``app``: (4,) int64 choices."""
        obs = np.asarray(obs_window, dtype=np.float32)
        if obs.shape != (self.k, codec.OBS_DIM):
            raise MetaDVFSError(f"obs_window: expected shape ({self.k}, {codec.OBS_DIM}), got {obs.shape}")
        self.route(app)
        if self._last is not None and np.array_equal(self._last[1:], obs[:-1]):
            self._z[:-1] = self._z[1:]  # the window moved by one row: project only the newest
            self._z[-1] = project(self.w, self.mw, obs[-1])
            self.incremental += 1
        else:
            self._z = project(self.w, self.mw, obs)
        self._last = obs.copy()
        h = recur(self.w, self.mw, self._z[None])
        return head(self.w, self.mw, h, self._e, self._gb)[0]
