"""The run report: ``index.html``, ``summary.md`` and the figures as PNG.

:func:`write_report` turns a :class:`~sim.results.Result` (fresh from a run or
loaded from a results folder) into a page a person reads instead of logs:
the scenario (its description, YAML and topology picture), run facts, the
delivery-guarantee table, losses by reason, latency and request outcomes,
failover, faults, reconnects and convergence, every figure of
:func:`sim.plots.figures`, and the scenario's expectations when it has any.

The page is self-contained and works offline: plain HTML with inline CSS, no
script, nothing fetched from the network.  Figures are written as PNG files
into ``figures/`` beside ``index.html`` and referenced relatively, so the
folder can be moved or archived as a whole.  ``summary.md`` carries the same
content as Markdown (the figures as image links into the same folder).

Both documents are built from one list of :class:`_Section` blocks, so they
always say the same thing.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["FIGURE_DIR", "write_report"]

#: the folder (inside the report folder) that holds the figures
FIGURE_DIR = "figures"

#: figure resolution in dots per inch
_DPI = 100


# ----------------------------------------------------------------- blocks


@dataclass
class _Table:
    """A table of formatted cells; ``numeric[i]`` right-aligns column ``i``."""

    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    #: columns whose non-zero cells are flagged (losses, timeouts…)
    warn: set[int] = field(default_factory=set)
    note: str = ""


@dataclass
class _Facts:
    """Label/value pairs (a definition list)."""

    items: list[tuple[str, str]]


@dataclass
class _Para:
    text: str


@dataclass
class _Code:
    text: str
    lang: str = ""
    summary: str = ""  # a collapsible block with this title when set


@dataclass
class _Figure:
    slug: str
    title: str
    file: str  # relative to the report folder


@dataclass
class _List:
    items: list[str]


_Block = _Table | _Facts | _Para | _Code | _Figure | _List


@dataclass
class _Section:
    title: str
    anchor: str
    blocks: list[_Block]
    level: int = 2


# ------------------------------------------------------------- formatting


def _isnan(v: Any) -> bool:
    try:
        return v is None or v != v
    except (TypeError, ValueError):
        return False


def _int(v: Any) -> str:
    return "–" if _isnan(v) else f"{int(v):,}"


def _ratio(v: Any) -> str:
    if _isnan(v):
        return "n/a"
    return "100%" if v == 1 else f"{v:.4%}"


def _share(v: Any) -> str:
    return "–" if _isnan(v) else f"{v:.0%}"


def _ms(v: Any, digits: int = 3) -> str:
    return "–" if _isnan(v) else f"{v * 1000:,.{digits}f}"


def _secs(v: Any) -> str:
    if _isnan(v):
        return "–"
    if v == math.inf:
        return "end"
    return f"{v:,.3f}".rstrip("0").rstrip(".") + " s"


def _date(value: Any) -> str:
    """An ISO 8601 timestamp as ``2026-11-27 21:01:23 UTC`` (as given when not ISO)."""
    if not value:
        return "unknown"
    try:
        t = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if t.tzinfo is not None:
        t = t.astimezone(_dt.UTC)
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _label(column: str) -> str:
    """A column name as a header: ``no_responders`` → ``no responders``."""
    return column.replace("_", " ")


# ---------------------------------------------------------------- content


def _scenario_intro(text: str | None) -> tuple[str, list[str]]:
    """The subtitle and paragraphs of a scenario file's leading comment block."""
    if not text:
        return "", []
    lines: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("#"):
            break
        lines.append(s[1:].removeprefix(" "))
    paras: list[str] = []
    cur: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            paras.append(" ".join(" ".join(cur).split()))
            cur = []
    if not paras:
        return "", []
    first, rest = paras[0], paras[1:]
    # "name — what it asks": the part after the dash is the subtitle
    m = re.match(r"^[A-Za-z0-9_.-]+\s+[—–-]+\s+(.*)$", first)
    if m:
        return m.group(1), rest
    return "", paras


def _expectations(result: Result, scenario_text: str | None) -> Any:
    """The scenario's ``expect:`` value, from its file or stored spec (None when absent)."""
    spec = result.meta.get("scenario_spec") or {}
    if isinstance(spec, dict) and spec.get("expect"):
        return spec["expect"]
    if scenario_text:
        import yaml

        try:
            doc = yaml.safe_load(scenario_text)
        except yaml.YAMLError:
            return None
        if isinstance(doc, dict) and doc.get("expect"):
            return doc["expect"]
    return None


