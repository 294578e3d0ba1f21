"""Compare two topologies: the same workload, faults and seeds on a base and a candidate.

:func:`compare` runs a base and a candidate scenario on the same seeds (the
random streams are named, so the workload and faults draw the same numbers in
both — common random numbers) and returns a :class:`Comparison`:

``metrics``       one row per (section, scope, metric): base and candidate
                  value (the mean over seeds), delta, the direction that is
                  good and a verdict (better / worse / same / changed);
``structure``     the derived routing structure, base vs candidate: servers,
                  the route mesh per cluster, gateway connections per cluster
                  pair (which server dials which), where each queue group's
                  traffic goes, and the interest tables at the end of the run
                  (from ``Result.meta["final_state"]``);
``expectations``  a verdict per expectation for both runs, when the
                  expectations module (``sim.expect``) is installed.

``natsim diff BASE.yaml CANDIDATE.yaml`` or ``natsim diff SCENARIO.yaml
--variant NAME`` (a scenario's ``variants:`` entry: dotted overrides) prints
them and writes an HTML comparison (:mod:`sim.diff_report`).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import NatsimError

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result
    from sim.scenario.spec import Scenario

__all__ = [
    "Comparison",
    "Side",
    "add_command",
    "compare",
    "format_comparison",
    "load_variant",
    "run_metrics",
    "structure_diff",
]

#: metric columns of :attr:`Comparison.metrics`
METRIC_COLUMNS = [
    "section",
    "scope",
    "metric",
    "unit",
    "good",
    "base",
    "candidate",
    "delta",
    "verdict",
]
#: columns of :attr:`Comparison.structure`
STRUCTURE_COLUMNS = ["aspect", "scope", "item", "base", "candidate", "change"]

#: a queue group's share on a server/cluster that moved by more than this is "changed"
SHARE_TOLERANCE = 0.05
#: relative tolerance of times (latency, failover, convergence) before a verdict is not "same"
TIME_RTOL = 0.02
#: at most this many added/removed interest entries are listed per cluster and kind
INTEREST_LISTED = 8


# ------------------------------------------------------------------ sides


@dataclass
class Side:
    """One side of a comparison: its label, scenario, runs (one per seed) and YAML text."""

    label: str
    scenario: Scenario
    results: list[Result] = field(default_factory=list)
    text: str | None = None

    @property
    def first(self) -> Result:
        """The run of the first seed."""
        return self.results[0]


@dataclass
class Comparison:
    """What :func:`compare` found (see the module docstring for the tables)."""

    base: Side
    candidate: Side
    seeds: list[int]
    metrics: pd.DataFrame
    structure: pd.DataFrame
    #: columns expectation, base_value, base_passed, candidate_value,
    #: candidate_passed, verdict; None when the expectations module is absent
    expectations: pd.DataFrame | None = None
    expectations_note: str = ""

    @property
    def regressions(self) -> pd.DataFrame:
        """Expectations that pass in the base and fail in the candidate."""
        import pandas as pd

        e = self.expectations
        if e is None or e.empty:
            return pd.DataFrame(columns=["expectation", "base_value", "candidate_value"])
        return e[e.verdict == "regression"]

    @property
    def worse(self) -> pd.DataFrame:
        """Metrics whose verdict is ``worse``."""
        return self.metrics[self.metrics.verdict == "worse"]

    def __repr__(self) -> str:
        counts = self.metrics.verdict.value_counts().to_dict() if len(self.metrics) else {}
        return (
            f"<Comparison {self.base.label} vs {self.candidate.label} seeds={self.seeds} {counts}>"
        )

    def __str__(self) -> str:
        return format_comparison(self)


# ---------------------------------------------------------------- loading


def _load(source: Any, overrides: Mapping[str, Any] | None = None) -> tuple[Scenario, str | None]:
    """A scenario and its YAML text (None for a mapping or a built Scenario)."""
    from sim.scenario.load import load_scenario
    from sim.scenario.spec import Scenario

    if isinstance(source, Scenario):
        return source, None
    text = None
    if isinstance(source, str | os.PathLike):
        try:
            text = Path(source).read_text()
        except OSError:
            text = None  # load_scenario reports it
    return load_scenario(source, overrides=overrides), text


def load_variant(
    source: str | os.PathLike[str] | Mapping[str, Any], name: str
) -> tuple[Scenario, Scenario]:
    """The base scenario and its variant ``name`` (the variant's overrides applied).

    Raises :class:`~sim.errors.NatsimError` when the scenario has no such variant.
    """
    base, _ = _load(source)
    if name not in base.variants:
        known = ", ".join(sorted(base.variants)) or "none"
        raise NatsimError(f"scenario '{base.name}' has no variant {name!r} (variants: {known})")
    overrides = {**base.variants[name], "variants": {}}
    candidate, _ = _load(source, overrides)
    return base, candidate


# ---------------------------------------------------------------- metrics

#: (direction that is good, unit) per metric name; direction None: neither
_GOOD: dict[str, tuple[str | None, str]] = {
    "published": (None, "count"),
    "owed": (None, "count"),
    "delivered": (None, "count"),
    "delivery_ratio": ("higher", "ratio"),
    "lost": ("lower", "count"),
    "lost_unowed": ("lower", "count"),
    "duplicated": ("lower", "count"),
    "out_of_order": ("lower", "count"),
    "p50_ms": ("lower", "ms"),
    "p99_ms": ("lower", "ms"),
    "requests": (None, "count"),
    "ok": ("higher", "count"),
    "timeout": ("lower", "count"),
    "no_responders": ("lower", "count"),
    "client_gone": ("lower", "count"),
    "success_ratio": ("higher", "ratio"),
    "reply_p50_ms": ("lower", "ms"),
    "reply_p99_ms": ("lower", "ms"),
    "failover_time_s": ("lower", "s"),
    "failback_time_s": ("lower", "s"),
    "lost_in_switch": ("lower", "count"),
    "timeouts_during": ("lower", "count"),
    # JetStream columns of the guarantee table
    "stored_duplicates": ("lower", "count"),
    "delivered_more_than_once": ("lower", "count"),
    "redeliveries": ("lower", "count"),
    "never_delivered": ("lower", "count"),
    "publish_retries": ("lower", "count"),
    "periods": ("lower", "count"),
    "not_converged": ("lower", "count"),
    "total_s": ("lower", "s"),
    "longest_s": ("lower", "s"),
    "disconnections": ("lower", "count"),
    "reconnections": (None, "count"),
    "gave_up": ("lower", "count"),
    "mean_gap_s": ("lower", "s"),
    "longest_gap_s": ("lower", "s"),
}


def _good(metric: str) -> tuple[str | None, str]:
    if metric.startswith("lost_"):
        return "lower", "count"
    return _GOOD.get(metric, (None, "count"))


def run_metrics(result: Result) -> dict[tuple[str, str, str], float]:
    """The compared metrics of one run: ``(section, scope, metric) → value``.

    Sections: ``guarantees`` and ``latency`` (delivery latency, replies left
    out) per workload; ``requests`` per request/reply workload; ``failover``
    per request/reply workload of a run with faults; ``convergence`` per
    cluster; ``reconnects`` over all clients.  Latencies in ms, times in s.
    """
    from sim.analysis import convergence, guarantee_table, latency_quantiles, reconnect_times
    from sim.analysis import request_outcomes as outcomes
    from sim.analysis.failover import failover_summary, fault_windows
    from sim.plots.failover import failover_time, failover_workloads

    out: dict[tuple[str, str, str], float] = {}
    g = guarantee_table(result)
    skip = {"requests", "ok", "timeout", "no_responders", "client_gone"}
    for wl, row in g.iterrows():
        for col, v in row.items():
            if col not in skip:
                out[("guarantees", str(wl), str(col))] = float(v)
    lat = latency_quantiles(result, q=(0.5, 0.99))
    for wl, row in lat.iterrows():
        out[("latency", str(wl), "p50_ms")] = float(row["p50"]) * 1000
        out[("latency", str(wl), "p99_ms")] = float(row["p99"]) * 1000
    req = outcomes(result)
    for wl, row in req.iterrows():
        for col in ("requests", "ok", "timeout", "no_responders", "client_gone", "success_ratio"):
            if col in row:
                out[("requests", str(wl), col)] = float(row[col])
        out[("requests", str(wl), "reply_p50_ms")] = float(row["p50"]) * 1000
        out[("requests", str(wl), "reply_p99_ms")] = float(row["p99"]) * 1000
    for wl in failover_workloads(result):
        if not fault_windows(result, wl).empty:
            s = failover_summary(result, wl)
            out[("failover", wl, "failover_time_s")] = float(s["failover_time"])
            out[("failover", wl, "failback_time_s")] = float(s["failback_time"])
            out[("failover", wl, "lost_in_switch")] = float(s["lost_in_switch"])
            out[("failover", wl, "timeouts_during")] = float(s["timeouts_during"])
        else:
            switches = failover_time(result, wl)
            if switches:
                secs = [float(x["seconds"]) for x in switches]
                out[("failover", wl, "failover_time_s")] = min(secs)
    conv = convergence(result)
    for cluster, part in conv.groupby("cluster"):
        out[("convergence", str(cluster), "periods")] = float(len(part))
        out[("convergence", str(cluster), "not_converged")] = float(part.end.isna().sum())
        out[("convergence", str(cluster), "total_s")] = float(part.seconds.sum())
        out[("convergence", str(cluster), "longest_s")] = float(part.seconds.max())
    rt = reconnect_times(result)
    if len(rt):
        out[("reconnects", "all clients", "disconnections")] = float(
            rt.disconnected_at.notna().sum()
        )
        out[("reconnects", "all clients", "reconnections")] = float(rt.reconnected_at.notna().sum())
        out[("reconnects", "all clients", "gave_up")] = float(rt.gave_up.fillna(False).sum())
        gaps = rt.gap.dropna()
        out[("reconnects", "all clients", "mean_gap_s")] = float(gaps.mean()) if len(gaps) else 0.0
        out[("reconnects", "all clients", "longest_gap_s")] = (
            float(gaps.max()) if len(gaps) else 0.0
        )
    return out


def _mean(values: list[float]) -> float:
    vals = [v for v in values if v == v]
    if not vals:
        return math.nan
    if any(math.isinf(v) for v in vals):
        return math.inf
    return sum(vals) / len(vals)


def verdict(base: float, candidate: float, good: str | None, unit: str) -> tuple[float, str]:
    """``(delta, verdict)``: better / worse / same, ``changed`` when neither direction is good.

    ``new`` / ``gone`` when only one side has the metric.  Counts must be
    equal to be the same; ratios within 1e-4; times within 2 % (and 1 µs).
    """
    b_nan, c_nan = base != base, candidate != candidate
    if b_nan and c_nan:
        return math.nan, "same"
    if b_nan:
        return math.nan, "new"
    if c_nan:
        return math.nan, "gone"
    if base == candidate:
        return 0.0, "same"
    if math.isinf(base) or math.isinf(candidate):
        delta = candidate - base if not (math.isinf(base) and math.isinf(candidate)) else 0.0
    else:
        delta = candidate - base
        tol = {"ratio": 1e-4, "count": 1e-9}.get(unit, max(TIME_RTOL * abs(base), 1e-6))
        if unit == "ms":
            tol = max(TIME_RTOL * abs(base), 1e-3)
        if abs(delta) <= tol:
            return delta, "same"
    if good is None:
        return delta, "changed"
    up = delta > 0
    return delta, "better" if up == (good == "higher") else "worse"


def _metrics_frame(base: list[Result], candidate: list[Result]) -> pd.DataFrame:
    import pandas as pd

    per_b = [run_metrics(r) for r in base]
    per_c = [run_metrics(r) for r in candidate]
    keys: dict[tuple[str, str, str], None] = {}
    for d in (*per_b, *per_c):
        keys.update(dict.fromkeys(d))
    order = ["guarantees", "latency", "requests", "failover", "convergence", "reconnects"]
    rows = []
    for k in sorted(keys, key=lambda k: (order.index(k[0]), *k[1:2])):
        good, unit = _good(k[2])
        b = _mean([d.get(k, math.nan) for d in per_b])
        c = _mean([d.get(k, math.nan) for d in per_c])
        delta, v = verdict(b, c, good, unit)
        rows.append([*k, unit, good, b, c, delta, v])
    # keep each section's first-seen metric order (sorted() above is stable on section/scope)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


# -------------------------------------------------------------- structure


def _state(result: Result) -> dict[str, Any]:
    return result.meta.get("final_state") or {}


def _servers(scenario: Scenario) -> dict[str, str]:
    return scenario.topology.server_cluster()


def _edges(state: Mapping[str, Any], servers: Mapping[str, str], cluster: str) -> set[tuple]:
    out = set()
    for s, entry in state.items():
        if servers.get(s) != cluster:
            continue
        for peer in entry.get("routes", []):
            out.add(tuple(sorted((s, peer))))
    return out


def _gateways(state: Mapping[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(from cluster, to cluster) → {"server → peer"} outbound gateway connections."""
    out: dict[tuple[str, str], set[str]] = {}
    for s, entry in state.items():
        for cluster, peer in (entry.get("gateways") or {}).items():
            out.setdefault((entry.get("cluster", "?"), cluster), set()).add(f"{s} → {peer}")
    return out


def _interest(state: Mapping[str, Any], kind: str) -> dict[str, tuple[set[str], int]]:
    """Cluster → (interest keys, keys beyond the snapshot cap) for ``local`` or ``gateway``."""
    out: dict[str, tuple[set[str], int]] = {}
    for entry in state.values():
        table = entry.get(f"{kind}_interest")
        if table is None:
            continue
        keys, more = out.get(entry.get("cluster", "?"), (set(), 0))
        keys |= {k for k in table if k != "..."}
        more += int(table.get("...", 0))
        out[entry.get("cluster", "?")] = (keys, more)
    return out


def _mesh_summary(n: int, edges: set[tuple], up: int) -> str:
    full = n * (n - 1) // 2
    kind = "full mesh" if len(edges) == full and up == n else "not a full mesh"
    return f"{n} servers, {len(edges)}/{full} routes ({kind})"


def _queue_shares(results: list[Result], by: str) -> dict[tuple[str, str], float]:
    """(workload/queue, server or cluster) → share of the group's deliveries, mean over seeds."""
    from sim.analysis import queue_distribution

    acc: dict[tuple[str, str], list[float]] = {}
    groups: set[str] = set()
    for r in results:
        q = queue_distribution(r, by=by)
        for row in q.itertuples():
            key = (f"{row.workload}/{row.queue}", str(getattr(row, by)))
            groups.add(key[0])
            acc.setdefault(key, []).append(float(row.share))
    n = max(len(results), 1)
    return {k: sum(v) / n for k, v in acc.items()}


def structure_diff(
    base: Scenario,
    candidate: Scenario,
    base_results: list[Result],
    candidate_results: list[Result],
) -> pd.DataFrame:
    """The derived routing structure, base vs candidate, one row per item.

    Aspects: ``servers`` (each server: up/down at the end, or absent),
    ``route mesh`` per cluster (a summary row, then each route added or
    removed), ``gateways`` per cluster pair (a summary row, then each
    outbound connection "server → peer"), ``queue traffic`` per queue group
    (share of its deliveries per cluster and per server, mean over seeds),
    ``interest`` per cluster (local subscriptions and what the cluster
    advertises over gateways at the end: counts, then entries present in one
    run only, summarised). ``change`` is added / removed / changed / same.
    """
    import pandas as pd

    rows: list[list[Any]] = []
    sb, sc = _state(base_results[0]), _state(candidate_results[0])
    svb, svc = _servers(base), _servers(candidate)

    def add(aspect: str, scope: str, item: str, b: Any, c: Any, change: str | None = None) -> None:
        if change is None:
            if b is None:
                change = "added"
            elif c is None:
                change = "removed"
            else:
                change = "same" if b == c else "changed"
        rows.append([aspect, scope, item, b, c, change])

    def up(state: Mapping[str, Any], s: str) -> str | None:
        if s not in state:
            return None
        return "up" if state[s].get("up", True) else "down"

    for s in dict.fromkeys([*svb, *svc]):
        cluster = svb.get(s) or svc.get(s) or "?"
        add("servers", cluster, s, up(sb, s) if s in svb else None, up(sc, s) if s in svc else None)

    clusters = list(dict.fromkeys([*base.topology.clusters, *candidate.topology.clusters]))
    for cl in clusters:
        eb, ec = _edges(sb, svb, cl), _edges(sc, svc, cl)
        nb = [s for s in svb if svb[s] == cl]
        nc = [s for s in svc if svc[s] == cl]
        mb = _mesh_summary(len(nb), eb, sum(up(sb, s) == "up" for s in nb)) if nb else None
        mc = _mesh_summary(len(nc), ec, sum(up(sc, s) == "up" for s in nc)) if nc else None
        add("route mesh", cl, "(mesh)", mb, mc)
        for e in sorted(eb | ec):
            text = f"{e[0]} — {e[1]}"
            add("route mesh", cl, text, "route" if e in eb else None, "route" if e in ec else None)

    gb, gc = _gateways(sb), _gateways(sc)
    for pair in sorted(set(gb) | set(gc)):
        scope = f"{pair[0]} → {pair[1]}"
        cb, cc = gb.get(pair), gc.get(pair)
        add(
            "gateways",
            scope,
            "(connections)",
            f"{len(cb)} outbound" if cb else None,
            f"{len(cc)} outbound" if cc else None,
        )
        for conn in sorted((cb or set()) | (cc or set())):
            add(
                "gateways",
                scope,
                conn,
                "dials" if cb and conn in cb else None,
                "dials" if cc and conn in cc else None,
            )

    for by in ("cluster", "server"):
        qb, qc = _queue_shares(base_results, by), _queue_shares(candidate_results, by)
        for key in sorted(set(qb) | set(qc)):
            b, c = qb.get(key), qc.get(key)
            change = None
            if b is not None and c is not None:
                change = "changed" if abs(b - c) > SHARE_TOLERANCE else "same"
            add("queue traffic", key[0], f"{by} {key[1]}", _pct(b), _pct(c), change)

    for kind, label in (("local", "local interest"), ("gateway", "gateway interest")):
        ib, ic = _interest(sb, kind), _interest(sc, kind)
        for cl in clusters:
            if cl not in ib and cl not in ic:
                continue
            kb, mb_ = ib.get(cl, (None, 0))
            kc, mc_ = ic.get(cl, (None, 0))
            nb_ = None if kb is None else f"{len(kb)}{'+' if mb_ else ''} entries"
            nc_ = None if kc is None else f"{len(kc)}{'+' if mc_ else ''} entries"
            same_keys = (kb or set()) == (kc or set())
            add(label, cl, "(entries)", nb_, nc_, None if not same_keys else "same")
            only_b = sorted((kb or set()) - (kc or set()))
            only_c = sorted((kc or set()) - (kb or set()))
            if kb is not None and kc is not None:
                for keys, side in ((only_b, "removed"), (only_c, "added")):
                    for k in keys[:INTEREST_LISTED]:
                        add(
                            label,
                            cl,
                            k,
                            "present" if side == "removed" else None,
                            "present" if side == "added" else None,
                        )
                    if len(keys) > INTEREST_LISTED:
                        more = len(keys) - INTEREST_LISTED
                        add(label, cl, f"… {more} more {side}", None, None, side)
    return pd.DataFrame(rows, columns=STRUCTURE_COLUMNS, dtype=object)


def _pct(v: float | None) -> str | None:
    return None if v is None else f"{v:.0%}"


# ----------------------------------------------------------- expectations


def _evaluate(side: Side) -> pd.DataFrame | None:
    """The expectations of one side over its seeds (all must pass), or None without sim.expect."""
    import pandas as pd

    try:
        from sim import expect  # type: ignore[attr-defined]
    except ImportError:
        return None
    evaluate: Callable[..., Any] | None = getattr(expect, "evaluate", None)
    if evaluate is None:
        return None
    import inspect

    try:
        params = list(inspect.signature(evaluate).parameters)
    except (TypeError, ValueError):
        params = []
    if len(params) > 1 and params[1] == "scenario":
        frames = [evaluate(r, side.scenario) for r in side.results]
    else:  # evaluate(result, expectations=None): the scenario stored in the result
        frames = [evaluate(r) for r in side.results]
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=["expectation", "value", "passed"])
    rows = []
    for name in dict.fromkeys(frames[0].expectation):
        vals = [f[f.expectation == name] for f in frames]
        values = [v.value.iloc[0] for v in vals if len(v)]
        numeric = [
            float(x) for x in values if isinstance(x, int | float) and not isinstance(x, bool)
        ]
        value = _mean(numeric) if len(numeric) == len(values) and values else values[0]
        passed = all(bool(v.passed.iloc[0]) for v in vals if len(v))
        rows.append({"expectation": str(name), "value": value, "passed": passed})
    return pd.DataFrame(rows, columns=["expectation", "value", "passed"])


