"""Export a trained checkpoint as a per-device governor: ``policy.onnx`` + ``manifest.json``.

The ONNX graph maps ``obs`` (1, K, 26) float32 and ``meta`` (1, M) float32 to ``action`` (1, 4) int64, the
per-domain choices of :func:`metadvfs.environment.codec.decode` (greedy: the argmax of each PPO action
head, or of the DQN Q-values decoded into per-domain moves). When the checkpoint holds several models (one per
metadata group), the graph holds the models that serve this device's apps and routes by ``meta``: the
nearest stored app vector picks its group's model. ``manifest.meta`` stores the fitted encoder's vector of
every catalog app on this device; ``default`` (an app the manifest does not know) is the mean of those
vectors, routed to the group of the nearest app.

The runtime (:mod:`metadvfs.export.runtime`) needs onnxruntime, numpy and onnx (which builds its lean graph),
not torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from torch import nn

from metadvfs.core import codec
from metadvfs.errors import MetaDVFSError
from metadvfs.export.weights import WEIGHTS_FILE
from metadvfs.learn.checkpoint import LoadedModel, load_checkpoint
from metadvfs.learn.metadata import OutOfRange, device_features

MODEL_FILE = "policy.onnx"


class FusedCfC(nn.Module):
    """Export form of an ncps fully connected CfC (default mode, no backbone, unit time steps).

    Same function as ``ncps.torch.CfC(..., backbone_layers=0, proj_size=P, return_sequences=False)``:
    ``h' = tanh(ff1) * (1 - s) + s * tanh(ff2)`` with ``s = sigmoid(time_a(x) + time_b(x))`` and
    ``x = [input, h]``. For export the gate layers are fused into one matrix (``time_a + time_b`` folded into
    one gate, since the time step is 1), the input projections of all window steps are computed in one MatMul,
    and the blend is written as ``tanh(ff1) + s * (tanh(ff2) - tanh(ff1))``. Only the recurrent product stays
    in the step loop, which cuts the ONNX graph to about a quarter of the NCP cell's: onnxruntime's cost
    is dominated by the number of nodes at this size. The parity test checks that the exported actions equal
    the trained policy's on 10,000 simulated observations.
    """

    w_in: th.Tensor
    w_h: th.Tensor
    bias: th.Tensor

    def __init__(self, cfc: nn.Module):
        super().__init__()
        cell = cfc.rnn_cell
        if getattr(cell, "backbone_layers", 1) != 0 or cell.mode != "default" or cell.sparsity_mask is not None:
            raise MetaDVFSError("export: only fully connected CfC cells without backbone can be fused")
        c_in = cell.input_size
        w = th.cat([cell.ff1.weight, cell.ff2.weight, cell.time_a.weight + cell.time_b.weight], dim=0).detach()
        b = th.cat([cell.ff1.bias, cell.ff2.bias, cell.time_a.bias + cell.time_b.bias], dim=0).detach()
        self.hidden: int = int(cell.hidden_size)
        self.register_buffer("w_in", w[:, :c_in].t().contiguous())
        self.register_buffer("w_h", w[:, c_in:].t().contiguous())
        self.register_buffer("bias", b)
        self.fc: nn.Module = cfc.fc

    def forward(self, x: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """(B, K, C) window -> (projected output (B, P), last hidden state (B, H))."""
        hd = self.hidden
        z_in = (th.matmul(x, self.w_in) + self.bias).transpose(0, 1)  # (K, B, 3H)
        steps = th.unbind(z_in, dim=0)
        h = th.tanh(steps[0][:, : 2 * hd])  # first step: h = 0, so the recurrent product vanishes
        f1, f2 = th.split(h, hd, dim=1)
        s = th.sigmoid(steps[0][:, 2 * hd :])
        h = f1 + s * (f2 - f1)
        for z0 in steps[1:]:
            z = z0 + th.matmul(h, self.w_h)
            ff, g = th.split(z, [2 * hd, hd], dim=1)
            f1, f2 = th.split(th.tanh(ff), hd, dim=1)
            h = f1 + th.sigmoid(g) * (f2 - f1)
        return self.fc(h), h


def _fuse_for_export(policy: Any) -> Any:
    """A copy of ``policy`` for ONNX export.

    Fully connected CfC encoders are replaced by :class:`FusedCfC`; LTC cells use ncps's dense solver
    (:meth:`~metadvfs.learn.ltc.SparseLTCCell.release`).
    """
    import copy

    from metadvfs.learn.ltc import SparseLTCCell

    pol = copy.deepcopy(policy)
    for mod in pol.modules():
        if isinstance(mod, SparseLTCCell):
            SparseLTCCell.release(mod)
        enc = getattr(mod, "temporal", None)
        if enc is not None and getattr(enc, "backbone", None) == "cfc" and getattr(enc, "wiring", "ncp") == "full":
            enc.net = FusedCfC(enc.net)
    return pol


class _GreedyPolicy(nn.Module):
    """Deterministic per-domain choices of one SB3 policy, as torch ops only."""

    def __init__(self, policy: Any, algo: str, nvec: list[int]):
        super().__init__()
        self.policy = policy
        self.algo = algo
        self.nvec = list(nvec)

    def forward(self, obs: th.Tensor, meta: th.Tensor) -> th.Tensor:
        x = {"obs": obs, "meta": meta}
        if self.algo == "dqn":
            q = self.policy.q_net(x)
            a = th.argmax(q, dim=1)
            digits = []
            for n in reversed(self.nvec):
                digits.append(th.remainder(a, n))
                a = th.div(a, n, rounding_mode="floor")
            return th.stack(list(reversed(digits)), dim=1)
        feats = self.policy.extract_features(x, self.policy.pi_features_extractor)
        latent = self.policy.mlp_extractor.forward_actor(feats)
        logits = self.policy.action_net(latent)
        parts = th.split(logits, self.nvec, dim=1)
        return th.stack([th.argmax(p, dim=1) for p in parts], dim=1)


class _Routed(nn.Module):
    """Several greedy policies, chosen by the nearest stored metadata vector."""

    keys: th.Tensor
    groups: th.Tensor

    def __init__(self, policies: list[_GreedyPolicy], keys: np.ndarray, groups: np.ndarray):
        super().__init__()
        self.policies = nn.ModuleList(policies)
        self.register_buffer("keys", th.as_tensor(keys, dtype=th.float32))
        self.register_buffer("groups", th.as_tensor(groups, dtype=th.int64))

    def forward(self, obs: th.Tensor, meta: th.Tensor) -> th.Tensor:
        if len(self.policies) == 1:
            return self.policies[0](obs, meta).to(th.int64)
        outs = th.stack([p(obs, meta).to(th.int64) for p in self.policies], dim=0)  # (G, B, 4)
        d = ((self.keys[None, :, :] - meta[:, None, :]) ** 2).sum(-1)  # (B, A)
        g = self.groups[th.argmin(d, dim=1)]  # (B,)
        idx = g[None, :, None].expand(1, outs.shape[1], outs.shape[2])
        return th.gather(outs, 0, idx)[0]


def build_export_module(model: LoadedModel, device: Any) -> tuple[nn.Module, dict[str, list[float]], list[str]]:
    """The torch module that is exported for ``device``, and the manifest's ``meta`` block.

    Args:
        model: Loaded checkpoint.
        device: Device profile.

    Returns:
        ``(module, {app: meta vector, ..., "default": ...}, ids of the routed models)``.
    """
    from metadvfs.tasks.task import Task
    from metadvfs.workload.apps import list_apps, load_app

    apps = list_apps()
    vecs, ids = [], []
    for a in apps:
        t = Task(device, load_app(a))
        vecs.append(model.encode(t))
        ids.append(model.model_for(t))
    keys = np.stack(vecs)
    default = keys.mean(axis=0)
    used = list(dict.fromkeys(ids))
    nvec = [int(x) for x in model.doc["action"]["n"]] if model.doc["algo"] == "ppo" else [3, 3, 3, 3]
    greedy = [_GreedyPolicy(_fuse_for_export(model.policies[m]), model.doc["algo"], nvec) for m in used]
    groups = np.array([used.index(m) for m in ids], dtype=np.int64)
    module = _Routed(greedy, keys, groups).eval()
    meta = {a: [float(x) for x in v] for a, v in zip(apps, vecs, strict=True)}
    meta["default"] = [float(x) for x in default]
    return module, meta, used


def export_governor(
    model_ref: str | Path, device_ref: str, out: str | Path, meta_overrides: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """Export ``model_ref`` for one device into ``out`` (``policy.onnx`` + ``manifest.json``).

    Args:
        model_ref: Checkpoint directory or shipped model name.
        device_ref: Device name or profile path.
        out: Output directory (created; existing governor files are replaced atomically).
        meta_overrides: ``{app or "default": vector}`` replacing manifest metadata vectors (an adapted model's
            own task row, for an app the catalog vectors do not describe).

    Returns:
        Summary: paths, parameter count, routed models.
    """
    from metadvfs.catalog.devices import load_device
    from metadvfs.export.manifest import manifest_for_profile, write_manifest
    from metadvfs.io import atomic_path

    model = load_checkpoint(model_ref)
    device = load_device(device_ref)
    if model.cfg.env.action_mode not in codec.ACTION_MODES:
        raise MetaDVFSError(f"{model.path}: action mode {model.cfg.env.action_mode!r} cannot be exported")
    module, meta, used = build_export_module(model, device)
    for key, vec in (meta_overrides or {}).items():
        meta[key] = [float(x) for x in np.asarray(vec, dtype=np.float32).reshape(-1)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    k = model.window
    obs = th.zeros(1, k, int(model.doc["obs"]["obs_dim"]))
    m = th.as_tensor(np.asarray(meta["default"], dtype=np.float32))[None]
    th.distributions.Distribution.set_default_validate_args(False)
    with atomic_path(out / MODEL_FILE) as tmp, th.no_grad():
        th.onnx.export(
            module,
            (obs, m),
            str(tmp),
            input_names=["obs", "meta"],
            output_names=["action"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={"obs": {0: "batch"}, "meta": {0: "batch"}, "action": {0: "batch"}},
        )
    e = model.cfg.env
    doc = manifest_for_profile(
        device, "onnx", None, k, e.action_mode, e.levels, e.decision_interval_s, meta=meta, model_file=MODEL_FILE
    )
    runner = _write_runner_weights(module, meta, device, k, e.action_mode, e.levels, out)
    write_manifest(out, doc, extra_files=[WEIGHTS_FILE] if runner == "ok" else [])
    from metadvfs.export.runtime import parameter_count

    # the ONNX file's initializers: the number bench-governor reports for the same directory (torch's
    # module.parameters() counts differently once the exporter folds or deduplicates constants)
    n_params = parameter_count(out / MODEL_FILE)
    return {
        "dir": str(out),
        "onnx": str(out / MODEL_FILE),
        "manifest": str(out / "manifest.json"),
        "device": device.name,
        "parameters": n_params,
        "models": used,
        "source_model": str(model.path),
        "runner_weights": str(out / WEIGHTS_FILE) if runner == "ok" else None,
        "runner": runner,
        "extrapolated": [f.to_dict() for f in device_out_of_range(model, device)],
    }


def device_out_of_range(model: LoadedModel, device: Any) -> list[OutOfRange]:
    """Device metadata fields of ``device`` outside the phones ``model`` was trained on (empty: inside)."""
    enc = model.encoder
    return enc.out_of_range(device_features(device), device.name, only=enc.spec.device_fields)


def _write_runner_weights(
    module: nn.Module, meta: dict[str, list[float]], device: Any, window: int, mode: str, levels: int, out: Path
) -> str:
    """Write ``policy.bin`` for the on-phone runner; ``ok`` or why this network cannot run there."""
    from metadvfs.export.weights import runner_weights_from_module, write_weights

    try:
        w = runner_weights_from_module(module, meta, device, window, mode, levels)
    except MetaDVFSError as exc:
        (out / WEIGHTS_FILE).unlink(missing_ok=True)  # never leave another export's weights next to this model
        return str(exc)
    write_weights(out / WEIGHTS_FILE, w)
    return "ok"


def torch_actions(model: LoadedModel, device: Any, obs: np.ndarray, meta: np.ndarray) -> np.ndarray:
    """Reference actions of the torch module for a batch (parity tests)."""
    module, _, _ = build_export_module(model, device)
    with th.no_grad():
        return module(th.as_tensor(obs, dtype=th.float32), th.as_tensor(meta, dtype=th.float32)).numpy()


def manifest_summary(out: Path) -> str:
    """A short description of an exported governor directory."""
    doc = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return f"{doc['device']['name']} · window {doc['codec']['window']} · {doc['codec']['action_mode']} actions"
