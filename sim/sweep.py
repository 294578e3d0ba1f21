"""Parameter sweeps: run a scenario over a grid of overrides and seeds, in parallel.

:func:`sweep` is the Python entry point (for notebooks); ``natsim sweep`` is
the command line (this module is one of :data:`sim.cli.COMMAND_MODULES`).

The grid is the Cartesian product of the swept parameters — each a dotted
scenario path as :func:`~sim.scenario.load.load_scenario` overrides take it
(``topology.latency.overhead``, ``topology.clusters.east.servers``,
``workloads.svc.responders.count``) with a list of values — times the seeds.
Each (point, seed) is one task: it loads the scenario with that point's
overrides, runs it and returns a few small rows of metrics (one per
workload), never the full :class:`~sim.results.Result`.  Tasks run in a
:class:`~concurrent.futures.ProcessPoolExecutor` (default) or on a Dask
cluster (``dask=ADDRESS``, or ``dask="local"`` for a small
:class:`distributed.LocalCluster` that is closed afterwards).

A task is exactly ``simulate(load_scenario(source, overrides), seed)``, so
the row of a point equals running that point alone (:func:`run_point`).  A
point that fails (a value that makes the scenario invalid, a simulation
error) gives one row with its ``error`` and does not stop the others.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import NatsimError

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "add_command",
    "metrics_rows",
    "parse_param",
    "run_point",
    "sweep",
    "write_sweep",
]

#: every metric column a sweep row can carry, with its meaning (units in the name)
METRICS: dict[str, str] = {
    "published": "messages and requests published",
    "owed": "owed copies (delivered + lost)",
    "delivered": "owed copies that arrived",
    "delivery_ratio": "delivered / owed",
    "lost": "owed copies that never arrived",
    "duplicates": "deliveries beyond the first per (message, subscriber client)",
    "out_of_order": "deliveries before an earlier message of the same publisher",
    "latency_p50_ms": "delivery latency median (ms, replies left out)",
    "latency_p99_ms": "delivery latency 99th percentile (ms)",
    "requests": "requests made (request/reply workloads)",
    "req_success_ratio": "answered requests / requests",
    "req_p50_ms": "request latency median of answered requests (ms)",
    "req_p99_ms": "request latency 99th percentile (ms)",
    "failover_ms": "stop_responders fault to the first reply from another cluster (ms; inf: never)",
    "convergence_max_s": "longest route-mesh convergence period (s; inf: never converged)",
    "events": "simulation events scheduled",
    "wall_s": "wall time of the run (s)",
}

#: metrics ``natsim sweep`` plots unless ``--metrics`` says otherwise (those present)
DEFAULT_METRICS: tuple[str, ...] = (
    "delivery_ratio",
    "latency_p99_ms",
    "req_success_ratio",
    "req_p99_ms",
    "failover_ms",
    "convergence_max_s",
)

#: progress(done, total, task, elapsed_seconds); task has the point, seed and error
SweepProgress = Callable[[int, int, dict[str, Any], float], None]

# ------------------------------------------------------------------ the grid


def _split_values(text: str) -> list[str]:
    """Split ``a,b,[c,d],{e: f}`` at top-level commas (brackets and quotes kept whole)."""
    parts: list[str] = []
    depth, quote, cur = 0, "", []
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """Parse one swept value like a YAML scalar: ``"3"`` → 3, ``"true"`` → True, ``"2ms"`` stays."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NatsimError(f"--param value {text!r} is not valid YAML: {exc}") from None


def parse_param(text: str) -> tuple[str, list[Any]]:
    """Parse ``path=v1,v2,...`` into ``(path, [values])`` (values parsed as YAML scalars).

    Raises :class:`~sim.errors.NatsimError` on a missing ``=``, an empty path
    or an empty value.
    """
    path, eq, values = text.partition("=")
    path = path.strip()
    if not eq or not path or any(c.isspace() for c in path):
        raise NatsimError(f"--param {text!r}: expected path=v1,v2,... (e.g. seed=1,2)")
    raw = _split_values(values)
    if any(v == "" for v in raw):
        raise NatsimError(f"--param {text!r}: empty value (values are separated by commas)")
    return path, [parse_value(v) for v in raw]


