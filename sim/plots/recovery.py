"""Recovery after a topology change: route-mesh convergence and the reconnect storm."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

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
    """The reconnect storm: clients landing per server over the run, and zoomed on the burst.

    The top panel counts landings per server per ``bin`` over the whole run,
    faults shaded; a storm lasts a few round trips, so the bottom panel zooms
    on the largest burst with bins fine enough to show when each server
    took its share.
    """
    import numpy as np

    from sim.analysis.faults import reconnect_storm_pivot, reconnect_times

    grid = reconnect_storm_pivot(result, bin or 1.0)
    if bin is None and len(grid) > 150:
        bin = auto_bin(result)
        grid = reconnect_storm_pivot(result, bin)
    bin = bin or 1.0
    grid = cap_columns(grid, max_servers)
    fig, (ax, zoom) = new_figure((10, 7), rows=2)
    if grid.empty:
        empty_note(ax, "no reconnections")
    order = list(grid.columns)
    colours = {srv: ("grey" if srv == "other" else f"C{i % 10}") for i, srv in enumerate(order)}
    _stack(ax, grid, bin, colours, totals=True)
    shade_faults(ax, result)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(f"clients landing (per {bin:g} s)")
    ax.set_title(f"Reconnect storm: where clients landed — {result.meta.get('scenario', '')}")
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", title="server (total)"
    )
    t = grid.index.to_numpy(dtype=float)
    if len(t):
        lo, hi = t.min(), t.max() + bin
        pad = max((hi - lo) * 0.05, bin)
        ax.set_xlim(lo - pad, hi + pad)
    # the zoom: the busiest bin, widened to the landings close to it
    rt = reconnect_times(result)
    landed = np.sort(rt.reconnected_at.dropna().to_numpy(dtype=float))
    if not len(landed) or grid.empty:
        empty_note(zoom, "no reconnections")
        zoom.set_axis_off()
        return fig
    peak = float(grid.sum(axis=1).idxmax())
    near = landed[(landed >= peak - bin) & (landed < peak + 2 * bin)]
    start, stop = float(near.min()), float(near.max())
    width = max(stop - start, 1e-3)
    fine = width / 40
    sub = reconnect_storm_pivot(result, fine)
    sub = sub[(sub.index >= start - fine) & (sub.index <= stop + fine)]
    sub = sub.reindex(
        columns=[c for c in order if c in sub.columns] + [c for c in sub.columns if c not in order]
    )
    sub = cap_columns(sub, max_servers)
    _stack(zoom, sub, fine, {c: colours.get(c, "grey") for c in sub.columns}, totals=False)
    zoom.set_xlim(start - 2 * fine, stop + 3 * fine)
    unit, scale = ("ms", 1e3) if width < 2 else ("s", 1.0)
    zoom.set_xlabel(f"simulated time (s) — {len(near):,} landings in {width * scale:.3g} {unit}")
    zoom.set_ylabel(f"clients landing (per {fine * 1e3:.3g} ms)")
    zoom.set_title("the largest burst, zoomed", fontsize="medium")
    zoom.grid(True, alpha=0.3)
    return fig


def _stack(ax: Any, grid: Any, width: float, colours: dict, totals: bool) -> None:
    """Stacked bars, one series per server column of ``grid`` (index = bin start)."""
    import numpy as np

    base = np.zeros(len(grid))
    t = grid.index.to_numpy(dtype=float)
    for srv in grid.columns:
        y = grid[srv].to_numpy(dtype=float)
        label = f"{srv} ({int(y.sum()):,})" if totals else None
        ax.bar(t, y, bottom=base, width=width, align="edge", color=colours[srv], lw=0, label=label)
        base += y