def _facts(result: Result) -> _Facts:
    meta = result.meta
    spec = meta.get("scenario_spec") or {}
    items: list[tuple[str, str]] = [
        ("scenario", str(meta.get("scenario", "?"))),
        ("seed", str(meta.get("seed", "?"))),
        ("natsim version", str(meta.get("natsim_version", "?"))),
        ("date", _date(meta.get("date"))),
    ]
    dur, end = meta.get("sim_duration"), meta.get("sim_end")
    if dur is not None:
        sim_s = _secs(float(dur))
        if end is not None and float(end) != float(dur):
            sim_s += f" (+ {_secs(float(end) - float(dur))} drain, to {_secs(float(end))})"
        items.append(("simulated", sim_s))
    if meta.get("wall_seconds") is not None:
        items.append(("wall time", _secs(float(meta["wall_seconds"]))))
    if meta.get("events") is not None:
        items.append(("events", _int(meta["events"])))
    clusters = result.servers.cluster.nunique() if len(result.servers) else 0
    items.append(("servers", f"{len(result.servers):,} in {clusters:,} cluster(s)"))
    items.append(("clients", _int(len(result.clients))))
    m = result.messages
    items.append(
        (
            "messages",
            f"{int((m.kind != 'reply').sum()):,} published, {len(result.deliveries):,} deliveries",
        )
    )
    n_faults = len(spec.get("faults") or []) if isinstance(spec, dict) else 0
    if n_faults or (isinstance(spec, dict) and spec.get("chaos")):
        items.append(
            ("faults", f"{n_faults:,} scheduled" + (", chaos" if spec.get("chaos") else ""))
        )
    return _Facts(items)


_GUARANTEE_COLS = [
    ("published", "published", _int),
    ("owed", "owed", _int),
    ("delivered", "delivered", _int),
    ("delivery_ratio", "delivered %", _ratio),
    ("lost", "lost", _int),
    ("lost_unowed", "unowed losses", _int),
    ("duplicated", "duplicated", _int),
    ("out_of_order", "out of order", _int),
]


def _guarantees(result: Result) -> list[_Block]:
    from sim.analysis.guarantees import guarantee_table

    g = guarantee_table(result)
    if g.empty:
        return [_Para("No workload published anything.")]
    cols = [c for c in _GUARANTEE_COLS if c[0] in g.columns]
    rows = [[str(name), *(fmt(row[c]) for c, _, fmt in cols)] for name, row in g.iterrows()]
    head = ["workload", *(h for _, h, _ in cols)]
    warn = {
        i + 1
        for i, (c, _, _) in enumerate(cols)
        if c in ("lost", "lost_unowed", "duplicated", "out_of_order")
    }
    note = (
        "Owed: copies due to subscriptions interested when the message reached its first "
        "server (a queue group is owed one). Unowed losses: messages lost before any server "
        "booked them. Duplicates and order are per publisher and subscriber client."
    )
    return [_Table(head, rows, [False] + [True] * len(cols), warn, note)]


#: (jetstream_table column, header), in report order
_JETSTREAM_COLS = [
    ("published", "messages"),
    ("retries", "publish retries"),
    ("acked", "acked"),
    ("deduplicated", "de-duplicated"),
    ("stored", "stored"),
    ("stored_duplicates", "stored twice+"),
    ("acked_lost", "acked, lost"),
    ("delivered", "delivered ≥1"),
    ("delivered_once", "delivered once"),
    ("delivered_more_than_once", "delivered >1"),
    ("redeliveries", "redeliveries"),
    ("never_delivered", "never delivered"),
]


def _jetstream(result: Result) -> list[_Block]:
    """The JetStream guarantee table (per application message), when the run had any."""
    from sim.analysis.jetstream import jetstream_table

    t = jetstream_table(result)
    if t.empty:
        return []
    head = ["workload", *(h for _, h in _JETSTREAM_COLS)]
    rows = [[str(w), *(_int(row[c]) for c, _ in _JETSTREAM_COLS)] for w, row in t.iterrows()]
    bad = ("stored_duplicates", "acked_lost", "delivered_more_than_once", "never_delivered")
    warn = {i + 1 for i, (c, _) in enumerate(_JETSTREAM_COLS) if c in bad}
    note = (
        "Per application message (a retry is the same message). Core-mode workloads store and "
        "ack nothing. `acked, lost`: acked messages missing from the replicated log at the "
        "end (docs/jetstream.md)."
    )
    return [_Table(head, rows, [False] + [True] * len(_JETSTREAM_COLS), warn, note)]


