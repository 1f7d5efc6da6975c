"""Figures 2-4 of the paper (section 2.2), and the same quantities by answer position.

Each writer takes the frame of
:func:`prettyflow.analysis.decision_space.teacher_forced_positions` for one
family and subset and a path ``stem``; it writes ``<stem>.png``, ``<stem>.svg``
and ``<stem>.csv`` (the plotted numbers, from the aggregation functions of
:mod:`~prettyflow.analysis.decision_space`), each atomically, and returns the
three paths. ``label`` (e.g. ``"llama2 / en-zh"``) starts every title.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prettyflow.analysis.decision_space import (  # noqa: E402
    COLUMNS,
    DIVERGENCES,
    LN2,
    MODELS,
    SETUPS,
    TOP_K,
    agreement_at_k,
    by_position,
    chosen_probabilities,
    chosen_probability_summary,
    divergence_summary,
    silent_majority,
)
from prettyflow.errors import InputError  # noqa: E402
from prettyflow.io import atomic_path, write_text  # noqa: E402

FIGURES = ("agreement", "chosen_probability", "divergence", "by_position")

SETUP_COLORS = {0: "#7f7f7f", 1: "#d62728"}
MODEL_COLORS = {"SFT": "#1f77b4", "foundation": "#ff7f0e"}
METRIC_LABELS = {
    "kl_sft_foundation": ("KL(SFT ‖ foundation)", "KL divergence (nats)"),
    "js": ("Jensen-Shannon divergence", "JS divergence (nats, at most ln 2)"),
    "cross_entropy": (
        "cross-entropy H(SFT, foundation)",
        "cross-entropy (nats)",
    ),
}
# Wrapped setup names for tick labels.
SETUP_TICKS = {0: "instruction", 1: "instruction\n+ prior token"}

# SVG ids and metadata without randomness or dates: rewriting a figure from the
# same numbers gives the same file.
matplotlib.rcParams["svg.hashsalt"] = "prettyflow"


def _title(label: str | None, text: str) -> str:
    return f"{label}: {text}" if label else text


def _present_setups(frame: pd.DataFrame) -> list[int]:
    if frame.empty:
        raise InputError("no answer positions to plot (all answers empty?)")
    present = set(int(p) for p in frame["position"].unique())
    return [position for position in SETUPS if position in present]


def _save(figure: plt.Figure, table: pd.DataFrame, stem: str | Path) -> list[Path]:
    stem = Path(stem)
    paths = [stem.with_name(stem.name + suffix) for suffix in (".png", ".svg", ".csv")]
    with atomic_path(paths[0]) as tmp:
        figure.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    with atomic_path(paths[1]) as tmp:
        figure.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    write_text(table.to_csv(index=False), paths[2])
    return paths


def _percent_axis(axis: plt.Axes) -> None:
    axis.set_ylim(0, 105)
    axis.set_yticks(range(0, 101, 20))
    axis.grid(axis="y", alpha=0.3)


# --- Figure 2 ----------------------------------------------------------------


def agreement_table(
    frame: pd.DataFrame, ks: Iterable[int] = range(1, TOP_K + 1), k: int = TOP_K
) -> pd.DataFrame:
    """Figure 2's numbers: agreement@K per setup, then the silent majority per setup.

    Columns: ``quantity`` (``agreement_at_k`` or ``silent_majority``), ``setup``,
    ``position``, ``k``, ``value`` (= ``numerator / denominator``), ``numerator``
    and ``denominator`` (samples within the top K / samples; disagreements
    within the top k / disagreements).
    """
    ks = list(ks)
    records = []
    for position in _present_setups(frame):
        for row in agreement_at_k(frame, position, ks).itertuples():
            records.append(
                {
                    "quantity": "agreement_at_k",
                    "setup": row.setup,
                    "position": position,
                    "k": row.k,
                    "value": row.agreement,
                    "numerator": row.n_agree,
                    "denominator": row.n_samples,
                }
            )
    for position in _present_setups(frame):
        majority = silent_majority(frame, position, k)
        records.append(
            {
                "quantity": "silent_majority",
                "setup": majority.setup,
                "position": position,
                "k": k,
                "value": majority.share,
                "numerator": majority.n_covered,
                "denominator": majority.n_disagree,
            }
        )
    return pd.DataFrame(records)


def write_agreement_figure(
    frame: pd.DataFrame,
    stem: str | Path,
    label: str | None = None,
    ks: Sequence[int] = range(1, TOP_K + 1),
    k: int = TOP_K,
) -> list[Path]:
    """Figure 2: agreement@K (Equation 3) for both setups, and the silent majority."""
    table = agreement_table(frame, ks, k)
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(11, 4.8), gridspec_kw={"width_ratios": [2.2, 1]}
    )
    agreement = table[table["quantity"] == "agreement_at_k"]
    for position, rows in agreement.groupby("position"):
        n = int(rows["denominator"].iloc[0])
        left.plot(
            rows["k"],
            100 * rows["value"],
            marker="o",
            markersize=4,
            color=SETUP_COLORS[position],
            label=f"prefix = {SETUPS[position]} (n = {n} samples)",
        )
    left.set_xticks(list(ks))
    left.set_xlabel("K (size of the foundation model's top-K candidate list)")
    left.set_ylabel("SFT token in foundation top-K (% of samples)")
    left.set_title(
        "Agreement@K: is the SFT model's next token\n"
        "among the foundation model's K most likely?"
    )
    _percent_axis(left)
    left.legend(loc="best", fontsize=9)

    majority = table[table["quantity"] == "silent_majority"]
    # The colours are those of the left panel's legend.
    ticks = [
        f"{SETUP_TICKS[int(row.position)]}\n({row.denominator} disagreements)"
        for row in majority.itertuples()
    ]
    heights = 100 * majority["value"].fillna(0).to_numpy()
    bars = right.bar(
        ticks,
        heights,
        color=[SETUP_COLORS[int(p)] for p in majority["position"]],
        width=0.6,
    )
    for bar, row in zip(bars, majority.itertuples()):
        text = (
            f"{row.numerator} of {row.denominator}"
            if row.denominator
            else "top tokens\nalways agree"
        )
        right.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    right.set_xlabel("prefix")
    right.set_ylabel(f"SFT token in foundation top {k}\n(% of disagreements)")
    right.set_title(
        f"Silent majority: when the top tokens differ,\n"
        f"is the SFT token in the foundation top {k}?"
    )
    _percent_axis(right)
    right.set_ylim(0, 112)  # room for the counts above a full bar
    figure.suptitle(
        _title(label, "SFT vs foundation next-token agreement under the same prefix"),
        fontweight="bold",
    )
    figure.tight_layout()
    return _save(figure, table, stem)


# --- Figure 3 ----------------------------------------------------------------


def write_chosen_probability_figure(
    frame: pd.DataFrame, stem: str | Path, label: str | None = None, bins: int = 20
) -> list[Path]:
    """Figure 3: per setup, histograms of each model's probability for its choice."""
    setups = _present_setups(frame)
    table = chosen_probability_summary(frame, setups)
    long = chosen_probabilities(frame, setups)
    figure, axes = plt.subplots(
        1, len(setups), figsize=(5.5 * len(setups), 4.2), sharey=True, squeeze=False
    )
    edges = np.linspace(0, 1, bins + 1)
    for axis, position in zip(axes[0], setups):
        for model in MODELS:
            values = long[(long["position"] == position) & (long["model"] == model)][
                "probability"
            ].to_numpy()
            weights = np.full(len(values), 100 / len(values))
            median = float(np.median(values))
            axis.hist(
                values,
                bins=edges,
                weights=weights,
                histtype="stepfilled",
                alpha=0.35,
                color=MODEL_COLORS[model],
                edgecolor=MODEL_COLORS[model],
                linewidth=1.5,
                label=f"{model} (n = {len(values)}, median {median:.2f})",
            )
            axis.axvline(median, color=MODEL_COLORS[model], linestyle="--")
        axis.set_xlim(0, 1)
        axis.set_xlabel("probability the model gives its own top (chosen) token")
        axis.set_title(f"prefix = {SETUPS[position]}")
        axis.grid(axis="y", alpha=0.3)
        axis.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=2,
            fontsize=8,
            title="model (dashed line: median)",
            title_fontsize=8,
        )
    axes[0][0].set_ylabel("% of samples")
    figure.suptitle(
        _title(label, "how confident each model is in its next-token choice"),
        fontweight="bold",
    )
    figure.tight_layout()
    return _save(figure, table, stem)