def grid(params: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The points of the grid: every combination of the values, first parameter slowest."""
    for path, values in params.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise NatsimError(f"parameter {path!r}: expected a non-empty list of values")
    taken = {"seed", "workload", "error", *METRICS}
    for path in params:
        if path in taken:
            hint = " (use --seed / --seeds, seeds=)" if path == "seed" else ""
            raise NatsimError(f"cannot sweep {path!r}: it is a column of the sweep table{hint}")
    names = list(params)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*params.values())]


# ------------------------------------------------------------------ one task


def _finite(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def metrics_rows(result: Result) -> list[dict[str, Any]]:
    """The metrics of one run as flat dicts, one per workload (see :data:`METRICS`)."""
    from sim.analysis.failover import failover_summary, fault_windows
    from sim.analysis.faults import convergence
    from sim.analysis.guarantees import guarantee_table
    from sim.analysis.metrics import latency_quantiles, request_outcomes

    g = guarantee_table(result)
    lat = latency_quantiles(result, q=(0.5, 0.99))
    req = request_outcomes(result)
    conv = convergence(result)
    if conv.empty:
        conv_max = math.nan
    elif conv.seconds.isna().any():
        conv_max = math.inf
    else:
        conv_max = float(conv.seconds.max())
    rows = []
    for wl in g.index:
        row: dict[str, Any] = {"workload": wl}
        for col in ("published", "owed", "delivered", "lost"):
            row[col] = int(g.at[wl, col])
        row["delivery_ratio"] = _finite(g.at[wl, "delivery_ratio"])
        row["duplicates"] = int(g.at[wl, "duplicated"])
        row["out_of_order"] = int(g.at[wl, "out_of_order"])
        has_lat = wl in lat.index
        row["latency_p50_ms"] = _finite(lat.at[wl, "p50"]) * 1000 if has_lat else math.nan
        row["latency_p99_ms"] = _finite(lat.at[wl, "p99"]) * 1000 if has_lat else math.nan
        if wl in req.index:
            row["requests"] = int(req.at[wl, "requests"])
            row["req_success_ratio"] = _finite(req.at[wl, "success_ratio"])
            row["req_p50_ms"] = _finite(req.at[wl, "p50"]) * 1000
            row["req_p99_ms"] = _finite(req.at[wl, "p99"]) * 1000
        if wl in req.index and not fault_windows(result, wl).empty:
            row["failover_ms"] = failover_summary(result, wl)["failover_time"] * 1000
        row["convergence_max_s"] = conv_max
        row["events"] = int(result.meta.get("events", 0))
        row["wall_s"] = float(result.meta.get("wall_seconds", math.nan))
        rows.append(row)
    return rows


def _source(scenario: str | os.PathLike[str] | Mapping[str, Any]) -> Any:
    """What a task gets: a mapping, or a file as (path, text) so remote workers can load it."""
    if isinstance(scenario, Mapping):
        return dict(scenario)
    path = os.fspath(scenario)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise NatsimError(f"cannot read {path}: {exc.strerror or exc}") from None
    return (path, text)


def _load(source: Any, overrides: Mapping[str, Any]) -> Any:
    from sim.scenario.load import load_scenario

    if not isinstance(source, tuple):
        return load_scenario(source, overrides=overrides)
    path, text = source
    try:
        same = Path(path).read_text() == text
    except OSError:
        same = False
    if same:
        return load_scenario(path, overrides=overrides)
    # a remote worker without the file (or a changed file): load the text we were sent
    with tempfile.TemporaryDirectory(prefix="natsim-sweep-") as tmp:
        copy = Path(tmp) / Path(path).name
        copy.write_text(text)
        return load_scenario(copy, overrides=overrides)


def run_point(
    scenario: Any, overrides: Mapping[str, Any], seed: int | None = None
) -> list[dict[str, Any]]:
    """Run one grid point with one seed; return its metric rows (one per workload).

    ``scenario`` is a YAML path, a scenario mapping, or ``(path, text)``.
    Any error is caught and returned as a single row ``{"error": message}``;
    every row carries the ``seed`` the run used.
    """
    from sim.runner import simulate

    if isinstance(scenario, str | os.PathLike):
        scenario = _source(scenario)
    try:
        spec = _load(scenario, overrides)
        used = spec.seed if seed is None else int(seed)
        result = simulate(spec, seed=used)
        rows = metrics_rows(result)
    except Exception as exc:
        msg = str(exc) if isinstance(exc, NatsimError) else f"{type(exc).__name__}: {exc}"
        return [{"seed": seed, "workload": None, "error": msg or type(exc).__name__}]
    for row in rows:
        row["seed"] = used
        row["error"] = None
    return rows


# ------------------------------------------------------------------ executors


def _label(point: Mapping[str, Any], seed: Any) -> str:
    parts = [f"{k.rsplit('.', 1)[-1]}={v}" for k, v in point.items()]
    return " ".join([*parts, f"seed={seed}"])


def print_progress(done: int, total: int, task: dict[str, Any], elapsed: float) -> None:
    """The default progress line on stderr: ``[k/n] point seed: ok (elapsed)``."""
    state = "ok" if not task.get("error") else f"FAILED: {task['error']}"
    print(
        f"[{done}/{total}] {_label(task['point'], task['seed'])}: {state}  "
        f"(task {task['wall']:.1f}s, elapsed {elapsed:.1f}s)",
        file=sys.stderr,
    )


def _mp_context() -> Any:
    import multiprocessing

    # not fork: the caller may have threads (a notebook, a Dask client, matplotlib)
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _timed(scenario: Any, overrides: Mapping[str, Any], seed: Any) -> tuple[list, float]:
    t0 = time.perf_counter()
    rows = run_point(scenario, overrides, seed)
    return rows, time.perf_counter() - t0


def _run_pool(tasks: list[tuple[Any, ...]], workers: int, on_done: Callable) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=_mp_context())
    try:
        futures = {pool.submit(_timed, *t[1:]): t[0] for t in tasks}
        for fut in as_completed(futures):
            try:
                rows, wall = fut.result()
            except Exception as exc:  # a worker died: the task fails, the others go on
                rows, wall = [{"workload": None, "error": f"{type(exc).__name__}: {exc}"}], math.nan
            on_done(futures[fut], rows, wall)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: do not wait for the grid
        raise
    pool.shutdown()


def _run_dask(tasks: list[tuple[Any, ...]], address: str, workers: int | None, on_done: Callable):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise NatsimError("--dask needs dask.distributed: pip install 'natsim[dask]'") from None
    import logging

    cluster = None
    if address == "local":
        n = workers or min(os.cpu_count() or 1, 4)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise NatsimError(f"cannot connect to the Dask scheduler {address}: {exc}") from None
    try:
        futures = [client.submit(_timed, *t[1:], pure=False) for t in tasks]
        index = {f.key: t[0] for f, t in zip(futures, tasks, strict=True)}
        for fut in as_completed(futures):
            try:
                rows, wall = fut.result()
            except Exception as exc:
                rows, wall = [{"workload": None, "error": f"{type(exc).__name__}: {exc}"}], math.nan
            on_done(index[fut.key], rows, wall)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------ the API


def sweep(
    scenario_path: str | os.PathLike[str] | Mapping[str, Any],
    params: Mapping[str, Sequence[Any]],
    seeds: int | Sequence[int] = 1,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: bool | SweepProgress = False,
) -> pd.DataFrame:
    """Run ``scenario_path`` over the grid of ``params`` × seeds; return one long DataFrame.

    Parameters
    ----------
    scenario_path : str, os.PathLike or Mapping
        A scenario YAML file, or the same content as a dict.
    params : Mapping
        Dotted scenario path → list of values (as the YAML file would take
        them: ``{"topology.latency.overhead": ["2ms", "10ms"]}``).  An empty
        mapping runs the scenario as is (one point).
    seeds : int or sequence of int
        How many seeds (``seed``, ``seed + 1``, …) or the seeds themselves.
    seed : int, optional
        First seed; defaults to the scenario's ``seed``.
    workers : int, optional
        Parallel processes (default ``os.cpu_count()``; with ``dask="local"``,
        the Dask workers, default up to 4).
    dask : str, optional
        A ``dask.distributed`` scheduler address, or ``"local"`` for a
        local cluster of processes closed afterwards.  Remote workers need
        natsim installed; they get the scenario text, not the path.
    progress : bool or callable
        ``True`` prints a line per finished task on stderr; a callable gets
        ``(done, total, task, elapsed)``.

    Returns
    -------
    pandas.DataFrame
        One row per point × seed × workload, in grid order: a column per
        parameter (named by its path), ``seed``, ``workload``, the metrics of
        :data:`METRICS`, and ``error`` (None, or the message of a failed
        point, which then has one row with no workload and no metrics).

    Examples
    --------
    >>> from sim.sweep import sweep
    >>> df = sweep("scenarios/geo-failover.yaml",  # doctest: +SKIP
    ...            {"topology.latency.overhead": ["2ms", "10ms", "40ms"]}, seeds=3)
    """
    import pandas as pd

    from sim.scenario.load import load_scenario

    source = _source(scenario_path)
    points = grid(params)
    if isinstance(seeds, int):
        if seeds < 1:
            raise NatsimError(f"seeds must be at least 1, got {seeds}")
        if seed is None:
            seed = load_scenario(scenario_path).seed  # also fails fast on a bad file
        seed_list = [seed + i for i in range(seeds)]
    else:
        seed_list = [int(s) for s in seeds]
        if not seed_list:
            raise NatsimError("seeds: expected at least one seed")
    if workers is not None and workers < 1:
        raise NatsimError(f"workers must be at least 1, got {workers}")
    tasks = [
        (i, source, point, s) for i, (point, s) in enumerate(itertools.product(points, seed_list))
    ]
    report: SweepProgress | None = print_progress if progress is True else (progress or None)
    results: dict[int, list[dict[str, Any]]] = {}
    t0 = time.perf_counter()

    def on_done(i: int, rows: list[dict[str, Any]], wall: float) -> None:
        _, _, point, s = tasks[i]
        results[i] = rows
        if report is not None:
            err = next((r.get("error") for r in rows if r.get("error")), None)
            task = {"point": point, "seed": s, "error": err, "wall": wall}
            report(len(results), len(tasks), task, time.perf_counter() - t0)

    if dask:
        _run_dask(tasks, dask, workers, on_done)
    else:
        _run_pool(tasks, workers or os.cpu_count() or 1, on_done)
    return _frame(tasks, results, list(params), pd)


def _frame(tasks: list, results: dict, names: list[str], pd: Any) -> pd.DataFrame:
    rows = []
    for i, _, point, s in tasks:
        for r in results[i]:
            rows.append({**point, "seed": s, **{k: v for k, v in r.items() if k != "seed"}})
    metric_cols = [m for m in METRICS if any(m in r for r in rows)]
    cols = [*names, "seed", "workload", *metric_cols, "error"]
    df = pd.DataFrame(rows, columns=cols)
    df["seed"] = df["seed"].astype("int64")
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    return df


# ------------------------------------------------------------------ files


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns of mixed types (``2ms`` and 3) become strings so parquet takes them."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            kinds = {type(v) for v in out[col] if v is not None and v == v}
            if len(kinds) > 1 or (kinds and not kinds <= {str}):
                out[col] = out[col].map(lambda v: None if v is None or v != v else str(v))
    return out


def plot_metrics(df: pd.DataFrame, metrics: Sequence[str] | None = None) -> list[str]:
    """The metrics worth a plot: those asked for (or the defaults) with a finite value."""
    import numpy as np

    wanted = list(metrics) if metrics else list(DEFAULT_METRICS)
    out = []
    for m in wanted:
        if m in df and np.isfinite(pd_numeric(df[m])).any():
            out.append(m)
    return out


def pd_numeric(s: Any) -> Any:
    import pandas as pd

    return pd.to_numeric(s, errors="coerce").astype(float)


def write_sweep(
    df: pd.DataFrame,
    out: str | os.PathLike[str],
    params: Sequence[str],
    metrics: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``sweep.parquet`` (when pyarrow is installed), ``sweep.csv`` and a PNG per metric.

    Plots put the first parameter with several values on x; the hue is the
    next such parameter if any, else the workload; with both several workloads and a second
    parameter, one panel per workload.  Returns the files written.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        _parquet_safe(df).to_parquet(folder / "sweep.parquet", index=False)
        written.append(folder / "sweep.parquet")
    df.to_csv(folder / "sweep.csv", index=False)
    written.append(folder / "sweep.csv")
    ok = df[df.error.isna()] if "error" in df else df
    if not params or ok.empty:
        return written
    from sim.plots.sweep import sweep_plot

    varied = [p for p in params if ok[p].astype(str).nunique() > 1] or list(params)
    params = varied
    x = params[0]
    workloads = list(dict.fromkeys(ok.workload.dropna()))
    hue = params[1] if len(params) > 1 else ("workload" if len(workloads) > 1 else None)
    col = "workload" if hue != "workload" and len(workloads) > 1 else None
    for m in plot_metrics(ok, metrics):
        fig = sweep_plot(ok, x=x, y=m, hue=hue, col=col)
        path = folder / f"sweep-{m}.png"
        fig.savefig(path, dpi=110)
        written.append(path)
    return written


# ------------------------------------------------------------------ the command


def _cmd_sweep(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from sim.scenario.load import load_scenario

    params: dict[str, list[Any]] = {}
    for text in args.param or []:
        path, values = parse_param(text)
        if path in params:
            raise NatsimError(f"--param {path} given twice")
        params[path] = values
    if args.seeds < 1:
        raise NatsimError(f"--seeds must be at least 1, got {args.seeds}")
    unknown = [m for m in args.metrics or [] if m not in METRICS]
    if unknown:
        raise NatsimError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    base = load_scenario(args.scenario)  # a bad file: one line and exit 2 before any task
    out = Path(args.out) if args.out else Path("reports") / f"{base.name}-sweep"
    n = len(grid(params)) * args.seeds
    where = f"Dask ({args.dask})" if args.dask else f"{args.workers or os.cpu_count()} process(es)"
    if not args.quiet:
        print(f"sweep: {n} run(s) of {base.name} on {where}", file=sys.stderr)
    t0 = time.perf_counter()
    df = sweep(
        args.scenario,
        params,
        seeds=args.seeds,
        seed=args.seed,
        workers=args.workers,
        dask=args.dask,
        progress=not args.quiet,
    )
    wall = time.perf_counter() - t0
    written = write_sweep(df, out, list(params), args.metrics)
    failed = df[df.error.notna()]
    runs = df.drop_duplicates([*params, "seed"]).shape[0]
    print(f"{runs - len(failed)} of {runs} run(s) ok in {wall:.1f}s")
    for row in failed.itertuples(index=False):
        point = dict(zip(params, row[: len(params)], strict=True))
        print(f"failed: {_label(point, row.seed)}: {row.error}")
    print(f"results: {out}/ ({', '.join(p.name for p in written)})")
    return 1 if len(failed) == runs else 0


def add_command(subparsers: Any) -> None:
    """Add ``natsim sweep`` to the command line."""
    p = subparsers.add_parser(
        "sweep",
        help="run a scenario over a grid of parameters and seeds, in parallel",
        description=(
            "Run SCENARIO for every combination of the --param values and every seed; "
            "write one table (a row per point, seed and workload) and a plot per metric."
        ),
    )
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument(
        "--param",
        action="append",
        metavar="PATH=V1,V2,...",
        help="a dotted scenario path and its values, parsed as YAML "
        "(topology.latency.overhead=2ms,10ms); repeat for a grid",
    )
    p.add_argument("--seeds", type=int, default=1, help="seeds per point (default 1)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: the scenario's)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    p.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS|local",
        help="run on a dask.distributed scheduler, or 'local' for a local Dask cluster",
    )
    p.add_argument("--out", default=None, help="output folder (default: reports/<name>-sweep)")
    p.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        metavar="METRIC",
        help=f"metrics to plot (default: those of {', '.join(DEFAULT_METRICS)} present)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_sweep)