def _losses(result: Result) -> list[_Block]:
    from sim.analysis.metrics import loss_by_reason

    loss = loss_by_reason(result)
    if loss.empty or not loss.columns.size:
        return [_Para("Nothing was lost, and every message found interest.")]
    reasons = list(loss.columns)
    head = ["workload", *(_label(r) for r in reasons)]
    rows = [[str(w), *(_int(row[r]) for r in reasons)] for w, row in loss.iterrows()]
    warn = {i + 1 for i, r in enumerate(reasons) if r != "no_interest"}
    note = (
        "Copies not delivered, by reason (README, “Accounting”). `no interest` counts "
        "messages that matched no subscription: not a loss."
        if "no_interest" in reasons
        else "Copies not delivered, by reason (README, “Accounting”)."
    )
    return [_Table(head, rows, [False] + [True] * len(reasons), warn, note)]


def _latency(result: Result) -> list[_Block]:
    from sim.analysis.metrics import latency_quantiles

    lat = latency_quantiles(result)
    if lat.empty:
        return []
    qs = [c for c in lat.columns if c != "count"]
    head = ["workload", "deliveries", *(f"{q} (ms)" for q in qs)]
    rows = [[str(w), _int(row["count"]), *(_ms(row[q]) for q in qs)] for w, row in lat.iterrows()]
    note = "Publish to receive, replies left out."
    return [_Table(head, rows, [False] + [True] * (len(qs) + 1), note=note)]


def _requests(result: Result) -> list[_Block]:
    from sim.analysis.metrics import request_outcomes

    req = request_outcomes(result)
    if req.empty:
        return []
    outcomes = [c for c in ("ok", "timeout", "no_responders", "client_gone") if c in req]
    head = [
        "workload",
        "requests",
        *(_label(c) for c in outcomes),
        "success",
        "reply p50 (ms)",
        "reply p99 (ms)",
        "replies / request",
    ]
    rows = []
    for w, row in req.iterrows():
        rows.append(
            [
                str(w),
                _int(row["requests"]),
                *(_int(row[c]) for c in outcomes),
                _ratio(row["success_ratio"]),
                _ms(row.get("p50")),
                _ms(row.get("p99")),
                "–" if _isnan(row.get("mean_replies")) else f"{row['mean_replies']:.2f}",
            ]
        )
    warn = {2 + i for i, c in enumerate(outcomes) if c != "ok"}
    note = "Outcomes as the requester saw them; reply latency is to the first reply of ok requests."
    return [_Table(head, rows, [False] + [True] * (len(head) - 1), warn, note)]


def _failover(result: Result) -> list[_Section]:
    from sim.analysis.failover import failover_summary

    ev = result.frames.get("events")
    if ev is None or ev.empty:
        return []
    stops = ev[ev.kind == "stop_responders"]
    out = []
    for workload in dict.fromkeys(str(d).split(" ")[0] for d in stops.detail):
        try:
            s = failover_summary(result, workload)
        except ValueError:
            continue
        facts = _Facts(
            [
                ("responders stopped in", str(s["faulted"])),
                ("stopped at", _secs(s["fault_at"])),
                ("back at", _secs(s["restored_at"])),
                (
                    "failover time",
                    "never"
                    if s["failover_time"] == math.inf
                    else _ms(s["failover_time"], 1) + " ms",
                ),
                (
                    "failback time",
                    "–" if _isnan(s["failback_time"]) else _ms(s["failback_time"], 1) + " ms",
                ),
                ("failed requests in the switch", _int(s["lost_in_switch"])),
                ("timeouts during the fault", _int(s["timeouts_during"])),
            ]
        )
        share = s["share"]
        phases = list(share.columns)
        table = _Table(
            ["served by", *phases],
            [[str(c), *(_share(row[p]) for p in phases)] for c, row in share.iterrows()],
            [False] + [True] * len(phases),
            note="Share of requests served per cluster before, during and after the fault.",
        )
        out.append(
            _Section(f"Failover of {workload}", f"failover-{_slug(workload)}", [facts, table])
        )
    return out


