"""``natsim run``: results files, summary, progress, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

import sim
from sim.results import TABLES, Result
from tests.conftest import ROOT


def natsim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_run_writes_tables_run_json_and_summary(tmp_path):
    """A run leaves every table, run.json and summary.txt in --out, and prints the summary."""
    out = tmp_path / "out"
    p = natsim("run", "scenarios/cluster-pubsub.yaml", "--out", str(out), "--seed", "3")
    assert p.returncode == 0, p.stderr
    assert "ticks" in p.stdout and "latency p50" in p.stdout and "delivered" in p.stdout
    assert "[100%]" in p.stderr  # progress lines
    meta = json.loads((out / "run.json").read_text())
    assert meta["seed"] == 3 and meta["scenario"] == "cluster-pubsub"
    assert meta["events"] > 0 and meta["natsim_version"]
    for name in TABLES:
        assert (out / meta["files"][name]).exists()
    assert (out / "summary.txt").read_text().startswith("scenario cluster-pubsub")


def test_default_output_folder_is_reports_scenario_name(tmp_path):
    """Without --out, results land in reports/<scenario-name>/ under the working directory."""
    scen = ROOT / "scenarios" / "cluster-request-reply.yaml"
    p = natsim("run", str(scen), "-q", "--format", "csv", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "reports" / "cluster-request-reply" / "requests.csv").exists()


def test_run_bad_scenario_exits_2_with_one_line(tmp_path):
    """A bad scenario stops `natsim run` with one line and exit code 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration: 10 seconds\ntopology: {clusters: {a: {servers: 1}}}\n")
    p = natsim("run", str(bad))
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "duration" in p.stderr and "Traceback" not in p.stderr


def test_saved_results_load_back_identical(tmp_path):
    """Result.save then Result.load gives the same tables (parquet and csv)."""
    r = sim.run(ROOT / "scenarios" / "cluster-queue-group.yaml")
    for fmt in ("parquet", "csv"):
        folder = r.save(tmp_path / fmt, fmt=fmt)
        back = Result.load(folder)
        for name in ("messages", "deliveries", "drops"):
            a, b = r.frames[name], back.frames[name]
            assert list(a.columns) == list(b.columns)
            assert len(a) == len(b)
            pd.testing.assert_series_equal(a["msg_id"], b["msg_id"], check_dtype=False)


def test_python_module_and_console_script_agree():
    """`python -m sim` and the API expose the same run: sim.run is the simulate function."""
    assert sim.run is sim.simulate
    p = natsim("validate", "scenarios/cluster-pubsub.yaml")
    assert p.returncode == 0 and p.stdout.startswith("ok:")


def test_summary_table_per_workload():
    """The summary has one row per workload with owed/delivered and request outcomes."""
    r = sim.run(ROOT / "scenarios" / "cluster-request-reply.yaml")
    t = sim.summary(r)
    assert list(t.index) == ["prices", "inventory", "discovery"]
    inv = t.loc["inventory"]
    assert inv.req_no_responders > 0 and inv.req_ok > 0
    assert t.loc["prices"].req_ok == t.loc["prices"].req_requests
    assert (t.delivery_ratio == 1.0).all()
