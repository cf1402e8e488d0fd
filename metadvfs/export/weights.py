r"""The on-phone runner's weight file (``policy.bin``): a versioned little-endian binary form of the governor.

``metadvfs export`` writes it next to ``policy.onnx`` from the same fused export module, so the C runner
(``runner/metadvfs_runner.c``) computes the function the ONNX graph computes. Layout (every integer ``u32``,
every tensor ``float32``, all little-endian; sizes in elements)::

    header (HEADER_SIZE = 256 bytes)
      0  magic            8 bytes  b"MDVFSRW\\0"
      8  format version   u32      FORMAT_VERSION
     12  header size      u32      256
     16  device name      32 bytes NUL-padded (the device profile's name)
     48  profile hash     32 bytes NUL-padded (metadvfs.catalog.devices.profile_hash)
     80  obs schema       u32      OBS_SCHEMA: CRC-32 of ",".join(codec.FEATURES)
     84  obs_dim C, window K, hidden H, proj P, meta_dim M, emb E       6 x u32
    108  head layers L, widths[4] (first L used), activation (0 tanh, 1 relu)  6 x u32
    132  action mode (0 relative, 1 absolute), levels, nvec[4]          6 x u32
    156  models G, routes A, layer-norm epsilon (f32), payload bytes     4 x u32
    172  zero padding to 256
    routes: A x (name 32 bytes NUL-padded, group u32, is_key u32, vector M x f32)
    models: G x (ln_w C, ln_b C, w_in C x 3H, w_h H x 3H, bias 3H, fc_w H x P, fc_b P,
                 meta_w M x E, meta_b E, film_w E x 2P, film_b 2P,
                 head_i: w (in_i x out_i), b out_i for each head layer, act_w last x sum(nvec), act_b sum(nvec))
    trailer: SHA-256 (32 bytes) of every byte before it

Matrices are stored input-major (``x @ W``: the ``(in, out)`` transpose of torch's ``Linear.weight``). A route
is a manifest ``meta`` entry: its name (catalog app or ``default``), the metadata vector, and whether the ONNX
graph uses it as a routing key (catalog apps) with its model index. ``default`` is routed like the graph does:
to the model of the nearest key.

:func:`read_weights` (no torch) validates a file as the C runner does and :func:`reference_actions` computes
the policy from it with numpy (float32), so tests can check the format independently of the C code.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metadvfs.core import codec
from metadvfs.errors import MetaDVFSError

WEIGHTS_FILE = "policy.bin"
MAGIC = b"MDVFSRW\0"
FORMAT_VERSION = 1
HEADER_SIZE = 256
NAME_BYTES = 32
OBS_SCHEMA = zlib.crc32(",".join(codec.FEATURES).encode())
"""Identifies the observation layout: changes whenever a feature is added, removed or reordered."""
ACTIVATIONS = ("tanh", "relu")
MAX_HEAD_LAYERS = 4
LIMITS = {
    "window": 64,
    "hidden": 128,
    "proj": 128,
    "meta_dim": 256,
    "emb": 128,
    "width": 512,
    "models": 32,
    "routes": 128,
    "nvec": 64,
}
"""Upper bounds the C runner accepts (its static buffers)."""
_HEAD = struct.Struct("<8sII32s32sI6I6I6IIIfI")


@dataclass
class ModelWeights:
    """One routed model in the runner's layout (float32, input-major matrices)."""

    ln_w: np.ndarray
    ln_b: np.ndarray
    w_in: np.ndarray
    w_h: np.ndarray
    bias: np.ndarray
    fc_w: np.ndarray
    fc_b: np.ndarray
    meta_w: np.ndarray
    meta_b: np.ndarray
    film_w: np.ndarray
    film_b: np.ndarray
    head: list[tuple[np.ndarray, np.ndarray]]
    act_w: np.ndarray
    act_b: np.ndarray

    def tensors(self) -> list[np.ndarray]:
        """Every tensor in file order."""
        out = [self.ln_w, self.ln_b, self.w_in, self.w_h, self.bias, self.fc_w, self.fc_b, self.meta_w, self.meta_b]
        out += [self.film_w, self.film_b]
        for w, b in self.head:
            out += [w, b]
        return [*out, self.act_w, self.act_b]


