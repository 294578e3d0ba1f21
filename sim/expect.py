"""Expectations: assertions over a run's metrics, written in a scenario's ``expect:``.

One string per expectation::

    metric{label=value, ...} OP number[unit]

``OP`` is one of ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``.  The number
takes the unit of its metric: a duration for times (``2s``, ``50ms``; a bare
number is seconds), a plain number or a percentage for ratios (``0.999``,
``99.9%``), a whole number for counts.  The labels (``workload``, ``cluster``,
``reason``, ``outcome``, ``window``, ``fault``, ``settle``) filter what is
measured; each metric accepts only the labels listed in :data:`METRICS`.

:func:`parse_expectation` checks the grammar, the metric and its labels
(unknown ones are an error naming what is allowed); :func:`validate` also
checks the names against a scenario (workloads, clusters, fault numbers), so a
wrong expectation fails when the scenario loads.  :func:`evaluate` measures
every expectation on a :class:`~sim.results.Result` and returns one row each:
a metric that cannot be measured in that run (``failover_time`` without a
``stop_responders`` fault) is a failing row with the reason, never a crash.
:func:`check` runs a scenario over one or more seeds and evaluates it.
"""

from __future__ import annotations

import math
import operator
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sim.errors import NatsimError, UnitError
from sim.units import format_duration, parse_duration

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result
    from sim.scenario.spec import Scenario

__all__ = [
    "METRICS",
    "ExpectError",
    "Expectation",
    "Metric",
    "check",
    "evaluate",
    "format_table",
    "format_value",
    "parse_expectation",
    "validate",
]


class ExpectError(NatsimError, ValueError):
    """An expectation is not well formed, or names something the scenario lacks."""


class NotMeasurable(Exception):
    """A metric has no value in this run (the reason is the message)."""


# ------------------------------------------------------------------ metrics

#: windows a ``window=`` label may name
WINDOWS = ("all", "before", "fault", "after")

#: what each label means (for errors and the README)
LABELS = {
    "workload": "a workload name",
    "cluster": "a cluster name",
    "reason": "a loss reason (sim.trace.DropReason label) or 'unowed'",
    "outcome": "a request outcome: ok, timeout, no_responders, client_gone",
    "window": "all (default), before, fault or after the fault(s)",
    "fault": "a fault number (0-based, as in the fault timeline)",
    "settle": "a duration added after each fault's end",
}


@dataclass(frozen=True)
class Metric:
    """One metric: its unit kind, allowed labels, definition and how to compute it."""

    name: str
    kind: str  # "ratio", "count" or "duration"
    labels: tuple[str, ...]
    doc: str
    compute: Callable[[Result, dict[str, str]], float]
    #: the workload label must name a request_reply workload
    requests: bool = False


@dataclass(frozen=True)
class Expectation:
    """A parsed expectation."""

    text: str
    metric: str
    labels: dict[str, str] = field(hash=False)
    op: str
    threshold: float
    #: how the threshold was written ("%" for a percentage), for display
    percent: bool = False

    def holds(self, value: float) -> bool:
        """Tell whether ``value`` satisfies the comparison (NaN never does)."""
        if value != value:
            return False
        return bool(_OPS[self.op](value, self.threshold))

    def show_threshold(self) -> str:
        """The threshold as the user would read it."""
        kind = METRICS[self.metric].kind
        if self.percent:
            return f"{self.threshold * 100:g}%"
        return format_value(self.threshold, kind)


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}


def format_value(value: float, kind: str) -> str:
    """Format a measured value of a metric kind for a table."""
    if value != value:
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "duration":
        return format_duration(value) if value else "0s"
    if kind == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"
    return f"{value:.6g}"


# ----------------------------------------------------------- result views


def _home_cluster(result: Result) -> Any:
    """Client name → the cluster of the server it was placed on."""
    servers = result.servers.set_index("server")["cluster"]
    return result.clients.set_index("client")["server"].map(servers)


