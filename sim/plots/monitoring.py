"""Monitoring snapshots over time: what each server's /varz, /routez and /gatewayz showed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.plots._common import MAX_SERIES, cap_columns, empty_note, legend, new_figure, shade_faults

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["monitoring"]


def monitoring(result: Result) -> Figure:
    """Per-server counters from the ``monitor`` table, one panel each, faults shaded.

    Messages per second in (dashed) and out (solid), from the differences
    between samples; client connections; subscriptions (the sublist count,
    route shadow subscriptions included); slow consumers closed so far; and
    the RTT of every route and outbound gateway connection (``monitor_links``)
    — or, with more than a dozen, the median per connection kind with its
    min–max band.  Servers beyond a dozen are summed as "other".
    """
    from matplotlib.ticker import MaxNLocator

    from sim.analysis.monitoring import monitor_rates

    m = result.monitor
    fig, axes = new_figure((10, 13), rows=5, sharex=True)
    if m is None or m.empty:
        empty_note(axes[0], "no monitoring samples")
        return fig
    servers = _busiest(m)
    colours = {s: f"C{i % 10}" for i, s in enumerate(servers)}
    rates = monitor_rates(result, ("in_msgs", "out_msgs"))
    for way, style in (("out_msgs", "-"), ("in_msgs", "--")):
        # a rate holds over the interval that ends at its sample: drawn "pre"
        _lines(axes[0], _wide(rates, way, servers), colours, style, way == "out_msgs", "pre")
    axes[0].set_ylabel("messages/s\nout (solid), in (dashed)")
    for ax, col, label in zip(
        axes[1:4],
        ("connections", "subscriptions", "slow_consumers"),
        ("client connections", "subscriptions", "slow consumers\n(closed so far)"),
        strict=True,
    ):
        _lines(ax, _wide(m, col, servers), colours, "-", False, "post")
        ax.set_ylabel(label)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    _rtts(axes[4], result.monitor_links)
    for i, ax in enumerate(axes):
        shade_faults(ax, result, label=i == 0)
        ax.grid(True, alpha=0.3)
    legend(axes[0], n=MAX_SERIES + 1)
    axes[-1].set_xlabel("simulated time (s)")
    axes[0].set_title(f"Monitoring snapshots per server — {result.meta.get('scenario', '')}")
    return fig


def _busiest(m: pd.DataFrame) -> list[str]:
    """Server names, busiest (most messages in and out at the end) first."""
    last = m[m.time == m.time.max()].set_index("server")
    return list((last.in_msgs + last.out_msgs).sort_values(ascending=False, kind="stable").index)


def _wide(frame: pd.DataFrame, col: str, servers: list[str]) -> pd.DataFrame:
    """``col`` as a time × server table, servers in ``servers`` order, capped at a dozen."""
    wide = frame.pivot_table(index="time", columns="server", values=col, aggfunc="sum")
    wide = wide.reindex(columns=[s for s in servers if s in wide.columns])
    if wide.shape[1] <= MAX_SERIES:
        return wide
    keep = servers[: MAX_SERIES - 1]
    out = wide[keep].copy()
    out["other"] = wide.drop(columns=keep).sum(axis=1)
    return out


def _lines(
    ax: Axes, wide: pd.DataFrame, colours: dict[str, str], style: str, label: bool, where: str
) -> None:
    for name in wide.columns:
        ax.step(
            wide.index,
            wide[name],
            where=where,
            ls=style,
            lw=1.3,
            color=colours.get(name, "grey"),
            label=name if label else None,
        )


def _rtts(ax: Axes, links: Any) -> None:
    """Route and gateway RTTs in ms: one line per connection, or a band per kind."""
    ax.set_ylabel("RTT (ms)")
    if links is None or links.empty or links.rtt.isna().all():
        empty_note(ax, "no route or gateway RTT measured")
        return
    links = links.assign(
        name=links.server + "→" + links.remote + " (" + links.kind + ")", ms=links.rtt * 1000
    )
    names = links.name.unique()
    if len(names) <= MAX_SERIES:
        wide = links.pivot_table(index="time", columns="name", values="ms", aggfunc="mean")
        for i, name in enumerate(cap_columns(wide).columns):
            ax.plot(wide.index, wide[name], lw=1.2, color=f"C{i % 10}", label=name)
    else:
        for i, (kind, part) in enumerate(links.groupby("kind", sort=True)):
            stats = part.groupby("time").ms.agg(["median", "min", "max"])
            colour = f"C{i}"
            ax.plot(stats.index, stats["median"], color=colour, lw=1.4, label=f"{kind} median")
            ax.fill_between(
                stats.index,
                stats["min"],
                stats["max"],
                color=colour,
                alpha=0.2,
                label=f"{kind} range",
            )
    legend(ax, loc="upper left")