@dataclass
class RunnerWeights:
    """A runner weight file's content.

    Attributes:
        device: Device profile name.
        profile_hash: Its profile hash.
        window: Observation window K.
        hidden: CfC units H.
        proj: CfC projection width P.
        meta_dim: Metadata vector length M.
        emb: Metadata embedding width E.
        widths: Hidden widths of the policy head.
        activation: Head activation (``tanh`` or ``relu``).
        action_mode: ``relative``, ``absolute`` or ``margin``.
        levels: Choices per domain in absolute mode.
        nvec: Choices per domain.
        eps: LayerNorm epsilon.
        routes: ``[(name, group, is_key, vector)]``.
        models: The routed models.
        obs_schema: Observation schema id (:data:`OBS_SCHEMA` when written by this package).
    """

    device: str
    profile_hash: str
    window: int
    hidden: int
    proj: int
    meta_dim: int
    emb: int
    widths: list[int]
    activation: str
    action_mode: str
    levels: int
    nvec: list[int]
    eps: float
    routes: list[tuple[str, int, bool, np.ndarray]]
    models: list[ModelWeights] = field(default_factory=list)
    obs_schema: int = OBS_SCHEMA

    def shapes(self) -> list[tuple[int, ...]]:
        """Shape of every tensor of one model, in file order."""
        c, h, p, m, e = codec.OBS_DIM, self.hidden, self.proj, self.meta_dim, self.emb
        out: list[tuple[int, ...]] = [(c,), (c,), (c, 3 * h), (h, 3 * h), (3 * h,), (h, p), (p,), (m, e), (e,)]
        out += [(e, 2 * p), (2 * p,)]
        prev = p + e
        for w in self.widths:
            out += [(prev, w), (w,)]
            prev = w
        return [*out, (prev, sum(self.nvec)), (sum(self.nvec),)]

    def route(self, name: str | None) -> tuple[int, np.ndarray]:
        """``(model index, metadata vector)`` of an app name (unknown names: ``default``), as the graph routes."""
        by_name = {r[0]: r for r in self.routes}
        r = by_name.get(name or "default", by_name["default"])
        vec = r[3]
        keys = [x for x in self.routes if x[2]]
        d = [float(((k[3] - vec) ** 2).sum()) for k in keys]
        return keys[int(np.argmin(d))][1], vec


def _name(s: str, what: str) -> bytes:
    b = s.encode()
    if not 0 < len(b) < NAME_BYTES or b"\0" in b:
        raise MetaDVFSError(f"runner weights: {what} {s!r} must be 1..{NAME_BYTES - 1} bytes")
    return b.ljust(NAME_BYTES, b"\0")


def encode_weights(w: RunnerWeights) -> bytes:
    """Serialise ``w`` (header, routes, models, SHA-256 trailer)."""
    shapes = w.shapes()
    body = bytearray()
    for name, group, is_key, vec in w.routes:
        body += _name(name, "route name") + struct.pack("<II", group, int(is_key))
        body += np.asarray(vec, dtype="<f4").reshape(w.meta_dim).tobytes()
    for mw in w.models:
        ts = mw.tensors()
        if [t.shape for t in ts] != shapes:
            raise MetaDVFSError("runner weights: a model's tensor shapes do not match the header")
        for t in ts:
            body += np.ascontiguousarray(t, dtype="<f4").tobytes()
    widths = [*w.widths, *([0] * (MAX_HEAD_LAYERS - len(w.widths)))]
    head = _HEAD.pack(
        MAGIC, FORMAT_VERSION, HEADER_SIZE, _name(w.device, "device name"), _name(w.profile_hash, "profile hash"),
        w.obs_schema, codec.OBS_DIM, w.window, w.hidden, w.proj, w.meta_dim, w.emb,
        len(w.widths), *widths, ACTIVATIONS.index(w.activation),
        codec.ACTION_MODES.index(w.action_mode), w.levels, *w.nvec,
        len(w.models), len(w.routes), w.eps, len(body),
    )  # fmt: skip
    data = head.ljust(HEADER_SIZE, b"\0") + bytes(body)
    return data + hashlib.sha256(data).digest()


def _text(b: bytes) -> str:
    return b.rstrip(b"\0").decode("utf-8", "replace")


