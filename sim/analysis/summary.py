"""The compact per-workload summary that ``natsim run`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.analysis.failover import failover_summary
from sim.analysis.metrics import delivery_table, latency_quantiles, loss_by_reason, request_outcomes

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["format_summary", "summary"]


def summary(result: Result) -> pd.DataFrame:
    """One row per workload: published, owed vs delivered, loss by reason, latency, requests.

    Latencies are in milliseconds; loss columns are named ``lost_<reason>``.
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
    loss = loss_by_reason(result)
    for reason in loss.columns:
        out[f"lost_{reason}"] = loss[reason]
    lat = latency_quantiles(result) * 1000
    for col in ("p50", "p90", "p99"):
        out[f"latency_{col}_ms"] = lat[col] if col in lat else float("nan")
    req = request_outcomes(result)
    for col in ("requests", "ok", "timeout", "no_responders"):
        if col in req:
            out[f"req_{col}"] = req[col]
    if "p50" in req:
        out["req_p50_ms"] = req["p50"] * 1000
        out["req_p99_ms"] = req["p99"] * 1000
    counts = [c for c in out.columns if c.startswith(("lost_", "req_")) and "_ms" not in c]
    ints = [*counts, "published", "owed", "delivered"]
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
                    f"  reply p50 {row.req_p50_ms:.3f} ms  p99 {row.req_p99_ms:.3f} ms"
                    if row.get("req_p50_ms") == row.get("req_p50_ms")
                    else ""
                )
            )
    lines.extend(_failover_lines(result))
    return "\n".join(lines)


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