def _monitoring(result: Result) -> list[_Block]:
    """Per-server peaks from the monitoring snapshots (none when the run was not monitored)."""
    from sim.analysis.monitoring import monitor_peaks

    if getattr(result, "monitor", None) is None or result.monitor.empty:
        return []
    peaks = monitor_peaks(result)
    head = [
        "server",
        "msgs/s in",
        "msgs/s out",
        "connections",
        "accepted",
        "subscriptions",
        "slow consumers",
        "route RTT",
        "gateway RTT",
    ]
    rows = [
        [
            str(srv),
            _int(row.in_msgs_per_s),
            _int(row.out_msgs_per_s),
            _int(row.connections),
            _int(row.total_connections),
            _int(row.subscriptions),
            _int(row.slow_consumers),
            "–" if _isnan(row.route_rtt) else _ms(row.route_rtt) + " ms",
            "–" if _isnan(row.gateway_rtt) else _ms(row.gateway_rtt) + " ms",
        ]
        for srv, row in peaks.iterrows()
    ]
    note = (
        "Highest values over the monitoring samples (docs/monitoring.md): message rates over "
        "one interval, connections accepted over the run, RTTs as measured."
    )
    return [_Table(head, rows, [False] + [True] * (len(head) - 1), {6}, note)]


def _faults(result: Result) -> list[_Block]:
    from sim.analysis.faults import fault_timeline, loss_by_fault

    timeline = fault_timeline(result)
    if timeline.empty:
        return []
    by_fault = loss_by_fault(result)
    reasons = [c for c in by_fault.columns if c.startswith("lost_") and c != "lost_unowed"]
    head = [
        "#",
        "action",
        "target",
        "start",
        "end",
        "lost",
        *(_label(r[5:]) for r in reasons),
        "unowed",
    ]
    rows = []
    for t in timeline.itertuples():
        n = t.number
        f = by_fault.loc[n] if n in by_fault.index else None
        end = "end of run" if t.open else _secs(t.end)
        cells = [str(n), str(t.action), str(t.detail), _secs(t.start), end]
        if f is None:
            cells += ["–"] * (len(reasons) + 2)
        else:
            cells += [_int(f["lost"]), *(_int(f[r]) for r in reasons), _int(f["lost_unowed"])]
        rows.append(cells)
    numeric = [True, False, False, True, True] + [True] * (len(reasons) + 2)
    warn = set(range(5, len(head)))
    note = (
        "Owed copies lost while each fault lasted (a loss inside overlapping windows is "
        "charged to the fault that started last)."
    )
    return [_Table(head, rows, numeric, warn, note)]


def _reconnects(result: Result) -> list[_Block]:
    from sim.analysis.faults import reconnect_times

    rt = reconnect_times(result)
    if rt.empty:
        return []
    done = rt[rt.reconnected_at.notna()]
    never = rt[rt.reconnected_at.isna()]
    items = [
        ("clients disconnected", _int(rt.client.nunique())),
        ("disconnections", _int(len(rt))),
        ("reconnections", _int(len(done))),
    ]
    causes = rt.cause.dropna().value_counts()
    if len(causes):
        items.append(("causes", ", ".join(f"{c} {int(n):,}" for c, n in causes.items())))
    if len(done):
        items.append(("gap median", _secs(done.gap.median())))
        items.append(("gap max", _secs(done.gap.max())))
        span = done.reconnected_at.max() - done.reconnected_at.min()
        items.append(("reconnections spread over", _secs(span)))
    if len(never):
        items.append(
            ("never reconnected", f"{len(never):,} ({int(never.gave_up.sum()):,} gave up)")
        )
    blocks: list[_Block] = [_Facts(items)]
    if len(done):
        landed = done.to_server.value_counts().sort_index()
        blocks.append(
            _Table(
                ["server", "clients landed"],
                [[str(s), _int(n)] for s, n in landed.items()],
                [False, True],
                note="Where the reconnecting clients landed.",
            )
        )
    return blocks


def _convergence(result: Result) -> list[_Block]:
    from sim.analysis.faults import convergence

    conv = convergence(result)
    if conv.empty:
        return []
    rows = [
        [
            str(r.cluster),
            _secs(r.start),
            "–" if _isnan(r.end) else _secs(r.end),
            "not converged" if _isnan(r.seconds) else _secs(r.seconds),
        ]
        for r in conv.itertuples()
    ]
    note = "Periods when a cluster's route mesh or interest tables were incomplete."
    return [
        _Table(
            ["cluster", "incomplete at", "converged at", "took"],
            rows,
            [False, True, True, True],
            note=note,
        )
    ]


