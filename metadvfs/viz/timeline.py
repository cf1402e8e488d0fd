"""Timeline plot of one replay: frequencies, power, FPS and temperature over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from metadvfs.io import write_with

DOMAIN_COLORS = {"little": "tab:green", "mid": "tab:orange", "big": "tab:red", "gpu": "tab:purple"}


def plot_timeline(
    df: pd.DataFrame,
    path: str | Path,
    title: str,
    skin_throttle_c: float | None = None,
    smooth_s: float = 0.5,
) -> None:
    """Write a 4-panel PNG of a per-step timeline.

    Args:
        df: Output of :meth:`metadvfs.sim.replay.Timeline.frame`.
        path: PNG destination (written atomically).
        title: Figure title.
        skin_throttle_c: Draw the first skin throttle point, degC.
        smooth_s: Moving-average window for power and FPS, s.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = df["t_s"].to_numpy()
    step = float(t[1] - t[0]) if len(t) > 1 else 1.0
    k = max(1, round(smooth_s / step))

    def smooth(x: np.ndarray) -> np.ndarray:
        return pd.Series(x).rolling(k, min_periods=1).mean().to_numpy()

    fig, ax = plt.subplots(4, 1, figsize=(11, 9), sharex=True, constrained_layout=True)
    for dom, color in DOMAIN_COLORS.items():
        col = f"freq_{dom}_mhz"
        if col in df and float(df[f"power_{dom}_mw"].max()) > 0:
            ax[0].step(t, df[col], where="post", color=color, lw=0.9, label=dom)
    ax[0].set_ylabel("frequency (MHz)")
    ax[0].legend(loc="upper right", ncol=4, fontsize=8)
    ax[1].plot(t, smooth(df["power_total_mw"].to_numpy()) / 1000.0, color="black", lw=1.0, label="total")
    for dom, color in DOMAIN_COLORS.items():
        ax[1].plot(t, smooth(df[f"power_{dom}_mw"].to_numpy()) / 1000.0, color=color, lw=0.7, label=dom)
    ax[1].set_ylabel(f"power (W, {smooth_s:g} s avg)")
    ax[1].legend(loc="upper right", ncol=5, fontsize=8)
    fps = smooth(df["frames_presented"].to_numpy()) / step
    req = smooth(df["frames_req"].to_numpy()) / step
    ax[2].plot(t, req, color="0.6", lw=1.0, label="requested")
    ax[2].plot(t, fps, color="tab:blue", lw=1.0, label="presented")
    ax[2].set_ylabel(f"FPS ({smooth_s:g} s avg)")
    ax[2].legend(loc="upper right", fontsize=8)
    ax[3].plot(t, df["temp_die_c"], color="tab:red", lw=1.0, label="die")
    ax[3].plot(t, df["temp_skin_c"], color="tab:brown", lw=1.0, label="skin")
    if skin_throttle_c is not None:
        ax[3].axhline(skin_throttle_c, color="tab:brown", ls="--", lw=0.8, label="skin throttle")
    thr = df["throttled"].to_numpy().astype(bool)
    if thr.any():
        ax[3].fill_between(
            t,
            0,
            1,
            where=thr,
            transform=ax[3].get_xaxis_transform(),
            color="red",
            alpha=0.1,
            label="throttled",
        )
    ax[3].set_ylabel("temperature (°C)")
    ax[3].set_xlabel("time (s)")
    ax[3].legend(loc="upper right", ncol=4, fontsize=8)
    fig.suptitle(title)
    write_with(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
