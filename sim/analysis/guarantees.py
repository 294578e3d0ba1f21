"""Delivery guarantees per workload: what was owed, delivered, lost, duplicated, reordered.

Core NATS promises at-most-once delivery in publish order per publisher; a
fault can break the first part (losses) but never the rest.  The
:func:`guarantee_table` puts every count that says so side by side, built
from the metrics in :mod:`sim.analysis.metrics`:

* owed / delivered / lost as :func:`~sim.analysis.metrics.delivery_table`
  counts them (a ``no_interest`` message owes nothing; a message lost in
  flight before any server booked it is *unowed*, counted apart);
* duplicates and ordering per (publisher →) subscriber *client*, not per
  subscription, because a reconnecting client gets new subscription ids.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from sim.analysis.metrics import (
    OUTCOMES,
    delivery_table,
    duplicate_mask,
    ordering_mask,
    request_outcomes,
    split_losses,
)

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["guarantee_table"]


def _workloads(result: Result) -> list[str]:
    """Workload names in scenario order (clients table), then any only the other tables know."""
    names: dict[str, None] = dict.fromkeys(result.clients.workload.unique())
    for t in (result.messages, result.deliveries, result.drops, result.requests):
        names.update(dict.fromkeys(t.workload.unique()))
    return [n for n in names if n is not None and n == n]


def guarantee_table(result: Result) -> pd.DataFrame:
    """One row per workload (index ``workload``) with the delivery-guarantee counts.

    Columns, all integers except the ratio:

    ``published``     messages and requests published (replies not counted)
    ``owed``          owed copies (delivered + lost)
    ``delivered``     owed copies that arrived (a duplicated copy counts once)
    ``lost``          owed copies that never arrived, then one ``lost_<reason>``
                      column per loss reason present in the run (``no_interest``
                      is not a loss)
    ``lost_unowed``   messages lost in flight before any server booked them
                      as owed to anyone (e.g. ``reconnect_buffer_full``)
    ``duplicated``    deliveries beyond the first per (message, subscriber client)
    ``out_of_order``  deliveries that arrived before an earlier message of the
                      same publisher, per (publisher, subscriber client)
    ``delivery_ratio`` delivered / owed (NaN when nothing was owed)

    When any workload made requests: ``requests``, ``ok``, ``timeout``,
    ``no_responders`` and ``client_gone`` (0 for workloads without requests).

    When any workload is a jetstream one, counted per application message (see
    :mod:`sim.analysis.jetstream`): ``acked``, ``stored``,
    ``delivered_at_least_once``, ``delivered_more_than_once``,
    ``redeliveries``, ``never_delivered``, ``publish_retries``,
    ``deduplicated`` and ``stored_duplicates``.
    """
    # the summary, the report and the CLI all ask for it: compute it once per
    # result (keyed on the tables it reads, so an edited result recomputes)
    tables = ("messages", "deliveries", "drops", "requests", "clients", "js_publishes")
    key = tuple((id(t), len(t)) for t in (getattr(result, n, ()) for n in tables))
    cached = getattr(result, "_guarantees", None)
    if cached is not None and cached[0] == key:
        return cached[1].copy()
    table = _guarantee_table(result)
    with contextlib.suppress(AttributeError):  # a read-only stand-in: no cache
        result._guarantees = (key, table)
    return table.copy()


def _guarantee_table(result: Result) -> pd.DataFrame:
    """Compute :func:`guarantee_table` (uncached)."""
    import pandas as pd

    names = pd.Index(_workloads(result), name="workload", dtype=object)
    m = result.messages
    out = pd.DataFrame(index=names)
    out["published"] = m[m.kind != "reply"].groupby("workload").size()
    dt = delivery_table(result)
    out["owed"] = dt["owed"]
    out["delivered"] = dt["delivered"]
    lost, unowed = split_losses(result)
    out["lost"] = lost.groupby("workload").size()
    reasons = sorted(set(lost.reason))
    if reasons:
        by_reason = lost.groupby(["workload", "reason"]).size().unstack("reason", fill_value=0)
        for reason in reasons:
            out[f"lost_{reason}"] = by_reason[reason]
    out["lost_unowed"] = unowed.drop_duplicates("msg_id").groupby("workload").size()
    d = result.deliveries
    out["duplicated"] = d[duplicate_mask(result, "client")].groupby("workload").size()
    out["out_of_order"] = d[ordering_mask(result, "client")].groupby("workload").size()
    counts = list(out.columns)
    out[counts] = out[counts].fillna(0).astype("int64")
    out["delivery_ratio"] = (out.delivered / out.owed.where(out.owed > 0)).astype(float)
    _add_jetstream(out, result)
    req = request_outcomes(result)
    if len(req):
        for col in ("requests", *OUTCOMES):
            out[col] = req.get(col, 0)
            out[col] = out[col].fillna(0).astype("int64")
    return out


#: guarantee-table column ← jetstream_table column, for runs with JetStream workloads
JS_COLUMNS = {
    "acked": "acked",
    "stored": "stored",
    "delivered_at_least_once": "delivered",
    "delivered_more_than_once": "delivered_more_than_once",
    "redeliveries": "redeliveries",
    "never_delivered": "never_delivered",
    "publish_retries": "retries",
    "deduplicated": "deduplicated",
    "stored_duplicates": "stored_duplicates",
}


def _add_jetstream(out: pd.DataFrame, result: Result) -> None:
    """Add the JetStream columns (per application message; 0 for other workloads)."""
    from sim.analysis.jetstream import jetstream_table

    js = jetstream_table(result)
    if js.empty:
        return
    for col, src in JS_COLUMNS.items():
        out[col] = js[src].reindex(out.index).fillna(0).astype("int64")
