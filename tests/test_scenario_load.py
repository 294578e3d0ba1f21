"""Tests of sim.scenario.load: YAML with lines, overrides, one-line errors, references."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.errors import ScenarioError
from sim.scenario.load import (
    check_references,
    format_path,
    load_scenario,
    load_scenario_with_warnings,
    parse_yaml,
)
from sim.scenario.spec import PubSubWorkload, RequestReplyWorkload, Scenario

GOOD = """\
name: demo
duration: 10s
topology:
  clusters:
    east:
      servers: 3
    west:
      servers: [w1, w2]
  links:
    - between: [east-1, w1]
      latency: {dist: lognormal, median: 20ms, sigma: 0.3}
workloads:
  - kind: pubsub
    name: ticks
    subject: "STOCK.{A,B}"
    publishers:
      count: 2
      rate: 20/s
      size: 1KiB
    subscribers:
      count: 3
      cluster: west
      queue: q
  - kind: request_reply
    name: svc
    subject: svc.echo
    requesters: {count: 1, rate: 1.5k/s, servers: [east-2]}
    responders:
      per_server: 1
      service_time: 0.3ms
"""


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def error_of(tmp_path: Path, text: str, **kwargs: object) -> tuple[str, str]:
    """Load ``text`` expecting a ScenarioError; return (file name, one-line message)."""
    file = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(file, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return file, message


# ------------------------------------------------------------------ good input


def test_minimal_scenario_canonical_values(tmp_path: Path) -> None:
    """A valid file loads with durations in seconds, sizes in bytes, rates per second."""
    scenario, warnings = load_scenario_with_warnings(write(tmp_path, GOOD))
    assert warnings == []
    assert scenario.name == "demo"
    assert scenario.duration == 10.0
    ticks, svc = scenario.workloads
    assert isinstance(ticks, PubSubWorkload)
    assert isinstance(svc, RequestReplyWorkload)
    assert ticks.publishers.rate == 20.0
    assert ticks.publishers.size == 1024
    assert svc.requesters.rate == 1500.0
    assert svc.responders[0].service_time.value == pytest.approx(0.0003)
    assert scenario.topology.links[0].latency.median == pytest.approx(0.020)


def test_server_names_generated(tmp_path: Path) -> None:
    """A server count names the servers <cluster>-1..n; a list keeps its names."""
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.topology.clusters["east"].server_names("east") == [
        "east-1",
        "east-2",
        "east-3",
    ]
    assert list(scenario.topology.server_cluster()) == ["east-1", "east-2", "east-3", "w1", "w2"]


def test_single_subscriber_mapping_becomes_list(tmp_path: Path) -> None:
    """A single subscribers mapping is read as a list of one group."""
    scenario = load_scenario(write(tmp_path, GOOD))
    ticks = scenario.workloads[0]
    assert isinstance(ticks, PubSubWorkload)
    assert len(ticks.subscribers) == 1
    assert ticks.subscribers[0].queue == "q"


def test_mapping_source_and_scenario_passthrough() -> None:
    """A mapping is validated directly; a Scenario instance is returned unchanged."""
    data = {"name": "m", "duration": "1m", "topology": {"clusters": {"c": {"servers": 1}}}}
    scenario = load_scenario(data)
    assert scenario.duration == 60.0
    assert load_scenario(scenario) is scenario
    assert data["duration"] == "1m"


def test_yaml_scalar_semantics_kept() -> None:
    """Scalars keep SafeLoader meaning: '0.3ms' stays a string, 'on' is true."""
    data, _ = parse_yaml("a: 0.3ms\nb: on\nc: 3\n")
    assert data == {"a": "0.3ms", "b": True, "c": 3}


def test_line_map_records_keys_and_items() -> None:
    """The line map gives the 1-based line of every mapping key and sequence item."""
    _, lines = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - y: 2\n")
    assert lines[("a",)] == 1
    assert lines[("a", "b")] == 2
    assert lines[("a", "c", 0)] == 4
    assert lines[("a", "c", 1, "y")] == 5


def test_merge_keys_are_not_duplicates() -> None:
    """A key that overrides one pulled in by a '<<' merge is not a duplicate."""
    data, _ = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n")
    assert data["other"] == {"x": 3, "y": 2}


def test_format_path() -> None:
    """Field paths print dotted, with [i] for list items."""
    assert format_path(("workloads", 0, "publishers", "rate")) == "workloads[0].publishers.rate"
    assert format_path(()) == ""


# ------------------------------------------------------------------ warnings


def test_publish_wildcard_is_a_warning(tmp_path: Path) -> None:
    """A literal '*' token in a published subject is a warning naming file, line and path."""
    file = write(tmp_path, edit('"STOCK.{A,B}"', '"STOCK.*"'))
    _, warnings = load_scenario_with_warnings(file)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{file}:15: workloads[0].subject: publishing to 'STOCK.*'")


def test_no_subscribers_or_responders_warn(tmp_path: Path) -> None:
    """A pubsub workload without subscribers, or request_reply without responders, warns."""
    text = GOOD.split("    subscribers:")[0] + "  - kind: request_reply\n    name: s\n"
    text += "    subject: s\n    requesters: {count: 1, rate: 1/s}\n"
    _, warnings = load_scenario_with_warnings(write(tmp_path, text))
    assert [w.split(": ", 2)[1] for w in warnings] == ["workloads[0]", "workloads[1]"]
    assert "has no subscribers" in warnings[0]
    assert "has no responders" in warnings[1]


def test_start_after_duration_warns(tmp_path: Path) -> None:
    """A client group that starts at or after the end of the run gives a warning."""
    file = write(tmp_path, edit("size: 1KiB", "size: 1KiB\n      start: 20s"))
    _, warnings = load_scenario_with_warnings(file)
    assert warnings == [
        f"{file}:20: workloads[0].publishers.start: "
        "start (20s) is not before the end of the run (10s)"
    ]


# ------------------------------------------------------------------ bad input


def test_missing_file() -> None:
    """A file that does not exist is one error naming it, with no path or line."""
    with pytest.raises(ScenarioError) as info:
        load_scenario("no/such/scenario.yaml")
    assert str(info.value) == "no/such/scenario.yaml: no such file"


def test_yaml_syntax_error(tmp_path: Path) -> None:
    """A YAML syntax error names the file, the line of the problem and the problem."""
    file, message = error_of(tmp_path, edit("topology:", "topology: ["))
    assert message == (
        f"{file}:5: invalid YAML: while parsing a flow sequence, expected ',' or ']', but got ':'"
    )


def test_empty_and_non_mapping(tmp_path: Path) -> None:
    """An empty file or a top level that is not a mapping is an error."""
    assert error_of(tmp_path, "")[1].endswith(": the scenario is empty")
    file, message = error_of(tmp_path, "- a\n")
    assert message == f"{file}:1: the scenario is a list, not a mapping"


def test_duplicate_key(tmp_path: Path) -> None:
    """A key given twice in one mapping is an error naming the key and both lines."""
    file, message = error_of(tmp_path, edit("name: ticks\n", "name: ticks\n    name: t2\n"))
    assert message == f"{file}:15: workloads[0].name: duplicate key 'name' (first given on line 14)"


def test_unknown_key_did_you_mean(tmp_path: Path) -> None:
    """An unknown key is named, with the closest known key suggested."""
    file, message = error_of(tmp_path, edit("      servers: 3", "      sevrers: 3"))
    assert message == (
        f"{file}:6: topology.clusters.east.sevrers: unknown key 'sevrers' (did you mean 'servers'?)"
    )


def test_unknown_key_without_suggestion(tmp_path: Path) -> None:
    """An unknown key with no close known key gets no suggestion."""
    file, message = error_of(tmp_path, edit("      queue: q", "      queue: q\n    zzz: 1"))
    assert message == f"{file}:24: workloads[0].zzz: unknown key 'zzz'"


def test_wrong_type(tmp_path: Path) -> None:
    """A value of the wrong type says what was expected and shows the value."""
    file, message = error_of(tmp_path, edit("count: 2", "count: two"))
    assert message == f"{file}:17: workloads[0].publishers.count: expected an integer, got 'two'"


def test_wrong_type_in_union(tmp_path: Path) -> None:
    """A value matching no member of a union lists every expected type."""
    file, message = error_of(tmp_path, edit("      servers: 3", "      servers: x"))
    assert message == (
        f"{file}:6: topology.clusters.east.servers: expected an integer or a list, got 'x'"
    )


def test_wrong_item_in_union_list(tmp_path: Path) -> None:
    """A list given for 'int | list' reports the bad item, not the int member."""
    file, message = error_of(tmp_path, edit("[w1, w2]", "\n        - w1\n        - [x]"))
    assert message == f"{file}:10: topology.clusters.west.servers[1]: expected a string, got a list"


def test_bad_unit(tmp_path: Path) -> None:
    """A bad rate names file, line, field path and the unit problem."""
    file, message = error_of(tmp_path, edit("rate: 1.5k/s", "rate: 20/sec"))
    assert message == (
        f"{file}:27: workloads[1].requesters.rate: '20/sec' is not a rate (use e.g. 20/s, 1.5k/s)"
    )


def test_unknown_workload_kind(tmp_path: Path) -> None:
    """An unknown workload kind lists the known kinds."""
    file, message = error_of(tmp_path, edit("kind: pubsub", "kind: pubsb"))
    assert message == (
        f"{file}:13: workloads[0].kind: unknown workload kind 'pubsb' "
        "(expected one of: pubsub, request_reply, trace, jetstream)"
    )


def test_missing_required_key(tmp_path: Path) -> None:
    """A missing key is named, on the line of the mapping that lacks it."""
    file, message = error_of(tmp_path, edit("      rate: 20/s\n", ""))
    assert message == f"{file}:16: workloads[0].publishers.rate: missing required key 'rate'"
    file, message = error_of(tmp_path, edit("duration: 10s\n", ""))
    assert message == f"{file}:1: duration: missing required key 'duration'"


def test_distribution_missing_parameter(tmp_path: Path) -> None:
    """A distribution without one of its parameters names the parameter."""
    file, message = error_of(
        tmp_path, edit("service_time: 0.3ms", "service_time: {dist: normal, mean: 1ms}")
    )
    assert (
        message == f"{file}:30: workloads[1].responders.service_time: normal distribution needs sd"
    )


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ("foo..bar", "'foo..bar' is not a valid subject: empty token"),
        ("a.>.b", "'a.>.b' is not a valid subject: a token follows '>'"),
    ],
)
def test_invalid_subscription_subject(tmp_path: Path, subject: str, problem: str) -> None:
    """A subject that subscribers cannot use is an error at the subject's path."""
    file, message = error_of(tmp_path, edit('"STOCK.{A,B}"', f'"{subject}"'))
    assert message == f"{file}:15: workloads[0].subject: {problem}"


