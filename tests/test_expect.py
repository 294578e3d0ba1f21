"""Expectations: parsing, checking against the scenario at load, evaluation on a run."""

from __future__ import annotations

import math

import pytest

import sim
from sim.errors import ScenarioError
from sim.expect import METRICS, ExpectError, check, evaluate, parse_expectation, validate
from sim.scenario.load import load_scenario

PUBSUB = {
    "name": "ticks",
    "kind": "pubsub",
    "subject": "t.x",
    "publishers": {"count": 1, "servers": ["c-1"], "rate": "200/s", "start": "0.5s"},
    "subscribers": {"per_server": 1},
}


def small(expect=None, **kw):
    sc = {
        "name": "small",
        "seed": 3,
        "duration": "2s",
        "drain": "0.5s",
        "topology": {
            "clusters": {"c": {"servers": 2}},
            "latency": {"intra_cluster": "1ms", "client": "100us"},
            "processing": "0s",
        },
        "workloads": [PUBSUB],
        **kw,
    }
    if expect is not None:
        sc["expect"] = expect
    return sc


def geo(expect=None):
    """Two regions; the service in e stops at 2 s and starts again at 4 s."""
    sc = {
        "name": "geo",
        "seed": 2,
        "duration": "6s",
        "topology": {
            "clusters": {"e": {"region": "r1", "servers": 1}, "w": {"region": "r2", "servers": 1}},
            "latency": {
                "intra_cluster": "1ms",
                "client": "100us",
                "regions": {"r1": {"r2": "20ms"}},
            },
            "processing": "0s",
        },
        "workloads": [
            {
                "name": "svc",
                "kind": "request_reply",
                "subject": "svc.x",
                "responders": {"per_server": 1, "queue": "g"},
                "requesters": {"count": 1, "cluster": "e", "rate": "50/s", "timeout": "200ms"},
            }
        ],
        "faults": [
            {"at": "2s", "stop_responders": {"workload": "svc", "cluster": "e"}},
            {"at": "4s", "start_responders": {"workload": "svc", "cluster": "e"}},
        ],
    }
    if expect is not None:
        sc["expect"] = expect
    return sc


@pytest.fixture(scope="module")
def pubsub_result():
    return sim.run(small())


@pytest.fixture(scope="module")
def geo_result():
    return sim.run(geo())


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "metric", "labels", "op", "threshold"),
    [
        ("duplicates == 0", "duplicates", {}, "==", 0.0),
        (
            "delivery_ratio{workload=ticks} >= 99.9%",
            "delivery_ratio",
            {"workload": "ticks"},
            ">=",
            0.999,
        ),
        ("delivery_ratio >= 0.999", "delivery_ratio", {}, ">=", 0.999),
        ("latency_p99 < 50ms", "latency_p99", {}, "<", 0.05),
        ("failover_time{workload=w} < 2", "failover_time", {"workload": "w"}, "<", 2.0),
        (
            " served_share{ workload = w , cluster='east', window=fault }==0 ",
            "served_share",
            {"workload": "w", "cluster": "east", "window": "fault"},
            "==",
            0.0,
        ),
        (
            "lost{reason=partition, fault=1} != 3",
            "lost",
            {"reason": "partition", "fault": "1"},
            "!=",
            3,
        ),
        ("loss_by_fault{settle=5s} <= 10", "loss_by_fault", {"settle": "5s"}, "<=", 10),
    ],
)
def test_parse_good_expressions(text, metric, labels, op, threshold):
    """metric{label=value, ...} OP number[unit]: units follow the metric's kind."""
    e = parse_expectation(text)
    assert (e.metric, e.labels, e.op) == (metric, labels, op)
    assert e.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latncy_p99 < 1ms", "unknown metric 'latncy_p99' (did you mean 'latency_p99'?)"),
        ("duplicates{colour=red} == 0", "duplicates takes no label 'colour'"),
        ("failover_time{cluster=e} < 1s", "failover_time takes no label 'cluster'"),
        ("delivery_ratio >= 2s", "'2s' is not a number for a ratio"),
        ("latency_p99 < 5 parsecs", "is not an expectation"),
        ("latency_p99 < 5furlongs", "is not a duration"),
        ("duplicates == 0.5", "not a whole number"),
        ("duplicates == 5%", "a percentage is for ratios"),
        ("delivery_ratio{window=during} > 0", "window 'during' is not one of"),
        ("lost{reason=gremlins} == 0", "reason 'gremlins' is not a loss reason"),
        ("requests{outcome=maybe} == 0", "outcome 'maybe' is not one of"),
        ("served_share{workload=w} == 0", "served_share needs a 'cluster' label"),
        ("duplicates = 0", "is not an expectation"),
        ("lost{fault=x} == 0", "is not a fault number"),
    ],
)
def test_parse_bad_expressions_give_one_line(text, message):
    """A bad expression is one line that names the problem."""
    with pytest.raises(ExpectError) as exc:
        parse_expectation(text)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_every_metric_has_a_kind_and_a_definition():
    for m in METRICS.values():
        assert m.kind in ("ratio", "count", "duration") and m.doc


