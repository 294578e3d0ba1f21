"""Compare a simulated run with a real run of the same scenario and seed.

Both backends name, place and time clients identically, so the k-th message
of a publisher is the same message in both.  :func:`compare_results` builds
one table with a row per check:

``delivery_set``     the set of (publisher, message sequence) pairs each plain
                     subscriber received — exact match expected without faults
``queue_once``       every message a queue group received went to exactly one member
``queue_local``      share of queue deliveries served on the publisher's server
                     (``hops == 0``) and in its cluster (``hops <= 1``)
``served_cluster``   which cluster answered requests, before/during/after a
                     responders fault (share per cluster)
``outcomes``         request outcomes (ok, timeout, no_responders…)
``ordering``         deliveries out of publish order per (publisher, subscriber)
``loss``             plain-subscriber copies missing against those owed: every
                     publish matching a subscriber's subject while it was
                     subscribed (first SUB to last UNSUB, in either backend), and
                     anything either backend delivered (a fault's cost, side by side)
``fault_loss``       per fault: those missing copies published from its start to
                     the next fault (or the end), and how long after the fault's
                     end the last of them was published — the recovery
``latency``          delivery/request latency percentiles (real figures only
                     mean something with emulated latency)

Columns: ``check, scope, sim, real, agree, note``; ``agree`` is None for rows
that are reported, not judged (latency).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario.load import load_scenario
from sim.scenario.spec import Scenario

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = [
    "compare",
    "compare_results",
    "delivery_pairs",
    "out_of_order",
    "owed_pairs",
    "queue_stats",
    "served_shares",
]

#: Absolute tolerance on shares (local-server share, served-cluster share).
SHARE_TOLERANCE = 0.15


def _seq(result: Result) -> pd.DataFrame:
    """msg_id → (client, seq): the k-th publish/request of each client."""
    m = result.messages
    m = m[m.kind.isin(["publish", "request"])].sort_values("msg_id")
    out = m[["msg_id", "client"]].copy()
    out["seq"] = m.groupby("client").cumcount()
    return out.set_index("msg_id")


def _plain(result: Result) -> pd.DataFrame:
    d = result.deliveries
    d = d[(d.kind == "publish") & d.queue.isna()]
    s = _seq(result)
    d = d.join(s, on="msg_id")
    return d


def delivery_pairs(result: Result) -> dict[str, set[tuple[str, int]]]:
    """Plain subscriber → set of (publisher, sequence) it received."""
    d = _plain(result)
    out: dict[str, set[tuple[str, int]]] = {}
    for sub, c, k in zip(d.subscriber, d.client, d.seq, strict=True):
        out.setdefault(sub, set()).add((c, int(k)))
    return out


def queue_stats(result: Result) -> dict[tuple[str, str], dict[str, float]]:
    """(workload, queue) → messages, duplicates, local-server and local-cluster share."""
    d = result.deliveries
    d = d[(d.kind == "publish") & d.queue.notna()]
    out = {}
    for (wl, q), g in d.groupby(["workload", "queue"]):
        per_msg = g.groupby("msg_id").size()
        out[(wl, q)] = {
            "messages": float(len(per_msg)),
            "duplicates": float((per_msg > 1).sum()),
            "local_server": float((g.hops == 0).mean()),
            "local_cluster": float((g.hops <= 1).mean()),
        }
    return out


def out_of_order(result: Result) -> int:
    """Deliveries that arrived after a later message of the same publisher (plain and queue)."""
    d = result.deliveries[result.deliveries.kind == "publish"]
    s = _seq(result)
    d = d.join(s, on="msg_id").sort_values(["receive_time", "msg_id"])
    bad = 0
    for _, g in d.groupby(["sub_id", "client"]):
        seq = g.seq.to_numpy()
        if len(seq) > 1:
            import numpy as np

            bad += int((seq < np.maximum.accumulate(seq)).sum())
    return bad


def _windows(scenario: Scenario, workload: str) -> list[tuple[str, float, float]]:
    """before/during/after windows of the first responders fault on ``workload``."""
    stop = start = None
    for f in scenario.faults:
        if f.stop_responders is not None and f.stop_responders.workload == workload:
            stop = f.at if stop is None else stop
            if f.duration is not None:
                start = f.at + f.duration
        if f.start_responders is not None and f.start_responders.workload == workload:
            start = f.at if start is None else start
    if stop is None:
        return [("all", -math.inf, math.inf)]
    start = math.inf if start is None else start
    return [("before", -math.inf, stop), ("during", stop, start), ("after", start, math.inf)]


def served_shares(result: Result, scenario: Scenario) -> dict[tuple[str, str, str], float]:
    """(workload, window, cluster) → share of answered requests served by that cluster."""
    r = result.requests
    r = r[r.outcome == "ok"]
    out = {}
    clusters = list(scenario.topology.clusters)
    for wl, g in r.groupby("workload"):
        for win, lo, hi in _windows(scenario, wl):
            # a request started within 0.1 s of a fault is in the switch: left out
            w = g[(g.start >= lo + 0.1) & (g.start < hi - 0.1)] if win != "all" else g
            for c in clusters:
                out[(wl, win, c)] = float((w.served_cluster == c).mean()) if len(w) else math.nan
    return out


def owed_pairs(result: Result) -> set[tuple[str, str, int]]:
    """(plain subscriber, publisher, sequence) for every publish a subscriber was owed.

    A subscriber is owed each publish matching its subject from its first
    subscription to its last unsubscribe (open: the end of the run) — what a
    lossless network would have delivered, whatever faults did to it.
    """
    from sim.subjects import subject_matches

    subs = result.subscriptions
    subs = subs[subs.queue.isna()]
    pubs = result.messages[result.messages.kind == "publish"].set_index("msg_id")
    s = _seq(result).join(pubs[["time", "subject"]])
    out: set[tuple[str, str, int]] = set()
    rows = list(zip(s.client, s.seq, s.time, s.subject, strict=True))
    for sub, g in subs.groupby("client"):
        lo = g.t_sub.min()
        hi = math.inf if g.t_unsub.isna().any() else g.t_unsub.max()
        pattern = g.subject.iloc[0]
        match = {x: subject_matches(pattern, x) for x in set(s.subject.dropna())}
        out.update((sub, c, int(k)) for c, k, t, x in rows if lo <= t < hi and match.get(x))
    return out


def _lost_times(result: Result, union: set, got: set) -> list[float]:
    """Publish times of the copies in ``union`` (subscriber, client, seq) not in ``got``."""
    s = _seq(result)
    m = result.messages.set_index("msg_id").time
    when = {(c, int(k)): float(m[i]) for i, c, k in zip(s.index, s.client, s.seq, strict=True)}
    return sorted(when[(c, k)] for _, c, k in union - got if (c, k) in when)


def _fault_rows(scenario: Scenario, lost: dict[str, list[float]]) -> list[dict]:
    """One ``fault_loss`` row per scheduled fault: copies lost in its window, and recovery."""
    faults = sorted(scenario.faults, key=lambda f: f.at)
    rows = []
    for i, f in enumerate(faults):
        hi = faults[i + 1].at if i + 1 < len(faults) else math.inf
        end = f.at + (f.duration or 0.0)
        cells = []
        for name in ("sim", "real"):
            times = [t for t in lost[name] if f.at <= t < hi]
            cells.append(f"{len(times)}, last {max(times) - end:+.2f}s" if times else "0")
        rows.append(
            _row(
                "fault_loss",
                f"{f.action} at {f.at:g}s",
                *cells,
                None,
                "copies lost published from the fault to the next; "
                "last: its publish time after the fault's end",
            )
        )
    return rows


def _row(check: str, scope: str, sim: Any, real: Any, agree: bool | None, note: str = "") -> dict:
    return {"check": check, "scope": scope, "sim": sim, "real": real, "agree": agree, "note": note}


def compare_results(scenario: Scenario, simr: Result, realr: Result) -> pd.DataFrame:
    """Return the comparison table of a simulated and a real result of ``scenario``."""
    import pandas as pd

    rows: list[dict] = []
    faulted = bool(scenario.faults) or scenario.chaos is not None
    fault_note = "faults in the run: differences expected" if faulted else ""
    # delivery sets
    ps, pr = delivery_pairs(simr), delivery_pairs(realr)
    union: set = set()
    for sub in sorted(set(ps) | set(pr)):
        a, b = ps.get(sub, set()), pr.get(sub, set())
        union |= {(sub, *x) for x in a | b}
        note = fault_note
        if a != b:
            note = f"only sim {len(a - b)}, only real {len(b - a)}" + (
                f"; {fault_note}" if fault_note else ""
            )
        rows.append(_row("delivery_set", sub, len(a), len(b), a == b, note))
    # loss against what was owed (or delivered by either)
    union |= owed_pairs(simr) | owed_pairs(realr)
    if union:
        got_s = {(s, *x) for s, v in ps.items() for x in v}
        got_r = {(s, *x) for s, v in pr.items() for x in v}
        sim_drops = simr.drops
        sim_drops = sim_drops[sim_drops.reason != "no_interest"] if len(sim_drops) else sim_drops
        rows.append(
            _row(
                "loss",
                "plain subscribers",
                len(union - got_s),
                len(union - got_r),
                len(union - got_s) == len(union - got_r),
                f"copies missing against those owed ({len(union)}); "
                f"sim books {len(sim_drops)} drops",
            )
        )
        lost = {
            "sim": _lost_times(simr, union, got_s),
            "real": _lost_times(realr, union, got_r),
        }
        rows += _fault_rows(scenario, lost)
    # queue groups
    qs, qr = queue_stats(simr), queue_stats(realr)
    for key in sorted(set(qs) | set(qr)):
        a, b = qs.get(key), qr.get(key)
        scope = f"{key[0]}/{key[1]}"
        if a is None or b is None:
            rows.append(_row("queue_once", scope, a, b, False, "group missing in one backend"))
            continue
        rows.append(
            _row(
                "queue_once",
                scope,
                f"{int(a['messages'])} msgs, {int(a['duplicates'])} dup",
                f"{int(b['messages'])} msgs, {int(b['duplicates'])} dup",
                a["duplicates"] == 0 == b["duplicates"] and a["messages"] == b["messages"],
                fault_note,
            )
        )
        for k in ("local_server", "local_cluster"):
            rows.append(
                _row(
                    f"queue_{k}",
                    scope,
                    round(a[k], 3),
                    round(b[k], 3),
                    abs(a[k] - b[k]) <= SHARE_TOLERANCE,
                    f"tolerance {SHARE_TOLERANCE}",
                )
            )
    # requests
    for wl in sorted(set(simr.requests.workload) | set(realr.requests.workload)):
        os_ = simr.requests[simr.requests.workload == wl].outcome.value_counts().to_dict()
        or_ = realr.requests[realr.requests.workload == wl].outcome.value_counts().to_dict()
        rows.append(_row("outcomes", wl, _fmt(os_), _fmt(or_), os_ == or_, fault_note))
        nrs, nrr = os_.get("no_responders", 0), or_.get("no_responders", 0)
        if nrs or nrr:
            rows.append(_row("no_responders", wl, nrs, nrr, nrs == nrr))
    ss, sr = served_shares(simr, scenario), served_shares(realr, scenario)
    for key in sorted(set(ss) | set(sr)):
        a, b = ss.get(key, math.nan), sr.get(key, math.nan)
        both_nan = math.isnan(a) and math.isnan(b)
        ok = both_nan or (not math.isnan(a) and not math.isnan(b) and abs(a - b) <= SHARE_TOLERANCE)
        rows.append(
            _row("served_cluster", "/".join(key), _r(a), _r(b), ok, f"tolerance {SHARE_TOLERANCE}")
        )
    # ordering
    a, b = out_of_order(simr), out_of_order(realr)
    rows.append(_row("ordering", "all", a, b, a == b == 0 or (faulted and a == b), ""))
    # latency
    emulated = bool(realr.meta.get("emulated_latency"))
    note = "emulated latency" if emulated else "no emulated latency: real figures are loopback"
    for wl, g in simr.deliveries.groupby("workload"):
        h = realr.deliveries[realr.deliveries.workload == wl]
        for q in (0.5, 0.99):
            rows.append(
                _row(
                    f"latency_p{round(q * 100)}_ms",
                    f"{wl} deliveries",
                    _r(g.latency.quantile(q) * 1e3),
                    _r(h.latency.quantile(q) * 1e3) if len(h) else math.nan,
                    None,
                    note,
                )
            )
    for wl, g in simr.requests[simr.requests.outcome == "ok"].groupby("workload"):
        h = realr.requests[(realr.requests.workload == wl) & (realr.requests.outcome == "ok")]
        for q in (0.5, 0.99):
            rows.append(
                _row(
                    f"latency_p{round(q * 100)}_ms",
                    f"{wl} requests",
                    _r(g.latency.quantile(q) * 1e3),
                    _r(h.latency.quantile(q) * 1e3) if len(h) else math.nan,
                    None,
                    note,
                )
            )
    return pd.DataFrame(rows, columns=["check", "scope", "sim", "real", "agree", "note"])


def _fmt(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def _r(x: float) -> float:
    return x if isinstance(x, float) and math.isnan(x) else round(float(x), 3)


def compare(
    scenario: Scenario | str | Path | Mapping[str, Any],
    seed: int | None = None,
    binary: str | None = None,
    latency: bool = True,
    intra_cluster_latency: bool = False,
    client_latency: bool = False,
) -> tuple[pd.DataFrame, Result, Result]:
    """Run the simulation and the real backend with one seed; return (table, sim, real)."""
    from sim.real import run_real
    from sim.runner import simulate

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seed = scenario.seed if seed is None else seed
    simr = simulate(scenario, seed=seed)
    realr = run_real(
        scenario,
        seed=seed,
        binary=binary,
        latency=latency,
        intra_cluster_latency=intra_cluster_latency,
        client_latency=client_latency,
    )
    return compare_results(scenario, simr, realr), simr, realr


def to_markdown(table: pd.DataFrame, title: str, meta: Mapping[str, Any]) -> str:
    """Return the comparison as a Markdown page."""
    lines = [
        f"# natsim compare: {title}",
        "",
        f"nats-server {meta.get('nats_server_version')}, "
        f"emulated latency: {meta.get('emulated_latency')}, seed {meta.get('seed')}",
        "",
    ]
    for n in meta.get("notes") or []:
        lines.append(f"- note: {n}")
    lines += ["", "| check | scope | sim | real | agree | note |", "|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        agree = "" if r.agree is None else ("yes" if r.agree else "**NO**")
        lines.append(f"| {r.check} | {r.scope} | {r.sim} | {r.real} | {agree} | {r.note} |")
    return "\n".join(lines) + "\n"