def _windows(result: Result, labels: Mapping[str, str]) -> list[tuple[float, float]]:
    """The time intervals ``[lo, hi)`` a ``window``/``fault`` label selects.

    ``fault`` is the window of every fault of the timeline (of fault N with
    ``fault=N``), ``before`` runs up to the first one's start and ``after``
    from the last one's end.  A ``start_responders`` only ends a
    ``stop_responders`` (see :func:`~sim.analysis.faults.fault_timeline`),
    so it opens no window unless picked by number.
    """
    window = labels.get("window", "fault" if "fault" in labels else "all")
    if window == "all":
        return [(-math.inf, math.inf)]
    from sim.analysis.faults import fault_timeline

    faults = fault_timeline(result)
    if "fault" in labels:
        n = int(labels["fault"])
        faults = faults[faults.number == n]
        if faults.empty:
            raise NotMeasurable(f"no fault {n} in this run")
    else:
        # a start_responders undoes a stop_responders: it is no fault window of its own
        faults = faults[faults.action != "start_responders"]
    if faults.empty:
        raise NotMeasurable("no fault in this run")
    starts, ends = faults.start.to_numpy(), faults.end.to_numpy()
    if window == "before":
        return [(-math.inf, float(starts.min()))]
    if window == "after":
        return [(float(ends.max()), math.inf)]
    return [(float(s), float(e)) for s, e in zip(starts, ends, strict=True)]


def _in_windows(t: Any, windows: list[tuple[float, float]]) -> Any:
    mask = None
    for lo, hi in windows:
        m = (t >= lo) & (t < hi)
        mask = m if mask is None else mask | m
    return mask


def _view(result: Result, labels: Mapping[str, str]) -> SimpleNamespace:
    """The result's tables restricted to a workload, a home cluster and a time window.

    Messages by publish time, deliveries by their message's publish time,
    drops by their message's publish time, requests by start time.  The
    cluster is the home cluster of the subscriber (deliveries, drops; a drop
    naming no subscriber goes by the server that dropped it), of the
    publisher (messages) and of the requester (requests).
    """
    m, d, x, r = result.messages, result.deliveries, result.drops, result.requests
    wl = labels.get("workload")
    if wl is not None:
        m, d, x, r = (t[t.workload == wl] for t in (m, d, x, r))
    if "window" in labels or "fault" in labels:
        win = _windows(result, labels)
        m = m[_in_windows(m.time, win)]
        d = d[_in_windows(d.publish_time, win)]
        x = x[x.msg_id.isin(m.msg_id)] if len(x) else x
        r = r[_in_windows(r.start, win)]
    cluster = labels.get("cluster")
    if cluster is not None:
        home = _home_cluster(result)
        srv = result.servers.set_index("server")["cluster"]
        m = m[m.client.map(home) == cluster]
        d = d[d.subscriber.map(home) == cluster]
        xc = x.subscriber.map(home).where(x.subscriber.notna(), x.server.map(srv))
        x = x[xc == cluster]
        r = r[r.requester.map(home) == cluster]
    return SimpleNamespace(
        messages=m,
        deliveries=d,
        drops=x,
        requests=r,
        clients=result.clients,
        servers=result.servers,
        events=result.events,
        meta=result.meta,
    )


def _guarantees(result: Result, labels: Mapping[str, str]) -> Any:
    from sim.analysis.guarantees import guarantee_table

    return guarantee_table(_view(result, labels))


# ------------------------------------------------------- metric functions


def _delivery_ratio(result: Result, labels: dict[str, str]) -> float:
    g = _guarantees(result, labels)
    owed = int(g.owed.sum()) if len(g) else 0
    if owed == 0:
        raise NotMeasurable("nothing was owed (no message found interest)")
    return int(g.delivered.sum()) / owed


def _lost(result: Result, labels: dict[str, str]) -> float:
    from sim.analysis.metrics import split_losses

    lost, unowed = split_losses(_view(result, labels))
    reason = labels.get("reason")
    if reason == "unowed":
        return float(unowed.msg_id.nunique())
    if reason is not None:
        return float((lost.reason == reason).sum())
    return float(len(lost))


def _column_sum(column: str) -> Callable[[Result, dict[str, str]], float]:
    def compute(result: Result, labels: dict[str, str]) -> float:
        g = _guarantees(result, labels)
        return float(g[column].sum()) if column in g else 0.0

    return compute