def test_invalid_placement_subject_override(tmp_path: Path) -> None:
    """A subscriber's own subject override is checked at its own path."""
    file, message = error_of(tmp_path, edit("queue: q", "queue: q\n      subject: 'a.>.b'"))
    assert message == (
        f"{file}:24: workloads[0].subscribers.subject: "
        "'a.>.b' is not a valid subject: a token follows '>'"
    )


def test_unknown_server(tmp_path: Path) -> None:
    """A placement naming a server that does not exist lists the servers."""
    file, message = error_of(tmp_path, edit("[east-2]", "[east-9]"))
    assert message == (
        f"{file}:27: workloads[1].requesters.servers[0]: "
        "unknown server 'east-9' (servers: east-1, east-2, east-3, w1, w2)"
    )


def test_unknown_link_server(tmp_path: Path) -> None:
    """A link between unknown servers is an error at the bad name."""
    file, message = error_of(tmp_path, edit("[east-1, w1]", "[east-1, w9]"))
    assert message.startswith(f"{file}:10: topology.links[0].between[1]: unknown server 'w9'")


def test_unknown_cluster(tmp_path: Path) -> None:
    """A placement naming a cluster that does not exist lists the clusters."""
    file, message = error_of(tmp_path, edit("cluster: west", "cluster: wst"))
    assert message == (
        f"{file}:22: workloads[0].subscribers.cluster: unknown cluster 'wst' (clusters: east, west)"
    )


