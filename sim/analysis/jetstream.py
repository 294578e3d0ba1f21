"""JetStream guarantees per workload: stored, acked, delivered once, twice, never.

Counted per *application message* — what the publishing application meant to
send once, whatever number of attempts it took (a retry is the same message,
see :mod:`sim.workloads.jetstream`) — from the ``js_*`` tables:

``published``                application messages
``retries``                  publish attempts beyond the first
``acked``                    messages with a PubAck (stored or duplicate)
``deduplicated``             attempts the stream answered as duplicates
``stored``                   messages stored at least once
``stored_duplicates``        stored copies beyond the first (retries without an id)
``acked_lost``               acked messages of which no committed copy is in the
                             replicated log at the end (must be 0 while a quorum
                             survives: a failure is a bug in the model)
``delivered``                messages a consuming client received at least once
                             (this and the next five count (message, consumer)
                             pairs when a workload consumes through several
                             consumers)
``delivered_more_than_once`` messages received more than once
``extra_deliveries``         receipts beyond the first per message
``redeliveries``             receipts the consumer sent as a redelivery (count > 1)
``never_delivered``          published, never received (per consumer)
``delivered_once``           received exactly once

A core-mode workload fills the same columns (nothing is stored or acked: those
are 0), so a scenario running one workload both ways compares like with like.
End-to-end latency is from a message's first publish attempt to its first
receipt (:func:`end_to_end_latency`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["COLUMNS", "end_to_end_latency", "jetstream_table"]

COLUMNS = (
    "published",
    "retries",
    "acked",
    "deduplicated",
    "stored",
    "stored_duplicates",
    "acked_lost",
    "delivered",
    "delivered_once",
    "delivered_more_than_once",
    "extra_deliveries",
    "redeliveries",
    "never_delivered",
)


def _frame(result: Result, name: str) -> pd.DataFrame:
    """A js table of ``result`` (empty when the run had no JetStream workload)."""
    import pandas as pd

    table = getattr(result, name, None)
    return table if table is not None else pd.DataFrame()


def jetstream_table(result: Result) -> pd.DataFrame:
    """One row per JetStream workload (index ``workload``): the columns of :data:`COLUMNS`.

    Examples
    --------
    >>> import sim
    >>> r = sim.run("scenarios/guarantees-core-vs-jetstream.yaml")  # doctest: +SKIP
    >>> jetstream_table(r)[["stored_duplicates", "never_delivered"]]  # doctest: +SKIP
    """
    import pandas as pd

    pubs = _frame(result, "js_publishes")
    if pubs.empty:
        return pd.DataFrame(columns=list(COLUMNS), index=pd.Index([], name="workload"))
    present = set(pubs.workload)
    names = [w for w in dict.fromkeys(result.clients.workload) if w in present]
    out = pd.DataFrame(index=pd.Index(names, name="workload"))
    by = pubs.groupby("workload")
    out["published"] = by.app.nunique()
    out["retries"] = by.size() - out.published
    ok = pubs[pubs.outcome.isin(["acked", "duplicate"])]
    out["acked"] = ok.groupby("workload").app.nunique()
    caps = _frame(result, "js_captures")
    if not caps.empty:
        out["deduplicated"] = caps[caps.outcome == "duplicate"].groupby("workload").size()
    stored = _frame(result, "js_stored")
    if not stored.empty:
        s = stored.groupby("workload")
        out["stored"] = s.app.nunique()
        out["stored_duplicates"] = s.size() - out.stored
        kept = stored[stored.in_log.astype(bool)].set_index(["workload", "app"]).index
        lost = ok[~ok.set_index(["workload", "app"]).index.isin(kept)]
        out["acked_lost"] = lost.groupby("workload").app.nunique()
    d = _frame(result, "js_deliveries")
    if not d.empty:
        # per (message, consumer): two consumers each getting a message once is not a duplicate
        d = d.assign(consumer=d.consumer.fillna(""))
        receipts = d.groupby(["workload", "consumer", "app"]).size()
        per = receipts.groupby("workload")
        out["delivered"] = per.size()
        out["delivered_once"] = (receipts == 1).groupby("workload").sum()
        out["delivered_more_than_once"] = (receipts > 1).groupby("workload").sum()
        out["extra_deliveries"] = per.sum() - out.delivered
        out["redeliveries"] = d[d.delivery > 1].groupby("workload").size()
        consumers = d.groupby("workload").consumer.nunique()
    else:
        consumers = pd.Series(dtype="int64")
    for col in COLUMNS:
        if col not in out:
            out[col] = 0
    out = out[list(COLUMNS)].fillna(0).astype("int64")
    n = consumers.reindex(out.index).fillna(1).astype("int64")
    out["never_delivered"] = out.published * n - out.delivered
    return out


def end_to_end_latency(result: Result) -> pd.DataFrame:
    """Per received message: ``workload``, ``app``, ``latency`` (first attempt → first receipt)."""
    import pandas as pd

    pubs, d = _frame(result, "js_publishes"), _frame(result, "js_deliveries")
    if pubs.empty or d.empty:
        return pd.DataFrame(columns=["workload", "app", "latency"])
    sent = pubs.groupby(["workload", "app"]).publish_time.min()
    got = d.groupby(["workload", "app"]).receive_time.min()
    lat = (got - sent.reindex(got.index)).dropna()
    return lat.rename("latency").reset_index()