def _latency(q: float) -> Callable[[Result, dict[str, str]], float]:
    def compute(result: Result, labels: dict[str, str]) -> float:
        d = _view(result, labels).deliveries
        lat = d.latency[d.kind != "reply"]
        if lat.empty:
            raise NotMeasurable("no deliveries")
        return float(lat.quantile(q))

    return compute


def _request_latency(q: float) -> Callable[[Result, dict[str, str]], float]:
    def compute(result: Result, labels: dict[str, str]) -> float:
        r = _view(result, labels).requests
        lat = r.latency[r.outcome == "ok"]
        if lat.empty:
            raise NotMeasurable("no answered requests")
        return float(lat.quantile(q))

    return compute


def _request_success_ratio(result: Result, labels: dict[str, str]) -> float:
    r = _view(result, labels).requests
    if r.empty:
        raise NotMeasurable("no requests")
    return float((r.outcome == "ok").mean())


def _requests(result: Result, labels: dict[str, str]) -> float:
    r = _view(result, labels).requests
    if "outcome" in labels:
        return float((r.outcome == labels["outcome"]).sum())
    return float(len(r))


def _failover_workload(result: Result, labels: Mapping[str, str]) -> str:
    from sim.analysis.failover import fault_windows

    if "workload" in labels:
        return labels["workload"]
    win = fault_windows(result)
    names = list(dict.fromkeys(str(d).split(" ")[0] for d in win.detail))
    if len(names) != 1:
        what = "no" if not names else "more than one"
        raise NotMeasurable(f"{what} workload had its responders stopped: name one (workload=)")
    return names[0]


def _failover(key: str) -> Callable[[Result, dict[str, str]], float]:
    def compute(result: Result, labels: dict[str, str]) -> float:
        from sim.analysis.failover import failover_summary

        workload = _failover_workload(result, labels)
        try:
            s = failover_summary(result, workload)
        except ValueError as exc:
            raise NotMeasurable(str(exc)) from None
        value = float(s[key])
        if value != value:
            raise NotMeasurable(f"no {key.replace('_', ' ')}: responders never came back")
        return value

    return compute


def _served_share(result: Result, labels: dict[str, str]) -> float:
    from sim.analysis.failover import served_share

    workload = _failover_workload(result, labels)
    win = _windows(result, labels)
    if len(win) != 1:
        lo, hi = min(w[0] for w in win), max(w[1] for w in win)
        win = [(lo, hi)]
    lo, hi = win[0]
    share = served_share(result, workload, {"w": (lo, hi)})
    r = result.requests
    answered = r[(r.workload == workload) & (r.outcome == "ok") & (r.start >= lo) & (r.start < hi)]
    if answered.empty:
        raise NotMeasurable("no answered requests in the window")
    return float(share["w"].get(labels["cluster"], 0.0))


def _convergence_time(result: Result, labels: dict[str, str]) -> float:
    from sim.analysis.faults import convergence

    c = convergence(result)
    if "cluster" in labels:
        c = c[c.cluster == labels["cluster"]]
    if "window" in labels or "fault" in labels:
        c = c[_in_windows(c.start, _windows(result, labels))]
    if c.empty:
        return 0.0
    return float(c.seconds.fillna(math.inf).max())


def _reconnect_gap_max(result: Result, labels: dict[str, str]) -> float:
    from sim.analysis.faults import reconnect_times

    rt = reconnect_times(result)
    if "workload" in labels:
        clients = result.clients
        mine = set(clients.client[clients.workload == labels["workload"]])
        rt = rt[rt.client.isin(mine)]
    if "cluster" in labels:
        rt = rt[rt.client.map(_home_cluster(result)) == labels["cluster"]]
    if "window" in labels or "fault" in labels:
        rt = rt[_in_windows(rt.disconnected_at, _windows(result, labels))]
    if rt.empty:
        return 0.0
    return float(rt.gap.fillna(math.inf).max())


