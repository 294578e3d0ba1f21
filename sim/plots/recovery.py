"""Recovery after a topology change: route-mesh convergence and the reconnect storm."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.plots._common import auto_bin, cap_columns, empty_note, new_figure, run_end, shade_faults

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["convergence", "reconnects"]


def convergence(result: Result) -> Figure:
    """Route-mesh completeness per cluster vs time (live routes / full mesh of running servers).

    ``mesh_incomplete`` → ``converged`` periods are shaded, with their
    duration annotated; fault windows are marked as thin lines at the bottom.
    """
    from sim.analysis.faults import convergence as periods
    from sim.analysis.timeseries import route_mesh

    mesh = route_mesh(result)
    conv = periods(result)
    clusters = list(dict.fromkeys(mesh.cluster))
    fig, ax = new_figure((10, 5))
    end = run_end(result) or (float(mesh.time.max()) if len(mesh) else 1.0)
    for i, c in enumerate(clusters[:12]):
        part = mesh[mesh.cluster == c]
        t = [*part.time, end]
        y = [*(part.complete * 100), float(part.complete.iloc[-1] * 100)]
        ax.step(
            t,
            y,
            where="post",
            color=f"C{i % 10}",
            lw=1.6,
            label=f"cluster {c} ({part.routes.iloc[-1]}/{part.full.iloc[-1]} routes at end)",
        )
    for k, row in enumerate(conv.itertuples()):
        stop = row.end if math.isfinite(row.end) else end
        ax.axvspan(
            row.start,
            max(stop, row.start + end * 0.002),
            color="#ff7f0e",
            alpha=0.25,
            label="mesh incomplete → converged" if k == 0 else None,
            zorder=0,
        )
        text = f"{row.seconds * 1000:.1f} ms" if math.isfinite(row.seconds) else "not converged"
        ax.annotate(
            f"{row.cluster}: {text}",
            (row.start, 100),
            xytext=(3, -14 - 12 * (k % 4)),
            textcoords="offset points",
            fontsize="small",
            color="#a04000",
        )
    shade_faults(ax, result)
    ax.set_ylim(-3, 108)
    ax.set_xlim(0, end)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("route mesh complete (% of n(n-1)/2)")
    ax.set_title(f"Route-mesh convergence per cluster — {result.meta.get('scenario', '')}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def reconnects(result: Result, bin: float | None = None, max_servers: int = 12) -> Figure:
    """Clients landing per server per time bin (the reconnect storm), stacked; faults shaded."""
    import numpy as np

    from sim.analysis.faults import reconnect_storm_pivot

    grid = reconnect_storm_pivot(result, bin or 1.0)
    if bin is None and len(grid) > 150:
        bin = auto_bin(result)
        grid = reconnect_storm_pivot(result, bin)
    bin = bin or 1.0
    grid = cap_columns(grid, max_servers)
    fig, ax = new_figure((10, 5))
    if grid.empty:
        empty_note(ax, "no reconnections")
    base = np.zeros(len(grid))
    t = grid.index.to_numpy(dtype=float)
    for i, srv in enumerate(grid.columns):
        y = grid[srv].to_numpy(dtype=float)
        colour = "grey" if srv == "other" else f"C{i % 10}"
        ax.bar(
            t,
            y,
            bottom=base,
            width=bin,
            align="edge",
            color=colour,
            lw=0,
            label=f"{srv} ({int(y.sum()):,})",
        )
        base += y
    shade_faults(ax, result)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(f"clients reconnecting (per {bin:g} s)")
    ax.set_title(f"Reconnect storm: where clients landed — {result.meta.get('scenario', '')}")
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", title="server (total)"
    )
    if len(t):
        lo, hi = t.min(), t.max() + bin
        pad = max((hi - lo) * 0.05, bin)
        ax.set_xlim(lo - pad, hi + pad)
    return fig