def test_duplicate_server_across_clusters(tmp_path: Path) -> None:
    """A server name may be used by one cluster only."""
    file, message = error_of(tmp_path, edit("[w1, w2]", "[w1, east-2]"))
    assert message == (
        f"{file}:8: topology.clusters.west.servers[1]: server 'east-2' is also in cluster 'east'"
    )


def test_duplicate_workload_names(tmp_path: Path) -> None:
    """Two workloads with one name are an error at the second."""
    file, message = error_of(tmp_path, edit("name: svc", "name: ticks"))
    assert message == (
        f"{file}:25: workloads[1].name: duplicate workload name 'ticks' (also workloads[0])"
    )


def test_bad_queue_name(tmp_path: Path) -> None:
    """A queue group name with whitespace is an error."""
    file, message = error_of(tmp_path, edit("queue: q", "queue: 'a b'"))
    assert message == (
        f"{file}:23: workloads[0].subscribers.queue: "
        "queue name 'a b' must be non-empty, without whitespace"
    )


def test_stop_before_start(tmp_path: Path) -> None:
    """A client group must stop after it starts."""
    file, message = error_of(
        tmp_path, edit("size: 1KiB", "size: 1KiB\n      start: 2s\n      stop: 1s")
    )
    assert message == f"{file}:21: workloads[0].publishers.stop: stop (1s) must be after start (2s)"