def _loss_by_fault(result: Result, labels: dict[str, str]) -> float:
    from sim.analysis.faults import loss_by_fault

    settle = parse_duration(labels.get("settle", "0"))
    t = loss_by_fault(result, settle=settle)
    if "fault" in labels:
        n = int(labels["fault"])
        if n not in t.index:
            raise NotMeasurable(f"no fault {n} in this run")
        t = t.loc[[n]]
    if t.empty:
        raise NotMeasurable("no fault in this run")
    reason = labels.get("reason")
    col = "lost" if reason is None else f"lost_{reason}"
    return float(t[col].sum()) if col in t else 0.0


def _jetstream(column: str) -> Callable[[Result, dict[str, str]], float]:
    """Sum a :func:`~sim.analysis.jetstream.jetstream_table` column (over ``workload=``)."""

    def compute(result: Result, labels: dict[str, str]) -> float:
        from sim.analysis.jetstream import jetstream_table

        t = jetstream_table(result)
        wl = labels.get("workload")
        if wl is not None:
            if wl not in t.index:
                raise NotMeasurable(f"workload '{wl}' is not a jetstream workload")
            t = t.loc[[wl]]
        if t.empty:
            raise NotMeasurable("no jetstream workload")
        return float(t[column].sum())

    return compute


def _monitored(column: str, rate: bool = False) -> Callable[[Result, dict[str, str]], float]:
    """The highest value of a monitoring column over the servers and samples selected.

    ``rate``: of its rate per second over each interval (``monitor_rates``).
    """

    def compute(result: Result, labels: dict[str, str]) -> float:
        from sim.analysis.monitoring import monitor_rates

        if getattr(result, "monitor", None) is None:
            raise NotMeasurable("the run was not monitored: give the scenario monitor:")
        m = monitor_rates(result, (column,)) if rate else result.monitor
        if "cluster" in labels:
            clusters = result.servers.set_index("server").cluster
            m = m[m.server.map(clusters) == labels["cluster"]]
        if "window" in labels or "fault" in labels:
            m = m[_in_windows(m.time, _windows(result, labels))]
        if m.empty:
            raise NotMeasurable("no monitoring sample in the window")
        return float(m[column].max())

    return compute


#: the JetStream metrics: (metric name, jetstream_table column, definition)
_JS_METRICS = (
    ("js_stored_duplicates", "stored_duplicates", "stored copies beyond the first per message"),
    (
        "js_acked_lost",
        "acked_lost",
        "acked messages missing from the replicated log at the end (0 while a quorum survives)",
    ),
    ("js_delivered_twice", "delivered_more_than_once", "messages received more than once"),
    ("js_never_delivered", "never_delivered", "messages published and never received"),
    ("js_redeliveries", "redeliveries", "receipts a consumer sent as redeliveries"),
    ("js_deduplicated", "deduplicated", "publish attempts the stream answered as duplicates"),
)

_DELIVERY = ("workload", "cluster", "window", "fault")
_REQUEST = ("workload", "cluster", "window", "fault")
_MONITOR = ("cluster", "window", "fault")


#: every metric an expectation may name, by name
def _received(result: Result, labels: dict[str, str]) -> float:
    """Deliveries to the subscribers of a workload (whoever published), owed or not."""
    d = result.deliveries
    wl = labels.get("workload")
    if wl is not None:
        mine = set(result.clients.client[result.clients.workload == wl])
        d = d[d.subscriber.isin(mine)]
    return float(len(d))


def _samples(result: Result) -> Any:
    """The service latency samples (an empty table for results that predate it)."""
    frames = getattr(result, "frames", {})
    if "service_latency" not in frames:
        raise NotMeasurable("no service latency table in these results")
    return frames["service_latency"]


def _latency_samples(result: Result, labels: dict[str, str]) -> float:
    samples = _samples(result)
    if "cluster" in labels:
        samples = samples[samples.requester_cluster == labels["cluster"]]
    return float(len(samples))


