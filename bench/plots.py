"""The report's figures. Each function takes plain numbers and returns a matplotlib Figure."""

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import pyplot as plt

from edgereason.bench import report  # noqa: F401  (selects the Agg backend before pyplot draws)
from edgereason.runtime import stats


def throughput_bars(rows: Sequence[dict]) -> plt.Figure:
    """Prefill and decode tok/s per system; decode bars carry min–max error bars over rounds."""
    labels = [r["system"] for r in rows]
    y = np.arange(len(rows))
    fig, (ax_pre, ax_dec) = plt.subplots(1, 2, figsize=(12, 0.5 * len(rows) + 1.8), sharey=True)
    pre = [r["prefill_tok_s"] for r in rows]
    ax_pre.barh(y, pre, color="#7aa6c2")
    ax_pre.set_xlabel("prefill tok/s (median)")
    dec = np.array([r["decode_tok_s"] for r in rows])
    err = np.array([[d - r["decode_tok_s_min"] for d, r in zip(dec, rows, strict=True)],
                    [r["decode_tok_s_max"] - d for d, r in zip(dec, rows, strict=True)]])
    palette = {"edgereason": "#d95f02", "edgereason-run": "#1b9e77"}
    colors = [palette.get(r["runner"], "#999999") for r in rows]
    ax_dec.barh(y, dec, xerr=err, color=colors, capsize=3)
    ax_dec.set_xlabel("decode tok/s (median, min–max)")
    ends = (pre, [r["decode_tok_s_max"] for r in rows])  # labels go past the error bars
    for ax, values, end in ((ax_pre, pre, ends[0]), (ax_dec, dec, ends[1])):
        for yi, v, e in zip(y, values, end, strict=True):
            ax.text(e, yi, f"  {v:.0f}", va="center", fontsize=8)
        ax.set_xlim(0, max(end) * 1.12)
        ax.grid(axis="x", alpha=0.3)
    ax_pre.set_yticks(y, labels, fontsize=8)
    ax_pre.invert_yaxis()
    fig.suptitle("Throughput (orange: edgereason, green: edgereason-run, grey: peers)")
    fig.tight_layout()
    return fig


