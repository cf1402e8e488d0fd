"""The sparse LTC solver computes ncps's LTC: same outputs, gradients and state dict."""

from __future__ import annotations

import copy

import pytest
import torch as th
from ncps.torch import LTC, LTCCell
from ncps.wirings import AutoNCP

from metadvfs.learn.ltc import DENSE_BELOW, SparseLTCCell


def _pair(seed: int) -> tuple[th.nn.Module, th.nn.Module]:
    th.manual_seed(seed)
    dense = LTC(6, AutoNCP(16, 5), return_sequences=False, batch_first=True)
    with th.no_grad():  # move off the initial values so every parameter matters
        for p in dense.parameters():
            if p.requires_grad:
                p.add_(0.05 * th.randn_like(p))
    sparse = copy.deepcopy(dense)
    SparseLTCCell.adopt(sparse.rnn_cell)
    return dense, sparse


@pytest.mark.parametrize(("seed", "batch"), [(0, 33), (1, DENSE_BELOW), (2, 1)])
def test_sparse_ltc_matches_ncps_outputs_and_gradients(seed: int, batch: int) -> None:
    dense, sparse = _pair(seed)
    x = th.randn(batch, 4, 6)
    out_d, h_d = dense(x)
    out_s, h_s = sparse(x)
    assert th.allclose(out_d, out_s, atol=1e-5, rtol=1e-5)
    assert th.allclose(h_d, h_s, atol=1e-5, rtol=1e-5)
    (out_d.square().sum() + h_d.sum()).backward()
    (out_s.square().sum() + h_s.sum()).backward()
    for (name, a), (_, b) in zip(dense.named_parameters(), sparse.named_parameters(), strict=True):
        if a.grad is None:
            assert b.grad is None, name
            continue
        assert th.allclose(a.grad, b.grad, atol=1e-4, rtol=1e-4), name
    # absent synapses learn nothing in either form
    mask = sparse.rnn_cell.sparsity_mask == 0
    assert bool((sparse.rnn_cell.w.grad[mask] == 0).all())
    assert bool(mask.any())


def test_sparse_ltc_keeps_ncps_parameters_and_rng_use() -> None:
    th.manual_seed(3)
    dense = LTC(6, AutoNCP(16, 5), return_sequences=False, batch_first=True)
    after_dense = th.rand(1)
    th.manual_seed(3)
    sparse = LTC(6, AutoNCP(16, 5), return_sequences=False, batch_first=True)
    SparseLTCCell.adopt(sparse.rnn_cell)
    assert th.equal(th.rand(1), after_dense)
    assert dense.state_dict().keys() == sparse.state_dict().keys()
    sparse.load_state_dict(dense.state_dict())
    assert isinstance(sparse.rnn_cell, LTCCell)


def test_adopt_refuses_other_cells() -> None:
    with pytest.raises(TypeError, match="LTCCell"):
        SparseLTCCell.adopt(th.nn.GRUCell(3, 3))  # type: ignore[arg-type]


def test_ltc_backbone_uses_the_sparse_solver() -> None:
    from metadvfs.learn.policy import TemporalEncoder

    enc = TemporalEncoder(5, 8, backbone="ltc", units=16, out_dim=4)
    assert isinstance(enc.net.rnn_cell, SparseLTCCell)


def test_export_uses_the_dense_solver_and_onnx_matches() -> None:
    import io

    import numpy as np
    import onnxruntime as ort

    from metadvfs.export.exporter import _fuse_for_export

    class Wrap(th.nn.Module):
        def __init__(self, net: th.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: th.Tensor) -> th.Tensor:
            return self.net(x)[0]  # type: ignore[no-any-return]

    _, sparse = _pair(4)
    model = Wrap(sparse)
    fused = _fuse_for_export(model)
    assert type(fused.net.rnn_cell) is LTCCell
    assert type(model.net.rnn_cell) is SparseLTCCell  # the original keeps training fast
    x = th.randn(3, 8, 6)
    buf = io.BytesIO()
    th.onnx.export(fused, (x,), buf, opset_version=17, dynamo=False, input_names=["x"])
    got = ort.InferenceSession(buf.getvalue()).run(None, {"x": x.numpy()})[0]
    assert np.allclose(got, model(x).detach().numpy(), atol=1e-5)