def _service_total(q: float) -> Callable[[Result, dict[str, str]], float]:
    def compute(result: Result, labels: dict[str, str]) -> float:
        samples = _samples(result)
        if "cluster" in labels:
            samples = samples[samples.requester_cluster == labels["cluster"]]
        if samples.empty:
            raise NotMeasurable("no service latency samples")
        return float(samples.total.quantile(q))

    return compute


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(
            "delivery_ratio",
            "ratio",
            _DELIVERY,
            "delivered / owed copies (guarantee table; a queue group is owed one copy)",
            _delivery_ratio,
        ),
        Metric(
            "lost",
            "count",
            (*_DELIVERY, "reason"),
            "lost owed copies (reason= one loss reason; reason=unowed counts messages lost "
            "in flight before any server booked them)",
            _lost,
        ),
        Metric(
            "duplicates",
            "count",
            _DELIVERY,
            "deliveries beyond the first per (message, subscriber client)",
            _column_sum("duplicated"),
        ),
        Metric(
            "out_of_order",
            "count",
            _DELIVERY,
            "deliveries that arrived before an earlier message of the same publisher, "
            "per (publisher, subscriber client)",
            _column_sum("out_of_order"),
        ),
        Metric(
            "published",
            "count",
            _DELIVERY,
            "messages and requests published (replies not counted)",
            _column_sum("published"),
        ),
        Metric(
            "delivered",
            "count",
            _DELIVERY,
            "owed copies that arrived",
            _column_sum("delivered"),
        ),
        *(
            Metric(
                f"latency_p{p}",
                "duration",
                _DELIVERY,
                f"the {p}th percentile of delivery latency (publish → receive), replies left out",
                _latency(q),
            )
            for p, q in (("50", 0.5), ("90", 0.9), ("99", 0.99), ("999", 0.999))
        ),
        Metric(
            "request_success_ratio",
            "ratio",
            _REQUEST,
            "requests answered (outcome ok) / requests made",
            _request_success_ratio,
            requests=True,
        ),
        Metric(
            "requests",
            "count",
            (*_REQUEST, "outcome"),
            "requests made (outcome= only those with that outcome)",
            _requests,
            requests=True,
        ),
        *(
            Metric(
                f"request_latency_p{p}",
                "duration",
                _REQUEST,
                f"the {p}th percentile of request latency (request → first reply) "
                "of answered requests",
                _request_latency(q),
                requests=True,
            )
            for p, q in (("50", 0.5), ("90", 0.9), ("99", 0.99))
        ),
        Metric(
            "failover_time",
            "duration",
            ("workload",),
            "from the stop_responders fault to the first reply from another cluster "
            "(inf if none came)",
            _failover("failover_time"),
            requests=True,
        ),
        Metric(
            "failback_time",
            "duration",
            ("workload",),
            "from the start_responders to the first reply from the restored cluster",
            _failover("failback_time"),
            requests=True,
        ),
        Metric(
            "failed_in_switch",
            "count",
            ("workload",),
            "requests that failed around the switch (from one timeout before the fault "
            "to the first successful failover)",
            _failover("lost_in_switch"),
            requests=True,
        ),
        Metric(
            "served_share",
            "ratio",
            ("workload", "cluster", "window", "fault"),
            "share of the workload's answered requests served by the cluster= "
            "(requests started in the window)",
            _served_share,
            requests=True,
        ),
        Metric(
            "convergence_time",
            "duration",
            ("cluster", "window", "fault"),
            "the longest period a cluster's route mesh or interest was incomplete "
            "(0 when never; inf when it never converged)",
            _convergence_time,
        ),
        Metric(
            "reconnect_gap_max",
            "duration",
            ("workload", "cluster", "window", "fault"),
            "the longest time a client was disconnected (0 when none was; inf when one "
            "never reconnected)",
            _reconnect_gap_max,
        ),
        *(
            Metric(name, "count", ("workload",), f"JetStream: {doc}", _jetstream(column))
            for name, column, doc in _JS_METRICS
        ),
        Metric(
            "received",
            "count",
            ("workload",),
            "deliveries to the workload's subscribers, whoever published (0 for a "
            "subscriber that an account boundary shuts out)",
            _received,
        ),
        Metric(
            "latency_samples",
            "count",
            ("cluster",),
            "service latency samples published (cluster= of the requester)",
            _latency_samples,
        ),
        *(
            Metric(
                f"service_latency_p{p}",
                "duration",
                ("cluster",),
                f"the {p}th percentile of the samples' total latency (requester RTT + "
                "round trip at its server)",
                _service_total(q),
            )
            for p, q in (("50", 0.5), ("99", 0.99))
        ),
        Metric(
            "peak_connections",
            "count",
            _MONITOR,
            "the most client connections one server held at a monitoring sample (needs monitor:)",
            _monitored("connections"),
        ),
        *(
            Metric(
                f"peak_msgs_{way}_per_s",
                "count",
                _MONITOR,
                f"the highest rate of messages {way} of one server (every connection kind) "
                "over a monitoring interval (needs monitor:)",
                _monitored(f"{way}_msgs", rate=True),
            )
            for way in ("in", "out")
        ),
        Metric(
            "slow_consumers",
            "count",
            ("cluster",),
            "the most clients one server closed as slow consumers (needs monitor:)",
            _monitored("slow_consumers"),
        ),
        Metric(
            "loss_by_fault",
            "count",
            ("fault", "reason", "settle"),
            "lost owed copies charged to the fault(s) (dropped between a fault's start and "
            "its end + settle)",
            _loss_by_fault,
        ),
    ]
}

