"""``natsim diff``: two topologies on the same seeds; verdicts, structural diff, HTML."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.cli import main
from sim.diff import compare, load_variant, verdict


def base_scenario(**extra: Any) -> dict[str, Any]:
    """Three regions (a: 3 servers, b and c: 2); fan-out from a, a queue group everywhere."""
    sc: dict[str, Any] = {
        "name": "base",
        "seed": 5,
        "duration": "3s",
        "topology": {
            "clusters": {
                "a": {"region": "r1", "servers": 3},
                "b": {"region": "r2", "servers": 2},
                "c": {"region": "r3", "servers": 2},
            },
            "latency": {
                "intra_cluster": "1ms",
                "client": "100us",
                "regions": {"r1": {"r2": "20ms", "r3": "40ms"}, "r2": {"r3": "30ms"}},
            },
            "processing": "0s",
        },
        "workloads": [
            {
                "name": "ticks",
                "kind": "pubsub",
                "subject": "t.x",
                "publishers": {"count": 1, "servers": ["a-1"], "rate": "50/s", "start": "0.5s"},
                "subscribers": [{"per_server": 1, "subject": "t.>"}],
            },
            {
                "name": "svc",
                "kind": "request_reply",
                "subject": "svc.get",
                "responders": {"per_server": 1, "queue": "workers"},
                "requesters": {"count": 2, "cluster": "a", "rate": "20/s", "timeout": "500ms"},
            },
        ],
    }
    sc.update(extra)
    return sc


def write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def shrunk() -> dict[str, Any]:
    cand = base_scenario(name="cand")
    cand["topology"]["clusters"]["a"]["servers"] = 2
    return cand


def test_removed_server_shows_with_its_routes_and_a_known_metric_delta(tmp_path):
    """3 → 2 servers in cluster a: the diff names a-3, its two routes and its gateways, and
    the fan-out owes one copy less per message (one subscriber per server fewer)."""
    c = compare(write(tmp_path, "base", base_scenario()), write(tmp_path, "cand", shrunk()))
    s = c.structure
    srv = s[(s.aspect == "servers") & (s.item == "a-3")].iloc[0]
    assert (srv.base, srv.change) == ("up", "removed")
    routes = s[(s.aspect == "route mesh") & (s.scope == "a")]
    removed = set(routes[routes.change == "removed"].item)
    assert removed == {"a-1 — a-3", "a-2 — a-3"}
    mesh = routes[routes.item == "(mesh)"].iloc[0]
    assert mesh.base == "3 servers, 3/3 routes (full mesh)"
    assert mesh.candidate == "2 servers, 1/1 routes (full mesh)"
    gw = s[(s.aspect == "gateways") & (s.scope == "a → b") & (s.item == "(connections)")].iloc[0]
    assert (gw.base, gw.candidate) == ("3 outbound", "2 outbound")
    assert any(i.startswith("a-3 → ") for i in s[s.change == "removed"].item)
    # the queue group's members: a-3 served a share in the base, nothing in the candidate
    q = s[(s.aspect == "queue traffic") & (s.item == "server a-3")].iloc[0]
    assert q.change == "removed" and q.candidate is None

    m = c.metrics.set_index(["section", "scope", "metric"])
    published = m.loc[("guarantees", "ticks", "published")]
    assert published.base == published.candidate  # same seeds: the same workload
    owed = m.loc[("guarantees", "ticks", "owed")]
    assert owed.base - owed.candidate == published.base  # 7 subscribers → 6
    assert owed.verdict == "changed"
    assert m.loc[("guarantees", "ticks", "delivery_ratio")].verdict == "same"
    text = str(c)
    assert "a-3" in text and "removed" in text and "delivery_ratio" in text


def test_removed_region_shows_in_gateway_connections(tmp_path):
    """Dropping region c removes every gateway pair with c, and its interest tables."""
    cand = base_scenario(name="no-c")
    del cand["topology"]["clusters"]["c"]
    c = compare(write(tmp_path, "base", base_scenario()), write(tmp_path, "no-c", cand))
    s = c.structure
    pairs = s[(s.aspect == "gateways") & (s.item == "(connections)")].set_index("scope")
    for pair in ("a → c", "c → a", "b → c", "c → b"):
        assert pairs.loc[pair].change == "removed"
    assert pairs.loc["a → b"].change == "same"
    interest = s[(s.aspect == "local interest") & (s.scope == "c")].iloc[0]
    assert interest.change == "removed"


def test_verdict_knows_the_good_direction():
    """Lower latency is better, a lower delivery ratio is worse, traffic counts just change."""
    assert verdict(10.0, 5.0, "lower", "ms")[1] == "better"
    assert verdict(0.99, 0.95, "higher", "ratio")[1] == "worse"
    assert verdict(100.0, 90.0, None, "count")[1] == "changed"
    assert verdict(10.0, 10.1, "lower", "ms")[1] == "same"  # within 2 %
    assert verdict(float("inf"), 1.0, "lower", "s")[1] == "better"  # never → 1 s failover


def test_variant_form_applies_the_overrides(tmp_path):
    """`--variant NAME` compares a scenario with itself plus the variant's overrides."""
    sc = base_scenario(variants={"a-shrinks": {"topology.clusters.a.servers": 2}})
    path = write(tmp_path, "base", sc)
    base, cand = load_variant(path, "a-shrinks")
    assert len(base.topology.server_cluster()) == 7
    assert len(cand.topology.server_cluster()) == 6
    assert cand.variants == {}
    out = tmp_path / "report"
    assert main(["diff", str(path), "--variant", "a-shrinks", "--out", str(out), "-q"]) == 0
    assert (out / "index.html").is_file()


