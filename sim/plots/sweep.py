"""A sweep's metric against a swept parameter: mean over seeds with a confidence band.

Takes the long DataFrame of :func:`sim.sweep.sweep` (a column per parameter,
``seed``, ``workload``, metrics), not a Result.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sim.plots._common import legend, new_figure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["band", "sweep_plot"]

#: two-sided 95 % Student t quantiles by degrees of freedom (1.96 beyond 30)
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

#: y labels of the known metrics (units in brackets)
_LABELS = {
    "delivery_ratio": "delivery ratio (delivered / owed)",
    "req_success_ratio": "request success ratio",
    "latency_p50_ms": "delivery latency p50 (ms)",
    "latency_p99_ms": "delivery latency p99 (ms)",
    "req_p50_ms": "request latency p50 (ms)",
    "req_p99_ms": "request latency p99 (ms)",
    "failover_ms": "failover time (ms)",
    "convergence_max_s": "longest convergence (s)",
    "wall_s": "wall time (s)",
    "duplicates": "duplicates (deliveries)",
    "out_of_order": "out-of-order deliveries",
    "lost": "lost copies",
}


def band(values: Any) -> tuple[float, float, float, str]:
    """Mean and band of finite values over seeds: ``(mean, low, high, kind)``.

    Three or more values: the 95 % Student t-interval of the mean (``"95% CI"``);
    two: their min–max (``"min–max"``); one: no band (low = high = the value).
    """
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan, ""
    mean = sum(xs) / n
    if n == 1:
        return mean, mean, mean, ""
    if n == 2:
        return mean, min(xs), max(xs), "min–max"
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = (_T95[n - 2] if n - 1 <= len(_T95) else 1.96) * sd / math.sqrt(n)
    return mean, mean - half, mean + half, "95% CI"


def metric_label(name: str) -> str:
    """An axis label with units for a metric column (``latency_p99_ms`` → ``… (ms)``)."""
    if name in _LABELS:
        return _LABELS[name]
    for suffix, unit in (("_ms", "ms"), ("_s", "s")):
        if name.endswith(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} ({unit})"
    return name.replace("_", " ")


def _numeric_axis(values: list[Any], name: str) -> tuple[dict[Any, float], str, list[str] | None]:
    """Positions for parameter values, an axis label with units, and tick labels if categorical."""
    from sim.units import parse_duration, parse_rate, parse_size

    short = name.rsplit(".", 1)[-1].replace("_", " ")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return {v: float(v) for v in values}, name, None
    for parse, unit, scale in (
        (parse_duration, "ms", 1000.0),
        (parse_rate, "/s", 1.0),
        (parse_size, "B", 1.0),
    ):
        try:
            pos = {v: float(parse(v)) * scale for v in values}
        except (ValueError, TypeError):
            continue
        if unit == "ms" and max(pos.values()) >= 10_000:
            pos, unit = {v: p / 1000 for v, p in pos.items()}, "s"
        return pos, f"{name} ({unit})" if short else name, None
    return {v: float(i) for i, v in enumerate(values)}, name, [str(v) for v in values]


def _draw(ax: Axes, part: pd.DataFrame, x: str, y: str, hue: str | None, pos: dict) -> set[str]:
    """Draw one panel; return the band kinds used."""
    kinds: set[str] = set()
    groups = [(None, part)] if hue is None else list(part.groupby(hue, sort=False, dropna=False))
    for key, g in groups:
        xs, means, lows, highs = [], [], [], []
        for xv in pos:
            vals = g.loc[g[x].map(lambda v, xv=xv: v == xv), y]
            mean, low, high, kind = band(vals)
            if math.isnan(mean):
                continue
            kinds.add(kind)
            xs.append(pos[xv])
            means.append(mean)
            lows.append(low)
            highs.append(high)
        if not xs:
            continue
        label = None if hue is None else f"{hue.rsplit('.', 1)[-1]}={key}"
        (line,) = ax.plot(xs, means, marker="o", label=label)
        ax.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.2, lw=0)
    return kinds - {""}


def sweep_plot(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    col: str | None = None,
) -> Figure:
    """Plot metric ``y`` against swept parameter ``x``: mean over seeds with a band.

    Parameters
    ----------
    df : pandas.DataFrame
        A :func:`sim.sweep.sweep` frame (failed rows, with an ``error``, are left out).
    x : str
        The parameter column on the x axis.  Durations (``2ms``), rates and
        sizes are placed by value with their unit; other non-numbers as categories.
    y : str
        The metric column (``latency_p99_ms``, ``delivery_ratio``…).
    hue : str, optional
        A column whose values get one line each (``workload`` or another parameter).
    col : str, optional
        A column whose values get one panel each.

    The band is the 95 % t-interval of the mean over seeds (three or more
    seeds) or the min–max of two seeds; non-finite values (a failover that
    never happened) are left out of the mean.
    """
    if "error" in df:
        df = df[df["error"].isna()]
    values = list(dict.fromkeys(df[x]))
    pos, xlabel, ticks = _numeric_axis(values, x)
    panels = [(None, df)] if col is None else list(df.groupby(col, sort=False, dropna=False))
    n = max(len(panels), 1)
    fig, axes = new_figure((7 if n == 1 else 4.5 * min(n, 3), 4.5 if n <= 3 else 8), rows=1)
    if n > 1:
        fig.clear()
        axes = fig.subplots((n + 2) // 3, min(n, 3), sharey=True, squeeze=False).ravel()
    else:
        axes = [axes]
    kinds: set[str] = set()
    for ax, (key, part) in zip(axes, panels, strict=False):
        kinds |= _draw(ax, part, x, y, hue, pos)
        ax.set_xlabel(xlabel)
        if ticks is not None:
            ax.set_xticks(list(pos.values()), ticks)
        elif len(pos) <= 12:
            ax.set_xticks(sorted(set(pos.values())))  # the swept values, not 2.25 servers
        if key is not None:
            ax.set_title(f"{col}: {key}", fontsize="medium")
        if hue is not None:
            legend(ax, loc="best")
    for ax in list(axes)[len(panels) :]:
        ax.set_visible(False)
    axes[0].set_ylabel(metric_label(y))
    seeds = df["seed"].nunique() if "seed" in df else 1
    band_text = " / ".join(sorted(kinds)) or "no band"
    fig.suptitle(f"{metric_label(y)} vs {x.rsplit('.', 1)[-1]} — mean of {seeds} seed(s), "
                 f"band: {band_text}", fontsize="medium")  # fmt: skip
    return fig