def _checks(result: Result, expect: Any) -> list[_Block]:
    """The scenario's expectations, evaluated on this run: measured value, pass or fail."""
    import yaml

    from sim.expect import evaluate

    if isinstance(expect, dict):
        items = [
            yaml.safe_dump({k: v}, default_flow_style=True, sort_keys=False).strip()
            for k, v in expect.items()
        ]
        items = [i.removeprefix("{").removesuffix("}") for i in items]
    elif isinstance(expect, list):
        items = [
            yaml.safe_dump(e, default_flow_style=True, sort_keys=False)
            .strip()
            .removesuffix("...")
            .strip()
            if not isinstance(e, str)
            else e
            for e in expect
        ]
    else:
        items = [str(expect)]
    rows = evaluate(result, items)
    table = [
        [r.expectation, r.shown, r.threshold, "PASS" if r.passed else "FAIL", r.error]
        for r in rows.itertuples()
    ]
    passed = int(rows.passed.sum())
    note = (
        f"{passed} of {len(rows)} expectation(s) hold in this run (`natsim check` runs them "
        "over several seeds). A metric that cannot be measured in this run fails with the reason."
    )
    return [
        _Table(
            ["expectation", "measured", "threshold", "result", "note"],
            table,
            [False, True, True, False, False],
            warn={3},
            note=note,
        )
    ]


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-.")
    return s or "figure"


# ---------------------------------------------------------------- figures


def _default_figures(result: Result) -> list[tuple[str, str, Figure]]:
    """:func:`sim.plots.figures`, or no figures when the plots package is not there."""
    try:
        from sim.plots import figures
    except ModuleNotFoundError as exc:
        if exc.name not in ("sim.plots", "sim"):
            raise
        print("natsim: sim.plots is not available; the report has no figures", file=sys.stderr)
        return []
    return list(figures(result))


def _save_figures(figs: Iterable[tuple[str, str, Figure]], out: Path) -> list[_Figure]:
    """Write each figure as ``figures/<slug>.png`` (replacing earlier PNGs); close them."""
    folder = out / FIGURE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    saved: list[_Figure] = []
    used: set[str] = set()
    for slug, title, fig in figs:
        name = _slug(slug)
        base, k = name, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        file = f"{FIGURE_DIR}/{name}.png"
        fig.savefig(out / file, dpi=_DPI, bbox_inches="tight", facecolor="white")
        if "matplotlib.pyplot" in sys.modules:
            import matplotlib.pyplot as plt

            plt.close(fig)
        saved.append(_Figure(str(slug), str(title), file))
    return saved


# -------------------------------------------------------------- the report


def _sections(
    result: Result, scenario_text: str | None, figs: list[_Figure], out: Path
) -> tuple[str, str, list[str], list[_Section]]:
    """Title, subtitle, intro paragraphs and the sections of the report."""
    meta = result.meta
    spec = meta.get("scenario_spec") or {}
    name = str(meta.get("scenario", "scenario"))
    subtitle, intro = _scenario_intro(scenario_text)
    description = str(spec.get("description") or "") if isinstance(spec, dict) else ""
    if description:
        intro = [description, *intro] if not subtitle else [*intro, description]
        if not subtitle:
            subtitle, intro = intro[0], intro[1:]
    secs: list[_Section] = [_Section("Run", "run", [_facts(result)])]

    scen: list[_Block] = []
    topo = [f for f in figs if f.slug == "topology"]
    scen.extend(topo)
    if topo and topo[0].title.lower() != "topology":
        scen.insert(0, _Para(topo[0].title))
    if scenario_text:
        scen.append(_Code(scenario_text.rstrip("\n"), "yaml", "Scenario file (scenario.yaml)"))
    elif isinstance(spec, dict) and spec:
        import yaml

        dumped = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True).rstrip("\n")
        scen.append(
            _Code(dumped, "yaml", "Scenario as loaded, with defaults (the file was not saved)")
        )
    if scen:
        secs.append(_Section("Scenario", "scenario", scen))

    secs.append(_Section("Delivery guarantees", "guarantees", _guarantees(result)))
    js = _jetstream(result)
    if js:
        secs.append(_Section("JetStream guarantees", "jetstream", js))
    secs.append(_Section("Losses by reason", "losses", _losses(result)))
    for title, anchor, blocks in (
        ("Latency", "latency", _latency(result)),
        ("Requests", "requests", _requests(result)),
    ):
        if blocks:
            secs.append(_Section(title, anchor, blocks))
    secs.extend(_failover(result))
    for title, anchor, blocks in (
        ("Faults", "faults", _faults(result)),
        ("Reconnects", "reconnects", _reconnects(result)),
        ("Convergence", "convergence", _convergence(result)),
        ("Monitoring", "monitoring", _monitoring(result)),
    ):
        if blocks:
            secs.append(_Section(title, anchor, blocks))
    expect = _expectations(result, scenario_text)
    if expect:
        secs.append(_Section("Checks", "checks", _checks(result, expect)))

    others = [f for f in figs if f.slug != "topology"]
    if others:
        secs.append(_Section("Figures", "figures", []))
        for f in others:
            secs.append(_Section(f.title, f"fig-{_slug(f.slug)}", [f], level=3))

    files = [
        p.name
        for p in sorted(out.iterdir())
        if p.is_file() and p.name not in ("index.html",) and not p.name.startswith(".")
    ]
    if files:
        secs.append(
            _Section(
                "Files",
                "files",
                [
                    _Para(
                        "The results tables load back with "
                        f'`sim.Result.load("{out}")`; `natsim report {out}` rebuilds this page.'
                    ),
                    _List([f"[{f}]({f})" for f in files]),
                ],
            )
        )
    title = f"natsim report: {name}"
    return title, subtitle, intro, secs