def batch_scaling(rows: Sequence[dict]) -> plt.Figure:
    """Aggregate decode tok/s against B, one line per system measured at more than one B (its label without the
    " B=.." suffix), with the ideal B x (B = 1's rate) dotted."""
    lines: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        lines.setdefault(r["system"].rsplit(" B=", 1)[0], []).append((r["batch"], r["decode_tok_s"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in lines.items():
        points.sort()
        if len(points) < 2:
            continue
        b, tok = zip(*points, strict=True)
        (line,) = ax.plot(b, tok, marker="o", label=label)
        if b[0] == 1:
            ax.plot(b, [tok[0] * x for x in b], ":", color=line.get_color(), alpha=0.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequences per batch (B)")
    ax.set_ylabel("aggregate decode tok/s (median)")
    ax.set_title("Batched decoding (dotted: B x the single-sequence rate)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def quality_bars(rows: Sequence[dict]) -> plt.Figure:
    """Perplexity ratio, mean KL and top-1 agreement vs the fp32 reference, per artifact."""
    labels = [r["artifact"] for r in rows]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.45 * len(rows) + 1.8), sharey=True)
    for ax, key, title in ((axes[0], "ppl_ratio", "perplexity / fp32"), (axes[1], "kld_mean", "mean KL (nats)"),
                           (axes[2], "top1_agreement", "top-1 agreement")):
        values = [r[key] for r in rows]
        ax.barh(y, values, color="#7570b3")
        for yi, v in zip(y, values, strict=True):
            ax.text(v, yi, f" {v:.3f}", va="center", fontsize=8)
        ax.set_xlabel(title)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig


def reliability_diagram(series: Mapping[str, tuple[np.ndarray, np.ndarray]], bins: int = 10) -> plt.Figure:
    """Observed accuracy per P(correct) bin against the diagonal; marker size ~ problems in the bin."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    _reliability(ax, series, bins)
    return _unit_axes(fig, ax, "predicted P(correct)", "observed accuracy", "Reliability diagram", top=1.0)


def risk_coverage(series: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    _risk_coverage(ax, series)
    return _unit_axes(fig, ax, "coverage (fraction answered, most confident first)",
                      "risk (error rate among answered)", "Risk–coverage (dotted: answering everything)", top=1.02)


def calibration_pair(series: Mapping[str, tuple[np.ndarray, np.ndarray]], label: str, bins: int = 10) -> plt.Figure:
    """Reliability diagram and risk–coverage curve of each method side by side, on one evaluated run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 5))
    _reliability(left, series, bins)
    _unit_axes(fig, left, "predicted P(correct)", "observed accuracy", f"Reliability: {label}", top=1.0)
    _risk_coverage(right, series)
    return _unit_axes(fig, right, "coverage (most confident first)", "risk (error rate among answered)",
                      "Risk–coverage (dotted: answering everything)", top=1.02)


def _reliability(ax, series: Mapping[str, tuple[np.ndarray, np.ndarray]], bins: int) -> None:
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    edges = np.linspace(0, 1, bins + 1)
    for name, (p, y) in series.items():
        idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
        xs, ys, ns = [], [], []
        for b in range(bins):
            mask = idx == b
            if mask.any():
                xs.append(p[mask].mean())
                ys.append(y[mask].mean())
                ns.append(mask.sum())
        ax.plot(xs, ys, "-", alpha=0.6)
        ax.scatter(xs, ys, s=20 + 200 * np.asarray(ns) / max(len(p), 1), label=name, alpha=0.8)


def _risk_coverage(ax, series: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    for name, (p, y) in series.items():
        coverage, risk = stats.risk_coverage(p, y)
        ax.plot(coverage, risk, label=f"{name} (AURC {risk.mean():.3f})")
        ax.axhline(1 - y.mean(), ls=":", lw=0.8, color=ax.lines[-1].get_color())


def _unit_axes(fig: plt.Figure, ax, xlabel: str, ylabel: str, title: str, *, top: float) -> plt.Figure:
    """Labels, [0, 1] limits, grid and legend shared by the probability plots."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, top)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def accuracy_vs_tokens(points: Sequence[dict]) -> plt.Figure:
    """One point per strategy: accuracy against generated tokens per problem (probe tokens included)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for pt in points:
        ax.scatter(pt["tokens"], pt["accuracy"], s=60)
        ax.annotate(pt["label"], (pt["tokens"], pt["accuracy"]), textcoords="offset points", xytext=(5, 5),
                    fontsize=8)
    ax.set_xlabel("tokens per problem (generated + probes)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title("Accuracy vs cost")
    return fig


def auroc_bars(rows: Sequence[dict]) -> plt.Figure:
    """AUROC of P(correct) per evaluated run, one bar per feature set (0.5 = chance)."""
    runs = list(dict.fromkeys(r["run"] for r in rows))
    sets = list(dict.fromkeys(r["features"] for r in rows))
    y = np.arange(len(runs))
    height = 0.8 / len(sets)
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(runs) * len(sets) + 1.5))
    for k, name in enumerate(sets):
        values = [next((r["auroc"] for r in rows if r["run"] == run and r["features"] == name), np.nan)
                  for run in runs]
        bars = ax.barh(y + k * height, values, height, label=name)
        for bar, v in zip(bars, values, strict=True):
            ax.text(v, bar.get_y() + bar.get_height() / 2, f" {v:.3f}", va="center", fontsize=8)
    ax.axvline(0.5, color="k", ls=":", lw=1)
    ax.set_yticks(y + height * (len(sets) - 1) / 2, runs, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("AUROC of P(correct) (right above wrong; 0.5 = chance)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def serve_figure(overhead: Sequence[dict], load: dict | None) -> plt.Figure:
    """Left: decode tok/s and TTFT in-process vs through the server. Right: the load test's latency distribution."""
    fig, axes = plt.subplots(1, 3 if load else 2, figsize=(12 if load else 8, 3.6))
    names = [r["path"] for r in overhead]
    axes[0].bar(names, [r["decode_tps"] for r in overhead], color=["#4c72b0", "#dd8452"])
    axes[0].set_ylabel("decode tok/s (median)")
    axes[1].bar(names, [r["ttft_ms"] for r in overhead], color=["#4c72b0", "#dd8452"])
    axes[1].set_ylabel("TTFT ms (median)")
    if load:
        lat = np.sort(np.asarray(load["latencies"]))
        axes[2].plot(lat, np.arange(1, len(lat) + 1) / max(len(lat), 1), color="#55a868")
        axes[2].set_xlabel("request latency, s")
        axes[2].set_ylabel("share of requests")
        axes[2].set_title(f"{load['clients']} clients: p50 {load['latency_p50_s']:.2f} s, "
                          f"p99 {load['latency_p99_s']:.2f} s", fontsize=9)
    fig.tight_layout()
    return fig


def cascade_curves(runs: Mapping[str, dict]) -> plt.Figure:
    """Accuracy against the share escalated, per run: the cascade as the accept threshold sweeps P(correct) (solid),
    random routing at the same share (dashed: (1 − r)·fast + r·slow), always-fast (circle), always-slow (square)
    and the run's own decisions (star). `runs`: name -> `bench.cascade.cascade`'s result."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for name, result in runs.items():
        curve, points = result["curve"], result["points"]
        line, = ax.plot([c["escalated"] for c in curve], [c["accuracy"] for c in curve], "-", lw=1.5,
                        label=f"{name}: cascade")
        colour = line.get_color()
        fast, slow = points["always fast"], points["always slow"]
        ax.plot([0, 1], [fast["accuracy"], slow["accuracy"]], "--", lw=1, color=colour,
                label=f"{name}: random routing")
        ax.scatter([0], [fast["accuracy"]], marker="o", s=45, color=colour, zorder=3)
        ax.scatter([1], [slow["accuracy"]], marker="s", s=45, color=colour, zorder=3)
        d = points["decisions"]
        ax.scatter([d["escalated"]], [d["accuracy"]], marker="*", s=180, color=colour, edgecolor="k", zorder=4,
                   label=f"{name}: its decisions ({d['escalated']:.0%} escalated)")
    ax.set_xlabel("share escalated to the slow path (o: always fast, □: always slow)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title("Cascade: escalate when P(correct) < t, against random routing")
    fig.tight_layout()
    return fig
