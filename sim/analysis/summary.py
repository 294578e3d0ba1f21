"""The compact per-workload summary that ``natsim run`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.analysis.failover import failover_summary
from sim.analysis.faults import convergence, fault_timeline, loss_by_fault, reconnect_times
from sim.analysis.guarantees import guarantee_table
from sim.analysis.metrics import delivery_table, latency_quantiles, loss_by_reason, request_outcomes

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["format_summary", "summary"]


def summary(result: Result) -> pd.DataFrame:
    """One row per workload: published, owed vs delivered, loss by reason, latency, requests.

    Latencies are in milliseconds; loss columns are named ``lost_<reason>``
    (every drop row, ``no_interest`` included).  From the
    :func:`~sim.analysis.guarantees.guarantee_table`: ``lost`` (owed copies
    lost), ``unowed`` (messages lost in flight owed to nobody),
    ``duplicated`` and ``out_of_order``; ``req_client_gone`` when a requester
    was killed with a request pending.
    """
    import pandas as pd

    names = pd.Index([w for w in dict.fromkeys(result.clients.workload)], name="workload")
    m = result.messages
    out = pd.DataFrame(index=names)
    out["published"] = m[m.kind != "reply"].groupby("workload").size()
    dt = delivery_table(result)
    out["owed"] = dt["owed"]
    out["delivered"] = dt["delivered"]
    out["delivery_ratio"] = dt["delivery_ratio"]
    g = guarantee_table(result)
    out["lost"] = g["lost"]
    out["unowed"] = g["lost_unowed"]
    out["duplicated"] = g["duplicated"]
    out["out_of_order"] = g["out_of_order"]
    loss = loss_by_reason(result)
    for reason in loss.columns:
        out[f"lost_{reason}"] = loss[reason]
    lat = latency_quantiles(result) * 1000
    for col in ("p50", "p90", "p99"):
        out[f"latency_{col}_ms"] = lat[col] if col in lat else float("nan")
    req = request_outcomes(result)
    for col in ("requests", "ok", "timeout", "no_responders", "client_gone"):
        if col in req:
            out[f"req_{col}"] = req[col]
    if "p50" in req:
        out["req_p50_ms"] = req["p50"] * 1000
        out["req_p99_ms"] = req["p99"] * 1000
    counts = [c for c in out.columns if c.startswith(("lost_", "req_")) and "_ms" not in c]
    ints = [*counts, "published", "owed", "delivered", "lost", "unowed"]
    ints += ["duplicated", "out_of_order"]
    out[ints] = out[ints].fillna(0).astype("int64")
    return out


def format_summary(result: Result) -> str:
    """Return the summary as aligned text, one block per workload."""
    table = summary(result)
    meta = result.meta
    lines = [
        f"scenario {meta.get('scenario')}  seed {meta.get('seed')}  "
        f"simulated {meta.get('sim_duration')}s  wall {meta.get('wall_seconds')}s  "
        f"events {meta.get('events')}"
    ]
    for name, row in table.iterrows():
        lines.append(f"\n{name}")
        ratio = row.get("delivery_ratio")
        ratio_s = "n/a" if ratio != ratio else f"{ratio:.4%}"
        lines.append(
            f"  published {int(row.published):,}  owed {int(row.owed):,}  "
            f"delivered {int(row.delivered):,}  ({ratio_s})"
        )
        lost = {c[5:]: int(v) for c, v in row.items() if c.startswith("lost_") and v}
        if lost:
            lines.append("  lost " + ", ".join(f"{k} {v:,}" for k, v in lost.items()))
        if row.get("latency_p50_ms") == row.get("latency_p50_ms"):
            lines.append(
                f"  latency p50 {row.latency_p50_ms:.3f} ms  p90 {row.latency_p90_ms:.3f} ms  "
                f"p99 {row.latency_p99_ms:.3f} ms"
            )
        if row.get("req_requests"):
            lines.append(
                f"  requests {int(row.req_requests):,}: ok {int(row.req_ok):,}, "
                f"timeout {int(row.req_timeout):,}, no_responders {int(row.req_no_responders):,}"
                + (
                    f", client_gone {int(row.req_client_gone):,}"
                    if row.get("req_client_gone")
                    else ""
                )
                + (
                    f"  reply p50 {row.req_p50_ms:.3f} ms  p99 {row.req_p99_ms:.3f} ms"
                    if row.get("req_p50_ms") == row.get("req_p50_ms")
                    else ""
                )
            )
    lines.extend(_guarantee_lines(result))
    lines.extend(_jetstream_lines(result))
    lines.extend(_failover_lines(result))
    lines.extend(_fault_lines(result))
    return "\n".join(lines)


def _guarantee_lines(result: Result) -> list[str]:
    """The guarantee table, one line per workload."""
    g = guarantee_table(result)
    if g.empty:
        return []
    width = max(12, *(len(str(n)) for n in g.index))
    head = ["published", "owed", "delivered", "lost", "unowed", "dup", "reorder", "ratio"]
    out = ["\nguarantees", "  " + " " * width + "".join(f"{h:>11}" for h in head)]
    for name, row in g.iterrows():
        ratio = row.delivery_ratio
        cells = [
            *(f"{int(row[c]):,}" for c in ("published", "owed", "delivered", "lost")),
            *(f"{int(row[c]):,}" for c in ("lost_unowed", "duplicated", "out_of_order")),
            "n/a" if ratio != ratio else f"{ratio:.4%}",
        ]
        out.append(f"  {name!s:<{width}}" + "".join(f"{c:>11}" for c in cells))
    return out


def _jetstream_lines(result: Result) -> list[str]:
    """The JetStream guarantees, per application message, one line per jetstream workload."""
    from sim.analysis.jetstream import jetstream_table

    t = jetstream_table(result)
    if t.empty:
        return []
    cols = {
        "published": "messages",
        "retries": "retries",
        "acked": "acked",
        "stored": "stored",
        "stored_duplicates": "stored 2+",
        "delivered_once": "once",
        "delivered_more_than_once": "twice+",
        "never_delivered": "never",
    }
    width = max(12, *(len(str(n)) for n in t.index))
    out = [
        "\njetstream (per application message)",
        "  " + " " * width + "".join(f"{h:>11}" for h in cols.values()),
    ]
    for name, row in t.iterrows():
        out.append(f"  {name!s:<{width}}" + "".join(f"{int(row[c]):>11,}" for c in cols))
    return out


def _fmt_time(t: float) -> str:
    return "end" if t == float("inf") else f"{t:g}s"


def _fault_lines(result: Result) -> list[str]:
    """Per fault its window and losses; reconnects; convergence times (runs with faults only)."""
    if "events" not in result.frames or result.events.empty:
        return []
    out: list[str] = []
    faults = loss_by_fault(result)
    if len(faults):
        out.append("\nfaults (losses of owed copies while each fault lasted)")
        timeline = fault_timeline(result).set_index("number")
        for n, row in faults.iterrows():
            end = "end of run" if timeline.loc[n, "open"] else _fmt_time(row.end)
            reasons = {
                c[5:]: int(v)
                for c, v in row.items()
                if c.startswith("lost_") and c != "lost_unowed" and v
            }
            lost = f"lost {int(row.lost):,}"
            if reasons:
                lost += " (" + ", ".join(f"{k} {v:,}" for k, v in reasons.items()) + ")"
            if row.lost_unowed:
                lost += f", unowed {int(row.lost_unowed):,}"
            out.append(f"  #{n} {row.action} {row.detail}  {_fmt_time(row.start)} to {end}  {lost}")
    rt = reconnect_times(result)
    if len(rt):
        done = rt[rt.reconnected_at.notna()]
        line = (
            f"  {rt.client.nunique():,} clients disconnected {len(rt):,} times; "
            f"{len(done):,} reconnections"
        )
        if len(done):
            busiest = done.to_server.value_counts()
            line += (
                f", gap median {done.gap.median():.3f} s, max {done.gap.max():.3f} s, "
                f"busiest server {busiest.index[0]} ({int(busiest.iloc[0]):,})"
            )
        never = rt[rt.reconnected_at.isna()]
        if len(never):
            line += f"; {len(never):,} never reconnected ({int(never.gave_up.sum()):,} gave up)"
        out.extend(["\nreconnects", line])
        if len(done):
            # the storm: where the clients landed, and over how long
            landed = done.to_server.value_counts().sort_index()
            span = done.reconnected_at.max() - done.reconnected_at.min()
            shown = ", ".join(f"{s} {int(n):,}" for s, n in landed.items())
            out.append(f"  landed on: {shown}  (over {span:.3f} s)")
    conv = convergence(result)
    if len(conv):
        parts = [
            f"{c} at {r.start:g}s: "
            + ("not converged" if r.seconds != r.seconds else f"{r.seconds:.3f} s")
            for c, r in zip(conv.cluster, conv.itertuples(), strict=True)
        ]
        out.extend(["\nconvergence", *(f"  {p}" for p in parts)])
    return out


def _failover_lines(result: Result) -> list[str]:
    """Failover figures for every workload whose responders a fault stopped."""
    if "events" not in result.frames or result.events.empty:
        return []
    out: list[str] = []
    stops = result.events[result.events.kind == "stop_responders"]
    for workload in dict.fromkeys(d.split(" ")[0] for d in stops.detail):
        s = failover_summary(result, workload)
        share = s["share"].map(lambda v: f"{v:.0%}")
        out.append(
            f"\nfailover of {workload} (responders stopped in {s['faulted']} "
            f"at {s['fault_at']:g}s, back at {s['restored_at']:g}s)"
        )
        out.append(
            f"  failover time {s['failover_time'] * 1000:.1f} ms, failback time "
            f"{s['failback_time'] * 1000:.1f} ms, failed requests in the switch "
            f"{s['lost_in_switch']}, timeouts during the fault {s['timeouts_during']}"
        )
        out.append("  share served per cluster (before / during / after):")
        for cluster, row in share.iterrows():
            out.append(f"    {cluster:<12} {row['before']:>5} {row['during']:>5} {row['after']:>5}")
    return out
