"""GearDVFS (Lin, Wang, Li, Pu; MobiCom 2023)-like baseline ported to the simulated Pixels.

The published code is ``geardvfs/GearDVFS`` (``src/Perf-Trainer/graph/{model,agents,context,learners,
learners_pro}.py``), summarised in docs/method.md §8.2. Below, every part and how it is ported.

**Observation x_t (30)**: the env's codec row (26 features: per domain present/util/freq/level/power,
then fps, qoe, power_total, temp_die, temp_skin, throttled; all in [0, 2]) plus, per domain, the
time-based utilisation GearDVFS's monitor reads (busy fraction of the busiest core at the current
frequency, ``StepOut.busy_cpu``; GPU busy), 0 for absent domains. The XU3 state of the published code
(average temperature / 40, cluster GHz, cluster W, 4 core utils, 4 core IPCs) is of the same O(1) scale;
the simulator has no per-core IPC counters, so IPC is not in the state.

**Context "meta-state"**: a VRNN cell as ``VRNNCell_V0`` (phi_x, phi_z, 2-layer encoder -> mean / softplus
std, prior from the recurrent state, 2-layer decoder -> mean, GRUCell(2h, h)), x_dim 30, z_dim 10, h_dim 10
(the ``learners_pro`` test setup, where the context width equals h_dim), over the last 10 observations
(window 10); the loss per window is the sum over steps of MSE reconstruction + the Gaussian KL between
posterior and prior (``torch.mean`` of the element-wise KL, as published; the decoder and prior, which are
outside the recurrence, are evaluated for all steps at once). The context is the recurrent state after the
last step; the DQN state is ``concat(x_t, context)`` (40 values). Differences from the code: the
reparameterisation draws Gaussian noise (the published ``torch.rand_like`` draws U[0, 1), a slip for a
Gaussian posterior), the posterior std is floored at 1e-6 so the KL's logarithms stay finite, and at
decision time the posterior mean is used instead of a sample, so decisions are deterministic. Training as
``train_context``: Adam lr 1e-2, 100 epochs over the recorded windows, batch 100 (the whole set when fewer
than 100 windows), once, on windows recorded with uniformly random actions during a first phase of
``context_fraction`` (5%) of the step budget, at most 2000 windows (the published context buffer holds up
to 12000; 2000 windows keep the 100 epochs at about 2000 encoder updates). The encoder is then frozen
(``learners_pro`` trains it once, then deletes its buffer). The first phase's decisions count against the
budget but do not enter the RL replay (as ``RECORD_0``).

**Action**: one branch per canonical domain the device has (little, [mid,] big, GPU); branch ``d`` has one
output per OPP of that domain's table (TX2: 1872 joint combinations -> 37 outputs), and the chosen OPP is
applied exactly through the env's ``absolute`` mode with 32 levels.

**Network**: ``DQN_AB``: shared Linear(40, 25)+ReLU -> shared-state Linear(25, 25)+ReLU; per branch
Linear(25, 25)+ReLU on the shared features, concatenated with the shared state -> Linear(50, n_d). The
published class keeps the branch layers in plain Python lists, so they are not registered parameters:
RMSprop never updates them and target syncs do not copy them. That bug would leave every branch a random
projection; the port registers them (``nn.ModuleList``), which is what the design describes.

**Reward** (XU3 ``cal_reward`` per domain, then averaged over the device's domains, plus zTT's thermal
terms): for domain d with busy fraction ``u_d`` (busiest core) at frequency ``f_d``: ``0.05`` if
``u_d f_d > 0.9 fmax_d`` or ``u_d f_d < 0.8 fmin_d`` (demand outside the band any OPP could bring to
80-90%), else ``1.2`` if ``0.8 < u_d < 0.9``, else ``-0.5``. The XU3 code scores only the big cluster (the
domain it controls); with one branch per domain the mean over domains gives every branch its own signal.
Thermal: zTT's ``v1 + v2`` (:func:`metadvfs.learn.baselines.ztt.thermal_terms`) on the skin temperature at
the device's first skin throttle trip (GearDVFS used zTT's penalty at its boards' 50 degC limit). The
published reward has no frame and no power term; ``frame_weight`` / ``power_weight`` (0 as published) add
``frame_weight * on-time frame ratio - power_weight * phone power (W)`` (:func:`extra_reward`) for the tuned
variant ``gear-tuned`` (``configs/peers/gear-tuned.yaml``, chosen by ``experiments/peers.py --tune gear`` over
these terms and γ).

**Learning** (``DQN_AGENT_AB`` + ``dqn_pro_nx``): replay 12000 (ring), every round of ``round_transitions``
= 200 stored decisions (the client's ``TRAIN_STEP`` is not defined in the published code; 200 decisions =
20 s of one phone at 100 ms) the agent runs ``train``: a shuffled pass over the replay in batches of 100,
stopping after 21 optimizer steps (``if i > n_update: break`` with n_update 20, checked after the 22nd
loss), loss = sum over branches of the Huber loss between ``Q_d(s, a_d)`` and ``r + γ max Q_d^target(s')``,
RMSprop (torch defaults, lr 1e-2); the target network is synced every 30 rounds; **γ = 1.0** as published
(no terminal flags; the env only truncates). With γ = 1 in a non-terminating env the Q-values grow by
about the mean reward per target sync instead of converging; they stay finite over our budgets (the
training info reports their final magnitude), so the published value is kept. ε per (phone, branch) =
``0.2 + 0.79 exp(-g / 1000)`` with g the number of losses computed so far (``log_scalar_list``). (The
published ``inference`` helper overwrites ε with 0.5 and is called with a wrong signature; the schedule
above is the documented one.) The policy network is the one evaluated (greedy, ε = 0, as the ``TEST``
command).

**Parallel training**: N simulated phones step together; each vector step stores their N transitions (only
those inside the step budget in the last vector step); rounds trigger on the number of stored decisions.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from torch import nn

from metadvfs.core.domains import DOMAINS
from metadvfs.core.reward import step_qoe
from metadvfs.environment import codec
from metadvfs.errors import MetaDVFSError
from metadvfs.learn.baselines import common
from metadvfs.learn.baselines.ztt import thermal_terms

NAME = "gear"
FEAT_DIM = codec.OBS_DIM + 4


@dataclass(frozen=True)
class GearConfig:
    """GearDVFS hyper-parameters (defaults = the published code where it states them).

    Attributes:
        hidden: DQN_AB hidden width.
        window: Observation window of the context encoder.
        z_dim: VRNN latent width.
        h_dim: VRNN hidden width (= context width).
        context_fraction: Share of the step budget recorded (random actions) for the context encoder.
        context_max: Most windows recorded (the published context buffer holds up to 12000).
        context_epochs: Encoder training epochs.
        context_batch: Encoder minibatch.
        context_lr: Encoder Adam learning rate.
        buffer_size: Replay capacity.
        batch_size: DQN minibatch.
        n_update: Optimizer steps per round = n_update + 1 (published loop bound).
        sync_rounds: Target sync period, rounds.
        round_transitions: Stored decisions per round.
        gamma: Discount.
        eps_start: ε at g = 0 (0.2 + 0.79).
        eps_end: ε floor.
        eps_decay: ε decay constant, losses.
        util_low: Lower bound of the utilisation target band.
        util_high: Upper bound of the band.
        r_in: Reward inside the band.
        r_out: Reward outside the band.
        r_band: Reward when no OPP could reach the band.
        std_floor: Floor of the VRNN standard deviations.
        frame_weight: Weight of a frame term added to the reward, per unit of on-time frame ratio
            (:func:`metadvfs.core.reward.step_qoe`); 0 in the published reward.
        power_weight: Weight of a power term subtracted from the reward, per W of whole-phone power; 0 in the
            published reward.
    """

    hidden: int = 25
    window: int = 10
    z_dim: int = 10
    h_dim: int = 10
    context_fraction: float = 0.05
    context_max: int = 2000
    context_epochs: int = 100
    context_batch: int = 100
    context_lr: float = 1e-2
    buffer_size: int = 12000
    batch_size: int = 100
    n_update: int = 20
    sync_rounds: int = 30
    round_transitions: int = 200
    gamma: float = 1.0
    eps_start: float = 0.99
    eps_end: float = 0.2
    eps_decay: float = 1000.0
    util_low: float = 0.8
    util_high: float = 0.9
    r_in: float = 1.2
    r_out: float = -0.5
    r_band: float = 0.05
    std_floor: float = 1e-6
    frame_weight: float = 0.0
    power_weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able hyper-parameters."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "hyperparameters") -> GearConfig:
        """Inverse of :meth:`to_dict` (unknown keys and wrong types rejected; missing keys keep the defaults)."""
        return common.config_from_dict(cls, d, where, "GearDVFS")

    def epsilon(self, g_step: int) -> float:
        """ε after ``g_step`` logged losses."""
        return self.eps_end + (self.eps_start - self.eps_end) * math.exp(-g_step / self.eps_decay)


def config_from(d: dict[str, Any], where: str) -> GearConfig:
    """Hyper-parameters from plain data (a checkpoint or a variant file); see :meth:`GearConfig.from_dict`."""
    return GearConfig.from_dict(d, where)


# -- state and reward -------------------------------------------------------
def features(obs_row: np.ndarray, busy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """GearDVFS observation: codec row (N, 26) + busiest-core busy fraction per domain (N, 4) -> (N, 30)."""
    return np.concatenate([obs_row, np.clip(busy, 0.0, 1.0) * mask], axis=1).astype(np.float32)


def util_reward(
    busy: np.ndarray,
    freq_mhz: np.ndarray,
    fmin_mhz: np.ndarray,
    fmax_mhz: np.ndarray,
    mask: np.ndarray,
    cfg: GearConfig | None = None,
) -> np.ndarray:
    """Utilisation-target reward averaged over the present domains.

    Args:
        busy: (N, 4) busy fraction of each domain's busiest core over the interval.
        freq_mhz: (N, 4) frequency over the interval, MHz.
        fmin_mhz: (4,) or (N, 4) lowest OPP, MHz.
        fmax_mhz: (4,) or (N, 4) highest OPP, MHz.
        mask: (4,) or (N, 4) 1 where the domain exists.
        cfg: Band and reward values.

    Returns:
        (N,) mean over present domains of: ``r_band`` if ``busy * f`` is outside
        ``[util_low * fmin, util_high * fmax]``, else ``r_in`` if ``util_low < busy < util_high``, else
        ``r_out``.
    """
    c = cfg or GearConfig()
    busy = np.asarray(busy, dtype=float)
    demand = busy * np.asarray(freq_mhz, dtype=float) / 1000.0
    hi = c.util_high * np.asarray(fmax_mhz, dtype=float) / 1000.0
    lo = c.util_low * np.asarray(fmin_mhz, dtype=float) / 1000.0
    in_util = (busy > c.util_low) & (busy < c.util_high)
    r = np.where((demand > hi) | (demand < lo), c.r_band, np.where(in_util, c.r_in, c.r_out))
    m = np.broadcast_to(np.asarray(mask, dtype=float), r.shape)
    return (r * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)


def extra_reward(last: Any, cfg: GearConfig) -> np.ndarray:
    """Frame and power terms of a tuned variant: ``frame_weight * qoe - power_weight * P_W`` (0 as published).

    Args:
        last: The step's :class:`metadvfs.sim.core.StepOut` (N environments).
        cfg: Weights.

    Returns:
        (N,) reward terms.
    """
    n = len(np.asarray(last.power_total_mw))
    out = np.zeros(n)
    if cfg.frame_weight:
        out += cfg.frame_weight * step_qoe(last.frames_req, last.frames_presented, last.frames_janky)
    if cfg.power_weight:
        out -= cfg.power_weight * np.asarray(last.power_total_mw, dtype=float) / 1000.0
    return out


# -- networks ---------------------------------------------------------------
class VRNN(nn.Module):
    """``VRNNCell_V0``: variational RNN over a window; its last recurrent state is the context.

    Args:
        x_dim: Observation width.
        z_dim: Latent width.
        h_dim: Hidden / context width.
        std_floor: Floor of the predicted standard deviations.
    """

    def __init__(self, x_dim: int, z_dim: int, h_dim: int, std_floor: float = 1e-6) -> None:
        super().__init__()
        self.h_dim, self.z_dim, self.std_floor = h_dim, z_dim, std_floor
        self.phi_x = nn.Sequential(nn.Linear(x_dim, h_dim), nn.ReLU())
        self.phi_z = nn.Sequential(nn.Linear(z_dim, h_dim), nn.ReLU())
        self.encoder = nn.Sequential(nn.Linear(2 * h_dim, h_dim), nn.ReLU(), nn.Linear(h_dim, h_dim), nn.ReLU())
        self.enc_mean = nn.Linear(h_dim, z_dim)
        self.enc_std = nn.Sequential(nn.Linear(h_dim, z_dim), nn.Softplus())
        self.prior = nn.Sequential(nn.Linear(h_dim, h_dim), nn.ReLU())
        self.prior_mean = nn.Linear(h_dim, z_dim)
        self.prior_std = nn.Sequential(nn.Linear(h_dim, z_dim), nn.Softplus())
        self.decoder = nn.Sequential(nn.Linear(2 * h_dim, h_dim), nn.ReLU(), nn.Linear(h_dim, h_dim), nn.ReLU())
        self.dec_mean = nn.Linear(h_dim, x_dim)
        self.rnn = nn.GRUCell(2 * h_dim, h_dim)

    def losses(self, x: th.Tensor, noise: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Reconstruction and KL losses of (B, T, x_dim) windows, summed over T (``noise``: (B, T, z_dim)).

        Per step t (as ``VRNNCell_V0``): posterior ``(m1, s1) = enc(phi_x(x_t), h_{t-1})``, ``z_t = m1 + s1 e``,
        ``h_t = GRU([phi_x(x_t), phi_z(z_t)], h_{t-1})``, reconstruction ``dec([phi_x(x_t), phi_z(z_t)])``,
        prior ``(m2, s2) = prior(h_t)``; recon = MSE(x_t, dec), KL = 0.5 mean(2 log s2 - 2 log s1 +
        (s1^2 + (m1 - m2)^2) / s2^2 - 1). Only the encoder and the GRU are in the recurrence, so the decoder,
        prior and losses run once over all steps (same values as the per-step loop, fewer autograd nodes).
        """
        b, t_len, _ = x.shape
        h = x.new_zeros(b, self.h_dim)
        px = self.phi_x(x)
        m1s, s1s, pzs, hs = [], [], [], []
        for t in range(t_len):
            enc = self.encoder(th.cat([px[:, t], h], dim=1))
            m1, s1 = self.enc_mean(enc), self.enc_std(enc).clamp_min(self.std_floor)
            pz = self.phi_z(m1 + noise[:, t] * s1)
            h = self.rnn(th.cat([px[:, t], pz], dim=1), h)
            m1s.append(m1)
            s1s.append(s1)
            pzs.append(pz)
            hs.append(h)
        m1, s1 = th.stack(m1s, 1), th.stack(s1s, 1)
        pz, hh = th.stack(pzs, 1), th.stack(hs, 1)
        dec = self.dec_mean(self.decoder(th.cat([px, pz], dim=2)))
        pr = self.prior(hh)
        m2, s2 = self.prior_mean(pr), self.prior_std(pr).clamp_min(self.std_floor)
        kl = 2 * th.log(s2) - 2 * th.log(s1) + (s1.pow(2) + (m1 - m2).pow(2)) / s2.pow(2) - 1
        kld = 0.5 * kl.mean() * t_len
        recon = th.nn.functional.mse_loss(dec, x) * t_len
        return recon, kld

    def forward(self, x: th.Tensor) -> th.Tensor:
        """Context of (B, T, x_dim) windows: the recurrent state after the last step, posterior means."""
        h = x.new_zeros(x.shape[0], self.h_dim)
        px = self.phi_x(x)
        for t in range(x.shape[1]):
            enc = self.encoder(th.cat([px[:, t], h], dim=1))
            pz = self.phi_z(self.enc_mean(enc))
            h = self.rnn(th.cat([px[:, t], pz], dim=1), h)
        return h