# --- Figure 4 ----------------------------------------------------------------


def write_divergence_figure(
    frame: pd.DataFrame, stem: str | Path, label: str | None = None
) -> list[Path]:
    """Figure 4: KL(SFT||foundation), JS and cross-entropy, both setups.

    Bars are means with 95% confidence intervals (1.96 x SEM); dots are samples.

    Long because it draws one figure with its annotations.
    """
    setups = _present_setups(frame)
    table = divergence_summary(frame, setups)
    figure, axes = plt.subplots(1, len(DIVERGENCES), figsize=(13, 4.4))
    rng = np.random.default_rng(0)
    for axis, metric in zip(axes, DIVERGENCES):
        title, ylabel = METRIC_LABELS[metric]
        for slot, position in enumerate(setups):
            row = table[(table["metric"] == metric) & (table["position"] == position)]
            row = row.iloc[0]
            error = 1.96 * row["sem"] if np.isfinite(row["sem"]) else 0.0
            axis.bar(
                slot,
                row["mean"],
                yerr=error,
                capsize=6,
                width=0.6,
                color=SETUP_COLORS[position],
                alpha=0.45,
                label="mean ± 95% CI" if slot == 0 else None,
            )
            values = frame.loc[frame["position"] == position, metric].to_numpy()
            jitter = rng.uniform(-0.18, 0.18, len(values))
            axis.scatter(
                slot + jitter,
                values,
                s=9,
                color="black",
                alpha=0.5,
                label="one sample" if slot == 0 else None,
                zorder=3,
            )
        axis.set_xticks(
            range(len(setups)),
            [
                f"{SETUP_TICKS[p]}\n(n = {int(_table_n(table, metric, p))})"
                for p in setups
            ],
        )
        if metric == "js":
            axis.axhline(LN2, color="grey", linestyle=":", linewidth=1)
            axis.annotate(
                "ln 2 (maximum)",
                (0.02, LN2),
                xycoords=("axes fraction", "data"),
                va="bottom",
                fontsize=8,
                color="grey",
            )
            axis.set_ylim(0, LN2 * 1.12)
        else:
            axis.set_ylim(bottom=0)
        axis.set_xlabel("prefix")
        axis.set_ylabel(ylabel)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        fontsize=9,
        title="bars: mean over samples; whiskers: 95% confidence interval",
        title_fontsize=9,
    )
    figure.suptitle(
        _title(
            label,
            "distance between the SFT and foundation next-token distributions "
            "(lower = closer)",
        ),
        fontweight="bold",
    )
    figure.tight_layout()
    return _save(figure, table, stem)