def test_variant_paths_must_resolve(tmp_path):
    """A variant whose override path does not exist is a scenario error naming it."""
    import sim

    sc = base_scenario(variants={"bad": {"topology.clusters.zz.servers": 2}})
    with pytest.raises(sim.ScenarioError, match=r"variants\.bad.*no 'zz' in topology\.clusters"):
        sim.scenario.load.load_scenario(sc)


def test_html_written_with_resolving_links(tmp_path, capsys):
    """index.html links and images resolve to files written beside it; the text shows verdicts."""
    out = tmp_path / "cmp"
    b, c = write(tmp_path, "base", base_scenario()), write(tmp_path, "cand", shrunk())
    assert main(["diff", str(b), str(c), "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "verdict" in printed and "a-3" in printed
    page = (out / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert any(link.endswith(".png") for link in links)
    assert "latency-cdf.png" in page and "delivery.png" in page
    for link in links:
        assert "://" not in link
        assert (out / link).is_file(), link


def test_bad_input_exits_2(tmp_path, capsys):
    """Unknown variant, no candidate, a missing file, or both forms at once: exit 2, one line."""
    path = write(tmp_path, "base", base_scenario(variants={"v": {"seed": 2}}))
    other = write(tmp_path, "cand", shrunk())
    assert main(["diff", str(path), "--variant", "nope", "--no-report"]) == 2
    assert "no variant 'nope'" in capsys.readouterr().err
    assert main(["diff", str(path), "--no-report"]) == 2
    assert main(["diff", str(path), str(tmp_path / "missing.yaml"), "--no-report"]) == 2
    assert main(["diff", str(path), str(other), "--variant", "v", "--no-report"]) == 2
    broken = copy.deepcopy(base_scenario())
    broken["topology"]["clusters"]["a"]["servers"] = 0
    assert main(["diff", str(path), str(write(tmp_path, "broken", broken)), "--no-report"]) == 2


def test_fail_on_regression_exits_1_when_an_expectation_breaks(tmp_path, capsys):
    """An expectation passing in the base and failing in the candidate is a regression."""
    pytest.importorskip("sim.expect")
    expect = ["request_success_ratio{workload=svc} >= 99%", "duplicates == 0"]
    base = write(tmp_path, "base", base_scenario(expect=expect))
    cand = base_scenario(name="cand", expect=expect)
    cand["faults"] = [{"at": "1s", "stop_responders": {"workload": "svc"}}]
    cand = write(tmp_path, "cand", cand)
    args = ["diff", str(base), str(cand), "--no-report", "-q"]
    assert main(args) == 0  # informative by default
    out = capsys.readouterr().out
    assert "regression" in out
    assert main([*args, "--fail-on-regression"]) == 1
    c = compare(base, cand)
    assert list(c.regressions.expectation) == ["request_success_ratio{workload=svc} >= 99%"]
