"""Run an exported governor: observation window + metadata -> per-domain action choices.

Kind ``onnx`` runs the directory's model with onnxruntime (CPU, one thread by default): inputs ``obs``
float32 (1, K, 26) and ``meta`` float32 (1, M), output ``action`` int64 (1, 4). When the directory also holds the
runner's weights (``policy.bin``, vouched for by the manifest), decisions run a lean graph of the routed model only
(:mod:`metadvfs.export.decision_graph`): the model and its per-app terms are chosen once per metadata vector
(foreground app) and cached, and each decision binds the window into a pre-allocated input. Kind ``rule`` applies
a host-side rule to the newest observation row:

- ``schedutil``: the kernel's rule ``next_f = 1.25 * fmax * util`` on the frequency-invariant CPU utilisation
  feature (GPU: ``1.25 * f_cur * busy``), lowest OPP at or above it;
- ``performance`` / ``powersave``: top / bottom OPP;
- ``fixed:<x>``: OPP ``round(x * (n_opp - 1))`` (the simulator's ``fixed`` governor).

In ``relative`` action mode a rule moves one OPP per decision toward its target; in ``absolute`` mode it picks
the smallest choice that reaches the target. This module never imports torch.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from metadvfs.core import codec
from metadvfs.errors import MetaDVFSError
from metadvfs.export.decision_graph import app_terms, decision_graph
from metadvfs.export.manifest import DOMAIN_KEYS, GovernorManifest, load_manifest
from metadvfs.export.weights import WEIGHTS_FILE, decode_weights

SCHEDUTIL_HEADROOM = 1.25
"""``map_util_freq`` headroom of kernel/sched/cpufreq_schedutil.c."""
_NF = len(codec.DOMAIN_FEATURES)
_PRESENT, _UTIL, _FREQ, _LEVEL = 0, 1, 2, 3


class GovernorRuntime:
    """A loaded governor.

    Args:
        governor: Governor directory or an already loaded manifest.
        threads: onnxruntime intra-op threads (kind ``onnx``).
        lean: Decide through the routed model's lean graph when the governor has ``policy.bin`` (``False``:
            always run ``policy.onnx``, every routed model on each decision).
    """

    def __init__(self, governor: str | Path | GovernorManifest, threads: int = 1, lean: bool = True) -> None:
        self.manifest = governor if isinstance(governor, GovernorManifest) else load_manifest(governor)
        m = self.manifest
        self.window = m.codec.window
        self.nvec = np.array(m.codec.nvec, dtype=np.int64)
        self.tables = [np.asarray(m.table(d), dtype=float) for d in range(4)]
        self._session = None
        self._lean: _LeanDecider | None = None
        if m.kind == "onnx":
            self._session = self._load_onnx(threads)
            if lean and WEIGHTS_FILE in m.files:
                self._lean = _LeanDecider(m, self._options(threads))

    @staticmethod
    def _options(threads: int) -> object:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        return opts

    # ------------------------------------------------------------------ onnx
    def _load_onnx(self, threads: int) -> object:
        import onnxruntime as ort

        path = self.manifest.model_file
        assert path is not None
        opts = self._options(threads)
        data = _vouched_bytes(self.manifest, path)
        try:
            sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt models
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise MetaDVFSError(f"{path}: cannot load the ONNX model: {first}") from None
        inputs = {i.name: i for i in sess.get_inputs()}
        outputs = [o.name for o in sess.get_outputs()]
        for name in ("obs", "meta"):
            if name not in inputs:
                raise MetaDVFSError(f"{path}: model input {name!r} missing (inputs: {', '.join(inputs)})")
        if "action" not in outputs:
            raise MetaDVFSError(f"{path}: model output 'action' missing (outputs: {', '.join(outputs)})")
        shapes = {"obs": (1, self.window, codec.OBS_DIM), "meta": (1, self.manifest.meta_dim)}
        for name, shape in shapes.items():
            got = inputs[name].shape
            if len(got) != len(shape) or any(isinstance(g, int) and g != w for g, w in zip(got, shape, strict=True)):
                raise MetaDVFSError(f"{path}: input {name!r} has shape {got}, the manifest implies {list(shape)}")
        return sess

    # ------------------------------------------------------------------ act
    def act(self, obs_window: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """Decide one step.

        Args:
            obs_window: (K, 26) float32 observation rows, oldest first (K = manifest window).
            meta: (M,) float32 metadata vector.

        Returns:
            (4,) int64 per-domain choices as :func:`metadvfs.environment.codec.decode` expects.

        Raises:
            MetaDVFSError: Wrong input shapes, or the model returned an invalid action.
        """
        obs = np.asarray(obs_window, dtype=np.float32)
        if obs.shape != (self.window, codec.OBS_DIM):
            raise MetaDVFSError(f"obs_window: expected shape ({self.window}, {codec.OBS_DIM}), got {obs.shape}")
        meta = np.asarray(meta, dtype=np.float32)
        if meta.shape != (self.manifest.meta_dim,):
            raise MetaDVFSError(f"meta: expected shape ({self.manifest.meta_dim},), got {meta.shape}")
        if self._lean is not None:
            a = self._lean.act(obs, meta)
        elif self._session is not None:
            out = self._session.run(["action"], {"obs": obs[None], "meta": meta[None]})[0]  # type: ignore[attr-defined]
            a = np.asarray(out)
            if a.size != 4 or (not np.issubdtype(a.dtype, np.integer) and not np.all(np.equal(np.mod(a, 1), 0))):
                raise MetaDVFSError(f"{self.manifest.model_file}: output 'action' must be 4 integers, got {a!r}")
            a = a.reshape(4).astype(np.int64)
        else:
            return self._rule(obs[-1])
        if (a < 0).any() or (a >= self.nvec).any():
            raise MetaDVFSError(
                f"{self.manifest.model_file}: action {a.tolist()} outside the action space {self.nvec.tolist()}"
            )
        return a

    def _rule(self, row: np.ndarray) -> np.ndarray:
        m = self.manifest
        rule = m.rule or "schedutil"
        mode, levels = m.codec.action_mode, m.codec.levels
        out = np.zeros(4, dtype=np.int64)
        for d in range(4):
            n = m.codec.n_opp[d]
            if n <= 0 or DOMAIN_KEYS[d] not in m.domains:
                out[d] = 1 if mode == "relative" else 0
                continue
            top = n - 1
            cur = int(np.rint(float(row[d * _NF + _LEVEL]) * top)) if top > 0 else 0
            cur = min(max(cur, 0), top)
            if rule == "performance":
                target = top
            elif rule == "powersave":
                target = 0
            elif rule.startswith("fixed:"):
                target = int(np.rint(float(rule.split(":", 1)[1]) * top))
            else:
                target = self._schedutil_target(d, row)
            out[d] = self._choice(target, cur, top, mode, levels)
        return out

    def _schedutil_target(self, d: int, row: np.ndarray) -> int:
        table = self.tables[d]
        fmax = table[-1]
        util = float(row[d * _NF + _UTIL])
        if d == 3:  # GPU utilisation is the busy fraction at the current frequency
            want = SCHEDUTIL_HEADROOM * util * float(row[d * _NF + _FREQ]) * fmax
        else:  # CPU utilisation is frequency-invariant (relative to fmax)
            want = SCHEDUTIL_HEADROOM * util * fmax
        idx = int(np.searchsorted(table, want - 1e-9, side="left"))
        return min(idx, len(table) - 1)

    @staticmethod
    def _choice(target: int, cur: int, top: int, mode: str, levels: int) -> int:
        if mode == "relative":
            return 2 if target > cur else 0 if target < cur else 1
        if top == 0:
            return 0
        for a in range(levels):
            if int(np.rint(a / max(levels - 1, 1) * top)) >= target:
                return a
        return levels - 1

    @property
    def lean(self) -> bool:
        """Whether decisions run the routed model's lean graph (else ``policy.onnx`` or the rule)."""
        return self._lean is not None

    @property
    def kind(self) -> str:
        """``onnx`` or ``rule``."""
        return self.manifest.kind

    def describe(self) -> str:
        """One line: kind, rule/model, device, window."""
        m = self.manifest
        what = m.rule if m.kind == "rule" else (m.model_file.name if m.model_file else "?")
        return (
            f"{m.kind} governor ({what}) for {m.device_name}, window {m.codec.window}, "
            f"{m.codec.action_mode} actions, every {m.decision_interval_s * 1000:g} ms"
        )


