"""The ``natsim`` command line.

Every deliberate error (:class:`sim.errors.NatsimError`) becomes one line on
stderr and exit code 2; nothing else is caught, so a bug still shows its
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import NatsimError, ScenarioError

if TYPE_CHECKING:
    from sim.results import Result

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

    overrides = {"monitor": {"interval": args.monitor}} if args.monitor else None
    scenario, warnings = load_scenario_with_warnings(args.scenario, overrides=overrides)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    progress = None if args.quiet else _ProgressLine(scenario.name)
    result = simulate(scenario, seed=args.seed, progress=progress)
    result.meta.setdefault("date", _now())
    out = Path(args.out) if args.out else Path("reports") / scenario.name
    result.save(out, fmt=args.format)
    scenario_text = Path(args.scenario).read_text()
    (out / "scenario.yaml").write_text(scenario_text)
    text = format_summary(result)
    (out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nresults: {out}/")
    if not args.no_report:
        index = _write_report(result, out, scenario_text, quiet=args.quiet)
        print(f"report:  {index}")
    return 0


def _now() -> str:
    """The current time as ISO 8601 (UTC, seconds)."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_report(result: Result, out: Path, scenario_text: str | None, quiet: bool) -> Path:
    """Write the HTML report into ``out`` (headless matplotlib); return index.html."""
    import matplotlib

    matplotlib.use("Agg")
    from sim.report import write_report

    t0 = time.perf_counter()
    if not quiet:
        print("writing the report…", file=sys.stderr)
    index = write_report(result, out, scenario_text=scenario_text)
    if not quiet:
        print(f"report written in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return index


def _cmd_report(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from sim.results import Result

    folder = Path(args.results)
    run_json = folder / "run.json"
    try:
        meta = json.loads(run_json.read_text())
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        raise NatsimError(
            f"{folder} is not a results folder (no readable run.json from natsim run)"
        )
    try:
        result = Result.load(folder)
    except (OSError, ValueError, KeyError) as exc:
        raise NatsimError(f"cannot read the results in {folder}: {exc}") from exc
    if not result.meta.get("date"):
        mtime = run_json.stat().st_mtime
        result.meta["date"] = datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")
    text_file = folder / "scenario.yaml"
    scenario_text = text_file.read_text() if text_file.is_file() else None
    out = Path(args.out) if args.out else folder
    index = _write_report(result, out, scenario_text, quiet=args.quiet)
    print(f"report: {index}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="natsim", description="Simulate NATS networks from scenarios.")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check scenario files without running them")
    v.add_argument("scenario", nargs="+", help="scenario YAML file(s)")
    v.set_defaults(func=_cmd_validate)
    r = sub.add_parser("run", help="run a scenario; write its results and report")
    r.add_argument("scenario", help="scenario YAML file")
    r.add_argument("--seed", type=int, default=None, help="root seed (default: the scenario's)")
    r.add_argument("--out", default=None, help="output folder (default: reports/<scenario-name>)")
    r.add_argument("--format", choices=["parquet", "csv"], default=None, help="table file format")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    r.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    r.add_argument(
        "--monitor",
        metavar="INTERVAL",
        default=None,
        help="sample the servers' monitoring counters every INTERVAL (e.g. 1s; sets monitor:)",
    )
    r.set_defaults(func=_cmd_run)
    rp = sub.add_parser("report", help="rebuild the report of a results folder without re-running")
    rp.add_argument("results", help="results folder written by natsim run (has run.json)")
    rp.add_argument("--out", default=None, help="report folder (default: the results folder)")
    rp.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    rp.set_defaults(func=_cmd_report)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_command(sub)
    return p


#: modules that each add one subcommand: ``add_command(subparsers)`` sets its ``func``
COMMAND_MODULES: tuple[str, ...] = (
    "sim.check",
    "sim.sweep",
    "sim.convert",
    "sim.diff",
    "sim.real.cli",
)


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