#: labels a metric must be given
_REQUIRED = {"served_share": ("cluster",)}

# ------------------------------------------------------------------ parsing

_EXPR_RE = re.compile(
    r"""\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*
        (?:\{(?P<labels>[^{}]*)\})?\s*
        (?P<op><=|>=|==|!=|<|>)\s*
        (?P<value>\S+)\s*""",
    re.VERBOSE,
)
_LABEL_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^,=\s]+)\s*")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

_GRAMMAR = "metric{label=value, ...} OP number (e.g. delivery_ratio{workload=ticks} >= 99.9%)"


def _parse_threshold(text: str, kind: str) -> tuple[float, bool]:
    if text.lower() in ("inf", "+inf"):
        return math.inf, False
    if kind == "duration":
        if _NUMBER_RE.fullmatch(text):
            return float(text), False
        try:
            return parse_duration(text), False
        except UnitError as exc:
            raise ExpectError(f"{exc}") from None
    if text.endswith("%") and _NUMBER_RE.fullmatch(text[:-1].strip()):
        if kind != "ratio":
            raise ExpectError(f"'{text}': a percentage is for ratios, not a {kind}")
        return float(text[:-1]) / 100, True
    if _NUMBER_RE.fullmatch(text):
        value = float(text)
        if kind == "count" and not value.is_integer():
            raise ExpectError(f"'{text}' is not a whole number (a count)")
        if kind == "ratio" and not 0 <= value <= 1:
            raise ExpectError(f"'{text}': a ratio is between 0 and 1 (write {text}% for percent)")
        return value, False
    hint = {"ratio": "0.999 or 99.9%", "count": "0 or 10"}[kind]
    raise ExpectError(f"'{text}' is not a number for a {kind} (use e.g. {hint})")


def _parse_labels(text: str, metric: Metric) -> dict[str, str]:
    labels: dict[str, str] = {}
    if not text.strip():
        return labels
    for part in text.split(","):
        m = _LABEL_RE.fullmatch(part)
        if not m:
            raise ExpectError(f"'{part.strip()}' is not a label (use name=value)")
        name, value = m.group(1), m.group(2).strip("\"'")
        if name not in metric.labels:
            allowed = ", ".join(metric.labels) or "none"
            raise ExpectError(f"{metric.name} takes no label '{name}' (labels: {allowed})")
        if name in labels:
            raise ExpectError(f"label '{name}' given twice")
        if name == "window" and value not in WINDOWS:
            raise ExpectError(f"window '{value}' is not one of: {', '.join(WINDOWS)}")
        if name == "fault" and not value.isdigit():
            raise ExpectError(f"fault '{value}' is not a fault number (0, 1, …)")
        if name == "settle":
            try:
                parse_duration(value)
            except UnitError as exc:
                raise ExpectError(str(exc)) from None
        if name == "outcome":
            from sim.analysis.metrics import OUTCOMES

            if value not in OUTCOMES:
                raise ExpectError(f"outcome '{value}' is not one of: {', '.join(OUTCOMES)}")
        if name == "reason":
            from sim.trace import DropReason

            reasons = sorted(r.label for r in DropReason if r.label != "no_interest")
            if value not in [*reasons, "unowed"]:
                known = ", ".join([*reasons, "unowed"])
                raise ExpectError(f"reason '{value}' is not a loss reason (one of: {known})")
        labels[name] = value
    if labels.get("window") in ("before", "after", "all") and "fault" in labels:
        pass  # before/after/all relative to fault N: fine
    return labels


