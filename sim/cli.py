"""The ``natsim`` command line.

Every deliberate error (:class:`sim.errors.NatsimError`) becomes one line on
stderr and exit code 2; nothing else is caught, so a bug still shows its
traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sim.errors import NatsimError, ScenarioError

__all__ = ["main"]


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.scenario.load import load_scenario_with_warnings

    for path in args.scenario:
        scenario, warnings = load_scenario_with_warnings(path)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        topo = scenario.topology
        print(
            f"ok: {path}: scenario '{scenario.name}', {len(topo.clusters)} cluster(s), "
            f"{len(topo.server_cluster())} server(s), {len(scenario.workloads)} workload(s)"
        )
    return 0


class _ProgressLine:
    """Prints a progress line to stderr at most every ``every`` wall seconds."""

    def __init__(self, name: str, every: float = 2.0) -> None:
        self.name = name
        self.every = every
        self.last = 0.0
        self.t0 = time.perf_counter()

    def __call__(self, now: float, end: float, events: int, deliveries: int) -> None:
        wall = time.perf_counter() - self.t0
        if wall - self.last < self.every and now < end:
            return
        self.last = wall
        print(
            f"[{now / end:4.0%}] {self.name}: t={now:.1f}s of {end:.1f}s  "
            f"events {events:,}  deliveries {deliveries:,}  wall {wall:.1f}s",
            file=sys.stderr,
        )


def _cmd_run(args: argparse.Namespace) -> int:
    from sim.analysis.summary import format_summary
    from sim.runner import simulate
    from sim.scenario.load import load_scenario_with_warnings

    scenario, warnings = load_scenario_with_warnings(args.scenario)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    progress = None if args.quiet else _ProgressLine(scenario.name)
    result = simulate(scenario, seed=args.seed, progress=progress)
    out = Path(args.out) if args.out else Path("reports") / scenario.name
    result.save(out, fmt=args.format)
    text = format_summary(result)
    (out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nresults: {out}/")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="natsim", description="Simulate NATS networks from scenarios.")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check scenario files without running them")
    v.add_argument("scenario", nargs="+", help="scenario YAML file(s)")
    v.set_defaults(func=_cmd_validate)
    r = sub.add_parser("run", help="run a scenario and write its results")
    r.add_argument("scenario", help="scenario YAML file")
    r.add_argument("--seed", type=int, default=None, help="root seed (default: the scenario's)")
    r.add_argument("--out", default=None, help="output folder (default: reports/<scenario-name>)")
    r.add_argument("--format", choices=["parquet", "csv"], default=None, help="table file format")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    r.set_defaults(func=_cmd_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NatsimError as exc:
        print(str(exc) if isinstance(exc, ScenarioError) else f"natsim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("natsim: interrupted", file=sys.stderr)
        return 130
