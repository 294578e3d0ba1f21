"""Delivery, loss, latency and request metrics over the result tables.

Each function takes a :class:`~sim.results.Result` (or anything with the same
DataFrame attributes, such as one loaded from a ``reports/`` folder) and
returns a DataFrame or Series; none of them touches the model.

"Owed" deliveries are counted as the simulator books them: when a message
reaches its first server, every subscription interested in it at that moment
is owed one copy, and every queue group one copy for the group.

A drop row whose reason is not ``no_interest`` is one lost owed copy — unless
its message owed nothing: a message lost in flight before it reached any
server (``sub_id`` -1 and no queue, or ``expected`` 0 in the messages table)
was owed to nobody and is counted apart, as *unowed* (see :func:`split_losses`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = [
    "delivery_table",
    "duplicate_mask",
    "duplicates",
    "latency_quantiles",
    "loss_by_reason",
    "ordering_mask",
    "ordering_violations",
    "request_outcomes",
    "split_losses",
]

#: request outcomes in the order the tables show them (``client_gone`` only when it occurred)
OUTCOMES = ("ok", "timeout", "no_responders", "client_gone")


def split_losses(result: Result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The drops that are lost owed copies, and those of messages lost in flight owed to nobody.

    ``no_interest`` drops are in neither (nobody wanted the message).  A drop
    is *unowed* when its message's ``expected`` is 0 in the messages table,
    or — for messages the table does not list — when it names neither a
    subscription nor a queue group (``sub_id`` -1, queue missing): such a
    message never reached a server, so nothing was booked as owed for it.
    """
    x = result.drops[result.drops.reason != "no_interest"]
    unowed = (x.sub_id < 0) & x.queue.isna()
    m = getattr(result, "messages", None)
    if m is not None and len(m) and "expected" in m and len(x):
        expected = x.msg_id.map(m.set_index("msg_id")["expected"])
        unowed = (expected == 0) | (unowed & expected.isna())
    return x[~unowed], x[unowed]


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
    x, _ = split_losses(result)
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
    """Requests per workload and outcome, with success ratio and reply latency quantiles.

    Outcome columns ``ok``, ``timeout`` and ``no_responders`` are always
    there; others (``client_gone``: the requester was killed with the request
    pending) only when they occurred.  ``requests`` counts every outcome.
    """
    import pandas as pd

    r = result.requests
    if r.empty:
        return pd.DataFrame(index=pd.Index([], name="workload"))
    out = r.groupby(["workload", "outcome"]).size().unstack("outcome", fill_value=0)
    for col in OUTCOMES[:3]:
        if col not in out:
            out[col] = 0
    out["requests"] = out.sum(axis=1)
    out["success_ratio"] = out.ok / out.requests
    ok = r[r.outcome == "ok"].groupby("workload")["latency"]
    out["p50"] = ok.quantile(0.5)
    out["p99"] = ok.quantile(0.99)
    out["mean_replies"] = r.groupby("workload")["replies"].mean()
    return out


def duplicate_mask(result: Result, per: str = "subscription") -> pd.Series:
    """True for each delivery of a message that its subscription (or client) already had.

    ``per="subscription"`` pairs by ``(msg_id, sub_id)``; ``per="client"`` by
    ``(msg_id, subscriber)``, which also catches a message delivered again
    after a reconnect, when the client's subscription has a new ``sub_id``.
    (Every workload client has one subscription at a time, so two copies to
    one client are a duplicate.)
    """
    keys = {"subscription": ["msg_id", "sub_id"], "client": ["msg_id", "subscriber"]}[per]
    return result.deliveries.duplicated(keys)


def duplicates(result: Result, per: str = "subscription") -> int:
    """Number of deliveries of a message to a subscription beyond the first (core NATS: 0).

    ``per="client"`` counts copies beyond the first per (message, client)
    instead (see :func:`duplicate_mask`).
    """
    return int(duplicate_mask(result, per).sum())


def ordering_mask(result: Result, per: str = "subscription") -> pd.Series:
    """True for each delivery that arrived before an earlier message of the same publisher.

    Per (publisher, subscription) pair — or, with ``per="client"``, per
    (publisher, subscriber client), so that a client's subscriptions before and
    after a reconnect are one pair — messages must arrive in publish order
    (msg_id order; NATS orders per publisher, digest §2).  A delivery counts
    when its receive time is earlier than that of some earlier-published
    message on the pair.  With ``per="client"`` only the first copy of a
    message counts (later copies are duplicates, counted by
    :func:`duplicate_mask`).  Deliveries of messages the messages table does
    not list are never violations.  The mask is aligned with the deliveries
    table's index.
    """
    import pandas as pd

    d = result.deliveries
    pair = {"subscription": "sub_id", "client": "subscriber"}[per]
    pub = result.messages.set_index("msg_id")["client"]
    d = d[["msg_id", pair, "receive_time"]].assign(client=d.msg_id.map(pub))
    d = d[d.client.notna()]
    if per == "client":
        d = d.sort_values("receive_time", kind="stable").drop_duplicates(["msg_id", pair])
    d = d.sort_values(["client", pair, "msg_id", "receive_time"], kind="stable")
    keys = [d["client"], d[pair]]
    prev_max = d.groupby(keys)["receive_time"].cummax().groupby(keys).shift()
    out = pd.Series(False, index=result.deliveries.index)
    out[d.index[(d["receive_time"] < prev_max).to_numpy()]] = True
    return out


def ordering_violations(result: Result, per: str = "subscription") -> int:
    """Count deliveries that arrived before an earlier message of the same publisher.

    Per (publisher, subscription) pair, messages must arrive in publish order
    (NATS orders per publisher, digest §2); ``per="client"`` pairs by the
    subscriber client (see :func:`ordering_mask`).
    """
    return int(ordering_mask(result, per).sum())