class BranchingQNet(nn.Module):
    """``DQN_AB``: action-branching Q-network (branch layers registered, see the module docstring).

    Args:
        s_dim: State width.
        h_dim: Hidden width.
        branches: Outputs per branch.
    """

    def __init__(self, s_dim: int, h_dim: int, branches: list[int]) -> None:
        super().__init__()
        self.branches = list(branches)
        self.shared = nn.Sequential(nn.Linear(s_dim, h_dim), nn.ReLU())
        self.shared_state = nn.Sequential(nn.Linear(h_dim, h_dim), nn.ReLU())
        self.domains = nn.ModuleList(nn.Sequential(nn.Linear(h_dim, h_dim), nn.ReLU()) for _ in branches)
        self.outputs = nn.ModuleList(nn.Linear(2 * h_dim, n) for n in branches)

    def forward(self, x: th.Tensor) -> list[th.Tensor]:
        """(B, s_dim) -> list of (B, n_d) Q-values, one per branch."""
        f = self.shared(x)
        s = self.shared_state(f)
        return [out(th.cat([dom(f), s], dim=1)) for dom, out in zip(self.domains, self.outputs, strict=True)]


def td_loss(
    qnet: BranchingQNet,
    target: BranchingQNet,
    s: np.ndarray,
    a: np.ndarray,
    s2: np.ndarray,
    r: np.ndarray,
    gamma: float,
) -> th.Tensor:
    """``DQN_AGENT_AB.train`` loss: sum over branches of Huber(Q_d(s, a_d), r + gamma max Q_d^target(s')).

    Args:
        qnet: Policy network.
        target: Target network.
        s: (B, S) states.
        a: (B, D) branch actions.
        s2: (B, S) next states.
        r: (B,) rewards.
        gamma: Discount.

    Returns:
        Scalar loss (with gradient into ``qnet``).
    """
    st, s2t = th.from_numpy(np.asarray(s, np.float32)), th.from_numpy(np.asarray(s2, np.float32))
    at, rt = th.from_numpy(np.asarray(a, np.int64)), th.from_numpy(np.asarray(r, np.float32))
    with th.no_grad():
        tq = target(s2t)
    pq = qnet(st)
    loss = th.zeros(())
    for j in range(len(pq)):
        expected = tq[j].max(dim=1)[0] * gamma + rt
        loss = loss + nn.functional.smooth_l1_loss(pq[j].gather(1, at[:, j : j + 1]), expected.unsqueeze(1))
    return loss


