"""Evaluation plots: per-task normalised PPR bars, a power-vs-QoE scatter and per-domain power per task."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bars(df: pd.DataFrame, path: Path, reference: str = "stock") -> None:
    """Grouped bars of mean PPR normalised to the reference per task and method, with std error bars.

    Args:
        df: Rows of :meth:`EvalResult.rows` (columns device, app, method, ppr_norm, ppr_norm_std).
        path: PNG file to write.
        reference: The governor ``ppr_norm`` is normalised to (the y-axis label).
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
    ax.set_ylabel(f"PPR / {reference} PPR")
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


def plot_domains(df: pd.DataFrame, path: Path, domains: Sequence[str]) -> None:
    """Where the power goes: per task, one stacked bar per method of its mean power per domain.

    Args:
        df: Rows of :meth:`EvalResult.rows` with ``power_<domain>_mw`` columns (NaN: the phone lacks the domain).
        path: PNG file to write.
        domains: Domain names in stacking order.

    Raises:
        ValueError: No ``power_<domain>_mw`` column in ``df``.
    """
    cols = [f"power_{d}_mw" for d in domains if f"power_{d}_mw" in df.columns]
    if not cols:
        raise ValueError("plot_domains: no power_<domain>_mw column")
    plt = _plt()
    tasks = (df["device"] + ":" + df["app"]).unique().tolist()
    methods = df["method"].unique().tolist()
    ncols = min(6, len(tasks))
    nrows = -(-len(tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.1 * nrows + 0.6), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for k, task in enumerate(tasks):
        ax = axes[k // ncols][k % ncols]
        sub = df[(df["device"] + ":" + df["app"]) == task].set_index("method").reindex(methods)
        bottom = [0.0] * len(methods)
        for c, col in enumerate(cols):
            vals = sub[col].fillna(0.0).tolist()
            ax.bar(range(len(methods)), vals, 0.7, bottom=bottom, color=colors[c % len(colors)],
                   label=col.removeprefix("power_").removesuffix("_mw"))  # fmt: skip
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_title(task, fontsize=7)
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=60, ha="right", fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
    for k in range(len(tasks), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    for r in range(nrows):
        axes[r][0].set_ylabel("mean power, mW", fontsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    top = 1.0 - 0.42 / fig.get_figheight()  # room for the title and the legend, in figure fractions
    fig.suptitle("Where the power goes (SoC domains; the rest of the phone is not shown)", fontsize=8, y=0.998)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0 - 0.22 / fig.get_figheight()),
               ncol=len(cols), fontsize=7, frameon=False)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