def _expectations(base: Side, candidate: Side) -> tuple[pd.DataFrame | None, str]:
    import pandas as pd

    try:
        eb, ec = _evaluate(base), _evaluate(candidate)
    except ImportError:
        eb = ec = None
    if eb is None or ec is None:
        return None, "no expectations (the expectations module sim.expect is not available)"
    if eb.empty and ec.empty:
        return pd.DataFrame(
            columns=[
                "expectation",
                "base_value",
                "base_passed",
                "candidate_value",
                "candidate_passed",
                "verdict",
            ]
        ), "no expectations (neither scenario has `expect:`)"
    m = eb.rename(columns={"value": "base_value", "passed": "base_passed"}).merge(
        ec.rename(columns={"value": "candidate_value", "passed": "candidate_passed"}),
        on="expectation",
        how="outer",
        sort=False,
    )

    def v(row: Any) -> str:
        b, c = row.base_passed, row.candidate_passed
        if b != b or b is None:
            return "new" if c == c and c is not None else "n/a"
        if c != c or c is None:
            return "gone"
        if b and not c:
            return "regression"
        if c and not b:
            return "fixed"
        return "pass" if b else "fail"

    m["verdict"] = [v(row) for row in m.itertuples()]
    return m, ""


# ------------------------------------------------------------------ compare


