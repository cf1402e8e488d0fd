"""Streaming decisions in Python from the runner's weight file (numpy only: no torch, no onnxruntime).

The same scheme as the C runner (``metadvfs/runner/csrc/policy.c``): the app's model and its per-app terms are
chosen once per foreground change (:meth:`StreamingPolicy.route`); each observation row is projected once, when it
arrives, into a ring of the window's projections; a decision runs the recurrence over the window from ``h = 0``
(as the trained policy does: carrying the recurrent state across decisions would change its actions) and the head.
:meth:`StreamingPolicy.act` takes whole windows, as :meth:`metadvfs.export.runtime.GovernorRuntime.act` does, and
projects only the newest row when the window is the previous one moved by one row.

Per app, the metadata embedding, FiLM, the CfC output projection and the head's first layer fold into one matrix
and bias (:func:`metadvfs.export.decision_graph.app_terms`, shared with the onnxruntime lean graph). Every
decision works in float32 buffers allocated once (``out=`` ufuncs, no per-step temporaries).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metadvfs.core import codec
from metadvfs.errors import MetaDVFSError
from metadvfs.export.decision_graph import app_terms
from metadvfs.export.weights import WEIGHTS_FILE, RunnerWeights, project, read_weights


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
        w = self.w
        self.k, hd = w.window, w.hidden
        self._app: str | None = "\0"
        self._z = np.zeros((self.k, 3 * hd), dtype=np.float32)
        self._last = np.zeros((self.k, codec.OBS_DIM), dtype=np.float32)
        self._have_last = False
        self._g = np.empty(3 * hd, dtype=np.float32)  # one step's pre-activations [ff1, ff2, gate]
        self._t = np.empty(3 * hd, dtype=np.float32)  # tanh(ff1), tanh(ff2), sigmoid(gate)
        self._h = np.empty(hd, dtype=np.float32)
        self._d = np.empty(hd, dtype=np.float32)
        self._relu = w.activation == "relu"
        self._splits = np.cumsum(w.nvec)[:-1]
        self._uniform = len(set(w.nvec)) == 1
        self.incremental = 0
        self.route(None)

    def route(self, app: str | None) -> None:
        """Choose the app's model and its per-app terms (unknown apps: ``default``); re-project the held window."""
        if app == self._app:
            return
        g, meta = self.w.route(app)
        self._app = app
        self.mw = self.w.models[g]
        self._a, c = app_terms(self.w, self.mw, meta)
        self._c = c[0]
        rest = [*self.mw.head[1:], (self.mw.act_w, self.mw.act_b)] if self.mw.head else []
        self._layers = rest
        if self._have_last:
            self._z[:] = project(self.w, self.mw, self._last)

    def act(self, obs_window: np.ndarray, app: str | None = None) -> np.ndarray:
        """Decide one step on a (K, 26) window, oldest first, for ``app``: (4,) int64 choices."""
        obs = np.asarray(obs_window, dtype=np.float32)
        if obs.shape != (self.k, codec.OBS_DIM):
            raise MetaDVFSError(f"obs_window: expected shape ({self.k}, {codec.OBS_DIM}), got {obs.shape}")
        self.route(app)
        if self._have_last and np.array_equal(self._last[1:], obs[:-1]):
            self._z[:-1] = self._z[1:]  # the window moved by one row: project only the newest
            self._z[-1] = project(self.w, self.mw, obs[-1])
            self.incremental += 1
        else:
            self._z[:] = project(self.w, self.mw, obs)
        self._last[:] = obs
        self._have_last = True
        return self._decide()

    def _decide(self) -> np.ndarray:
        """Recurrence over the held projections from ``h = 0``, then the folded head: (4,) int64 choices."""
        hd, z, g, t, h, d = self.w.hidden, self._z, self._g, self._t, self._h, self._d
        gate = t[2 * hd :]
        for k in range(self.k):
            if k:
                np.dot(h, self.mw.w_h, out=g)
                g += z[k]
            else:
                g[:] = z[0]
            np.tanh(g[: 2 * hd], out=t[: 2 * hd])
            np.negative(g[2 * hd :], out=gate)  # sigmoid = 1 / (1 + exp(-x))
            np.exp(gate, out=gate)
            gate += 1
            np.reciprocal(gate, out=gate)
            np.subtract(t[hd : 2 * hd], t[:hd], out=d)
            d *= gate
            np.add(t[:hd], d, out=h)
        x = h @ self._a + self._c
        if self.mw.head:
            x = np.tanh(x) if not self._relu else np.maximum(x, 0)
        for j, (wt, b) in enumerate(self._layers, start=1):
            x = x @ wt + b
            if j < len(self._layers):
                x = np.tanh(x) if not self._relu else np.maximum(x, 0)
        if self._uniform:
            return np.argmax(x.reshape(4, -1), axis=1).astype(np.int64)
        return np.array([int(np.argmax(p)) for p in np.split(x, self._splits)], dtype=np.int64)
