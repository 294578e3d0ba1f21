"""Service latency samples: where the time of a tracked request goes.

A sample (sim.model.latency, nats-server ``ServiceLatency``) splits a
request's total latency into the responder's own time (``service``), the
transit between servers (``system``) and the two client connections'
round trips (``requestor_rtt``, ``responder_rtt``); they add up to
``total``.  These functions aggregate the ``service_latency`` table by time
and by where the requester was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LATENCY_PARTS", "latency_breakdown", "latency_samples_over_time"]

#: the parts of a sample's total, in stacking order
LATENCY_PARTS = ("service", "system", "requestor_rtt", "responder_rtt")


def _samples(result: Any) -> pd.DataFrame:
    import pandas as pd

    frames = getattr(result, "frames", {})
    table = frames.get("service_latency", getattr(result, "service_latency", None))
    return table if table is not None else pd.DataFrame(columns=["time", *LATENCY_PARTS, "total"])


def latency_breakdown(
    result: Any, by: str = "requester_region", stat: str = "mean"
) -> pd.DataFrame:
    """Each part of the samples' latency per requester region (or ``by`` any column).

    One row per group: ``stat`` ("mean" or "median") of every part and of
    ``total``, and the number of ``samples``.  A region that is not set
    falls back to the requester's cluster.
    """
    s = _samples(result).copy()
    if s.empty:
        import pandas as pd

        return pd.DataFrame(columns=[by, *LATENCY_PARTS, "total", "samples"])
    if by == "requester_region" and "requester_cluster" in s:
        s[by] = s[by].where(s[by].notna(), s["requester_cluster"])
    g = s.groupby(by, sort=True)
    out = g[[*LATENCY_PARTS, "total"]].agg(stat)
    out["samples"] = g.size()
    return out.reset_index()


def latency_samples_over_time(
    result: Any, bin: float | None = None, stat: str | float = "mean"
) -> pd.DataFrame:
    """Every part and ``total`` per time bin of the samples: their mean, or a quantile.

    ``stat`` is "mean" or a quantile in [0, 1] (a median of a mix of near and
    far requesters flips between the two, a mean shows the mix).  ``bin``
    (seconds) defaults to about 60 bins over the samples' span.
    """
    import numpy as np

    s = _samples(result)
    if s.empty:
        import pandas as pd

        return pd.DataFrame(columns=["time", *LATENCY_PARTS, "total", "samples"])
    span = float(s.time.max() - s.time.min()) or 1.0
    width = bin or max(span / 60, 1e-3)
    key = np.floor(s.time.to_numpy() / width) * width
    g = s.groupby(key)
    cols = g[[*LATENCY_PARTS, "total"]]
    out = cols.mean() if stat == "mean" else cols.quantile(float(stat))
    out["samples"] = g.size()
    out.index.name = "time"
    return out.reset_index()