def decode_weights(data: bytes, where: str = "policy.bin") -> RunnerWeights:
    """Parse and validate a weight file's bytes (the checks the C runner makes, with the same messages' gist).

    Raises:
        MetaDVFSError: Wrong magic or version, truncated, corrupt (SHA-256), or sizes out of range.
    """
    if len(data) < HEADER_SIZE + 32:
        raise MetaDVFSError(f"{where}: truncated ({len(data)} bytes, a header alone is {HEADER_SIZE + 32})")
    f = _HEAD.unpack_from(data)
    if f[0] != MAGIC:
        raise MetaDVFSError(f"{where}: not a metadvfs runner weight file (bad magic)")
    if f[1] != FORMAT_VERSION or f[2] != HEADER_SIZE:
        raise MetaDVFSError(f"{where}: format version {f[1]}, this package reads {FORMAT_VERSION}; re-export")
    (obs_schema, obs_dim, window, hidden, proj, meta_dim, emb) = f[5:12]
    n_layers, widths, act = f[12], list(f[13:17]), f[17]
    mode, levels, nvec = f[18], f[19], list(f[20:24])
    n_models, n_routes, eps, payload = f[24], f[25], f[26], f[27]
    if obs_schema != OBS_SCHEMA or obs_dim != codec.OBS_DIM:
        raise MetaDVFSError(
            f"{where}: observation schema {obs_schema:#010x}/{obs_dim} features, this package uses "
            f"{OBS_SCHEMA:#010x}/{codec.OBS_DIM}; re-export the governor"
        )
    checks = [
        ("window", window, 1, LIMITS["window"]), ("hidden", hidden, 1, LIMITS["hidden"]),
        ("proj", proj, 1, LIMITS["proj"]), ("meta_dim", meta_dim, 1, LIMITS["meta_dim"]),
        ("emb", emb, 1, LIMITS["emb"]), ("head layers", n_layers, 0, MAX_HEAD_LAYERS),
        ("activation", act, 0, len(ACTIVATIONS) - 1), ("action mode", mode, 0, len(codec.ACTION_MODES) - 1),
        ("models", n_models, 1, LIMITS["models"]), ("routes", n_routes, 1, LIMITS["routes"]),
    ]  # fmt: skip
    checks += [(f"width[{i}]", widths[i], 1, LIMITS["width"]) for i in range(n_layers)]
    checks += [(f"nvec[{i}]", nvec[i], 1, LIMITS["nvec"]) for i in range(4)]
    for what, v, lo, hi in checks:
        if not lo <= v <= hi:
            raise MetaDVFSError(f"{where}: header field {what} = {v} outside [{lo}, {hi}]")
    if len(data) != HEADER_SIZE + payload + 32:
        raise MetaDVFSError(
            f"{where}: {len(data)} bytes, the header announces {HEADER_SIZE + payload + 32} (truncated?)"
        )
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        raise MetaDVFSError(f"{where}: SHA-256 of the content does not match its trailer (corrupt file)")
    w = RunnerWeights(
        device=_text(f[3]), profile_hash=_text(f[4]), window=window, hidden=hidden, proj=proj, meta_dim=meta_dim,
        emb=emb, widths=widths[:n_layers], activation=ACTIVATIONS[act], action_mode=codec.ACTION_MODES[mode],
        levels=levels, nvec=nvec, eps=float(eps), routes=[], obs_schema=obs_schema,
    )  # fmt: skip
    shapes = w.shapes()
    need = n_routes * (NAME_BYTES + 8 + 4 * meta_dim) + n_models * 4 * sum(int(np.prod(s)) for s in shapes)
    if need != payload:
        raise MetaDVFSError(f"{where}: payload is {payload} bytes, the header's sizes need {need}")
    pos = HEADER_SIZE
    for _ in range(n_routes):
        name = _text(data[pos : pos + NAME_BYTES])
        group, is_key = struct.unpack_from("<II", data, pos + NAME_BYTES)
        pos += NAME_BYTES + 8
        vec = np.frombuffer(data, dtype="<f4", count=meta_dim, offset=pos).astype(np.float32)
        pos += 4 * meta_dim
        if group >= n_models:
            raise MetaDVFSError(f"{where}: route {name!r} names model {group}, the file has {n_models}")
        w.routes.append((name, int(group), bool(is_key), vec))
    if "default" not in {r[0] for r in w.routes} or not any(r[2] for r in w.routes):
        raise MetaDVFSError(f"{where}: routes need a 'default' entry and at least one key")
    for _ in range(n_models):
        ts = []
        for s in shapes:
            n = int(np.prod(s))
            ts.append(np.frombuffer(data, dtype="<f4", count=n, offset=pos).astype(np.float32).reshape(s))
            pos += 4 * n
        nh = len(w.widths)
        head = [(ts[11 + 2 * i], ts[12 + 2 * i]) for i in range(nh)]
        names = ("ln_w", "ln_b", "w_in", "w_h", "bias", "fc_w", "fc_b", "meta_w", "meta_b", "film_w", "film_b")
        fields = dict(zip(names, ts[:11], strict=True))
        w.models.append(ModelWeights(**fields, head=head, act_w=ts[11 + 2 * nh], act_b=ts[12 + 2 * nh]))
    return w