def parse_expectation(text: Any) -> Expectation:
    """Parse one expectation string; raise :class:`ExpectError` with one line if bad.

    Checks the grammar, that the metric exists, that its labels are allowed
    and their values well formed, and that the threshold has the metric's
    unit.  Names (workloads, clusters) are checked by :func:`validate`.
    """
    if not isinstance(text, str):
        raise ExpectError(f"expected a string like '{_GRAMMAR}', got {text!r}")
    m = _EXPR_RE.fullmatch(text)
    if not m:
        raise ExpectError(f"'{text.strip()}' is not an expectation (write {_GRAMMAR})")
    name = m.group("metric")
    metric = METRICS.get(name)
    if metric is None:
        import difflib

        close = difflib.get_close_matches(name, list(METRICS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (metrics: {', '.join(METRICS)})"
        raise ExpectError(f"unknown metric '{name}'{hint}")
    labels = _parse_labels(m.group("labels") or "", metric)
    for req in _REQUIRED.get(name, ()):
        if req not in labels:
            raise ExpectError(f"{name} needs a '{req}' label")
    threshold, percent = _parse_threshold(m.group("value"), metric.kind)
    return Expectation(" ".join(text.split()), name, labels, m.group("op"), threshold, percent)


def validate(scenario: Scenario, text: Any) -> Expectation:
    """Parse an expectation and check the names it uses against ``scenario``.

    Workloads must exist (and be ``request_reply`` ones for request and
    failover metrics), clusters must exist, a fault number must be one of
    the scheduled faults (or any number when the scenario has ``chaos:``).
    """
    e = parse_expectation(text)
    kinds = {w.name: w.kind for w in scenario.workloads}
    wl = e.labels.get("workload")
    if wl is not None:
        if wl not in kinds:
            raise ExpectError(f"no workload '{wl}' (workloads: {', '.join(kinds) or 'none'})")
        if METRICS[e.metric].requests and kinds[wl] not in ("request_reply", "trace"):
            raise ExpectError(f"{e.metric}: workload '{wl}' is {kinds[wl]}, it makes no requests")
        if e.metric.startswith("js_") and kinds[wl] != "jetstream":
            raise ExpectError(f"{e.metric}: workload '{wl}' is {kinds[wl]}, not jetstream")
    cluster = e.labels.get("cluster")
    if cluster is not None and cluster not in scenario.topology.clusters:
        known = ", ".join(scenario.topology.clusters)
        raise ExpectError(f"no cluster '{cluster}' (clusters: {known})")
    if "fault" in e.labels and scenario.chaos is None:
        n, count = int(e.labels["fault"]), len(scenario.faults)
        if n >= count:
            raise ExpectError(f"no fault {n}: the scenario schedules {count} fault(s), 0-based")
    return e


# --------------------------------------------------------------- evaluation

COLUMNS = ["expectation", "metric", "value", "shown", "threshold", "passed", "error"]


def evaluate(result: Result, expectations: Iterable[Any] | None = None) -> pd.DataFrame:
    """Measure each expectation on ``result``; one row each, in order.

    Parameters
    ----------
    result : Result
        A run's result (fresh or loaded).
    expectations : iterable of str, optional
        The expressions (default: the ``expect`` of the scenario stored in
        ``result.meta["scenario_spec"]``).

    Returns
    -------
    DataFrame
        Columns ``expectation`` (the text), ``metric``, ``value`` (the
        measured number, NaN when not measurable), ``shown`` (the value
        formatted), ``threshold`` (formatted), ``passed`` (bool) and ``error``
        (why it could not be measured or parsed; empty otherwise).
    """
    import pandas as pd

    if expectations is None:
        spec = result.meta.get("scenario_spec") or {}
        expectations = spec.get("expect") or [] if isinstance(spec, dict) else []
    rows = []
    for text in expectations:
        try:
            e = parse_expectation(text)
        except ExpectError as exc:
            rows.append([str(text), "", math.nan, "n/a", "", False, str(exc)])
            continue
        kind = METRICS[e.metric].kind
        try:
            value = float(METRICS[e.metric].compute(result, dict(e.labels)))
            error = ""
        except NotMeasurable as exc:
            value, error = math.nan, f"not measurable: {exc}"
        shown = format_value(value, kind)
        if e.percent and value == value and not math.isinf(value):
            shown = f"{value * 100:.6g}%"
        rows.append([e.text, e.metric, value, shown, e.show_threshold(), e.holds(value), error])
    return pd.DataFrame(rows, columns=COLUMNS).astype({"passed": bool, "value": float})


def check(
    scenario: str | os.PathLike[str] | Mapping[str, Any] | Scenario,
    seeds: int = 1,
    seed: int | None = None,
    expectations: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Run a scenario over ``seeds`` seeds and evaluate its expectations on each run.

    Parameters
    ----------
    scenario : path, mapping or Scenario
        What :func:`sim.scenario.load.load_scenario` accepts.
    seeds : int
        How many runs: seeds ``seed``, ``seed + 1``, …
    seed : int, optional
        The first seed (default: the scenario's).
    expectations : sequence of str, optional
        Expressions to evaluate instead of the scenario's ``expect``.

    Returns
    -------
    DataFrame
        The :func:`evaluate` rows of every run, with a ``seed`` column first.
    """
    import pandas as pd

    from sim.runner import simulate
    from sim.scenario.load import load_scenario

    if seeds < 1:
        raise ExpectError(f"seeds must be at least 1, got {seeds}")
    spec = load_scenario(scenario)
    exprs = list(spec.expect if expectations is None else expectations)
    for text in exprs:
        validate(spec, text)
    first = spec.seed if seed is None else seed
    frames = []
    for s in range(first, first + seeds):
        rows = evaluate(simulate(spec, seed=s), exprs)
        rows.insert(0, "seed", s)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per expectation over the seeds of :func:`check`: value or min…max, pass/fail."""
    import pandas as pd

    out = []
    for text, g in rows.groupby("expectation", sort=False):
        seeds = list(g.seed) if "seed" in g else []
        if len(g) == 1:
            shown = g.shown.iloc[0]
        else:
            vals = g.value.dropna()
            i, j = (vals.idxmin(), vals.idxmax()) if len(vals) else (None, None)
            if i is None:
                shown = "n/a"
            elif g.shown[i] == g.shown[j]:
                shown = g.shown[i]
            else:
                shown = f"{g.shown[i]} … {g.shown[j]}"
        failed = [s for s, p in zip(seeds, g.passed, strict=True) if not p]
        errors = list(dict.fromkeys(e for e in g.error if e))
        note = "; ".join(errors)
        if failed and len(g) > 1:
            note = (f"failed with seed(s) {', '.join(map(str, failed))}. " + note).strip()
        out.append(
            {
                "expectation": text,
                "measured": shown,
                "threshold": g.threshold.iloc[0],
                "result": "PASS" if g.passed.all() else "FAIL",
                "note": note,
            }
        )
    return pd.DataFrame(out, columns=["expectation", "measured", "threshold", "result", "note"])


def format_table(rows: pd.DataFrame) -> str:
    """The text table of :func:`summarise` (or :func:`check` rows), one line per expectation."""
    s = rows if "result" in rows else summarise(rows)
    head = ["expectation", "measured", "result"]
    body = [[r.expectation, r.measured, r.result] for r in s.itertuples()]
    widths = [max([len(h), *(len(b[i]) for b in body)]) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for b, r in zip(body, s.itertuples(), strict=True):
        line = "  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip()
        if r.note:
            line += f"  ({r.note})"
        lines.append(line)
    return "\n".join(lines)
