"""Parameter sweeps: grid × seeds, one row per point, seed and workload, same as alone."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import sim
from sim.errors import NatsimError
from sim.plots.sweep import band, sweep_plot
from sim.scenario.load import load_scenario
from sim.sweep import METRICS, metrics_rows, parse_param, sweep
from tests.conftest import ROOT, scenario

PARAMS = {"topology.clusters.c.servers": [2, 3], "topology.latency.client": ["100us", "1ms"]}
SEEDS = [5, 6]


def tiny() -> dict:
    """Pub/sub fan-out and a service with a stop_responders fault, half a second of traffic."""
    return scenario(
        [
            {
                "name": "ticks",
                "kind": "pubsub",
                "subject": "t.x",
                "publishers": {"count": 1, "rate": "100/s"},
                "subscribers": {"per_server": 1},
            },
            {
                "name": "svc",
                "kind": "request_reply",
                "subject": "svc.x",
                "responders": {"count": 2, "queue": "q"},
                "requesters": {"count": 1, "rate": "50/s", "timeout": "200ms"},
            },
        ],
        duration="1s",
        faults=[
            {"at": "400ms", "stop_responders": {"workload": "svc"}},
            {"at": "700ms", "start_responders": {"workload": "svc"}},
        ],
    )


@pytest.fixture(scope="module")
def scen_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny(), sort_keys=False))
    return path


def alone(path: Path, point: dict, seed: int) -> pd.DataFrame:
    """The point run by itself in this process, without the sweep machinery."""
    result = sim.run(load_scenario(path, overrides=point), seed=seed)
    return pd.DataFrame(metrics_rows(result))


@pytest.fixture(scope="module")
def expected(scen_file) -> dict[tuple, pd.DataFrame]:
    return {
        (s, c, seed): alone(scen_file, {**dict(zip(PARAMS, (s, c), strict=True))}, seed)
        for s in PARAMS["topology.clusters.c.servers"]
        for c in PARAMS["topology.latency.client"]
        for seed in SEEDS
    }


def check_against_alone(df: pd.DataFrame, expected: dict[tuple, pd.DataFrame]) -> None:
    names = list(PARAMS)
    assert list(df.columns[:4]) == [*names, "seed", "workload"]
    assert df.columns[-1] == "error" and df.error.isna().all()
    # one row per point × seed × workload, in grid order
    assert len(df) == 2 * 2 * 2 * 2
    assert not df.duplicated([*names, "seed", "workload"]).any()
    assert list(df.workload[:2]) == ["ticks", "svc"]
    for (s, c, seed), exp in expected.items():
        got = df[(df[names[0]] == s) & (df[names[1]] == c) & (df.seed == seed)]
        got = got.drop(columns=[*names, "seed", "error", "wall_s"]).reset_index(drop=True)
        exp = exp[[c for c in got.columns]]
        pd.testing.assert_frame_equal(got, exp, check_dtype=False)


def test_process_pool_sweep_equals_each_point_alone(scen_file, expected):
    """A 2×2 grid over 2 seeds on a process pool: every row equals that point run alone."""
    df = sweep(scen_file, PARAMS, seeds=SEEDS, workers=2)
    check_against_alone(df, expected)
    svc = df[df.workload == "svc"]
    assert svc.failover_ms.notna().all() and svc.req_success_ratio.notna().all()
    ticks = df[df.workload == "ticks"]
    assert ticks.failover_ms.isna().all() and (ticks.delivery_ratio == 1.0).all()
    assert (df.events > 0).all() and (df.wall_s > 0).all()
    # the metrics differ between points: the overrides did reach the runs
    assert df.groupby("topology.latency.client").latency_p50_ms.mean().is_monotonic_increasing


def test_local_dask_sweep_equals_each_point_alone(scen_file, expected):
    """The same grid on a local Dask cluster of 2 workers gives the same rows."""
    df = sweep(scen_file, PARAMS, seeds=SEEDS, workers=2, dask="local")
    check_against_alone(df, expected)


def test_seeds_count_starts_at_the_scenario_seed(scen_file):
    """seeds=N runs the scenario's seed and the next N-1; seed= moves the start."""
    one = {"topology.clusters.c.servers": [2]}
    df = sweep(scen_file, one, seeds=2, workers=1)
    assert sorted(set(df.seed)) == [1, 2]  # the tiny scenario's seed is 1
    df = sweep(scen_file, one, seeds=1, seed=9, workers=1)
    assert set(df.seed) == {9}