def _table_n(table: pd.DataFrame, metric: str, position: int) -> int:
    row = table[(table["metric"] == metric) & (table["position"] == position)]
    return int(row["n"].iloc[0])


# --- beyond the paper: by answer position -------------------------------------


def write_position_figure(
    frame: pd.DataFrame,
    stem: str | Path,
    label: str | None = None,
    max_position: int | None = None,
    k: int = TOP_K,
) -> list[Path]:
    """Agreement@1 / @k, mean KL and JS, and n, against the answer position.

    Position j: the prefix is the instruction + the first j tokens of the SFT
    answer (0 and 1 are the paper's two setups). Bands are 95% confidence
    intervals.
    """
    table = by_position(frame, max_position=max_position, k=k)
    if table.empty:
        raise InputError("no answer positions to plot")
    figure, (top, middle, bottom) = plt.subplots(
        3,
        1,
        figsize=(11, 9),
        sharex=True,
        gridspec_kw={"height_ratios": [1.2, 1.2, 0.7]},
    )
    positions = table["position"].to_numpy()
    for column, style, name in (
        ("agreement_at_1", "-", "agreement@1 (same top token)"),
        (f"agreement_at_{k}", "--", f"agreement@{k} (SFT token in foundation top {k})"),
    ):
        top.plot(
            positions, 100 * table[column], style, marker="o", markersize=3, label=name
        )
    top.set_ylabel("% of samples")
    top.set_title("Next-token agreement")
    _percent_axis(top)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)

    for metric, color in (("kl_sft_foundation", "#9467bd"), ("js", "#2ca02c")):
        mean = table[f"{metric}_mean"].to_numpy(dtype=float)
        error = 1.96 * np.nan_to_num(table[f"{metric}_sem"].to_numpy(dtype=float))
        middle.plot(
            positions,
            mean,
            marker="o",
            markersize=3,
            color=color,
            label=f"mean {METRIC_LABELS[metric][0]}",
        )
        middle.fill_between(
            positions, mean - error, mean + error, color=color, alpha=0.2
        )
    middle.set_ylabel("divergence (nats)")
    middle.set_ylim(bottom=0)
    middle.set_title(
        "Distance between the two next-token distributions (bands: 95% CI)"
    )
    middle.grid(axis="y", alpha=0.3)
    middle.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)

    bottom.bar(positions, table["n_samples"], color="#7f7f7f", label="samples")
    bottom.set_ylabel("samples (n)")
    bottom.set_xlabel(
        "answer position j (prefix = instruction + first j tokens of the SFT answer; "
        "0 and 1 are the paper's setups)"
    )
    bottom.set_title("Samples whose SFT answer reaches position j")
    bottom.grid(axis="y", alpha=0.3)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    if len(positions) <= 30:
        bottom.set_xticks(positions)
    figure.suptitle(
        _title(label, "does the prior token's effect last along the answer?"),
        fontweight="bold",
    )
    figure.tight_layout()
    return _save(figure, table, stem)