def write_report(
    result: Result,
    out_dir: str | Path,
    scenario_text: str | None = None,
    figures: Sequence[tuple[str, str, Figure]] | None = None,
) -> Path:
    """Write ``index.html``, ``summary.md`` and ``figures/*.png`` into ``out_dir``.

    Parameters
    ----------
    result : Result
        A run's result, fresh or loaded with :meth:`~sim.results.Result.load`.
    out_dir : str or Path
        The report folder (usually the results folder); created if missing.
        PNGs an earlier report left in its ``figures/`` are replaced.
    scenario_text : str, optional
        The scenario file's text, shown in the report.  Defaults to
        ``out_dir/scenario.yaml`` when that exists, else the scenario as
        stored in ``result.meta["scenario_spec"]``.
    figures : list of (slug, title, Figure), optional
        The figures to include; by default :func:`sim.plots.figures`.  A
        figure with slug ``"topology"`` is shown with the scenario.

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if scenario_text is None and (out / "scenario.yaml").is_file():
        scenario_text = (out / "scenario.yaml").read_text()
    figs = _default_figures(result) if figures is None else list(figures)
    saved = _save_figures(figs, out)
    (out / "summary.md").write_text("")  # listed among the files
    title, subtitle, intro, secs = _sections(result, scenario_text, saved, out)
    (out / "summary.md").write_text(_markdown(title, subtitle, intro, secs))
    index = out / "index.html"
    index.write_text(_html(title, subtitle, intro, secs, result.meta))
    return index


# ---------------------------------------------------------------- markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(title: str, subtitle: str, intro: list[str], secs: list[_Section]) -> str:
    out = [f"# {title}", ""]
    if subtitle:
        out += [f"**{subtitle}**", ""]
    for p in intro:
        out += [p, ""]
    for s in secs:
        out += ["#" * s.level + " " + s.title, ""]
        for b in s.blocks:
            if isinstance(b, _Table):
                out.append("| " + " | ".join(_md_cell(c) for c in b.columns) + " |")
                out.append("|" + "|".join("---:" if n else "---" for n in b.numeric) + "|")
                out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows)
                out.append("")
                if b.note:
                    out += [f"*{b.note}*", ""]
            elif isinstance(b, _Facts):
                out.extend(f"- **{k}**: {v}" for k, v in b.items)
                out.append("")
            elif isinstance(b, _Para):
                out += [b.text, ""]
            elif isinstance(b, _List):
                out.extend(f"- {i}" for i in b.items)
                out.append("")
            elif isinstance(b, _Code):
                if b.summary:
                    out += [f"*{b.summary}*", ""]
                out += [f"```{b.lang}", b.text, "```", ""]
            elif isinstance(b, _Figure):
                out += [f"![{b.title}]({b.file})", ""]
    return "\n".join(out).rstrip("\n") + "\n"


# -------------------------------------------------------------------- html

_CSS = """
:root { --fg: #1d2430; --muted: #5b6573; --line: #d9dee5; --bg: #ffffff; --accent: #2f6db5;
        --warn: #b3261e; --warnbg: #fdecea; --code: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f5f8; color: var(--fg);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: var(--bg);
       min-height: 100vh; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 8px; padding-bottom: 12px; }
