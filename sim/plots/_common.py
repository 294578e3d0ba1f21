"""Shared helpers: figures without pyplot, fault shading, series capping, units."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sim.results import Result

#: the most series a plot draws before grouping the rest as "other"
MAX_SERIES = 12

#: actions that restore or add rather than break: without an end they are instants, not windows
INSTANT = frozenset({"start_responders", "join"})

#: fault-window colours, cycled by fault number
FAULT_COLOURS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def new_figure(size: tuple[float, float] = (10, 5), rows: int = 1, **kw: Any) -> tuple[Figure, Any]:
    """A figure not registered with pyplot (no backend, no leak), and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(rows, 1, **kw)
    return fig, axes


def run_end(result: Result) -> float | None:
    end = getattr(result, "meta", {}).get("sim_end")
    return None if end is None else float(end)


def faults(result: Result) -> pd.DataFrame:
    """The fault timeline with finite ends (an open fault ends at the run's end)."""
    from sim.analysis.faults import fault_timeline

    f = fault_timeline(result)
    end = run_end(result)
    if len(f) and end is not None:
        f["end"] = f["end"].where(f["end"].map(math.isfinite), end)
    return f


def fault_label(row: Any) -> str:
    detail = str(row.detail)
    if len(detail) > 28:
        detail = detail[:27] + "…"
    return (
        f"#{int(row.number)} {row.action}: {detail}"
        if detail
        else f"#{int(row.number)} {row.action}"
    )


def shade_faults(ax: Axes, result: Result, label: bool = True, scale: float = 1.0) -> int:
    """Shade every fault window on ``ax`` (axvspan), labelled in the legend; return how many.

    A fault with no duration (a join, a kill) is drawn as a dashed vertical line.
    ``scale`` converts seconds to the axis unit.
    """
    f = faults(result)
    for i, row in enumerate(f.itertuples()):
        colour = FAULT_COLOURS[i % len(FAULT_COLOURS)]
        text = fault_label(row) if label else None
        start, end = row.start * scale, row.end * scale
        if end > start and not (row.open and row.action in INSTANT):
            ax.axvspan(start, end, color=colour, alpha=0.12, label=text, zorder=0)
        else:
            ax.axvline(start, color=colour, ls="--", lw=1.2, label=text, zorder=0)
    return len(f)


def legend(ax: Axes, n: int | None = None, loc: str = "upper right", **kw: Any) -> None:
    """A legend inside when short, outside on the right when long."""
    handles, _ = ax.get_legend_handles_labels()
    if not handles:
        return
    n = len(handles) if n is None else n
    if n > 6:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", **kw)
    else:
        ax.legend(fontsize="small", loc=loc, **kw)


def cap_columns(frame: pd.DataFrame, n: int = MAX_SERIES, other: str = "other") -> pd.DataFrame:
    """Keep the ``n`` largest columns (by total), sum the rest into ``other``."""
    if frame.shape[1] <= n:
        return frame
    order = frame.sum().sort_values(ascending=False, kind="stable").index
    keep = list(order[: n - 1])
    out = frame[keep].copy()
    out[other] = frame[list(order[n - 1 :])].sum(axis=1)
    return out


def auto_bin(result: Result, target: int = 120) -> float:
    """A round time bin giving about ``target`` bins over the run."""
    end = run_end(result) or 60.0
    raw = end / target
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if step >= raw:
            return float(step)
    return 600.0


def empty_note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