def read_weights(path: str | Path) -> RunnerWeights:
    """Read and validate a weight file.

    Raises:
        MetaDVFSError: Unreadable, or see :func:`decode_weights`.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MetaDVFSError(f"{p}: cannot read ({exc.strerror})") from None
    return decode_weights(data, str(p))


def write_weights(path: str | Path, w: RunnerWeights) -> Path:
    """Write a weight file atomically."""
    from metadvfs.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_bytes(encode_weights(w))
    return Path(path)


def _act(x: np.ndarray, kind: str) -> np.ndarray:
    return np.tanh(x) if kind == "tanh" else np.maximum(x, 0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def project(w: RunnerWeights, mw: ModelWeights, x: np.ndarray) -> np.ndarray:
    """``LayerNorm(rows) @ W_in + b``: what each observation row contributes before the recurrence, (..., 3H)."""
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    xn = (x - mu) / np.sqrt(var + np.float32(w.eps)) * mw.ln_w + mw.ln_b
    return np.asarray(xn @ mw.w_in + mw.bias, dtype=np.float32)


def recur(w: RunnerWeights, mw: ModelWeights, z: np.ndarray) -> np.ndarray:
    """The fused CfC over projected rows (B, K, 3H), oldest first, from ``h = 0``: the last hidden state (B, H)."""
    hd = w.hidden
    h = np.zeros((z.shape[0], hd), dtype=np.float32)
    for k in range(z.shape[1]):
        zk = z[:, k] + h @ mw.w_h if k else z[:, k]
        f1, f2 = np.tanh(zk[:, :hd]), np.tanh(zk[:, hd : 2 * hd])
        h = f1 + _sigmoid(zk[:, 2 * hd :]) * (f2 - f1)
    return h


def film(mw: ModelWeights, meta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The metadata embedding ``e`` (E,) and the FiLM terms ``(gamma, beta)`` concatenated (2P,)."""
    e = np.tanh(meta @ mw.meta_w + mw.meta_b)
    return e, e @ mw.film_w + mw.film_b


