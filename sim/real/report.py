"""HTML pages for the real backend: ``natsim real``'s report and ``natsim compare``'s index.

:func:`real_figures` builds the figures of :func:`sim.plots.figures` one by
one and leaves out (with a note) any that fails on a real result — a real run
has no drops, no hop paths, no route events, so plots made for simulated
columns may not apply.  :func:`write_real_report` is
:func:`sim.report.write_report` with those figures; :func:`write_compare_index`
writes the comparison table as ``index.html`` with the report's CSS.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["real_figures", "write_compare_index", "write_real_report"]


def real_figures(result: Result) -> tuple[list[tuple[str, str, Any]], list[str]]:
    """Return the report's figures that work on ``result`` and a note per figure left out."""
    import matplotlib

    matplotlib.use("Agg")
    from sim import plots

    wanted: list[tuple[str, str, Callable[[], Any]]] = [
        ("topology", "Topology", lambda: plots.topology(result, None)),
        ("delivery", "Delivery over time", lambda: plots.delivery(result)),
    ]
    d = result.deliveries
    if len(d) or len(result.requests):
        wanted += [
            ("latency_cdf", "Latency CDF", lambda: plots.latency_cdf(result)),
            ("latency_time", "Latency over time", lambda: plots.latency_time(result)),
        ]
    try:
        wls = plots.failover_workloads(result)
    except Exception:
        wls = []
    for wl in wls:
        wanted.append(
            (f"failover-{wl}", f"Failover timeline: {wl}", lambda wl=wl: plots.failover(result, wl))
        )
    if "queue" in d and d.queue.notna().any():
        wanted.append(("queues", "Queue-group distribution", lambda: plots.queues(result)))
    figs: list[tuple[str, str, Any]] = []
    notes: list[str] = []
    for slug, title, make in wanted:
        try:
            figs.append((slug, title, make()))
        except Exception as exc:
            notes.append(f"figure {slug} left out: {type(exc).__name__}: {exc}")
    return figs, notes


def write_real_report(result: Result, out: str | Path, scenario_text: str | None = None) -> Path:
    """Write ``index.html`` (and summary.md, figures/) for a real run; return its path.

    Figures that fail on a real result are left out and named in
    ``result.meta["notes"]``, which the report shows.
    """
    from sim.report import write_report

    figs, notes = real_figures(result)
    if notes:
        result.meta.setdefault("notes", []).extend(notes)
    return write_report(result, out, scenario_text=scenario_text, figures=figs)


def write_compare_index(
    table: pd.DataFrame, title: str, meta: Mapping[str, Any], out: str | Path
) -> Path:
    """Write the comparison table as ``out/index.html`` (the report's CSS); return its path."""
    from sim.report import _CSS

    out = Path(out)
    judged = table[table.agree.notna()]
    bad = int((judged.agree == False).sum())  # noqa: E712
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for rec in table.to_dict("records"):
        agree = rec.get("agree")
        cls = ' style="background:#fde8e8"' if agree is False or agree == 0 else ""
        cells = "".join(
            f"<td>{html.escape('' if v is None or v != v else str(v))}</td>" for v in rec.values()
        )
        rows.append(f"<tr{cls}>{cells}</tr>")
    notes = "".join(f"<li>{html.escape(str(n))}</li>" for n in meta.get("notes", []))
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>natsim compare: {html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f'<header><h1><span class="tool">natsim compare:</span> {html.escape(title)}</h1>',
        f'<p class="subtitle">{len(judged) - bad}/{len(judged)} checks agree; nats-server '
        f"{html.escape(str(meta.get('nats_server_version', '')))}; emulated latency: "
        f"{html.escape(str(meta.get('emulated_latency', '')))} "
        f"({html.escape(str(meta.get('latency_note', '')))})</p></header>",
        f"<section><h2>Checks</h2><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>",
        f"<section><h2>Notes</h2><ul>{notes or '<li>none</li>'}</ul></section>",
        '<section><h2>Files</h2><ul><li><a href="compare.md">compare.md</a></li>'
        '<li><a href="compare.csv">compare.csv</a></li>'
        '<li><a href="sim/">sim/</a>: the simulation\'s tables</li>'
        '<li><a href="real/">real/</a>: the real run\'s tables</li></ul></section>',
        "</main></body></html>",
    ]
    index = out / "index.html"
    index.write_text("\n".join(page) + "\n")
    return index