def compare(
    base: Any,
    candidate: Any,
    seeds: int | Sequence[int] | None = None,
    *,
    labels: tuple[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Run ``base`` and ``candidate`` on the same seeds and compare them.

    Parameters
    ----------
    base, candidate : Scenario, path or mapping
        The scenarios (files, dicts or built ``Scenario`` objects).
    seeds : int or sequence of int, optional
        A count (that many seeds from the base scenario's ``seed`` on) or the
        seeds themselves; default: the base scenario's seed only.
    labels : (str, str), optional
        Names of the two sides (default: the scenario names, ``base`` /
        ``candidate`` when they are equal).
    progress : callable, optional
        Called with a line of text before each run.

    Returns
    -------
    Comparison
        With ``metrics``, ``structure`` and ``expectations`` DataFrames.

    Examples
    --------
    >>> from sim.diff import compare, load_variant
    >>> c = compare(*load_variant("scenarios/geo-failover.yaml", "east-shrinks"))  # doctest: +SKIP
    >>> c.metrics[c.metrics.verdict != "same"]  # doctest: +SKIP
    """
    sb, tb = _load(base)
    sc, tc = _load(candidate)
    if seeds is None:
        seed_list = [sb.seed]
    elif isinstance(seeds, int):
        if seeds < 1:
            raise NatsimError(f"--seeds must be at least 1, not {seeds}")
        seed_list = [sb.seed + i for i in range(seeds)]
    else:
        seed_list = [int(s) for s in seeds]
    if labels is None:
        labels = (sb.name, sc.name) if sb.name != sc.name else ("base", "candidate")
    b = Side(labels[0], sb, text=tb)
    c = Side(labels[1], sc, text=tc)
    from sim.runner import simulate

    for side in (b, c):
        for s in seed_list:
            if progress is not None:
                progress(f"running {side.label} (scenario {side.scenario.name}) seed {s}")
            side.results.append(simulate(side.scenario, seed=s))
    metrics = _metrics_frame(b.results, c.results)
    structure = structure_diff(sb, sc, b.results, c.results)
    exp, note = _expectations(b, c)
    return Comparison(b, c, seed_list, metrics, structure, exp, note)


# ------------------------------------------------------------------- text

_ARROWS = {"better": "▲ better", "worse": "▼ worse", "same": "= same", "changed": "~ changed"}


def format_value(v: Any, unit: str) -> str:
    """A metric value for people: ratios as %, ms and s with 3 decimals, counts as integers."""
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "never" if v > 0 else "-inf"
    if unit == "ratio":
        return f"{v:.4%}"
    if unit == "ms":
        return f"{v:,.3f} ms"
    if unit == "s":
        return f"{v:,.3f} s"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def format_delta(v: float, unit: str) -> str:
    if v != v:
        return ""
    if math.isinf(v):
        return "+inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if unit == "ratio":
        return f"{v * 100:+.4f} pp"
    if unit == "ms":
        return f"{v:+,.3f} ms"
    if unit == "s":
        return f"{v:+,.3f} s"
    return f"{v:+,.0f}" if float(v).is_integer() else f"{v:+,.1f}"


def verdict_text(v: str) -> str:
    return _ARROWS.get(v, v)


def _text_table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def metric_rows(metrics: pd.DataFrame) -> list[list[str]]:
    """The metrics as text cells: section, scope, metric, base, candidate, delta, verdict."""
    return [
        [
            r.section,
            r.scope,
            r.metric,
            format_value(r.base, r.unit),
            format_value(r.candidate, r.unit),
            format_delta(r.delta, r.unit),
            verdict_text(r.verdict),
        ]
        for r in metrics.itertuples()
    ]


def structure_rows(structure: pd.DataFrame, all_rows: bool = False) -> list[list[str]]:
    """Structure rows as text; by default only summaries ``(…)``, servers and what changed."""
    out = []
    for r in structure.itertuples():
        keep = all_rows or r.change != "same" or r.item.startswith("(") or r.aspect == "servers"
        if r.aspect == "queue traffic":
            keep = all_rows or r.change != "same" or r.item.startswith("cluster")
        if keep:
            b = "—" if _missing(r.base) else str(r.base)
            c = "—" if _missing(r.candidate) else str(r.candidate)
            out.append([r.aspect, r.scope, r.item, b, c, r.change])
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def format_comparison(c: Comparison) -> str:
    """The comparison as text: metrics with deltas and verdicts, expectations, structure."""
    seeds = ", ".join(str(s) for s in c.seeds)
    lines = [
        f"natsim diff: {c.base.label} (base) vs {c.candidate.label} (candidate); "
        f"seed{'s' if len(c.seeds) > 1 else ''} {seeds}"
        + (" (metrics are means over seeds)" if len(c.seeds) > 1 else ""),
        "",
        "Metrics",
    ]
    headers = ["section", "scope", "metric", c.base.label, c.candidate.label, "delta", "verdict"]
    rows = metric_rows(c.metrics)
    lines += _text_table(headers, rows, {3, 4, 5}) if rows else ["  (no metrics)"]
    counts = c.metrics.verdict.value_counts()
    lines.append(
        "  "
        + ", ".join(f"{int(counts.get(k, 0))} {k}" for k in ("better", "worse", "changed", "same"))
    )
    lines += ["", "Expectations"]
    e = c.expectations
    if e is None or e.empty:
        lines.append(f"  {c.expectations_note or 'no expectations'}")
    else:
        erows = [
            [
                str(r.expectation),
                _fmt_exp(r.base_value, r.base_passed),
                _fmt_exp(r.candidate_value, r.candidate_passed),
                str(r.verdict),
            ]
            for r in e.itertuples()
        ]
        lines += _text_table(
            ["expectation", c.base.label, c.candidate.label, "verdict"], erows, set()
        )
        n = len(c.regressions)
        lines.append(f"  {n} regression{'s' if n != 1 else ''}")
    lines += ["", "Structure (summaries and what changed)"]
    srows = structure_rows(c.structure)
    lines += (
        _text_table(
            ["aspect", "scope", "item", c.base.label, c.candidate.label, "change"], srows, set()
        )
        if srows
        else ["  (nothing)"]
    )
    return "\n".join(lines)


def _fmt_exp(value: Any, passed: Any) -> str:
    if passed is None or passed != passed:
        return "—"
    if isinstance(value, float):
        v = "never" if math.isinf(value) else f"{value:.6g}"
    else:
        v = str(value)
    return f"{'pass' if passed else 'FAIL'} ({v})"


# --------------------------------------------------------------- command


def _default_out(c: Comparison) -> Path:
    return Path("reports") / f"{c.base.label}-vs-{c.candidate.label}"


def _cmd_diff(args: argparse.Namespace) -> int:
    quiet = args.quiet

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    if args.variant is not None:
        if args.candidate is not None:
            raise NatsimError("give either CANDIDATE.yaml or --variant NAME, not both")
        base, candidate = load_variant(args.base, args.variant)
        labels = (base.name, args.variant if args.variant != base.name else "variant")
        texts = (_read(args.base), _variant_text(base, args.variant))
    else:
        if args.candidate is None:
            raise NatsimError("give a CANDIDATE.yaml to compare with, or --variant NAME")
        base, _ = _load(args.base)
        candidate, _ = _load(args.candidate)
        labels = None
        if base.name == candidate.name:
            a, b = Path(args.base).stem, Path(args.candidate).stem
            labels = (a, b) if a != b else ("base", "candidate")
        texts = (_read(args.base), _read(args.candidate))
    if args.seeds is not None and args.seeds < 1:
        raise NatsimError(f"--seeds must be at least 1, not {args.seeds}")
    c = compare(base, candidate, seeds=args.seeds, labels=labels, progress=say)
    c.base.text, c.candidate.text = texts
    print(format_comparison(c))
    if not args.no_report:
        import matplotlib

        matplotlib.use("Agg")
        from sim.diff_report import write_comparison

        out = Path(args.out) if args.out else _default_out(c)
        say("writing the comparison…")
        index = write_comparison(c, out)
        print(f"\ncomparison: {index}")
    if args.fail_on_regression and len(c.regressions):
        print(
            f"natsim diff: {len(c.regressions)} expectation(s) pass in "
            f"{c.base.label} and fail in {c.candidate.label}",
            file=sys.stderr,
        )
        return 1
    return 0


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _variant_text(base: Scenario, name: str) -> str:
    import yaml

    body = yaml.safe_dump(
        {"variant": name, "overrides": copy.deepcopy(base.variants[name])},
        sort_keys=False,
        allow_unicode=True,
    )
    return f"# scenario '{base.name}' with variant '{name}' applied\n{body}"


def add_command(subparsers: Any) -> None:
    """Add ``natsim diff`` to the command line."""
    p = subparsers.add_parser(
        "diff",
        help="run two topologies on the same seeds and compare them",
        description=(
            "Run BASE and CANDIDATE (or BASE and its variant NAME) on the same workload, "
            "faults and seeds; print metrics side by side with deltas and verdicts, "
            "expectations, and the structural diff; write an HTML comparison."
        ),
    )
    p.add_argument("base", help="base scenario YAML file")
    p.add_argument("candidate", nargs="?", default=None, help="candidate scenario YAML file")
    p.add_argument("--variant", default=None, help="compare BASE with its variant NAME instead")
    p.add_argument(
        "--seeds", type=int, default=None, help="run N seeds from the base's seed (default 1)"
    )
    p.add_argument(
        "--out", default=None, help="report folder (default reports/<base>-vs-<candidate>)"
    )
    p.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when an expectation passes in the base and fails in the candidate",
    )
    p.add_argument("--no-report", action="store_true", help="do not write the HTML comparison")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_diff)