def build_nets(cfg: GearConfig, branches: list[int]) -> tuple[BranchingQNet, VRNN]:
    """Q-network and context encoder for a device with these branch sizes."""
    q = BranchingQNet(FEAT_DIM + cfg.h_dim, cfg.hidden, branches)
    return q, VRNN(FEAT_DIM, cfg.z_dim, cfg.h_dim, cfg.std_floor)


# -- shared helpers ---------------------------------------------------------
def _fresh_hist(rows: np.ndarray, window: int) -> np.ndarray:
    """Window filled with one (N, 30) row, as the env fills its history at a reset."""
    return np.repeat(rows[:, None, :], window, axis=1)


def _shift(hist: np.ndarray, row: np.ndarray) -> np.ndarray:
    out = np.empty_like(hist)
    out[:, :-1] = hist[:, 1:]
    out[:, -1] = row
    return out


def _state(vrnn: VRNN, hist: np.ndarray) -> np.ndarray:
    """DQN state ``concat(x_t, context)`` of (N, W, 30) windows -> (N, 30 + h)."""
    with th.no_grad():
        ctx = vrnn(th.from_numpy(hist)).numpy()
    return np.concatenate([hist[:, -1], ctx], axis=1).astype(np.float32)


def _greedy(q: BranchingQNet, s: np.ndarray) -> np.ndarray:
    with th.no_grad():
        out = q(th.from_numpy(s))
    return np.stack([o.argmax(dim=1).numpy() for o in out], axis=1)


