"""``natsim check SCENARIO... [--seeds N] [--seed S]``: run scenarios and test their expectations.

Each scenario runs (over ``N`` seeds when asked: ``S``, ``S + 1``, …; every
seed must pass) without writing results or a report, and a table shows each
expectation with its measured value (the min … max over seeds) and PASS or
FAIL.  Exit code 1 when any expectation fails, 2 on bad input (one line on
stderr, as every natsim command), 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from sim.errors import NatsimError

__all__ = ["add_command", "run_check"]


def add_command(subparsers: Any) -> None:
    """Add the ``check`` subcommand to the natsim command line."""
    p = subparsers.add_parser(
        "check", help="run scenarios and test their expectations (exit 1 when one fails)"
    )
    p.add_argument("scenario", nargs="+", help="scenario YAML file(s) with expect:")
    p.add_argument("--seeds", type=int, default=1, help="runs per scenario (default 1)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: the scenario's)")
    p.add_argument("-q", "--quiet", action="store_true", help="print failing scenarios only")
    p.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Run the ``check`` command; return its exit code."""
    from sim.expect import check, format_table, summarise, validate
    from sim.scenario.load import load_scenario_with_warnings

    if args.seeds < 1:
        raise NatsimError(f"--seeds must be at least 1, got {args.seeds}")
    loaded = []
    for path in args.scenario:  # every file is checked before anything runs
        scenario, warnings = load_scenario_with_warnings(path)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        for text in scenario.expect:
            validate(scenario, text)
        loaded.append((path, scenario))
    failed = 0
    for path, scenario in loaded:
        if not scenario.expect:
            print(f"{path}: no expectations (add an expect: list)\n")
            continue
        t0 = time.perf_counter()
        rows = check(scenario, seeds=args.seeds, seed=args.seed)
        table = summarise(rows)
        ok = bool((table.result == "PASS").all())
        failed += not ok
        first = scenario.seed if args.seed is None else args.seed
        seeds = f"seed {first}" if args.seeds == 1 else f"seeds {first}..{first + args.seeds - 1}"
        verdict = "PASS" if ok else "FAIL"
        wall = time.perf_counter() - t0
        if ok and args.quiet:
            continue
        print(f"{path} ({scenario.name}, {seeds}, {wall:.1f}s): {verdict}")
        print(format_table(table))
        print()
    n = len(loaded)
    print(f"{n - failed} of {n} scenario(s) passed" if failed else f"all {n} scenario(s) passed")
    return 1 if failed else 0
