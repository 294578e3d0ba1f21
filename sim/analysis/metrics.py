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
    import numpy as np
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
    # only the columns needed: filtering a wide table copies every column
    d = result.deliveries[[*dict.fromkeys([*keys, "msg_id", "sub_id", "expected"])]]
    x, _ = split_losses(result)
    owed = d[d.expected]
    sid = owed.sub_id.to_numpy(dtype="int64")
    key = owed.msg_id.to_numpy(dtype="int64") * (int(sid.max(initial=0)) + 2) + sid + 1
    owed_copies = owed[~_repeated(key)]
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
    import pandas as pd

    d = result.deliveries
    pair = _pair_codes(result, per)
    key = d.msg_id.to_numpy(dtype="int64") * (int(pair.max(initial=0)) + 1) + pair
    return pd.Series(_repeated(key), index=d.index)


def _repeated(key: np.ndarray) -> np.ndarray:
    """True where ``key`` equals an earlier element (a stable sort: faster than hashing here)."""
    import numpy as np

    out = np.zeros(len(key), dtype=bool)
    if len(key) > 1:
        order = np.argsort(key, kind="stable")
        s = key[order]
        out[order[1:][s[1:] == s[:-1]]] = True
    return out


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
    import numpy as np
    import pandas as pd

    d = result.deliveries
    msg = d.msg_id.to_numpy(dtype="int64")
    recv = d.receive_time.to_numpy(dtype="float64")
    out = np.zeros(len(d), dtype=bool)
    if not len(d):
        return pd.Series(out, index=d.index)
    pair = _pair_codes(result, per)
    m_ids = result.messages.msg_id.to_numpy(dtype="int64")
    codes = pd.factorize(result.messages.client)[0]
    if np.array_equal(m_ids, np.arange(len(m_ids))) and msg.max() < len(m_ids):
        pub = codes[msg]  # msg ids are row numbers: index directly
    else:
        pub = pd.Series(msg).map(pd.Series(codes, index=m_ids)).fillna(-1).to_numpy("int64")
    rows = np.flatnonzero(pub >= 0)
    # one key per (publisher, pair): sort by it, then publish order, then arrival
    both = pub[rows] * (int(pair.max(initial=0)) + 1) + pair[rows]
    order = rows[np.lexsort((recv[rows], msg[rows], both))]
    key = pub[order] * (int(pair.max(initial=0)) + 1) + pair[order]
    m, t = msg[order], recv[order]
    if not len(order):
        return pd.Series(out, index=d.index)
    new_pair = np.r_[True, key[1:] != key[:-1]]
    if per == "client":
        # only a message's first copy to the client counts (the rest are duplicates)
        first = new_pair | np.r_[True, m[1:] != m[:-1]]
        order, m, t = order[first], m[first], t[first]
        new_pair = new_pair[first]
    group = np.cumsum(new_pair)
    prev_max = pd.Series(t).groupby(group).cummax().groupby(group).shift().to_numpy()
    late = t < prev_max  # NaN (first of its pair) compares False
    out[order[late]] = True
    return pd.Series(out, index=d.index)


def _pair_codes(result: Result, per: str) -> np.ndarray:
    """An integer per delivery naming its subscription (or, ``per="client"``, its client)."""
    import numpy as np
    import pandas as pd

    d = result.deliveries
    if per == "subscription":
        return d.sub_id.to_numpy(dtype="int64")
    if per != "client":
        raise ValueError(f"per must be 'subscription' or 'client', not {per!r}")
    subs = getattr(result, "subscriptions", None)
    sid = d.sub_id.to_numpy(dtype="int64")
    if subs is not None and len(subs) and sid.size:
        codes = pd.Series(pd.factorize(subs.client)[0], index=subs.sub_id.to_numpy())
        if codes.index.is_unique and np.isin(sid, codes.index.to_numpy()).all():
            return codes.reindex(sid).to_numpy(dtype="int64")
    return pd.factorize(d.subscriber)[0].astype("int64")


def ordering_violations(result: Result, per: str = "subscription") -> int:
    """Count deliveries that arrived before an earlier message of the same publisher.

    Per (publisher, subscription) pair, messages must arrive in publish order
    (NATS orders per publisher, digest §2); ``per="client"`` pairs by the
    subscriber client (see :func:`ordering_mask`).
    """
    return int(ordering_mask(result, per).sum())