def test_failing_point_reports_its_error_and_others_complete(scen_file):
    """A value that makes the scenario invalid fails that point only, with the message."""
    params = {
        "workloads.ticks.publishers.rate": ["100/s", "20/sec"],
        "topology.clusters.c.servers": [2],
    }
    df = sweep(scen_file, params, seeds=[1, 2], workers=2)
    bad = df[df["workloads.ticks.publishers.rate"] == "20/sec"]
    good = df[df["workloads.ticks.publishers.rate"] == "100/s"]
    assert len(bad) == 2 and bad.workload.isna().all()  # one row per failed point × seed
    assert bad.error.str.contains("is not a rate").all()
    assert bad.error.str.contains("workloads").all()
    assert good.error.isna().all() and len(good) == 2 * 2
    assert good.delivery_ratio.notna().all() and bad.delivery_ratio.isna().all()


def test_parse_param_takes_yaml_scalars():
    """--param values are parsed like YAML scalars; brackets keep a list together."""
    assert parse_param("topology.latency.overhead=2ms,10ms") == (
        "topology.latency.overhead",
        ["2ms", "10ms"],
    )
    assert parse_param("a.b=3, 4.5,true,null") == ("a.b", [3, 4.5, True, None])
    assert parse_param("x=[a,b],c") == ("x", [["a", "b"], "c"])
    for bad in ("noequals", "=1,2", "a=1,,2", "a="):
        with pytest.raises(NatsimError):
            parse_param(bad)


def natsim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_sweep_writes_table_and_plots(scen_file, tmp_path):
    """`natsim sweep` writes sweep.csv, sweep.parquet and PNGs, shows progress, exits 0."""
    out = tmp_path / "out"
    p = natsim(
        "sweep", str(scen_file), "--param", "topology.clusters.c.servers=2,3",
        "--param", "topology.latency.client=100us,1ms", "--seeds", "2", "--workers", "2",
        "--out", str(out),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "[8/8]" in p.stderr and "elapsed" in p.stderr
    assert "8 of 8 run(s) ok" in p.stdout
    df = pd.read_csv(out / "sweep.csv")
    assert len(df) == 16 and set(df.seed) == {1, 2}
    back = pd.read_parquet(out / "sweep.parquet")
    assert len(back) == 16 and list(back.columns) == list(df.columns)
    for m in ("delivery_ratio", "latency_p99_ms", "req_success_ratio", "failover_ms"):
        assert (out / f"sweep-{m}.png").stat().st_size > 0


def test_cli_sweep_bad_input_exits_2(scen_file, tmp_path, capsys):
    """A malformed --param, a swept seed, an unknown metric or a bad scenario: one line, exit 2."""
    from sim.cli import main

    for args in (
        ["--param", "servers"],
        ["--param", "a=1,,2"],
        ["--param", "duration=1s", "--metrics", "nope"],
        ["--param", "seed=1,2"],
        ["--param", "duration=1s", "--seeds", "0"],
    ):
        assert main(["sweep", str(scen_file), *args, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("natsim:") and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration: 10 seconds\ntopology: {clusters: {a: {servers: 1}}}\n")
    assert main(["sweep", str(bad), "--param", "duration=1s", "--out", str(tmp_path / "y")]) == 2
    assert "duration" in capsys.readouterr().err


def test_band_is_t_interval_or_min_max():
    """Three or more seeds: 95 % t-interval; two: min–max; non-finite values left out."""
    mean, _, hi, kind = band([1.0, 2.0, 3.0])
    assert kind == "95% CI" and mean == 2.0
    assert math.isclose(hi - mean, 4.303 * 1.0 / math.sqrt(3), rel_tol=1e-9)
    assert band([1.0, 3.0, math.inf]) == (2.0, 1.0, 3.0, "min–max")
    assert band([4.0])[:3] == (4.0, 4.0, 4.0)


def test_sweep_plot_draws_a_line_per_hue_with_units():
    """sweep_plot: one line per hue value, durations on x in ms, units in the labels."""
    rows = [
        {"lat": lat, "n": n, "seed": s, "workload": "w", "latency_p99_ms": v + s, "error": None}
        for lat, v in (("2ms", 1.0), ("10ms", 2.0))
        for n in (1, 2)
        for s in (1, 2, 3)
    ]
    fig = sweep_plot(pd.DataFrame(rows), x="lat", y="latency_p99_ms", hue="n")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2
    assert list(ax.get_lines()[0].get_xdata()) == [2.0, 10.0]
    assert ax.get_xlabel() == "lat (ms)" and ax.get_ylabel().endswith("(ms)")
    assert "95% CI" in fig._suptitle.get_text()
    assert set(METRICS) >= {"latency_p99_ms", "failover_ms", "convergence_max_s"}
