"""The HTML comparison of two runs: ``index.html`` with overlaid figures beside it.

:func:`write_comparison` turns a :class:`~sim.diff.Comparison` into a folder:
``index.html`` (the run facts, the metric table with deltas and verdicts, the
expectations, the structural diff, and the figures), ``figures/*.png``
(base and candidate overlaid on one axes, or side by side), the two scenarios
as ``base.yaml`` and ``candidate.yaml`` and the tables as ``metrics.csv`` and
``structure.csv``.  Plain HTML with the run report's inline CSS: offline, no
script, relative links only.  Figures come from the first seed.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.report import _CSS, _html_block, _inline, _Para

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sim.diff import Comparison
    from sim.results import Result

__all__ = ["write_comparison"]

FIGURE_DIR = "figures"
_DPI = 100
#: base solid blue, candidate dashed orange, on every overlay
_BASE = {"color": "#1f77b4", "ls": "-"}
_CAND = {"color": "#ff7f0e", "ls": "--"}
_VERDICT_CSS = """
td.better { color: #1b7f3b; font-weight: 600; }
td.worse, td.regression { color: var(--warn); background: var(--warnbg); font-weight: 600; }
td.changed, td.added, td.removed, td.fixed { color: #7a4d00; font-weight: 600; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.pair figure { margin: 0; }
"""


# ---------------------------------------------------------------- figures


def _figure(size: tuple[float, float] = (10, 4.5), rows: int = 1, cols: int = 1) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def _cdf(ax: Axes, values: Any, label: str, style: dict[str, str]) -> bool:
    import numpy as np

    x = np.sort(np.asarray(values, dtype=float))
    x = x[x > 0] * 1000
    if not len(x):
        return False
    y = np.arange(1, len(x) + 1) / len(x)
    ax.step(x, y, where="post", label=label, **style)
    return True


def _workloads(c: Comparison) -> list[str]:
    names: dict[str, None] = {}
    for r in (c.base.first, c.candidate.first):
        names.update(dict.fromkeys(str(w) for w in r.clients.workload.dropna().unique()))
    return list(names)


def latency_cdf_overlay(c: Comparison) -> Figure:
    """One axes per workload: the latency CDF of base (solid) and candidate (dashed).

    Delivery latency (replies left out); request/reply workloads show the
    request latency to the first reply instead.
    """
    wls = _workloads(c) or ["(none)"]
    fig, axes = _figure((10, 3.2 * len(wls)), rows=len(wls))
    for ax, wl in zip(axes[:, 0], wls, strict=True):
        drawn = False
        for side, style in ((c.base, _BASE), (c.candidate, _CAND)):
            r = side.first
            req = r.requests[(r.requests.workload == wl) & (r.requests.outcome == "ok")]
            if len(req):
                drawn |= _cdf(ax, req.latency, f"{side.label} (request → reply)", style)
            else:
                d = r.deliveries
                d = d[(d.workload == wl) & (d.kind != "reply")]
                drawn |= _cdf(ax, d.latency, f"{side.label} (delivery)", style)
        if drawn:
            ax.set_xscale("log")
            ax.legend(fontsize="small", loc="lower right")
        else:
            ax.text(0.5, 0.5, "no latencies", ha="center", transform=ax.transAxes, color="grey")
        for p in (0.5, 0.99):
            ax.axhline(p, color="grey", lw=0.6, ls=":")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{wl}: latency CDF, {c.base.label} vs {c.candidate.label}")
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("fraction ≤ latency")
        ax.grid(True, alpha=0.3)
    return fig


def _bin(c: Comparison) -> float:
    from sim.plots._common import auto_bin

    return max(auto_bin(c.base.first), auto_bin(c.candidate.first))


def _shade(ax: Axes, result: Result) -> None:
    from sim.plots._common import shade_faults

    shade_faults(ax, result)


def delivery_overlay(c: Comparison) -> Figure:
    """Delivered (top) and lost (bottom) owed copies per second, base vs candidate."""
    from sim.analysis import delivery_over_time

    b = _bin(c)
    fig, axes = _figure((10, 6), rows=2)
    top, bottom = axes[0, 0], axes[1, 0]
    _shade(top, c.base.first)
    for side, style in ((c.base, _BASE), (c.candidate, _CAND)):
        t = delivery_over_time(side.first, bin=b)
        lost = t.drop(columns="delivered").sum(axis=1) if len(t) else t.get("delivered", [])
        top.plot(t.index, t["delivered"] / b if len(t) else [], label=side.label, **style)
        bottom.plot(t.index, lost / b if len(t) else [], label=side.label, **style)
    top.set_title("Delivered owed copies per second (fault windows of the base shaded)")
    top.set_ylabel("copies / s")
    bottom.set_title("Lost owed copies per second (every reason)")
    bottom.set_ylabel("copies / s")
    bottom.set_xlabel("simulated time (s)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="upper right")
    return fig


def request_latency_overlay(c: Comparison) -> Figure | None:
    """Request latency (p50 solid-ish, p99 lighter) over time per request workload, both runs."""
    from sim.analysis import latency_over_time

    wls = [
        w
        for w in _workloads(c)
        if (c.base.first.requests.workload == w).any()
        or (c.candidate.first.requests.workload == w).any()
    ]
    if not wls:
        return None
    b = _bin(c)
    fig, axes = _figure((10, 3.4 * len(wls)), rows=len(wls))
    for ax, wl in zip(axes[:, 0], wls, strict=True):
        _shade(ax, c.base.first)
        for side, style in ((c.base, _BASE), (c.candidate, _CAND)):
            t = latency_over_time(side.first, bin=b, source="requests")
            t = t[t.workload == wl]
            ax.plot(t.time, t.p50 * 1000, label=f"{side.label} p50", lw=1.6, **style)
            ax.plot(t.time, t.p99 * 1000, label=f"{side.label} p99", lw=0.9, alpha=0.6, **style)
        ax.set_yscale("log")
        ax.set_title(f"{wl}: request latency over time (answered requests)")
        ax.set_ylabel("ms (log)")
        ax.set_xlabel("request start (s)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def queue_overlay(c: Comparison) -> Figure | None:
    """Each queue group's share of deliveries per cluster: base and candidate bars."""
    import numpy as np

    s = c.structure
    q = s[(s.aspect == "queue traffic") & s.item.str.startswith("cluster")]
    if q.empty:
        return None
    groups = list(dict.fromkeys(q.scope))
    fig, axes = _figure((10, 3.0 * len(groups)), rows=len(groups))
    for ax, g in zip(axes[:, 0], groups, strict=True):
        part = q[q.scope == g]
        labels = [i.removeprefix("cluster ") for i in part.item]

        def pct(col: str, part: Any = part) -> Any:
            return [float(str(v).rstrip("%")) if isinstance(v, str) else 0.0 for v in part[col]]

        x = np.arange(len(labels))
        ax.bar(x - 0.2, pct("base"), 0.4, label=c.base.label, color=_BASE["color"])
        ax.bar(x + 0.2, pct("candidate"), 0.4, label=c.candidate.label, color=_CAND["color"])
        ax.set_xticks(x, labels)
        ax.set_ylabel("% of the group's deliveries")
        ax.set_title(f"{g}: where the queue group's traffic goes")
        ax.legend(fontsize="small")
        ax.grid(True, axis="y", alpha=0.3)
    return fig


def _pairs(c: Comparison) -> list[tuple[str, str, Figure, Figure]]:
    """Figures of the run report drawn for each side, shown side by side."""
    from sim.plots.failover import failover, failover_workloads
    from sim.plots.topology import topology

    out = []
    try:
        out.append(("topology", "Topology", topology(c.base.first), topology(c.candidate.first)))
    except Exception as exc:  # a picture must not stop the comparison
        out.append(("topology", f"Topology (not drawn: {exc})", None, None))
    wls = dict.fromkeys([*failover_workloads(c.base.first), *failover_workloads(c.candidate.first)])
    for wl in wls:
        out.append(
            (
                f"failover-{wl}",
                f"Failover timeline — {wl}",
                failover(c.base.first, wl),
                failover(c.candidate.first, wl),
            )
        )
    return [p for p in out if p[2] is not None]


def _save(fig: Figure, out: Path, name: str) -> str:
    rel = f"{FIGURE_DIR}/{name}.png"
    fig.savefig(out / rel, dpi=_DPI)
    return rel


# ------------------------------------------------------------------- page


def _classed_table(columns: list[str], rows: list[list[str]], numeric: set[int], mark: int) -> str:
    """A table like the report's, with the cell in column ``mark`` classed by its verdict."""
    head = "".join(
        f'<th class="num">{html.escape(h)}</th>' if i in numeric else f"<th>{html.escape(h)}</th>"
        for i, h in enumerate(columns)
    )
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ["num"] if i in numeric else []
            if i == mark:
                cls.append(cell.split()[-1] if cell else "")
            attr = f' class="{" ".join(x for x in cls if x)}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def write_comparison(c: Comparison, out: str | Path) -> Path:
    """Write the comparison of ``c`` into folder ``out``; return ``out/index.html``."""
    from sim.diff import _fmt_exp, metric_rows, structure_rows

    out = Path(out)
    (out / FIGURE_DIR).mkdir(parents=True, exist_ok=True)
    bl, cl = c.base.label, c.candidate.label
    files = {"base": "base.yaml", "candidate": "candidate.yaml"}
    for key, side in (("base", c.base), ("candidate", c.candidate)):
        text = side.text
        if text is None:
            import yaml

            spec = side.scenario.model_dump(mode="json")
            text = f"# {side.label}: the scenario as loaded (canonical units)\n" + yaml.safe_dump(
                spec, sort_keys=False
            )
        (out / files[key]).write_text(text)
    c.metrics.to_csv(out / "metrics.csv", index=False)
    c.structure.to_csv(out / "structure.csv", index=False)
    if c.expectations is not None:
        c.expectations.to_csv(out / "expectations.csv", index=False)

    sections: list[tuple[str, str, list[str]]] = []
    seeds = ", ".join(str(s) for s in c.seeds)
    counts = c.metrics.verdict.value_counts()
    facts = [
        ("base", f"{bl} — scenario {c.base.scenario.name} ([base.yaml](base.yaml))"),
        (
            "candidate",
            f"{cl} — scenario {c.candidate.scenario.name} ([candidate.yaml](candidate.yaml))",
        ),
        (
            "seeds",
            seeds
            + (" (metrics are means over seeds; figures: first seed)" if len(c.seeds) > 1 else ""),
        ),
        (
            "metrics",
            ", ".join(
                f"{int(counts.get(k, 0))} {k}" for k in ("better", "worse", "changed", "same")
            ),
        ),
        (
            "expectations",
            c.expectations_note
            if c.expectations is None or c.expectations.empty
            else f"{len(c.regressions)} regression(s) of {len(c.expectations)}",
        ),
        ("tables", "[metrics.csv](metrics.csv), [structure.csv](structure.csv)"),
    ]
    facts_html = (
        '<dl class="facts">'
        + "".join(f"<dt>{html.escape(k)}</dt><dd>{_inline(v)}</dd>" for k, v in facts)
        + "</dl>"
    )
    sections.append(("Summary", "summary", [facts_html]))

    mrows = metric_rows(c.metrics)
    blocks = []
    for section in dict.fromkeys(r[0] for r in mrows):
        part = [r[1:] for r in mrows if r[0] == section]
        blocks.append(f"<h3>{html.escape(section)}</h3>")
        blocks.append(
            _classed_table(["scope", "metric", bl, cl, "delta", "verdict"], part, {2, 3, 4}, 5)
        )
    if not mrows:
        blocks.append(_html_block(_Para("No metrics.")))
    note = (
        "Verdicts know which direction is good (▲ better, ▼ worse); `~ changed` means the "
        "metric moved but neither direction is better (counts of traffic). Counts must be "
        "equal to be the same, ratios within 0.01 pp, times within 2 %."
    )
    blocks.append(f'<p class="note">{_inline(note)}</p>')
    sections.append(("Metrics", "metrics", blocks))

    e = c.expectations
    if e is None or e.empty:
        eblocks = [_html_block(_Para(c.expectations_note or "No expectations."))]
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
        eblocks = [_classed_table(["expectation", bl, cl, "verdict"], erows, set(), 3)]
    sections.append(("Expectations", "expectations", eblocks))

    srows = structure_rows(c.structure)
    sblocks = []
    for aspect in dict.fromkeys(r[0] for r in srows):
        part = [r[1:] for r in srows if r[0] == aspect]
        sblocks.append(f"<h3>{html.escape(aspect)}</h3>")
        sblocks.append(_classed_table(["scope", "item", bl, cl, "change"], part, set(), 4))
    sblocks.append(
        '<p class="note">Summary rows <code>(…)</code>, servers and what changed; every row is in '
        '<a href="structure.csv">structure.csv</a>. Interest entries are <code>subject</code> or '
        "<code>subject queue</code> at the end of the run (first seed).</p>"
    )
    sections.append(("Structure", "structure", sblocks))

    figs = []
    overlays = [
        ("latency-cdf", "Latency CDF per workload", latency_cdf_overlay(c)),
        ("delivery", "Delivery over time", delivery_overlay(c)),
        ("request-latency", "Request latency over time", request_latency_overlay(c)),
        ("queues", "Queue group traffic per cluster", queue_overlay(c)),
    ]
    for slug, title, fig in overlays:
        if fig is None:
            continue
        rel = _save(fig, out, slug)
        figs.append(
            f'<h3>{html.escape(title)}</h3><figure id="img-{slug}"><img src="{rel}" '
            f'alt="{html.escape(title)}"><figcaption>{html.escape(bl)} solid, '
            f"{html.escape(cl)} dashed</figcaption></figure>"
        )
    for slug, title, fb, fc in _pairs(c):
        rb, rc = _save(fb, out, f"{slug}-base"), _save(fc, out, f"{slug}-candidate")
        figs.append(
            f'<h3>{html.escape(title)}</h3><div class="pair">'
            f'<figure><img src="{rb}" alt="{html.escape(title)}, {html.escape(bl)}">'
            f"<figcaption>{html.escape(bl)}</figcaption></figure>"
            f'<figure><img src="{rc}" alt="{html.escape(title)}, {html.escape(cl)}">'
            f"<figcaption>{html.escape(cl)}</figcaption></figure></div>"
        )
    sections.append(("Figures", "figures", figs))

    index = out / "index.html"
    index.write_text(_page(c, sections))
    return index


def _page(c: Comparison, sections: list[tuple[str, str, list[str]]]) -> str:
    import datetime as _dt

    title = f"{c.base.label} vs {c.candidate.label}"
    nav = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for t, a, _ in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>natsim diff: {html.escape(title)}</title>",
        f"<style>{_CSS}{_VERDICT_CSS}</style></head><body><main>",
        f'<header><h1><span class="tool">natsim diff:</span> {html.escape(title)}</h1>',
        '<p class="intro">Both runs use the same workload, faults and seeds (named random '
        "streams: common random numbers), so what differs is what the topology does.</p>",
        f"<nav>{nav}</nav></header>",
    ]
    for t, a, blocks in sections:
        parts.append(f'<section id="{a}"><h2>{html.escape(t)}</h2>')
        parts.extend(blocks)
        parts.append("</section>")
    made = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    version = c.base.first.meta.get("natsim_version", "")
    parts.append(
        f"<footer>Generated by natsim {html.escape(str(version))} on {made}. Self-contained: "
        f"figures are in <code>{FIGURE_DIR}/</code> beside this page.</footer></main></body></html>"
    )
    return "\n".join(parts) + "\n"
