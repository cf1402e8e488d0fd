"""zTT (Kim, Bin, Ha, Lee, Chong; MobiSys 2021) ported to the simulated Pixels.

The published code is ``ztt-21/zTT`` (``Pixel_3a/agent.py``, ``Pixel 3a/android_zTT.py``), summarised in
docs/method.md §8.1. Below, every part of the design and how it is ported.

**State (7)** ``(cpu_clk_idx, gpu_clk_idx, cpu_power, gpu_power, cpu_temp, gpu_temp, fps)``, unnormalised as
published:

- ``cpu_clk_idx`` / ``gpu_clk_idx``: the clock indices zTT last *commanded*, in Pixel 3a units (CPU 2/5/8,
  GPU 1/2/3); the phone client sends the commanded value too, so a thermal cap does not show here. At an
  episode start the simulator sits at the middle of each OPP table, so the state starts at (5, 2).
- ``cpu_power``: whole-phone power in 100-mW units, truncated (``int(P_mW / 100)``, the Pixel 3a client's
  Monsoon reading); ``gpu_power = 0`` (the Pixel 3a client sends 0). The simulator's total power (SoC
  domains + rest of phone) plays the Monsoon's role.
- ``cpu_temp = gpu_temp``: the Pixel 3a client reads one thermal zone for both. The port uses the
  simulator's **skin** temperature, degC (see the target temperature below).
- ``fps``: presented frames per second over the last decision interval, capped at the app's target (the
  client caps at the 60-Hz panel rate; every catalog app targets 60 fps).

**Action (9)**: the joint 3 x 3 grid; action ``k`` = CPU index ``3*(k//3)+2`` in {2, 5, 8} x GPU index
``k%3+1`` in {1, 2, 3} (``clk_action_list``). On the Pixel 3a the CPU index goes to both cpufreq policies
(little: 9 OPPs, big: 10 OPPs) and the GPU index into zTT's 4-entry GPU list (180/267/355/430 MHz).
*Mapping to our devices*: each Pixel 3a index becomes a fraction of its own table (little ``i/8``, big
``i/9``, GPU ``j/3``) and selects OPP ``round_half_up(frac * (n_opp - 1))`` of our table; the little
fractions drive our little cluster, the big fractions drive our mid **and** big clusters (the Pixel 3a's
single big policy covers every non-little core), the GPU fractions drive our GPU. The env runs in
``absolute`` mode with 32 levels, so each target OPP is hit exactly (``common.opp_to_choice``). The OPPs
used on a device are in the checkpoint (``port.opp_table``), e.g. Pixel 3 little {4, 11, 17} of 18, big
{5, 12, 20} of 23, GPU {2, 5, 7} of 8.

**Reward** (Pixel 3a variant): ``r = u + v1 + v2 + beta / P``; ``u = 1`` if fps >= target, else
``exp(0.1 (fps - target))``; ``v1 = -2`` when the CPU temperature crosses the target upward
(prev < T_target <= now); ``v2 = 2 (T_target - T_gpu)`` if T_gpu > T_target; ``beta = 2``; ``P =
cpu_power + gpu_power`` in 100-mW units (33 when <= 0: the agent's dummy-value fallback). ``target_fps`` is
the app's target. zTT compares with a fixed target, so where an app requests fewer frames (30-fps video)
``u`` stays low whatever the clocks; that is the published design and is kept. *Target temperature*:
zTT's 65 degC was a Pixel 3a SoC-zone limit; our devices throttle on skin temperature, so the port uses the
device's first skin throttle trip (``skin_throttle_c``, 37-43 degC) on the skin sensor. (Neither limit is
reached in 20-60 s episodes from the idle steady state, so the thermal terms rarely fire.)

**Network and learning**: Keras ``Dense(6, relu) -> Dense(6, relu) -> Dense(9, linear)``, kernel init
``normal`` = N(0, 0.05), zero biases; loss = MSE over all 9 outputs against a target equal to the
prediction except at the taken action (what ``model.fit(states, target)`` does); Adam, lr 0.05, eps 1e-7
(Keras defaults and Keras 2's update rule; :class:`KerasQ` re-implements the fit step in numpy for speed,
the checkpoint and the driver use the equivalent torch module). The published loop's
``agent.learning_rate = 0.1`` every 60 steps never reaches the compiled optimizer and is not reproduced.
Batch 64; replay 500 (FIFO); training starts once the replay holds 150 samples; one gradient step per
stored decision; ε starts at 1 and is multiplied by 0.08 at every training step (floor 0), so the agent is
greedy after a handful of updates. ``done = 1`` on every transition, so the TD target is the immediate
reward: γ (0.99 in the code) and the target network never matter, and next states are not stored.
Transitions with r < 0 or r > 1 are stored twice. *Observed in this harness*: with the published lr 0.05
on the unnormalised state (temperatures ~30, power units 10-20, fps up to 60) the six-unit ReLU layers
die during training, leaving a state-independent Q (one fixed clock pair); with lr 1e-3 they do not. The
published value is kept. *Tuned variant* (``ztt-tuned``, ``configs/peers/ztt-tuned.yaml``, chosen by
``experiments/peers.py --tune ztt``): a grid over the learning rate, ``state_norm`` (the state scaled to O(1) by
:func:`net_input` before the network; off as published) and the decision interval (the harness's 0.1 s, where
fps is a 100-ms count in steps of 10 fps at 60 Hz, or the published loop's ~1 s, trained on the same
phone-time).

**Control rules around the network** (published loop): at or above the target temperature zTT picks
random lower-or-equal clocks; when >= 3 degC below it and fps < target, with probability 0.3 it explores
random higher-or-equal clocks; otherwise ε-greedy. During evaluation (:class:`ZTTDriver`) the thermal rule
stays (it is part of the governor; its randomness comes from a generator re-seeded by ``reset``), while the
exploration (ε and the p = 0.3 rule) is off.

**Parallel training**: N simulated phones step together. Their N decisions of a vector step are chosen at
the current ε, then stored and trained on one after another in environment order, so the update-to-data
ratio is the published one (one update per decision). The budget counts decisions; in the last vector
step only the decisions still inside the budget are stored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from torch import nn

from metadvfs.errors import MetaDVFSError
from metadvfs.learn.baselines import common

NAME = "ztt"
CPU_LEVELS = (2, 5, 8)
GPU_LEVELS = (1, 2, 3)
PIXEL3A_TOP = {"little": 8, "big": 9, "gpu": 3}
"""Last OPP index of the Pixel 3a tables zTT indexes (little 9 OPPs, big 10, zTT's GPU list 4)."""
ACTIONS: tuple[tuple[int, int], ...] = tuple((3 * i + 2, j + 1) for i in range(3) for j in range(3))
N_ACTIONS = len(ACTIONS)
STATE_DIM = 7
FALLBACK_POWER = 33.0
"""``c_p = 20, g_p = 13``: the published agent's replacement for a power reading <= 0 (100-mW units)."""


@dataclass(frozen=True)
class ZTTConfig:
    """zTT hyper-parameters (defaults = the published Pixel 3a agent).

    Attributes:
        learning_rate: Adam learning rate.
        adam_eps: Adam epsilon (Keras default).
        batch_size: Minibatch size.
        buffer_size: Replay capacity (FIFO).
        learning_starts: Replay size at which training starts.
        epsilon_start: Initial ε.
        epsilon_decay: Factor applied to ε at every training step.
        epsilon_min: ε floor.
        hidden: Hidden layer widths.
        init_std: Std of the N(0, s) kernel initialiser (Keras ``normal``).
        beta: Weight of the power term ``beta / P``.
        explore_p: Probability of the explore-higher-clocks rule.
        explore_margin_c: The rule applies when at least this far below the target temperature, degC.
        duplicate: Store transitions with r < 0 or r > 1 twice.
        init_cpu_idx: Commanded CPU index assumed at an episode start (Pixel 3a units).
        init_gpu_idx: Commanded GPU index assumed at an episode start.
        state_norm: Scale the state to O(1) before the network (:func:`net_input`); off in the published
            agent, which feeds raw indices, 100-mW units, degC and frames/s.
    """

    learning_rate: float = 0.05
    adam_eps: float = 1e-7
    batch_size: int = 64
    buffer_size: int = 500
    learning_starts: int = 150
    epsilon_start: float = 1.0
    epsilon_decay: float = 0.08
    epsilon_min: float = 0.0
    hidden: tuple[int, int] = (6, 6)
    init_std: float = 0.05
    beta: float = 2.0
    explore_p: float = 0.3
    explore_margin_c: float = 3.0
    duplicate: bool = True
    init_cpu_idx: int = 5
    init_gpu_idx: int = 2
    state_norm: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able hyper-parameters."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "hyperparameters") -> ZTTConfig:
        """Inverse of :meth:`to_dict` (unknown keys and wrong types rejected; missing keys keep the defaults)."""
        return common.config_from_dict(cls, d, where, "zTT")


# -- device mapping ---------------------------------------------------------
def _half_up(x: float) -> int:
    return math.floor(x + 0.5 + 1e-9)


def opp_table(n_opp: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OPP index per domain for each of the 9 actions on one device.

    Args:
        n_opp: (4,) OPP counts (little, mid, big, gpu).
        mask: (4,) 1 where the domain exists.

    Returns:
        (9, 4) int64 OPP indices (0 for absent domains).
    """
    out = np.zeros((N_ACTIONS, 4), dtype=np.int64)
    for k, (c, g) in enumerate(ACTIONS):
        frac = (c / PIXEL3A_TOP["little"], c / PIXEL3A_TOP["big"], c / PIXEL3A_TOP["big"], g / PIXEL3A_TOP["gpu"])
        for d in range(4):
            if mask[d]:
                out[k, d] = min(int(n_opp[d]) - 1, _half_up(frac[d] * (int(n_opp[d]) - 1)))
    return out


def choice_table(opps: np.ndarray, n_opp: np.ndarray, levels: int = common.LEVELS) -> np.ndarray:
    """Absolute-mode env choices realising :func:`opp_table` exactly: (9, 4) int64."""
    out = np.zeros_like(opps)
    for d in range(4):
        inv = common.opp_to_choice(int(n_opp[d]), levels)
        out[:, d] = inv[opps[:, d]]
    return out


def action_of(cpu_idx: np.ndarray, gpu_idx: np.ndarray) -> np.ndarray:
    """Action index of commanded ``(cpu_idx, gpu_idx)`` pairs: ``3 * (cpu // 3) + gpu - 1``."""
    return 3 * (np.asarray(cpu_idx) // 3) + np.asarray(gpu_idx) - 1


def config_from(d: dict[str, Any], where: str) -> ZTTConfig:
    """Hyper-parameters from plain data (a checkpoint or a variant file); see :meth:`ZTTConfig.from_dict`."""
    return ZTTConfig.from_dict(d, where)


# -- state and reward -------------------------------------------------------
def ztt_state(
    cpu_idx: np.ndarray,
    gpu_idx: np.ndarray,
    power_total_mw: np.ndarray,
    temp_c: np.ndarray,
    fps: np.ndarray,
    fps_cap: float,
) -> np.ndarray:
    """State of zTT (7 values) for N phones.

    Args:
        cpu_idx: (N,) commanded CPU index (2/5/8).
        gpu_idx: (N,) commanded GPU index (1/2/3).
        power_total_mw: (N,) whole-phone power over the last interval, mW.
        temp_c: (N,) the temperature zTT reads (skin), degC; used for both CPU and GPU.
        fps: (N,) presented frames per second over the last interval.
        fps_cap: Cap on fps (the panel rate = app target), frames/s.

    Returns:
        (N, 7) float32 ``(cpu_idx, gpu_idx, int(P/100), 0, T, T, min(fps, cap))``.
    """
    n = len(np.asarray(power_total_mw))
    s = np.empty((n, STATE_DIM), dtype=np.float32)
    s[:, 0] = cpu_idx
    s[:, 1] = gpu_idx
    s[:, 2] = np.trunc(np.asarray(power_total_mw, dtype=float) / 100.0)
    s[:, 3] = 0.0
    s[:, 4] = temp_c
    s[:, 5] = temp_c
    s[:, 6] = np.minimum(fps, fps_cap)
    return s


STATE_SCALE = (float(PIXEL3A_TOP["little"]), float(GPU_LEVELS[-1]), 100.0, 100.0, 50.0, 50.0)
"""Divisors of the first six state values under ``state_norm``: top CPU index, top GPU index, 10 W (in 100-mW
units, twice), 50 degC (twice); fps is divided by the target, so every input lies in about [0, 1.5]."""


def net_input(state: np.ndarray, target_fps: float, state_norm: bool) -> np.ndarray:
    """What the Q-network reads: the state as published, or scaled by :data:`STATE_SCALE` and the target fps.

    Args:
        state: (N, 7) :func:`ztt_state` rows.
        target_fps: Frame-rate target, frames/s.
        state_norm: Scale (``ZTTConfig.state_norm``).

    Returns:
        (N, 7) float32 network input.
    """
    if not state_norm:
        return state
    return (state / np.asarray((*STATE_SCALE, max(target_fps, 1e-9)), dtype=np.float32)).astype(np.float32)


def thermal_terms(
    t_cpu: np.ndarray, t_cpu_prev: np.ndarray, t_gpu: np.ndarray, target_c: float | np.ndarray
) -> np.ndarray:
    """Thermal reward terms of zTT, ``v1 + v2`` (Pixel 3a): -2 on an upward crossing, ``2 (T* - T_gpu)`` above."""
    t_cpu, t_prev, t_gpu = (np.asarray(x, dtype=float) for x in (t_cpu, t_cpu_prev, t_gpu))
    v1 = np.where((t_prev < target_c) & (t_cpu >= target_c), -2.0, 0.0)
    v2 = np.where(t_gpu > target_c, 2.0 * (target_c - t_gpu), 0.0)
    return v1 + v2


def ztt_reward(
    fps: np.ndarray,
    power_units: np.ndarray,
    t_cpu: np.ndarray,
    t_cpu_prev: np.ndarray,
    t_gpu: np.ndarray,
    target_fps: float,
    target_temp_c: float,
    beta: float = 2.0,
) -> np.ndarray:
    """The Pixel 3a reward of zTT, ``u + v1 + v2 + beta / P`` for N phones.

    Args:
        fps: (N,) frames per second (capped as in the state).
        power_units: (N,) ``cpu_power + gpu_power`` in 100-mW units (values <= 0 become 33).
        t_cpu: (N,) CPU temperature now, degC.
        t_cpu_prev: (N,) CPU temperature at the previous decision, degC.
        t_gpu: (N,) GPU temperature now, degC.
        target_fps: Frame-rate target, frames/s.
        target_temp_c: Target temperature, degC.
        beta: Power weight.

    Returns:
        (N,) rewards.
    """
    fps = np.asarray(fps, dtype=float)
    u = np.where(fps >= target_fps, 1.0, np.exp(0.1 * (np.minimum(fps, target_fps) - target_fps)))
    p = np.asarray(power_units, dtype=float)
    p = np.where(p <= 0, FALLBACK_POWER, p)
    return u + thermal_terms(t_cpu, t_cpu_prev, t_gpu, target_temp_c) + beta / p


# -- network and policy -----------------------------------------------------
def build_qnet(cfg: ZTTConfig) -> nn.Module:
    """``Dense(h1, relu) -> Dense(h2, relu) -> Dense(9)`` with Keras ``normal`` kernels and zero biases."""
    h1, h2 = cfg.hidden
    net = nn.Sequential(nn.Linear(STATE_DIM, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, N_ACTIONS))
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, cfg.init_std)
            nn.init.zeros_(m.bias)
    return net


class KerasQ:
    """The zTT Q-network as float32 numpy arrays with a hand-written Keras ``model.fit`` step.

    A 7-6-6-9 MLP trained once per decision is dominated by framework overhead in torch (about 0.5-0.9 ms
    per update here); this numpy step is several times faster and reproduces Keras 2's Adam exactly
    (``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``, ``p -= lr_t m / (sqrt(v) + eps)``; torch puts eps inside the
    bias correction). The loss is Keras ``mse`` over all 9 outputs against a target equal to the prediction
    except ``target[i, a_i] = r_i`` (``done = 1``: no bootstrapped term), so only the taken action's output
    carries error: ``dL/dq[i, a_i] = 2 (q[i, a_i] - r_i) / (9 B)``.

    Args:
        net: The torch Q-network (:func:`build_qnet`) whose weights are copied.
        lr: Adam learning rate.
        eps: Adam epsilon.
        beta1: Adam first-moment decay.
        beta2: Adam second-moment decay.
    """

    def __init__(self, net: nn.Module, lr: float, eps: float, beta1: float = 0.9, beta2: float = 0.999) -> None:
        lin = [m for m in net.modules() if isinstance(m, nn.Linear)]
        self.params = []
        for m in lin:
            self.params += [m.weight.detach().numpy().astype(np.float32).copy(), m.bias.detach().numpy().copy()]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.lr, self.eps, self.b1, self.b2 = lr, eps, beta1, beta2

    def q(self, s: np.ndarray) -> np.ndarray:
        """(B, 7) states -> (B, 9) Q-values."""
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = np.maximum(np.asarray(s, dtype=np.float32) @ w1.T + b1, 0.0)
        h2 = np.maximum(h1 @ w2.T + b2, 0.0)
        return h2 @ w3.T + b3

    def grads(self, s: np.ndarray, a: np.ndarray, r: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Loss and gradients (same order as :attr:`params`) of one minibatch."""
        w1, b1, w2, b2, w3, _ = self.params
        x = np.asarray(s, dtype=np.float32)
        n = x.shape[0]
        h1 = np.maximum(x @ w1.T + b1, 0.0)
        h2 = np.maximum(h1 @ w2.T + b2, 0.0)
        q = h2 @ w3.T + self.params[5]
        rows = np.arange(n)
        err = q[rows, a] - np.asarray(r, dtype=np.float32)
        loss = float(np.sum(err.astype(np.float64) ** 2) / (n * q.shape[1]))
        dq = np.zeros_like(q)
        dq[rows, a] = 2.0 * err / (n * q.shape[1])
        dh2 = (dq @ w3) * (h2 > 0)
        dh1 = (dh2 @ w2) * (h1 > 0)
        g = [dh1.T @ x, dh1.sum(0), dh2.T @ h1, dh2.sum(0), dq.T @ h2, dq.sum(0)]
        return loss, [gi.astype(np.float32) for gi in g]

    def fit(self, s: np.ndarray, a: np.ndarray, r: np.ndarray) -> float:
        """One Adam step on a minibatch; returns the loss before the step."""
        loss, g = self.grads(s, a, r)
        self.t += 1
        lr_t = self.lr * math.sqrt(1.0 - self.b2**self.t) / (1.0 - self.b1**self.t)
        for p, m, v, gi in zip(self.params, self.m, self.v, g, strict=True):
            m *= self.b1
            m += (1.0 - self.b1) * gi
            v *= self.b2
            v += (1.0 - self.b2) * gi * gi
            p -= np.float32(lr_t) * m / (np.sqrt(v) + np.float32(self.eps))
        return loss

    def to_module(self, net: nn.Module) -> nn.Module:
        """Copy the weights into ``net`` (same architecture) and return it."""
        lin = [m for m in net.modules() if isinstance(m, nn.Linear)]
        with th.no_grad():
            for k, m in enumerate(lin):
                m.weight.copy_(th.from_numpy(self.params[2 * k]))
                m.bias.copy_(th.from_numpy(self.params[2 * k + 1]))
        return net


def select_actions(
    q: np.ndarray,
    cpu_idx: np.ndarray,
    gpu_idx: np.ndarray,
    temp_c: np.ndarray,
    fps: np.ndarray,
    rng: np.random.Generator,
    eps: float,
    target_temp_c: float,
    target_fps: float,
    explore_p: float,
    margin_c: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decision rules of zTT for N phones (vectorised; one set of draws per call for determinism).

    Args:
        q: (N, 9) Q-values of the current states.
        cpu_idx: (N,) last commanded CPU index (2/5/8).
        gpu_idx: (N,) last commanded GPU index (1/2/3).
        temp_c: (N,) current CPU temperature, degC.
        fps: (N,) current (capped) fps.
        rng: Random generator.
        eps: ε of the ε-greedy branch (0 = greedy).
        target_temp_c: Target temperature, degC.
        target_fps: Frame-rate target, frames/s.
        explore_p: Probability of the explore-higher rule (0 = off).
        margin_c: Explore-higher applies at least this far below the target temperature, degC.

    Returns:
        ``(action (N,), cpu_idx (N,), gpu_idx (N,))`` of the new command.
    """
    n = q.shape[0]
    u_rule, u_eps, u_c, u_g = rng.random(n), rng.random(n), rng.random(n), rng.random(n)
    rand_a = rng.integers(0, N_ACTIONS, n)
    ci = np.asarray(cpu_idx) // 3
    gi = np.asarray(gpu_idx)
    greedy = np.argmax(q, axis=1)
    a = np.where((eps > 0) & (u_eps <= eps), rand_a, greedy)
    ci_new, gi_new = a // 3, a % 3 + 1
    hot = temp_c >= target_temp_c
    explore = ~hot & (target_temp_c - temp_c >= margin_c) & (fps < target_fps) & (explore_p > 0) & (u_rule <= explore_p)
    # random.randint(lo, hi) is inclusive on both ends
    ci_new = np.where(hot, np.floor(u_c * (ci + 1)).astype(np.int64), ci_new)
    gi_new = np.where(hot, 1 + np.floor(u_g * gi).astype(np.int64), gi_new)
    ci_new = np.where(explore, ci + np.floor(u_c * (3 - ci)).astype(np.int64), ci_new)
    gi_new = np.where(explore, gi + np.floor(u_g * (4 - gi)).astype(np.int64), gi_new)
    cpu_new = 3 * ci_new + 2
    return action_of(cpu_new, gi_new), cpu_new, gi_new


def readings(batch: Any, fresh: np.ndarray, fps_cap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(power_total_mw, skin temp degC, capped fps)`` per env; rows in ``fresh`` read the reset state."""
    n = batch.n
    last = batch.last
    if last is None:
        fresh = np.ones(n, dtype=bool)
        power, temp, fps = np.zeros(n), np.zeros(n), np.zeros(n)
    else:
        power = np.asarray(last.power_total_mw, dtype=float).copy()
        temp = np.asarray(last.temp_c[:, 1], dtype=float).copy()
        fps = np.minimum(np.asarray(last.frames_presented, dtype=float) / batch.step_s, fps_cap)
    if fresh.any():
        rows = np.flatnonzero(fresh)
        power[rows] = batch.tb.dev.base_mw[rows]
        temp[rows] = batch.tb.core.temp[rows, 1]
        fps[rows] = 0.0
    return power, temp, fps


# -- driver -----------------------------------------------------------------
class ZTTDriver:
    """A trained zTT agent acting on a :class:`BatchedDVFSVecEnv` (greedy, thermal rule kept).

    Args:
        task: ``device:app`` it was trained on.
        net: The Q-network.
        cfg: Hyper-parameters.
        env_kwargs: VecEnv options it acts in.
        device: Device signature (``common.device_signature``).
        port: Port details (``target_fps``, ``target_temp_c``, ``opp_table``, ``choices``).
        seed: Seed of the thermal rule's generator (re-applied by :meth:`reset`).
    """

    name = NAME

    def __init__(
        self,
        task: str,
        net: nn.Module,
        cfg: ZTTConfig,
        env_kwargs: dict[str, Any],
        device: dict[str, Any],
        port: dict[str, Any],
        seed: int = 0,
    ) -> None:
        self.task = task
        self.net = net.eval()
        self.cfg = cfg
        self.env_kwargs = dict(env_kwargs)
        self.device = device
        self.port = port
        self.seed = int(seed)
        self.choices = np.asarray(port["choices"], dtype=np.int64)
        self.target_fps = float(port["target_fps"])
        self.target_temp_c = float(port["target_temp_c"])
        self._rng = np.random.default_rng(self.seed)
        self._cpu: np.ndarray | None = None
        self._gpu: np.ndarray | None = None
        self._checked: int | None = None

    def reset(self, n_envs: int) -> None:
        """Forget the commanded clocks and re-seed the thermal rule's generator."""
        self._rng = np.random.default_rng(self.seed)
        self._cpu = np.full(n_envs, self.cfg.init_cpu_idx, dtype=np.int64)
        self._gpu = np.full(n_envs, self.cfg.init_gpu_idx, dtype=np.int64)

    def act(self, venv: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 4) absolute-mode choices for the current step of ``venv``."""
        batch = common.inner_batch(venv)
        if self._checked != id(batch):
            common.check_device(batch, self.device, NAME)
            self._checked = id(batch)
        if self._cpu is None or len(self._cpu) != batch.n:
            self.reset(batch.n)
        assert self._cpu is not None and self._gpu is not None
        fresh = np.asarray(batch.t) == 0
        self._cpu[fresh] = self.cfg.init_cpu_idx
        self._gpu[fresh] = self.cfg.init_gpu_idx
        power, temp, fps = readings(batch, fresh, self.target_fps)
        state = ztt_state(self._cpu, self._gpu, power, temp, fps, self.target_fps)
        x = net_input(state, self.target_fps, self.cfg.state_norm)
        with th.no_grad():
            q = self.net(th.from_numpy(x)).numpy()
        a, self._cpu, self._gpu = select_actions(
            q,
            self._cpu,
            self._gpu,
            temp,
            fps,
            self._rng,
            0.0,
            self.target_temp_c,
            self.target_fps,
            0.0,
            self.cfg.explore_margin_c,
        )
        return self.choices[a].copy()

    def state_dicts(self) -> dict[str, dict[str, th.Tensor]]:
        """Weights to save."""
        return {"q": self.net.state_dict()}


def driver_from_checkpoint(doc: dict[str, Any], sds: dict[str, Any], path: Path) -> ZTTDriver:
    """Rebuild a :class:`ZTTDriver` from a verified checkpoint."""
    cfg = ZTTConfig.from_dict(doc["hyperparameters"], f"{path / common.META_FILE}: hyperparameters")
    net = build_qnet(cfg)
    common.load_state(net, sds, "q", path / common.WEIGHTS_FILE)
    try:
        return ZTTDriver(doc["task"], net, cfg, doc["env"], doc["device"], doc["port"], int(doc["train"]["seed"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise MetaDVFSError(f"{path / common.META_FILE}: malformed ({exc.__class__.__name__}: {exc})") from None


# -- training ---------------------------------------------------------------
def train(
    task: str,
    total_steps: int,
    seed: int = 0,
    decision_interval_s: float = 0.1,
    episode_seconds: float = 20.0,
    n_envs: int = 16,
    progress: Callable[[int, int], None] | None = None,
    cfg: ZTTConfig | None = None,
) -> tuple[ZTTDriver, dict[str, Any]]:
    """Train zTT on one task for exactly ``total_steps`` decisions.

    Returns:
        ``(driver, training info)``.
    """
    cfg = cfg or ZTTConfig()
    if total_steps < 1:
        raise MetaDVFSError(f"total_steps: must be >= 1, got {total_steps}")
    env_kw = common.env_options(decision_interval_s, 1)
    venv = common.make_venv(task, n_envs, episode_seconds, env_kw, seed)
    batch = venv.batch
    dev = batch.tb.dev
    sig = common.device_signature(batch)
    target_fps = float(batch.tb.target_fps[0])
    target_temp = float(dev.skin_throttle_c[0])
    opps = opp_table(dev.n_opp[0], dev.mask[0])
    choices = choice_table(opps, dev.n_opp[0])
    port = {
        "target_fps": target_fps,
        "target_temp_c": target_temp,
        "temp_sensor": "skin",
        "power": "total phone power, 100-mW units (truncated)",
        "cpu_levels": list(CPU_LEVELS),
        "gpu_levels": list(GPU_LEVELS),
        "opp_table": opps.tolist(),
        "choices": choices.tolist(),
    }

    rng = np.random.default_rng(seed)
    net = common.seeded_init(seed, lambda: build_qnet(cfg))
    kq = KerasQ(net, cfg.learning_rate, cfg.adam_eps)
    cap = cfg.buffer_size
    mem_s = np.zeros((cap, STATE_DIM), dtype=np.float32)
    mem_a = np.zeros(cap, dtype=np.int64)
    mem_r = np.zeros(cap, dtype=np.float32)
    mem = {"n": 0, "pos": 0}
    eps = cfg.epsilon_start
    losses: list[float] = []

    def push(s: np.ndarray, a: int, r: float) -> None:
        p = mem["pos"]
        mem_s[p], mem_a[p], mem_r[p] = s, a, r
        mem["pos"] = (p + 1) % cap
        mem["n"] = min(mem["n"] + 1, cap)

    def train_step() -> float:
        idx = rng.choice(mem["n"], cfg.batch_size, replace=False)
        return kq.fit(mem_s[idx], mem_a[idx], mem_r[idx])

    prog = common.Progress(progress, total_steps)
    n = n_envs
    n_threads = th.get_num_threads()
    th.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        venv.reset()
        cpu = np.full(n, cfg.init_cpu_idx, dtype=np.int64)
        gpu = np.full(n, cfg.init_gpu_idx, dtype=np.int64)
        all_fresh = np.ones(n, dtype=bool)
        power, temp, fps = readings(batch, all_fresh, target_fps)
        state = ztt_state(cpu, gpu, power, temp, fps, target_fps)
        temp_prev = temp.copy()
        done_steps, n_train, n_stored = 0, 0, 0
        rew_sum, rew_n = 0.0, 0
        while done_steps < total_steps:
            k = common.budget_take(done_steps, total_steps, n)
            x = net_input(state, target_fps, cfg.state_norm)
            q = kq.q(x)
            a, cpu, gpu = select_actions(
                q, cpu, gpu, temp, fps, rng, eps, target_temp, target_fps, cfg.explore_p, cfg.explore_margin_c
            )
            _, _, dones, _ = venv.step(choices[a])
            last = batch.last
            fps = np.minimum(last.frames_presented / batch.step_s, target_fps)
            power = np.asarray(last.power_total_mw, dtype=float).copy()
            temp = np.asarray(last.temp_c[:, 1], dtype=float).copy()
            nxt = ztt_state(cpu, gpu, power, temp, fps, target_fps)
            r = ztt_reward(fps, nxt[:, 2] + nxt[:, 3], temp, temp_prev, temp, target_fps, target_temp, cfg.beta)
            for i in range(k):
                copies = 1 + int(cfg.duplicate and (r[i] < 0 or r[i] > 1))
                for _ in range(copies):
                    push(x[i], int(a[i]), float(r[i]))
                n_stored += copies
                if mem["n"] >= cfg.learning_starts:
                    eps = eps * cfg.epsilon_decay if eps > cfg.epsilon_min else cfg.epsilon_min
                    losses.append(train_step())
                    n_train += 1
            rew_sum += float(r[:k].sum())
            rew_n += k
            done_steps += k
            state, temp_prev = nxt, temp.copy()
            if dones.any():
                rows = np.flatnonzero(dones)
                fresh = np.zeros(n, dtype=bool)
                fresh[rows] = True
                cpu[rows], gpu[rows] = cfg.init_cpu_idx, cfg.init_gpu_idx
                fp, ft, ff = readings(batch, fresh, target_fps)
                power[rows], temp[rows], fps[rows] = fp[rows], ft[rows], ff[rows]
                state[rows] = ztt_state(cpu[rows], gpu[rows], power[rows], temp[rows], fps[rows], target_fps)
                temp_prev[rows] = temp[rows]
            prog(done_steps)
    finally:
        th.set_num_threads(n_threads)
        venv.close()
    wall = time.perf_counter() - t0
    tail = losses[-200:]
    info = {
        "seed": int(seed),
        "total_steps": int(total_steps),
        "n_envs": int(n_envs),
        "episode_seconds": float(episode_seconds),
        "wall_s": round(wall, 2),
        "steps_per_s": round(total_steps / wall, 1) if wall > 0 else None,
        "decisions": int(done_steps),
        "train_updates": n_train,
        "stored_transitions": n_stored,
        "final_epsilon": float(eps),
        "mean_reward": rew_sum / max(rew_n, 1),
        "final_loss": float(np.mean(tail)) if tail else None,
        "loss_finite": bool(np.all(np.isfinite(losses))) if losses else True,
    }
    driver = ZTTDriver(task, kq.to_module(net), cfg, env_kw, sig, port, seed)
    return driver, info