def check_figure_table(
    frame: pd.DataFrame, path: str | Path | None = None, extra: Sequence[str] = ()
) -> None:
    """``frame`` (read from ``path``) has every column of a decision-space table.

    The figures read its columns (:data:`prettyflow.analysis.decision_space.COLUMNS`,
    and ``extra`` ones of the caller); a missing one is an :class:`InputError`
    naming the file and the column.
    """
    missing = [column for column in (*extra, *COLUMNS) if column not in frame.columns]
    if missing:
        raise InputError(
            f"the decision-space table has no column(s) {', '.join(missing)}; was it "
            "written by rule decision_space of this version?",
            path=path,
            field=missing[0],
        )


def write_all_figures(
    frame: pd.DataFrame,
    directory: str | Path,
    label: str | None = None,
    max_position: int | None = None,
) -> dict[str, list[Path]]:
    """All four figures in ``directory``: ``<name>.{png,svg,csv}`` per FIGURES name."""
    check_figure_table(frame)
    directory = Path(directory)
    return {
        "agreement": write_agreement_figure(frame, directory / "agreement", label),
        "chosen_probability": write_chosen_probability_figure(
            frame, directory / "chosen_probability", label
        ),
        "divergence": write_divergence_figure(frame, directory / "divergence", label),
        "by_position": write_position_figure(
            frame, directory / "by_position", label, max_position
        ),
    }