def head(w: RunnerWeights, mw: ModelWeights, h: np.ndarray, e: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """Projection, FiLM, the policy head and the argmax per domain: (B, 4) int64 choices."""
    t = h @ mw.fc_w + mw.fc_b
    feat = np.concatenate([t * (1 + gb[: w.proj]) + gb[w.proj :], np.broadcast_to(e, (h.shape[0], w.emb))], axis=1)
    for wt, b in mw.head:
        feat = _act(feat @ wt + b, w.activation)
    logits = feat @ mw.act_w + mw.act_b
    parts = np.split(logits, np.cumsum(w.nvec)[:-1], axis=1)
    return np.stack([np.argmax(p, axis=1) for p in parts], axis=1).astype(np.int64)


def reference_actions(w: RunnerWeights, obs: np.ndarray, app: str | None) -> np.ndarray:
    """The policy of a weight file in numpy float32 (format check; the C runner is the deployed path).

    Args:
        w: Loaded weights.
        obs: (B, K, C) observation windows.
        app: Route name (catalog app, or ``None`` for ``default``).

    Returns:
        (B, 4) int64 per-domain choices.
    """
    g, meta = w.route(app)
    mw = w.models[g]
    h = recur(w, mw, project(w, mw, np.asarray(obs, dtype=np.float32)))
    e, gb = film(mw, meta)
    return head(w, mw, h, e, gb)


def runner_weights_from_module(
    module: Any, meta: dict[str, list[float]], device: Any, window: int, mode: str, levels: int
) -> RunnerWeights:
    """Extract the runner's weights from the exporter's routed module (fused CfC, greedy PPO heads).

    Args:
        module: ``metadvfs.export.exporter._Routed`` built by ``build_export_module``.
        meta: The manifest ``meta`` block (every catalog app in the graph's key order, then ``default``).
        device: Device profile.
        window: Observation window K.
        mode: Codec action mode.
        levels: Codec levels.

    Raises:
        MetaDVFSError: The network is not one the runner computes (only PPO over a fully connected CfC with
            metadata conditioning).
    """
    from torch import nn

    from metadvfs.catalog.devices import profile_hash
    from metadvfs.export.exporter import FusedCfC

    def arr(t: Any) -> np.ndarray:
        return np.asarray(t.detach().cpu().numpy(), dtype=np.float32)

    models: list[ModelWeights] = []
    widths: list[int] = []
    act_name = "tanh"
    eps = 1e-5
    hidden = proj = emb = 0
    nvec: list[int] = []
    for greedy in module.policies:
        if greedy.algo != "ppo":
            raise MetaDVFSError("runner weights: only PPO policies are supported (got DQN)")
        pol = greedy.policy
        ext = pol.pi_features_extractor
        net = getattr(getattr(ext, "temporal", None), "net", None)
        if not isinstance(net, FusedCfC) or not getattr(ext, "use_meta", False):
            raise MetaDVFSError("runner weights: only a fully connected CfC with metadata conditioning is supported")
        layers = list(pol.mlp_extractor.policy_net)
        lin = [m for m in layers if isinstance(m, nn.Linear)]
        acts = [m for m in layers if not isinstance(m, nn.Linear)]
        kinds = {type(a).__name__.lower() for a in acts}
        if len(lin) > MAX_HEAD_LAYERS or len(acts) != len(lin) or not kinds <= set(ACTIVATIONS) or len(kinds) > 1:
            raise MetaDVFSError(f"runner weights: head must be <= {MAX_HEAD_LAYERS} Linear+Tanh/ReLU layers")
        act_name = kinds.pop() if kinds else "tanh"
        widths = [int(m.out_features) for m in lin]
        eps = float(ext.temporal.norm.eps)
        hidden, proj, emb = net.hidden, int(net.fc.out_features), int(ext.meta_net[0].out_features)  # type: ignore[arg-type]
        nvec = list(greedy.nvec)
        models.append(
            ModelWeights(
                ln_w=arr(ext.temporal.norm.weight), ln_b=arr(ext.temporal.norm.bias),
                w_in=arr(net.w_in), w_h=arr(net.w_h), bias=arr(net.bias),
                fc_w=arr(net.fc.weight).T.copy(), fc_b=arr(net.fc.bias),
                meta_w=arr(ext.meta_net[0].weight).T.copy(), meta_b=arr(ext.meta_net[0].bias),
                film_w=arr(ext.film.weight).T.copy(), film_b=arr(ext.film.bias),
                head=[(arr(m.weight).T.copy(), arr(m.bias)) for m in lin],
                act_w=arr(pol.action_net.weight).T.copy(), act_b=arr(pol.action_net.bias),
            )
        )  # fmt: skip
    apps = [a for a in meta if a != "default"]
    key_group = dict(zip(apps, (int(g) for g in module.groups.tolist()), strict=True))
    m_dim = len(meta["default"])
    routes = [(a, key_group.get(a, 0), a in key_group, np.asarray(v, dtype=np.float32)) for a, v in meta.items()]
    w = RunnerWeights(
        device=device.name, profile_hash=profile_hash(device), window=window, hidden=hidden, proj=proj, meta_dim=m_dim,
        emb=emb, widths=widths, activation=act_name, action_mode=mode, levels=levels, nvec=nvec, eps=eps,
        routes=routes, models=models,
    )  # fmt: skip
    for i, r in enumerate(w.routes):  # default (not a key) goes where the graph sends it: the nearest key's model
        if not r[2]:
            w.routes[i] = (r[0], w.route(r[0])[0], False, r[3])
    return w