def _vouched_bytes(m: GovernorManifest, path: Path) -> bytes:
    """A governor file's bytes, checked against the manifest's SHA-256 (no swap after ``load_manifest``)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MetaDVFSError(f"{path}: cannot read ({exc.strerror})") from None
    if m.files.get(path.name) != "sha256:" + hashlib.sha256(data).hexdigest():
        raise MetaDVFSError(f"{path}: SHA-256 differs from manifest.json files.{path.name}; re-export the governor")
    return data


_MAX_ROUTES = 256
"""Per-app bindings kept by the lean decider (one per distinct metadata vector seen)."""


class _LeanDecider:
    """Decisions through the routed model's lean graph (one onnxruntime session per model, built on first use).

    Args:
        m: The governor's manifest (its ``policy.bin`` is read and checked against it).
        opts: onnxruntime session options.
    """

    def __init__(self, m: GovernorManifest, opts: object) -> None:
        self.w = decode_weights(_vouched_bytes(m, m.path / WEIGHTS_FILE), str(m.path / WEIGHTS_FILE))
        if self.w.window != m.codec.window or self.w.meta_dim != m.meta_dim:
            raise MetaDVFSError(f"{m.path / WEIGHTS_FILE}: window/metadata size differ from manifest.json")
        self.opts = opts
        self.keys = np.stack([r[3] for r in self.w.routes if r[2]])
        self.groups = [r[1] for r in self.w.routes if r[2]]
        self.sessions: dict[int, tuple[Any, Any]] = {}
        self.routes: dict[bytes, tuple[Any, ...]] = {}
        self.obs = np.zeros((self.w.window, codec.OBS_DIM), dtype=np.float32)
        self.out = np.zeros(4, dtype=np.int64)
        self.meta_key = b""
        self.binding: tuple[Any, ...] = (None, None)

    def _session(self, g: int) -> tuple[Any, Any]:
        """Model ``g``'s session and its ``obs`` input (an OrtValue over the shared pre-allocated window)."""
        import onnxruntime as ort

        if g not in self.sessions:
            sess = ort.InferenceSession(
                decision_graph(self.w, self.w.models[g]), sess_options=self.opts, providers=["CPUExecutionProvider"]
            )
            obs = ort.OrtValue.ortvalue_from_numpy(self.obs)
            self.sessions[g] = (sess, obs)
        return self.sessions[g]

    def route(self, meta: np.ndarray) -> None:
        """Bind the model and per-app terms of a metadata vector (nearest key, as ``policy.onnx`` routes)."""
        import onnxruntime as ort

        key = meta.tobytes()
        if key == self.meta_key:
            return
        if key not in self.routes:
            if len(self.routes) >= _MAX_ROUTES:  # metadata vectors outside the manifest's apps: bounded cache
                self.routes.clear()
            g = self.groups[int(np.argmin(((self.keys - meta[None]) ** 2).sum(-1)))]
            sess, obs = self._session(g)
            a, c = app_terms(self.w, self.w.models[g], meta)
            io = sess.io_binding()
            io.bind_ortvalue_input("obs", obs)
            terms = (ort.OrtValue.ortvalue_from_numpy(a), ort.OrtValue.ortvalue_from_numpy(c))
            io.bind_ortvalue_input("A", terms[0])
            io.bind_ortvalue_input("c", terms[1])
            io.bind_output("action", "cpu", 0, np.int64, [4], self.out.ctypes.data)
            self.routes[key] = (sess, io, terms)  # the OrtValues (and their arrays) live as long as the binding
        self.meta_key = key
        self.binding = self.routes[key]

    def act(self, obs: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """(K, 26) float32 window and (M,) float32 metadata -> (4,) int64 choices."""
        self.route(meta)
        sess, io = self.binding[:2]
        np.copyto(self.obs, obs)
        sess.run_with_iobinding(io)
        return self.out.copy()


def parameter_count(path: str | Path) -> int:
    """Number of parameters of an ONNX model: its initializer elements (uses the ``onnx`` package).

    ``metadvfs export`` and ``bench-governor`` both report this number, so they agree for the same directory. It
    includes constants the exporter stored as initializers (e.g. folded buffers), so it can exceed the torch
    module's trainable parameter count.
    """
    import onnx

    model = onnx.load(str(path))
    return int(sum(math.prod(t.dims) for t in model.graph.initializer))