def test_first_error_in_file_order(tmp_path: Path) -> None:
    """With several problems, the one earliest in the file is reported."""
    text = edit("rate: 1.5k/s", "rate: 20/sec").replace("servers: 3", "servers: x")
    file, message = error_of(tmp_path, text)
    assert message.startswith(f"{file}:6: topology.clusters.east.servers:")


# ------------------------------------------------------------------ overrides


def test_overrides_applied(tmp_path: Path) -> None:
    """Dotted overrides replace values by index or by workload name before validation."""
    scenario = load_scenario(
        write(tmp_path, GOOD),
        overrides={
            "topology.clusters.east.servers": 2,
            "workloads[0].publishers.rate": "10/s",
            "workloads.svc.requesters.rate": "5/s",
        },
    )
    assert list(scenario.topology.server_cluster())[:3] == ["east-1", "east-2", "w1"]
    assert scenario.workloads[0].publishers.rate == 10.0  # type: ignore[union-attr]
    assert scenario.workloads[1].requesters.rate == 5.0  # type: ignore[union-attr]


def test_override_unknown_path(tmp_path: Path) -> None:
    """An override through a path that does not exist names the override path."""
    file, message = error_of(tmp_path, GOOD, overrides={"topology.clusterz.east.servers": 2})
    assert message == (
        f"{file}: topology.clusterz.east.servers: "
        "override path not found: no 'clusterz' in topology"
    )
    file, message = error_of(tmp_path, GOOD, overrides={"workloads.nope.subject": "x"})
    assert (
        message
        == f"{file}: workloads.nope.subject: override path not found: no 'nope' in workloads"
    )


def test_override_bad_value(tmp_path: Path) -> None:
    """A bad value set by an override is reported as coming from the override."""
    file, message = error_of(tmp_path, GOOD, overrides={"workloads.ticks.publishers.rate": "1/sec"})
    assert message == (
        f"{file}: workloads[0].publishers.rate: "
        "'1/sec' is not a rate (use e.g. 20/s, 1.5k/s) (set by an override)"
    )


def test_check_references_on_built_scenario() -> None:
    """Reference checks also work on a Scenario built without a file."""
    scenario = Scenario.model_validate(
        {
            "name": "r",
            "duration": "1s",
            "topology": {"clusters": {"c": {"servers": 1}}},
            "workloads": [
                {
                    "kind": "pubsub",
                    "name": "w",
                    "subject": "s",
                    "publishers": {"count": 1, "rate": "1/s", "cluster": "nope"},
                }
            ],
        }
    )
    with pytest.raises(ScenarioError) as info:
        check_references(scenario)
    assert str(info.value) == (
        "<scenario>: workloads[0].publishers.cluster: unknown cluster 'nope' (clusters: c)"
    )


FAULTY = (
    GOOD
    + """\
faults:
  - {at: 2s, for: 1s, stop_responders: {workload: svc, cluster: east}}
"""
)


def test_fault_loads_with_for_alias(tmp_path: Path) -> None:
    """A fault's `for:` is its duration; the action and target are kept."""
    s = load_scenario(write(tmp_path, FAULTY))
    f = s.faults[0]
    assert (f.at, f.duration, f.action, f.target.cluster) == (2.0, 1.0, "stop_responders", "east")


def test_fault_unknown_workload(tmp_path: Path) -> None:
    """A fault naming a workload that does not exist is one line with its field path."""
    path = write(tmp_path, FAULTY.replace("workload: svc", "workload: nope"))
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert str(e.value).startswith(f"{path}:")
    assert "faults[0].stop_responders.workload: unknown workload 'nope'" in str(e.value)


def test_fault_on_pubsub_workload(tmp_path: Path) -> None:
    """stop_responders needs a request_reply workload."""
    path = write(tmp_path, FAULTY.replace("workload: svc", "workload: ticks"))
    with pytest.raises(ScenarioError, match=r"workload 'ticks' has no responders"):
        load_scenario(path)


def test_fault_needs_exactly_one_action(tmp_path: Path) -> None:
    """A fault with no action is rejected."""
    path = write(tmp_path, GOOD + "faults:\n  - {at: 2s}\n")
    with pytest.raises(ScenarioError, match=r"faults\[0\]: .*exactly one action"):
        load_scenario(path)
