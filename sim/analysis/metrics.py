"""Delivery, loss, latency and request metrics over the result tables.

Each function takes a :class:`~sim.results.Result` (or anything with the same
DataFrame attributes, such as one loaded from a ``reports/`` folder) and
returns a DataFrame or Series; none of them touches the model.

"Owed" deliveries are counted as the simulator books them: when a message
reaches its first server, every subscription interested in it at that moment
is owed one copy, and every queue group one copy for the group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = [
    "delivery_table",
    "duplicates",
    "latency_quantiles",
    "loss_by_reason",
    "ordering_violations",
    "request_outcomes",
]


def delivery_table(result: Result, by: str | list[str] = "workload") -> pd.DataFrame:
    """Owed, delivered and lost copies, and the delivery ratio, grouped by ``by``.

    ``by`` is ``"workload"`` (messages grouped by the publisher's workload) or
    ``"subscriber"`` (``["workload", "subscriber"]``), or any column list the
    deliveries and drops tables share.

    Columns: ``owed``, ``delivered`` (owed copies that arrived), ``extra``
    (copies to subscriptions made after the message was routed), ``lost`` and
    ``delivery_ratio`` = delivered / owed.
    """
    import pandas as pd

    keys = ["workload", "subscriber"] if by == "subscriber" else by
    keys = [keys] if isinstance(keys, str) else list(keys)
    d = result.deliveries
    x = result.drops[result.drops.reason != "no_interest"]
    owed_copies = d[d.expected].drop_duplicates(["msg_id", "sub_id"])
    delivered = owed_copies.groupby(keys, dropna=False).size()
    extra = d[~d.expected].groupby(keys, dropna=False).size()
    lost = x.groupby(keys, dropna=False).size()
    out = pd.DataFrame({"delivered": delivered, "extra": extra, "lost": lost}).fillna(0)
    out = out.astype("int64")
    out.insert(0, "owed", out.delivered + out.lost)
    out["delivery_ratio"] = (out.delivered / out.owed.where(out.owed > 0)).astype(float)
    return out


def loss_by_reason(result: Result) -> pd.DataFrame:
    """Lost copies per workload (rows) and reason (columns), ``no_interest`` messages included."""
    x = result.drops
    if x.empty:
        import pandas as pd

        return pd.DataFrame(index=pd.Index([], name="workload"))
    return x.groupby(["workload", "reason"]).size().unstack("reason", fill_value=0)


def latency_quantiles(
    result: Result, by: str | list[str] = "workload", q: tuple[float, ...] = (0.5, 0.9, 0.99)
) -> pd.DataFrame:
    """Delivery latency (publish → receive, seconds) quantiles grouped by ``by``.

    Replies are left out (their cost shows in the request latency).  Group by
    ``["workload", "hops"]`` to compare local and routed paths.
    """
    import pandas as pd

    d = result.deliveries
    d = d[d.kind != "reply"]
    cols = [f"p{round(v * 100):d}" for v in q]
    g = d.groupby(by)["latency"]
    out = pd.DataFrame({c: g.quantile(v) for c, v in zip(cols, q, strict=True)})
    out["count"] = g.size()
    return out


def request_outcomes(result: Result) -> pd.DataFrame:
    """Requests per workload and outcome, with success ratio and reply latency quantiles."""
    import pandas as pd

    r = result.requests
    if r.empty:
        return pd.DataFrame(index=pd.Index([], name="workload"))
    out = r.groupby(["workload", "outcome"]).size().unstack("outcome", fill_value=0)
    for col in ("ok", "timeout", "no_responders"):
        if col not in out:
            out[col] = 0
    out["requests"] = out[["ok", "timeout", "no_responders"]].sum(axis=1)
    out["success_ratio"] = out.ok / out.requests
    ok = r[r.outcome == "ok"].groupby("workload")["latency"]
    out["p50"] = ok.quantile(0.5)
    out["p99"] = ok.quantile(0.99)
    out["mean_replies"] = r.groupby("workload")["replies"].mean()
    return out


def duplicates(result: Result) -> int:
    """Number of deliveries of a message to a subscription beyond the first (core NATS: 0)."""
    d = result.deliveries
    return int(d.duplicated(["msg_id", "sub_id"]).sum())


def ordering_violations(result: Result) -> int:
    """Count deliveries that arrived before an earlier message of the same publisher.

    Per (publisher, subscription) pair, messages must arrive in publish order
    (NATS orders per publisher, digest §2).
    """
    d = result.deliveries[["msg_id", "sub_id", "receive_time"]]
    pub = result.messages[["msg_id", "client"]]
    d = d.merge(pub, on="msg_id").sort_values(["client", "sub_id", "msg_id"], kind="stable")
    prev_max = (
        d.groupby(["client", "sub_id"])["receive_time"]
        .cummax()
        .groupby([d["client"], d["sub_id"]])
        .shift()
    )
    return int((d["receive_time"] < prev_max).sum())