def _to_choices(a: np.ndarray, dom_idx: list[int], inv: list[np.ndarray]) -> np.ndarray:
    out = np.zeros((a.shape[0], 4), dtype=np.int64)
    for b, d in enumerate(dom_idx):
        out[:, d] = inv[b][a[:, b]]
    return out


# -- driver -----------------------------------------------------------------
class GearDriver:
    """A trained GearDVFS agent acting greedily on a :class:`BatchedDVFSVecEnv`.

    Args:
        task: ``device:app`` it was trained on.
        qnet: Branching Q-network.
        vrnn: Context encoder.
        cfg: Hyper-parameters.
        env_kwargs: VecEnv options it acts in.
        device: Device signature (``common.device_signature``).
        port: Port details (``domains``, ``branches``, ``choices``, ...).
    """

    name = NAME

    def __init__(
        self,
        task: str,
        qnet: BranchingQNet,
        vrnn: VRNN,
        cfg: GearConfig,
        env_kwargs: dict[str, Any],
        device: dict[str, Any],
        port: dict[str, Any],
    ) -> None:
        self.task = task
        self.qnet = qnet.eval()
        self.vrnn = vrnn.eval()
        self.cfg = cfg
        self.env_kwargs = dict(env_kwargs)
        self.device = device
        self.port = port
        self.dom_idx = [DOMAINS.index(d) for d in port["domains"]]
        self.inv = [np.asarray(c, dtype=np.int64) for c in port["choices"]]
        self.mask = np.asarray(device["mask"], dtype=np.float64)
        self._hist: np.ndarray | None = None
        self._t: np.ndarray | None = None
        self._checked: int | None = None

    def reset(self, n_envs: int) -> None:
        """Forget the observation history."""
        self._hist = None
        self._t = None

    def act(self, venv: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 4) absolute-mode choices for the current step of ``venv``."""
        batch = common.inner_batch(venv)
        if self._checked != id(batch):
            common.check_device(batch, self.device, NAME)
            self._checked = id(batch)
        t = np.asarray(batch.t).copy()
        row = np.asarray(obs["obs"])[:, -1]
        busy = np.zeros((batch.n, 4)) if batch.last is None else np.asarray(batch.last.busy_cpu)
        feat = features(row, np.where((t == 0)[:, None], 0.0, busy), self.mask)
        if self._hist is None or self._hist.shape[0] != batch.n or self._t is None:
            self._hist = _fresh_hist(feat, self.cfg.window)
        else:
            fresh = t == 0
            moved = (t != self._t) & ~fresh
            if moved.any():
                self._hist[moved] = _shift(self._hist[moved], feat[moved])
            if fresh.any():
                self._hist[fresh] = _fresh_hist(feat[fresh], self.cfg.window)
        self._t = t
        a = _greedy(self.qnet, _state(self.vrnn, self._hist))
        return _to_choices(a, self.dom_idx, self.inv)

    def state_dicts(self) -> dict[str, dict[str, th.Tensor]]:
        """Weights to save."""
        return {"q": self.qnet.state_dict(), "context": self.vrnn.state_dict()}


def driver_from_checkpoint(doc: dict[str, Any], sds: dict[str, Any], path: Path) -> GearDriver:
    """Rebuild a :class:`GearDriver` from a verified checkpoint."""
    meta = path / common.META_FILE
    cfg = GearConfig.from_dict(doc["hyperparameters"], f"{meta}: hyperparameters")
    try:
        branches = [int(x) for x in doc["port"]["branches"]]
        q, v = build_nets(cfg, branches)
        common.load_state(q, sds, "q", path / common.WEIGHTS_FILE)
        common.load_state(v, sds, "context", path / common.WEIGHTS_FILE)
        return GearDriver(doc["task"], q, v, cfg, doc["env"], doc["device"], doc["port"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MetaDVFSError(f"{meta}: malformed ({exc.__class__.__name__}: {exc})") from None


# -- training ---------------------------------------------------------------
def train_context(
    vrnn: VRNN, windows: np.ndarray, cfg: GearConfig, rng: np.random.Generator, gen: th.Generator
) -> list[float]:
    """``train_context``: Adam over shuffled minibatches of recorded windows; returns the per-epoch mean loss."""
    m = windows.shape[0]
    if m == 0:
        return []
    bsz = min(cfg.context_batch, m)
    opt = th.optim.Adam(vrnn.parameters(), lr=cfg.context_lr)
    vrnn.train()
    data = th.from_numpy(windows)
    hist = []
    for _ in range(cfg.context_epochs):
        perm = rng.permutation(m)
        tot, nb = 0.0, 0
        for i in range(m // bsz):
            x = data[perm[i * bsz : (i + 1) * bsz]]
            noise = th.randn(x.shape[0], x.shape[1], cfg.z_dim, generator=gen)
            recon, kld = vrnn.losses(x, noise)
            loss = recon + kld
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.item())
            nb += 1
        hist.append(tot / max(nb, 1))
    vrnn.eval()
    return hist


def train(
    task: str,
    total_steps: int,
    seed: int = 0,
    decision_interval_s: float = 0.1,
    episode_seconds: float = 20.0,
    n_envs: int = 16,
    progress: Callable[[int, int], None] | None = None,
    cfg: GearConfig | None = None,
) -> tuple[GearDriver, dict[str, Any]]:
    """Train GearDVFS on one task for exactly ``total_steps`` decisions (context phase included).

    Returns:
        ``(driver, training info)``.
    """
    cfg = cfg or GearConfig()
    if total_steps < 1:
        raise MetaDVFSError(f"total_steps: must be >= 1, got {total_steps}")
    env_kw = common.env_options(decision_interval_s, 1)
    venv = common.make_venv(task, n_envs, episode_seconds, env_kw, seed)
    batch = venv.batch
    dev = batch.tb.dev
    sig = common.device_signature(batch)
    mask = dev.mask[0].astype(np.float64)
    dom_idx = [d for d in range(4) if mask[d] > 0]
    branches = [int(dev.n_opp[0, d]) for d in dom_idx]
    inv = [common.opp_to_choice(n) for n in branches]
    fmin = dev.freq_mhz[0, :, 0].copy()
    fmax = dev.fmax_mhz[0].copy()
    target_temp = float(dev.skin_throttle_c[0])
    ctx_steps = min(cfg.context_max, round(cfg.context_fraction * total_steps), total_steps)
    port = {
        "domains": [DOMAINS[d] for d in dom_idx],
        "branches": branches,
        "choices": [c.tolist() for c in inv],
        "target_temp_c": target_temp,
        "temp_sensor": "skin",
        "features": "codec observation row (26) + busiest-core busy fraction per domain (4)",
        "context_steps": int(ctx_steps),
    }

    rng = np.random.default_rng(seed)
    gen = th.Generator().manual_seed(seed)
    qnet, vrnn = common.seeded_init(seed, lambda: build_nets(cfg, branches))
    target = copy.deepcopy(qnet)
    opt = th.optim.RMSprop(qnet.parameters(), foreach=True)  # torch defaults: lr 1e-2, alpha 0.99, eps 1e-8
    n = n_envs
    nb = len(branches)
    s_dim = FEAT_DIM + cfg.h_dim
    cap = cfg.buffer_size
    mem_s = np.zeros((cap, s_dim), dtype=np.float32)
    mem_s2 = np.zeros((cap, s_dim), dtype=np.float32)
    mem_a = np.zeros((cap, nb), dtype=np.int64)
    mem_r = np.zeros(cap, dtype=np.float32)
    mem = {"n": 0, "pos": 0}
    stats: dict[str, Any] = {"g_step": 0, "rounds": 0, "losses": [], "q_mean": None}

    def step_env(a_branch: np.ndarray, hist: np.ndarray, temp_prev: np.ndarray) -> tuple[Any, ...]:
        obs, _, dones, infos = venv.step(_to_choices(a_branch, dom_idx, inv))
        last = batch.last
        row = np.asarray(obs["obs"])[:, -1].copy()
        for i in np.flatnonzero(dones):
            row[i] = infos[i]["terminal_observation"]["obs"][-1]
        hist_next = _shift(hist, features(row, last.busy_cpu, mask))
        temp = np.asarray(last.temp_c[:, 1], dtype=float).copy()
        r = util_reward(last.busy_cpu, last.freq_mhz, fmin, fmax, mask, cfg) + thermal_terms(
            temp, temp_prev, temp, target_temp
        )
        r = r + extra_reward(last, cfg)
        return obs, dones, hist_next, temp, r

    def after_reset(obs: dict[str, np.ndarray], dones: np.ndarray, hist: np.ndarray, temp: np.ndarray) -> None:
        rows = np.flatnonzero(dones)
        if len(rows):
            fresh = features(np.asarray(obs["obs"])[rows, -1], np.zeros((len(rows), 4)), mask)
            hist[rows] = _fresh_hist(fresh, cfg.window)
            temp[rows] = batch.tb.core.temp[rows, 1]

    def train_round() -> None:
        m = mem["n"]
        perm = rng.permutation(m)
        n_loss = 0
        qnet.train()
        for i in range(m // cfg.batch_size):
            idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            loss = td_loss(qnet, target, mem_s[idx], mem_a[idx], mem_s2[idx], mem_r[idx], cfg.gamma)
            stats["losses"].append(float(loss.item()))
            n_loss += 1
            opt.zero_grad()
            loss.backward()
            if i > cfg.n_update:
                break
            opt.step()
        qnet.eval()
        stats["g_step"] += n_loss
        stats["rounds"] += 1
        if stats["rounds"] % cfg.sync_rounds == 0:
            target.load_state_dict(qnet.state_dict())

    prog = common.Progress(progress, total_steps)
    n_threads = th.get_num_threads()
    th.set_num_threads(1)
    t0 = time.perf_counter()
    ctx_hist: list[float] = []
    rew_sum, rew_n = 0.0, 0
    try:
        obs = venv.reset()
        hist = _fresh_hist(features(np.asarray(obs["obs"])[:, -1], np.zeros((n, 4)), mask), cfg.window)
        temp_prev = np.asarray(batch.tb.core.temp[:, 1], dtype=float).copy()
        done_steps = 0
        # phase 1: record windows with random actions, train the context encoder once
        windows = np.zeros((ctx_steps, cfg.window, FEAT_DIM), dtype=np.float32)
        while done_steps < ctx_steps:
            k = common.budget_take(done_steps, ctx_steps, n)
            a = np.stack([rng.integers(0, nbr, n) for nbr in branches], axis=1)
            obs, dones, hist_next, temp, r = step_env(a, hist, temp_prev)
            windows[done_steps : done_steps + k] = hist_next[:k]
            rew_sum, rew_n = rew_sum + float(r[:k].sum()), rew_n + k
            done_steps += k
            hist, temp_prev = hist_next, temp
            after_reset(obs, dones, hist, temp_prev)
            prog(done_steps)
        ctx_hist = train_context(vrnn, windows, cfg, rng, gen)
        # phase 2: branching DQN on concat(x_t, context)
        state = _state(vrnn, hist)
        since_round = 0
        while done_steps < total_steps:
            k = common.budget_take(done_steps, total_steps, n)
            eps = cfg.epsilon(stats["g_step"])
            a = _greedy(qnet, state)
            explore = rng.random((n, nb)) < eps
            rand = np.stack([rng.integers(0, nbr, n) for nbr in branches], axis=1)
            a = np.where(explore, rand, a)
            obs, dones, hist_next, temp, r = step_env(a, hist, temp_prev)
            nxt = _state(vrnn, hist_next)
            for i in range(k):
                p = mem["pos"]
                mem_s[p], mem_a[p], mem_s2[p], mem_r[p] = state[i], a[i], nxt[i], r[i]
                mem["pos"] = (p + 1) % cap
                mem["n"] = min(mem["n"] + 1, cap)
            rew_sum, rew_n = rew_sum + float(r[:k].sum()), rew_n + k
            done_steps += k
            since_round += k
            hist, temp_prev, state = hist_next, temp, nxt
            if dones.any():
                after_reset(obs, dones, hist, temp_prev)
                rows = np.flatnonzero(dones)
                state[rows] = _state(vrnn, hist[rows])
            while since_round >= cfg.round_transitions:
                since_round -= cfg.round_transitions
                train_round()
            prog(done_steps)
        if mem["n"]:
            with th.no_grad():
                qs = qnet(th.from_numpy(mem_s[: mem["n"]]))
            stats["q_mean"] = float(np.mean([o.max(dim=1)[0].mean().item() for o in qs]))
    finally:
        th.set_num_threads(n_threads)
        venv.close()
    wall = time.perf_counter() - t0
    losses = stats["losses"]
    info = {
        "seed": int(seed),
        "total_steps": int(total_steps),
        "n_envs": int(n_envs),
        "episode_seconds": float(episode_seconds),
        "wall_s": round(wall, 2),
        "steps_per_s": round(total_steps / wall, 1) if wall > 0 else None,
        "context_windows": int(ctx_steps),
        "rl_transitions": int(done_steps - ctx_steps),
        "context_loss_first": ctx_hist[0] if ctx_hist else None,
        "context_loss_last": ctx_hist[-1] if ctx_hist else None,
        "rounds": int(stats["rounds"]),
        "losses_logged": int(stats["g_step"]),
        "final_epsilon": cfg.epsilon(stats["g_step"]),
        "mean_reward": rew_sum / max(rew_n, 1),
        "final_loss": float(np.mean(losses[-100:])) if losses else None,
        "loss_finite": bool(np.all(np.isfinite(losses))) if losses else True,
        "q_max_mean_final": stats["q_mean"],
    }
    return GearDriver(task, qnet, vrnn, cfg, env_kw, sig, port), info