a { color: var(--accent); }
h1 { font-size: 26px; margin: 0 0 4px; }
h1 .tool { color: var(--muted); font-weight: normal; }
.subtitle { font-size: 18px; margin: 0 0 8px; color: var(--fg); }
.intro { color: var(--muted); margin: 6px 0; max-width: 95ch; }
nav { font-size: 13px; margin: 10px 0 0; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
h2 { font-size: 20px; margin: 32px 0 10px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
table { border-collapse: collapse; margin: 6px 0 4px; font-size: 14px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; text-align: left; font-weight: 600; white-space: nowrap; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover td { background: #f7f9fc; }
td.warn { color: var(--warn); background: var(--warnbg); font-weight: 600; }
.tablewrap { overflow-x: auto; max-width: 100%; }
.note { color: var(--muted); font-size: 13px; margin: 2px 0 12px; max-width: 95ch; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 6px 0;
           font-size: 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
figure { margin: 8px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--accent); }
pre { background: var(--code); border: 1px solid var(--line); padding: 10px 12px; overflow: auto;
      max-height: 560px; font-size: 12.5px; line-height: 1.4; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
p code, li code { background: var(--code); padding: 0 3px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line);
         padding-top: 8px; }
"""


def _inline(text: str) -> str:
    """Escape ``text``; render `code` spans and [label](relative-link) as HTML."""
    out = html.escape(text, quote=True)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s:]+)\)", r'<a href="\2">\1</a>', out)


def _html_block(b: _Block) -> str:
    if isinstance(b, _Table):
        head = "".join(
            f'<th class="num">{html.escape(c)}</th>' if n else f"<th>{html.escape(c)}</th>"
            for c, n in zip(b.columns, b.numeric, strict=True)
        )
        body = []
        for row in b.rows:
            cells = []
            for i, (c, n) in enumerate(zip(row, b.numeric, strict=True)):
                cls = ["num"] if n else []
                if i in b.warn and c not in ("0", "–", "", "n/a", "PASS"):
                    cls.append("warn")
                attr = f' class="{" ".join(cls)}"' if cls else ""
                cells.append(f"<td{attr}>{html.escape(c)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        note = f'<p class="note">{_inline(b.note)}</p>' if b.note else ""
        return (
            f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>{note}"
        )
    if isinstance(b, _Facts):
        items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in b.items)
        return f'<dl class="facts">{items}</dl>'
    if isinstance(b, _Para):
        return f"<p>{_inline(b.text)}</p>"
    if isinstance(b, _List):
        return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, _Code):
        pre = f'<pre><code class="language-{b.lang}">{html.escape(b.text)}</code></pre>'
        if b.summary:
            return f"<details open><summary>{html.escape(b.summary)}</summary>{pre}</details>"
        return pre
    assert isinstance(b, _Figure)
    return (
        f'<figure id="img-{html.escape(_slug(b.slug))}"><img src="{html.escape(b.file)}" '
        f'alt="{html.escape(b.title)}"></figure>'
    )


def _html(
    title: str, subtitle: str, intro: list[str], secs: list[_Section], meta: dict[str, Any]
) -> str:
    nav = "".join(
        f'<a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a>'
        for s in secs
        if s.level == 2
    )
    name = html.escape(str(meta.get("scenario", "")))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f'<header><h1><span class="tool">natsim report:</span> {name}</h1>',
    ]
    if subtitle:
        parts.append(f'<p class="subtitle">{_inline(subtitle)}</p>')
    parts.extend(f'<p class="intro">{_inline(p)}</p>' for p in intro)
    parts.append(f"<nav>{nav}</nav></header>")
    for s in secs:
        tag = f"h{s.level}"
        parts.append(f'<section id="{html.escape(s.anchor)}"><{tag}>{html.escape(s.title)}</{tag}>')
        parts.extend(_html_block(b) for b in s.blocks)
        parts.append("</section>")
    made = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(
        f"<footer>Generated by natsim {html.escape(str(meta.get('natsim_version', '')))} "
        f"on {made}. Self-contained: figures are in <code>{FIGURE_DIR}/</code> beside this page."
        "</footer></main></body></html>"
    )
    return "\n".join(parts) + "\n"
