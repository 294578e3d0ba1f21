"""Trace replay: the trace format, the workload kind, the capture converter."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.errors import ScenarioError
from sim.scenario.load import load_scenario, load_scenario_with_warnings
from sim.tracefile import (
    TraceFileError,
    TraceRow,
    convert_capture,
    iter_trace,
    scan_trace,
    write_trace,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "traces" / "sample.csv"
BUNDLED = ROOT / "scenarios" / "trace-replay.yaml"

TRACE_CSV = """\
time,client,subject,size,reply,kind,timeout
0.0,alice,orders.eu,100,,publish,
0.25,bob,svc.echo,10,,request,0.2
0.25,alice,orders.us,200,,,
0.5,bob,svc.echo,10,_INBOX.ignored,request,
1.75,carol,orders.eu,50,reply.to.me,publish,
2.0,alice,orders.eu,100,,publish,
"""


def _scenario(trace: Path, **extra: object) -> dict:
    workload = {
        "name": "replay",
        "kind": "trace",
        "file": str(trace),
        "placement": {"cluster": "east"},
        "subscribers": [{"count": 1, "subject": "orders.>"}],
        "responders": [{"count": 1, "subject": "svc.echo"}],
        **extra,
    }
    return {
        "name": "t",
        "duration": "10s",
        "topology": {"clusters": {"east": {"servers": 2}}},
        "workloads": [workload],
    }


def _fields(r: TraceRow) -> tuple:
    return (r.time, r.client, r.subject, r.size, r.kind, r.reply, r.timeout)


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text(TRACE_CSV)
    return path


# ------------------------------------------------------------- the format


def test_reads_csv_rows(trace: Path) -> None:
    rows = list(iter_trace(str(trace)))
    assert [r.client for r in rows] == ["alice", "bob", "alice", "bob", "carol", "alice"]
    assert rows[1].kind == "request" and rows[1].timeout == 0.2
    assert rows[2].kind == "publish"  # empty kind: a publish
    assert rows[4].reply == "reply.to.me"
    assert rows[3].line == 5


def test_csv_and_jsonl_round_trip(tmp_path: Path, trace: Path) -> None:
    rows = list(iter_trace(str(trace)))
    for name in ("a.jsonl", "b.csv"):
        out = tmp_path / name
        assert write_trace(str(out), rows) == len(rows)
        again = list(iter_trace(str(out)))
        assert [
            (r.time, r.client, r.subject, r.size, r.kind, r.reply, r.timeout) for r in again
        ] == [(r.time, r.client, r.subject, r.size, r.kind, r.reply, r.timeout) for r in rows]
    first = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])
    assert first == {
        "time": 0.0,
        "client": "alice",
        "subject": "orders.eu",
        "size": 100,
        "kind": "publish",
    }


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("abc,alice,x,1,,,", "time", "'abc'"),
        ("-1,alice,x,1,,,", "time", ">= 0"),
        ("1,alice,x,1.5,,,", "size", "whole number"),
        ("1,alice,foo..bar,1,,,", "subject", "foo..bar"),
        ("1,alice,x,1,,send,", "kind", "publish, request"),
        ("1,alice,x,1,,publish,0.5", "timeout", "only a request"),
        ("1,al ice,x,1,,,", "client", "whitespace"),
        ("1,,x,1,,,", "client", "missing"),
    ],
)
def test_bad_row_names_file_line_and_problem(
    tmp_path: Path, row: str, column: str, fragment: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,client,subject,size,reply,kind,timeout\n0,alice,x,1,,,\n" + row + "\n")
    with pytest.raises(TraceFileError) as err:
        list(iter_trace(str(path)))
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:3: {column}: ")
    assert fragment in text


def test_client_going_back_in_time_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "back.jsonl"
    lines = [
        {"time": 1.0, "client": "a", "subject": "x", "size": 1},
        {"time": 0.5, "client": "b", "subject": "x", "size": 1},  # another client: fine
        {"time": 0.9, "client": "a", "subject": "x", "size": 1},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(TraceFileError, match=r"back\.jsonl:3: time: 0\.9 is before .*line 1"):
        list(iter_trace(str(path)))


def test_bad_header_and_json(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("time,client,topic,size\n")
    with pytest.raises(TraceFileError, match=r"h\.csv:1: unknown column 'topic'"):
        list(iter_trace(str(path)))
    path = tmp_path / "j.jsonl"
    path.write_text('{"time": 0, "client": "a", "subject": "x", "size": 1}\n{"time": 1,\n')
    with pytest.raises(TraceFileError, match=r"j\.jsonl:2: bad JSON"):
        list(iter_trace(str(path)))


def test_scan_summarises(trace: Path) -> None:
    s = scan_trace(str(trace))
    assert s.rows == 6 and s.requests == 2
    assert list(s.first) == ["alice", "bob", "carol"]
    assert s.requesters == {"bob"}
    assert s.max_timeout == 0.2 and s.default_timeouts == 1


# --------------------------------------------------------------- checks


def test_scenario_with_bad_trace_row_fails_to_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,client,subject,size\n0,a,x,1\n0.5,a,x,many\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(_scenario(bad))
    assert str(err.value) == f"{bad}:3: size: expected a whole number of bytes, got 'many'"


def test_missing_trace_file_is_a_scenario_error(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "name: s\nduration: 5s\ntopology: {clusters: {east: {servers: 1}}}\n"
        "workloads:\n  - {name: r, kind: trace, file: nope.csv}\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "s.yaml")
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 's.yaml'}:5: workloads[0].file: no such trace file")
    assert str(tmp_path / "nope.csv") in text


def test_file_is_relative_to_the_scenario_folder(tmp_path: Path, trace: Path) -> None:
    folder = tmp_path / "deep" / "scen"
    folder.mkdir(parents=True)
    shutil.copy(trace, tmp_path / "deep" / "x.csv")
    (folder / "s.yaml").write_text(
        "name: s\nduration: 5s\ntopology: {clusters: {east: {servers: 1}}}\n"
        "workloads:\n  - {name: r, kind: trace, file: ../x.csv,\n"
        "     subscribers: {count: 1, subject: '>'}}\n"
    )
    scenario = load_scenario(folder / "s.yaml")
    assert scenario.workloads[0].file == "../x.csv"
    assert Path(scenario.workloads[0].trace_path()).resolve() == (tmp_path / "deep" / "x.csv")
    assert len(sim.run(scenario).messages) >= 5


def test_warnings_for_late_rows_unknown_clients_and_short_drain(trace: Path) -> None:
    data = _scenario(trace, clients={"dave": "east-1"}, timeout="3s")
    data["duration"] = "1s"
    _, warnings = load_scenario_with_warnings(data)
    text = "\n".join(warnings)
    assert "2 of 6 trace rows fall at or after the end of the run (1s)" in text
    assert "client 'dave' does not appear in the trace" in text
    assert "set drain to at least 3.5s" in text


def test_unknown_placement_targets(trace: Path) -> None:
    with pytest.raises(ScenarioError, match=r"clients\.alice: unknown server, cluster"):
        load_scenario(_scenario(trace, clients={"alice": "nowhere"}))
    with pytest.raises(ScenarioError, match=r"placement\.cluster: unknown cluster 'west'"):
        load_scenario(_scenario(trace, placement={"cluster": "west"}))


def test_receiver_group_needs_a_subject(trace: Path) -> None:
    data = _scenario(trace)
    data["workloads"][0]["subscribers"] = [{"count": 1}]
    with pytest.raises(ScenarioError, match=r"subscribers\[0\]: give this group a 'subject'"):
        load_scenario(data)


# --------------------------------------------------------------- replay


def _expected(rows: list[TraceRow], offset: float, speed: float, end: float) -> pd.DataFrame:
    times = [offset + r.time / speed for r in rows]
    out = pd.DataFrame({"time": times, "subject": [r.subject for r in rows]})
    out = out[out.time < end]
    return out.sort_values(["time", "subject"], kind="stable").reset_index(drop=True)


def _published(result: sim.Result) -> pd.DataFrame:
    m = result.messages
    m = m[m.kind != "reply"][["time", "subject"]]
    return m.sort_values(["time", "subject"], kind="stable").reset_index(drop=True)


def test_replay_reproduces_times_and_subjects_exactly(trace: Path) -> None:
    result = sim.run(_scenario(trace))
    rows = list(iter_trace(str(trace)))
    pd.testing.assert_frame_equal(_published(result), _expected(rows, 0.0, 1.0, 10.0))


@pytest.mark.parametrize(("offset", "speed"), [(1.5, 1.0), (0.25, 2.5), (3.0, 0.5)])
def test_replay_offset_and_speed(trace: Path, offset: float, speed: float) -> None:
    result = sim.run(_scenario(trace, time_offset=f"{offset}s", speed=speed))
    rows = list(iter_trace(str(trace)))
    pd.testing.assert_frame_equal(_published(result), _expected(rows, offset, speed, 10.0))


def test_rows_after_the_end_are_not_replayed(trace: Path) -> None:
    data = _scenario(trace)
    data["duration"] = "1s"
    result = sim.run(data)
    rows = list(iter_trace(str(trace)))
    pd.testing.assert_frame_equal(_published(result), _expected(rows, 0.0, 1.0, 1.0))


def test_bundled_sample_replays_exactly() -> None:
    scenario = load_scenario(BUNDLED)
    w = scenario.workloads[0]
    result = sim.run(scenario)
    rows = list(iter_trace(str(SAMPLE)))
    assert 200 <= len(rows) <= 1000
    expected = _expected(rows, w.time_offset, w.speed, scenario.duration)
    pd.testing.assert_frame_equal(_published(result), expected)
    req = result.requests
    assert len(req) == sum(r.kind == "request" for r in rows)
    assert (req.outcome == "ok").all()


def test_requests_get_replies_time_out_and_see_no_responders(trace: Path) -> None:
    result = sim.run(_scenario(trace))
    assert list(result.requests.outcome) == ["ok", "ok"]
    # the trace's reply subject is not used: requests go to the client's muxed inbox
    m = result.messages
    assert (m[m.kind == "reply"].subject.str.startswith("_INBOX.replay/bob.")).all()
    slow = _scenario(
        trace, responders=[{"count": 1, "subject": "svc.echo", "service_time": "300ms"}]
    )
    outcomes = list(sim.run(slow).requests.outcome)
    assert outcomes == ["timeout", "ok"]  # row timeout 0.2 s; the other waits the default 0.5 s
    none = _scenario(trace, responders=[])
    assert set(sim.run(none).requests.outcome) == {"no_responders"}


def test_placement_by_mapping_and_round_robin(trace: Path) -> None:
    data = _scenario(trace, clients={"carol": "east-2"})
    data["topology"]["clusters"]["east"]["servers"] = 3
    clients = sim.run(data).clients.set_index("client")
    # alice, bob: round-robin over east in order of first appearance; carol pinned
    assert clients.loc["replay/alice", "server"] == "east-1"
    assert clients.loc["replay/bob", "server"] == "east-2"
    assert clients.loc["replay/carol", "server"] == "east-2"
    assert clients.loc["replay/bob", "role"] == "requester"
    assert clients.loc["replay/alice", "role"] == "publisher"


def test_same_trace_and_seed_same_results(trace: Path) -> None:
    data = _scenario(trace, placement={"placement": "random"})
    a, b = sim.run(data, seed=3), sim.run(data, seed=3)
    for name in ("messages", "deliveries", "requests", "clients"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_one_pending_event_per_client(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    rows = [TraceRow(i * 0.001, f"c{i % 3}", "x.y", 8) for i in range(3000)]
    write_trace(str(path), rows)
    data = _scenario(path)
    data["workloads"][0]["responders"] = []
    scenario = load_scenario(data)
    from sim.model.network import Network
    from sim.workloads import WORKLOADS

    net = Network(scenario, 1)
    WORKLOADS["trace"](net, scenario.workloads[0], 0, scenario.duration)
    before = len(net.env._queue)
    net.env.run(until=1.5)
    # three clients: at most one pending row each, beyond the network's own events
    pending_rows = sum(
        1 for _t, _p, _e, ev in net.env._queue if getattr(ev, "callbacks", None) and
        any(getattr(cb, "__name__", "") == "_tick" for cb in ev.callbacks)
    )  # fmt: skip
    assert pending_rows <= 3
    assert before < 50


# ------------------------------------------------------------ converter

CAPTURE = """\
[#1] @ 2026-11-27T10:00:00.100000Z Received on "orders.eu"
{"id": 1}

[#2] Received on "svc.prices" with reply "_INBOX.abc.1" at 2026-11-27T10:00:00.250000Z
ping

[#3] Received on "_INBOX.abc.1" at 2026-11-27T10:00:00.252000Z
pong

[#4] Received on "orders.us.created" at 2026-11-27T10:00:01.000001Z
line one
line two

"""


def test_convert_capture() -> None:
    rows, stats = convert_capture(io.StringIO(CAPTURE))
    assert [(r.time, r.client, r.subject, r.size, r.kind, r.reply) for r in rows] == [
        (0.0, "orders", "orders.eu", 9, "publish", None),
        (0.15, "svc", "svc.prices", 4, "request", "_INBOX.abc.1"),
        (0.900001, "orders", "orders.us.created", 17, "publish", None),
    ]
    assert stats.messages == 4 and stats.replies_skipped == 1 and stats.rows == 3
    rows, _ = convert_capture(io.StringIO(CAPTURE), client_tokens=0, keep_replies=True)
    assert {r.client for r in rows} == {"capture"} and len(rows) == 4


def test_convert_natscli_stamps() -> None:
    stamp = (
        '[#1] @ Nov 27 10:00:00.500000 Received on "a.b"\nx\n'
        '[#2] @ Nov 27 10:00:02.000000 Received on "a.c" with reply "r.1"\nyy\n'
    )
    rows, _ = convert_capture(io.StringIO(stamp))
    assert [(r.time, r.size, r.kind) for r in rows] == [(0.0, 1, "publish"), (1.5, 2, "request")]
    delta = '[#1] @ 1.5ms Received on "a.b"\nx\n[#2] @ 1m2.5s Received on "a.b"\n'
    rows, _ = convert_capture(io.StringIO(delta))
    assert [r.time for r in rows] == [0.0, round(62.5 - 0.0015, 6)]
    assert rows[1].size == 0


def test_convert_errors_name_the_line() -> None:
    with pytest.raises(TraceFileError, match=r"<capture>:1: .*no timestamp"):
        convert_capture(io.StringIO('[#1] Received on "a"\nx\n'))
    with pytest.raises(TraceFileError, match=r"<capture>:1: expected a message header"):
        convert_capture(io.StringIO("hello\n"))
    with pytest.raises(TraceFileError, match=r"<capture>:3: cannot read the timestamp"):
        convert_capture(io.StringIO('[#1] @ 1s Received on "a"\n\n[#2] @ soon Received on "a"\n'))


def test_convert_trace_command_round_trips(tmp_path: Path) -> None:
    cap = tmp_path / "cap.txt"
    cap.write_text(CAPTURE)
    out = tmp_path / "out.jsonl"
    assert main(["convert-trace", str(cap), str(out), "--timeout", "250ms"]) == 0
    rows = list(iter_trace(str(out)))
    assert len(rows) == 3 and rows[1].timeout == 0.25
    assert main(["convert-trace", str(tmp_path / "missing.txt"), str(out)]) == 2
    # a converted capture replays as is
    result = sim.run(_scenario(out, subscribers=[{"count": 1, "subject": ">"}], responders=[]))
    assert list(result.messages[result.messages.kind != "reply"].subject) == [
        "orders.eu",
        "svc.prices",
        "orders.us.created",
    ]
