"""A lean per-model ONNX decision graph built from the runner's weights (``policy.bin``), for onnxruntime.

``policy.onnx`` evaluates every routed model and routes inside the graph on each decision. The decision path of
:class:`~metadvfs.export.runtime.GovernorRuntime` instead routes once per foreground change (the app's metadata
vector picks its model, as the graph does: nearest key) and runs a graph that holds that model only, with
everything that does not depend on the observation computed once per app in numpy:

- the metadata embedding ``e``, the FiLM terms ``(gamma, beta)``, the projection ``fc`` and the head's first layer
  are linear between the last hidden state and the first activation, so per app they fold into one matrix
  ``A = fc_w * (1 + gamma) @ W1[:P]`` (H x w1) and one bias ``c = (fc_b * (1 + gamma) + beta) @ W1[:P] +
  e @ W1[P:] + b1``, fed to the graph as inputs ``A`` and ``c``;
- the window stays (the trained policy restarts at its oldest row on each decision): ``LayerNorm`` and the input
  projection of all K rows in one ``Gemm``, then the fused CfC step (one ``Gemm`` each after the first);
- the per-domain argmax is one ``ArgMax`` over a (4, n) reshape when every domain has n choices.

Built with the ``onnx`` package (no torch); the graph has a fixed batch of 1. The parity tests check its actions
against the trained policy's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metadvfs.core import codec
from metadvfs.export.weights import ModelWeights, RunnerWeights

OPSET = 17


def app_terms(w: RunnerWeights, mw: ModelWeights, meta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-app inputs ``A`` (H, w1) and ``c`` (1, w1) of the decision graph, float32.

    Args:
        w: Loaded weights.
        mw: The routed model.
        meta: The app's metadata vector (M,).

    Returns:
        ``(A, c)``: ``h @ A + c`` equals the head's first pre-activation (or the logits without head layers).
    """
    meta = np.asarray(meta, dtype=np.float32)
    e = np.tanh(meta @ mw.meta_w + mw.meta_b)
    gb = e @ mw.film_w + mw.film_b
    scale, beta = 1 + gb[: w.proj], gb[w.proj :]
    w1, b1 = mw.head[0] if mw.head else (mw.act_w, mw.act_b)
    a = (mw.fc_w * scale[None, :]) @ w1[: w.proj]
    c = (mw.fc_b * scale + beta) @ w1[: w.proj] + e @ w1[w.proj :] + b1
    return np.ascontiguousarray(a, dtype=np.float32), np.asarray(c, dtype=np.float32).reshape(1, -1)


def decision_graph(w: RunnerWeights, mw: ModelWeights) -> bytes:
    """The serialised ONNX model of one routed model's decision.

    Inputs ``obs`` float32 (K, 26) (oldest row first), ``A`` float32 (H, w1) and ``c`` float32 (1, w1) from
    :func:`app_terms`; output ``action`` int64 (4,).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k, hd = w.window, w.hidden
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, ins: list[str], outs: list[str], **attrs: Any) -> list[str]:
        nodes.append(helper.make_node(op, ins, outs, **attrs))
        return outs

    const("ln_w", mw.ln_w)
    const("ln_b", mw.ln_b)
    const("w_in", mw.w_in)
    const("w_h", mw.w_h)
    const("bias", mw.bias)
    const("split3", np.array([hd, hd, hd], dtype=np.int64))
    node("LayerNormalization", ["obs", "ln_w", "ln_b"], ["xn"], axis=-1, epsilon=float(w.eps))
    node("Gemm", ["xn", "w_in", "bias"], ["z"])
    rows = node("Split", ["z"], [f"z{i}" for i in range(k)], axis=0) if k > 1 else ["z"]
    h = ""
    for i, zi in enumerate(rows):
        pre = zi if i == 0 else node("Gemm", [h, "w_h", zi], [f"g{i}"])[0]
        f1p, f2p, sp = node("Split", [pre, "split3"], [f"a{i}", f"b{i}", f"s{i}"], axis=1)
        f1 = node("Tanh", [f1p], [f"t1_{i}"])[0]
        f2 = node("Tanh", [f2p], [f"t2_{i}"])[0]
        s = node("Sigmoid", [sp], [f"sg{i}"])[0]
        d = node("Sub", [f2, f1], [f"d{i}"])[0]
        m = node("Mul", [s, d], [f"m{i}"])[0]
        h = node("Add", [f1, m], [f"h{i}"])[0]
    act = "Tanh" if w.activation == "tanh" else "Relu"
    x = node("Gemm", [h, "A", "c"], ["l0"])[0]
    layers = [*mw.head[1:], (mw.act_w, mw.act_b)] if mw.head else []
    if mw.head:
        x = node(act, [x], ["y0"])[0]
    for j, (wt, b) in enumerate(layers, start=1):
        x = node("Gemm", [x, const(f"hw{j}", wt), const(f"hb{j}", b)], [f"l{j}"])[0]
        if j < len(layers):
            x = node(act, [x], [f"y{j}"])[0]
    nvec = list(w.nvec)
    if len(set(nvec)) == 1:
        r = node("Reshape", [x, const("shape", np.array([4, nvec[0]], dtype=np.int64))], ["logits"])[0]
        node("ArgMax", [r], ["action"], axis=1, keepdims=0)
    else:
        parts = node("Split", [x, const("splitn", np.array(nvec, dtype=np.int64))], [f"p{d}" for d in range(4)], axis=1)
        idx = [node("ArgMax", [p], [f"i{d}"], axis=1, keepdims=0)[0] for d, p in enumerate(parts)]
        node("Concat", idx, ["action"], axis=0)
    width = mw.head[0][0].shape[1] if mw.head else mw.act_w.shape[1]
    graph = helper.make_graph(
        nodes,
        "metadvfs_decision",
        [
            helper.make_tensor_value_info("obs", TensorProto.FLOAT, [k, codec.OBS_DIM]),
            helper.make_tensor_value_info("A", TensorProto.FLOAT, [hd, width]),
            helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, width]),
        ],
        [helper.make_tensor_value_info("action", TensorProto.INT64, [4])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="metadvfs")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
