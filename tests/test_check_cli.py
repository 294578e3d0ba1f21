"""`natsim check` exit codes and table, and the pytest plugin that collects scenarios."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
import yaml

from sim.cli import main

pytest_plugins = ["pytester"]


def small(expect, name="small"):
    return {
        "name": name,
        "seed": 3,
        "duration": "1s",
        "drain": "0.5s",
        "topology": {
            "clusters": {"c": {"servers": 2}},
            "latency": {"intra_cluster": "1ms", "client": "100us"},
            "processing": "0s",
        },
        "workloads": [
            {
                "name": "ticks",
                "kind": "pubsub",
                "subject": "t.x",
                "publishers": {"count": 1, "servers": ["c-1"], "rate": "100/s", "start": "0.2s"},
                "subscribers": {"per_server": 1},
            }
        ],
        "expect": expect,
    }


GOOD = ["duplicates == 0", "delivery_ratio{workload=ticks} >= 99%", "latency_p99 < 50ms"]
BAD = ["duplicates == 0", "latency_p99 < 1us"]


def write(folder, name, expect):
    f = folder / f"{name}.yaml"
    f.write_text(yaml.safe_dump(small(expect, name), sort_keys=False))
    return f


def test_check_passes_with_exit_0(tmp_path, capsys):
    """Every expectation holds: a table with PASS rows, exit 0."""
    f = write(tmp_path, "good", GOOD)
    assert main(["check", str(f), "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "seeds 3..4" in out and out.count("PASS") == len(GOOD) + 1
    assert "latency_p99 < 50ms" in out and "all 1 scenario(s) passed" in out


def test_check_fails_with_exit_1_and_shows_the_value(tmp_path, capsys):
    """One failing expectation among several scenarios: exit 1, the FAIL row has its value."""
    good, bad = write(tmp_path, "good", GOOD), write(tmp_path, "bad", BAD)
    assert main(["check", str(good), str(bad), "--seed", "5"]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("latency_p99 < 1us"))
    assert "FAIL" in line and ("ms" in line or "µs" in line)
    assert "1 of 2 scenario(s) passed" in out and "seed 5" in out


def test_check_bad_input_exits_2_with_one_line(tmp_path, capsys):
    """A bad expectation (or file) is one line on stderr and exit 2, before anything runs."""
    good = write(tmp_path, "good", GOOD)
    bad = write(tmp_path, "typo", ["duplicats == 0"])
    assert main(["check", str(good), str(bad)]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    err = cap.err.strip()
    assert "\n" not in err and err.startswith(str(bad)) and "expect[0]: unknown metric" in err
    assert main(["check", str(tmp_path / "missing.yaml")]) == 2
    assert main(["check", str(good), "--seeds", "0"]) == 2
    assert main(["validate", str(bad)]) == 2


# ------------------------------------------------------------------ plugin


def _plugin_args():
    """Load the plugin by its entry point when installed, else by module."""
    installed = any(e.name == "natsim" for e in entry_points(group="pytest11"))
    return [] if installed else ["-p", "sim.pytest_plugin"]


def test_plugin_collects_scenarios_and_fails_with_the_table(pytester):
    """`pytest scenarios/`: one item per scenario with expect:, the failure shows the table."""
    folder = pytester.mkdir("scenarios")
    write(folder, "good", GOOD)
    write(folder, "bad", BAD)
    (folder / "no-expect.yaml").write_text(yaml.safe_dump({"name": "x", "topology": {}}))
    (folder / "other.yaml").write_text("just: data\n")
    res = pytester.runpytest(*_plugin_args(), "scenarios", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    assert "bad.yaml: expectations failed" in out
    assert "latency_p99 < 1us" in out and "FAIL" in out
    assert "Traceback" not in out


def test_plugin_leaves_testpaths_alone_and_honours_the_ini_option(pytester):
    """Plain `pytest` with testpaths collects no YAML; natsim_scenarios adds configured folders."""
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_one.py").write_text("def test_x():\n    pass\n")
    write(pytester.path / "tests", "fixture-scenario", BAD)  # a fixture in tests/: not a test
    write(pytester.mkdir("scenarios"), "good", GOOD)
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    res = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)
    pytester.makeini("[pytest]\ntestpaths = tests\nnatsim_scenarios = scenarios\n")
    res = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    res.assert_outcomes(passed=2)
    res = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider", "tests/test_one.py")
    res.assert_outcomes(passed=1)


def test_plugin_bad_scenario_fails_with_one_line(pytester):
    folder = pytester.mkdir("scenarios")
    write(folder, "typo", ["duplicats == 0"])
    res = pytester.runpytest(*_plugin_args(), "scenarios", "-p", "no:cacheprovider")
    res.assert_outcomes(failed=1)
    assert "expect[0]: unknown metric 'duplicats'" in res.stdout.str()


@pytest.mark.parametrize("name", ["cluster-pubsub"])
def test_a_bundled_scenario_passes_its_expectations(name, capsys):
    from conftest import ROOT

    assert main(["check", str(ROOT / "scenarios" / f"{name}.yaml")]) == 0
