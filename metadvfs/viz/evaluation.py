"""Evaluation plots: per-task normalised PPR bars and a power-vs-QoE scatter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bars(df: pd.DataFrame, path: Path) -> None:
    """Grouped bars of mean PPR/schedutil per task and method, with std error bars.

    Args:
        df: Rows of :meth:`EvalResult.rows` (columns device, app, method, ppr_norm, ppr_norm_std).
        path: PNG file to write.
    """
    plt = _plt()
    tasks = (df["device"] + ":" + df["app"]).unique().tolist()
    methods = df["method"].unique().tolist()
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(tasks) * max(1, len(methods) / 3)), 4.2))
    for j, m in enumerate(methods):
        sub = df[df["method"] == m]
        sub = sub.set_index(sub["device"] + ":" + sub["app"]).loc[tasks]
        xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(tasks))]
        ax.bar(xs, sub["ppr_norm"], width, yerr=sub["ppr_norm_std"], label=m, capsize=2)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels(tasks, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("PPR / schedutil PPR")
    ax.set_title("Energy efficiency per task (higher is better)")
    ax.legend(fontsize=7, ncol=min(4, len(methods)))
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)


def plot_scatter(df: pd.DataFrame, path: Path) -> None:
    """Average power vs QoE, one point per (task, method), coloured by method.

    Args:
        df: Rows of :meth:`EvalResult.rows`.
        path: PNG file to write.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    for m, sub in df.groupby("method", sort=False):
        ax.scatter(sub["avg_power_w"], sub["qoe"], label=str(m), s=18, alpha=0.8)
    ax.set_xlabel("average power (W)")
    ax.set_ylabel("QoE (mean over 1 s of min(1, FPS/target))")
    ax.set_title("Power vs QoE (up and left is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
