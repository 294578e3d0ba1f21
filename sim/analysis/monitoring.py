"""Monitoring snapshots as a capacity planner reads them: rates between samples, and peaks.

Both functions take a :class:`~sim.results.Result` whose scenario had
``monitor:`` (see docs/monitoring.md) and raise ``ValueError`` otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["monitor_peaks", "monitor_rates"]

#: the counters :func:`monitor_rates` turns into rates by default
RATE_COLUMNS = ("in_msgs", "out_msgs", "in_bytes", "out_bytes")


def _monitor(result: Result) -> pd.DataFrame:
    m = getattr(result, "monitor", None)
    if m is None:
        raise ValueError("the run was not monitored: give the scenario monitor: {interval: 1s}")
    return m


def monitor_rates(result: Result, columns: tuple[str, ...] = RATE_COLUMNS) -> pd.DataFrame:
    """Per server, each counter's rate per second over the interval ending at each sample.

    One row per (``time``, ``server``) except each server's first sample;
    ``columns`` are counter columns of ``result.monitor`` (messages or bytes
    in or out, in total or by connection kind).

    Examples
    --------
    >>> rates = monitor_rates(result)  # doctest: +SKIP
    >>> rates.groupby("server").out_msgs.max()  # peak messages out per second  # doctest: +SKIP
    """
    m = _monitor(result).sort_values(["server", "time"], kind="stable")
    g = m.groupby("server", sort=False)
    dt = g.time.diff()
    out = m[["time", "server"]].copy()
    for col in columns:
        out[col] = g[col].diff() / dt
    return out.dropna().sort_values(["time", "server"], kind="stable").reset_index(drop=True)


def monitor_peaks(result: Result) -> pd.DataFrame:
    """Per server, the highest values the samples saw: what the server had to carry.

    Columns: ``in_msgs_per_s`` and ``out_msgs_per_s`` (the highest rate over
    one interval), ``connections``, ``subscriptions`` and ``pending_bytes``
    (highest sample), ``total_connections`` and ``slow_consumers`` (at the
    end), ``route_rtt`` and ``gateway_rtt`` (highest measured, seconds; NaN
    with none).  Index: ``server``, in the order of ``result.servers``.
    """
    import pandas as pd

    m = _monitor(result)
    g = m.groupby("server")
    rates = monitor_rates(result, ("in_msgs", "out_msgs")).groupby("server")
    out = pd.DataFrame(
        {
            "in_msgs_per_s": rates.in_msgs.max(),
            "out_msgs_per_s": rates.out_msgs.max(),
            "connections": g.connections.max(),
            "total_connections": g.total_connections.last(),
            "subscriptions": g.subscriptions.max(),
            "slow_consumers": g.slow_consumers.last(),
            "pending_bytes": g.pending_bytes.max(),
        }
    )
    links = result.monitor_links
    for kind in ("route", "gateway"):
        part = links[links.kind == kind] if links is not None else None
        rtt = part.groupby("server").rtt.max() if part is not None else None
        out[f"{kind}_rtt"] = rtt if rtt is not None else float("nan")
    order = [s for s in result.servers.server if s in out.index]
    return out.reindex(order).rename_axis("server")