def test_bad_expectation_fails_the_load_with_its_path_and_line(tmp_path):
    """A scenario's expectations are checked at load: names must exist, errors say expect[i]."""
    ok = load_scenario(small(["duplicates == 0", "delivery_ratio{workload=ticks} > 0.9"]))
    assert len(ok.expect) == 2
    cases = [
        ("delivery_ratio{workload=nope} > 0.9", "no workload 'nope'"),
        ("latency_p99{cluster=x} < 1s", "no cluster 'x'"),
        ("request_success_ratio{workload=ticks} > 0.9", "it makes no requests"),
        ("lost{fault=0} == 0", "no fault 0"),
    ]
    for text, message in cases:
        with pytest.raises(ScenarioError) as exc:
            load_scenario(small(["duplicates == 0", text]))
        assert exc.value.path == "expect[1]" and message in exc.value.message
    f = tmp_path / "s.yaml"
    import yaml

    f.write_text(yaml.safe_dump(small(["duplicates == 0", "dupes == 0"]), sort_keys=False))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(f)
    msg = str(exc.value)
    assert msg.startswith(f"{f}:") and "expect[1]: unknown metric 'dupes'" in msg
    assert exc.value.line is not None


def test_validate_checks_fault_numbers():
    scenario = load_scenario(geo())
    assert validate(scenario, "loss_by_fault{fault=1} == 0").labels == {"fault": "1"}
    with pytest.raises(ExpectError, match="no fault 2"):
        validate(scenario, "loss_by_fault{fault=2} == 0")


# --------------------------------------------------------------- evaluation


def test_evaluate_passing_and_failing(pubsub_result):
    """A healthy cluster: nothing lost; a too-tight latency bound fails with its value."""
    rows = evaluate(
        pubsub_result,
        [
            "delivery_ratio{workload=ticks} == 100%",
            "lost == 0",
            "duplicates == 0",
            "out_of_order == 0",
            "latency_p50 < 5ms",
            "latency_p99 < 10us",
            "published{workload=ticks} > 100",
            "convergence_time < 1s",
            "reconnect_gap_max == 0",
        ],
    )
    assert list(rows.passed) == [True, True, True, True, True, False, True, True, True]
    p99 = rows.set_index("metric").loc["latency_p99"]
    d = pubsub_result.deliveries
    assert p99.value == pytest.approx(d.latency.quantile(0.99))
    assert p99.shown.endswith("ms") or p99.shown.endswith("µs")
    assert rows.error.eq("").all()


def test_cluster_label_filters_by_subscriber_home(pubsub_result):
    """delivered{cluster=c} counts copies to subscribers placed in c: all of them here."""
    rows = evaluate(pubsub_result, ["delivered{cluster=c} > 0", "delivered > 0"])
    assert rows.value.iloc[0] == rows.value.iloc[1] > 0


def test_not_measurable_is_a_failing_row_not_a_crash(pubsub_result):
    """failover_time without a stop_responders fault, a fault window without faults: FAIL + why."""
    rows = evaluate(
        pubsub_result,
        [
            "failover_time < 2s",
            "delivery_ratio{window=fault} > 0.5",
            "request_success_ratio > 0.5",
            "not an expression",
        ],
    )
    assert not rows.passed.any()
    assert rows.value.isna().all()
    assert "responders stopped" in rows.error.iloc[0]
    assert "no fault in this run" in rows.error.iloc[1]
    assert "no requests" in rows.error.iloc[2]
    assert "is not an expectation" in rows.error.iloc[3]


def test_failover_metrics_and_windows(geo_result):
    """The stopped service fails over to w; e serves nobody during the fault, again after."""
    rows = evaluate(
        geo_result,
        [
            "failover_time{workload=svc} < 1s",
            "failover_time < 1s",
            "failback_time{workload=svc} < 1s",
            "failed_in_switch{workload=svc} <= 20",
            "served_share{workload=svc, cluster=e, window=before} == 100%",
            "served_share{workload=svc, cluster=e, window=fault} == 0",
            "served_share{workload=svc, cluster=w, window=fault} == 100%",
            "served_share{workload=svc, cluster=e, window=after} > 0.9",
            "served_share{workload=svc, cluster=e, fault=0} == 0",
            "request_success_ratio{workload=svc, window=before} == 1",
            "request_latency_p50{workload=svc, window=fault} > 30ms",
            "request_latency_p50{workload=svc, window=before} < 5ms",
            "requests{workload=svc, outcome=no_responders} == 0",
        ],
    )
    assert rows.passed.all(), rows[~rows.passed].to_string()
    assert rows.value.iloc[0] == rows.value.iloc[1]  # the only stopped workload is the default


def test_check_runs_seeds_and_reports_each(tmp_path):
    """check() runs seeds seed, seed+1, ...: one row per (seed, expectation)."""
    rows = check(small(["duplicates == 0", "latency_p99 < 1us"]), seeds=2, seed=10)
    assert list(rows.seed) == [10, 10, 11, 11]
    assert list(rows.passed) == [True, False, True, False]
    assert math.isfinite(rows.value.iloc[1])


def test_check_rejects_a_bad_expression_before_running():
    with pytest.raises(ScenarioError, match=r"expect\[0\]"):
        check(small(["latency_p99{workload=x} < 1s"]))
    with pytest.raises(ExpectError, match="no workload"):
        check(small(), expectations=["latency_p99{workload=x} < 1s"])


def test_a_ratio_above_one_without_percent_is_an_error():
    """`>= 99.9` on a ratio would never pass: it must say to write 99.9% (or 0.999)."""
    from sim.expect import ExpectError, parse_expectation

    with pytest.raises(ExpectError, match=r"between 0 and 1 \(write 99.9% for percent\)"):
        parse_expectation("delivery_ratio >= 99.9")
    assert parse_expectation("delivery_ratio >= 0.999") is not None
