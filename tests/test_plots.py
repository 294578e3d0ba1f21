"""Every plot renders without warnings on a small run and has the labelled elements it promises."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pytest
from matplotlib.figure import Figure

import sim
from sim import plots

SCENARIO: dict[str, Any] = {
    "name": "plots-small",
    "seed": 3,
    "duration": "20s",
    "topology": {
        "latency": {"fibre": "200km/ms", "overhead": "5ms", "client": "100us"},
        "clusters": {
            "east": {"region": "us-east", "servers": 3},
            "west": {"region": "us-west", "servers": 2},
        },
    },
    "workloads": [
        {
            "name": "feed",
            "kind": "pubsub",
            "subject": "feed.x",
            "publishers": {"count": 2, "cluster": "east", "rate": "50/s"},
            "subscribers": [
                {"count": 2, "subject": "feed.x"},
                {"count": 4, "queue": "workers", "subject": "feed.x"},
            ],
        },
        {
            "name": "svc",
            "kind": "request_reply",
            "subject": "svc",
            "responders": {"per_server": 1, "queue": "svc"},
            "requesters": {"cluster": "east", "count": 2, "rate": "20/s", "timeout": "500ms"},
        },
    ],
    "faults": [
        {"at": "5s", "for": "4s", "crash": "east-1"},
        {"at": "8s", "for": "5s", "stop_responders": {"workload": "svc", "cluster": "east"}},
    ],
}


@pytest.fixture(scope="module")
def result() -> sim.Result:
    return sim.run(SCENARIO)


@pytest.fixture(scope="module")
def calm() -> sim.Result:
    spec = copy.deepcopy(SCENARIO)
    spec.pop("faults")
    spec["duration"] = "5s"
    return sim.run(spec)


def render(fig: Figure) -> Figure:
    """Draw the figure (as savefig would) with every warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.canvas.draw()
    return fig


def labels(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg is not None else []


def check_axes(ax, x: str, y: str) -> None:
    assert x in ax.get_xlabel()
    assert y in ax.get_ylabel()


def teardown_function() -> None:
    """Nothing here goes through pyplot, so no figure is left registered."""
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def make(fn, *args, **kw) -> Figure:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return render(fn(*args, **kw))


def test_figures_slugs_with_faults(result):
    out = plots.figures(result)
    slugs = [s for s, _, _ in out]
    assert slugs == [
        "topology",
        "delivery",
        "latency_cdf",
        "latency_time",
        "failover-svc",
        "queues",
        "convergence",
        "reconnects",
    ]
    for _, title, fig in out:
        assert isinstance(fig, Figure) and title
        render(fig)


def test_figures_slugs_without_faults(calm):
    slugs = [s for s, _, _ in plots.figures(calm)]
    assert slugs == ["topology", "delivery", "latency_cdf", "latency_time", "queues"]


def test_delivery(result):
    fig = make(plots.delivery, result)
    top, bottom = fig.axes[:2]
    assert "Delivery over time" in fig.get_suptitle()
    check_axes(top, "", "copies / s")
    check_axes(bottom, "time (s)", "lost copies / s")
    names = labels(top)
    assert "delivered" in names
    assert any(n.startswith("#0 crash") for n in names)
    lost = any(n.startswith("lost: ") for n in names)
    assert lost or any(t.get_text() == "no owed copies lost" for t in bottom.texts)
    assert sum(n.startswith("#") for n in names) == 2  # both fault windows shaded and labelled


def test_latency_cdf(result):
    fig = make(plots.latency_cdf, result)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    check_axes(ax, "latency (ms", "fraction")
    assert "Latency CDF" in ax.get_title()
    assert {"feed (delivery)", "svc (request → reply)"} <= set(labels(ax))


def test_latency_time(result):
    fig = make(plots.latency_time, result)
    ax = fig.axes[0]
    check_axes(ax, "time (s)", "latency (ms")
    names = labels(ax)
    assert "feed p50" in names and "feed p99" in names and "svc (request) p99" in names
    assert sum(n.startswith("#") for n in names) == 2


def test_failover(result):
    fig = make(plots.failover, result, "svc")
    ax = fig.axes[0]
    check_axes(ax, "time, s", "latency to first reply (ms")
    names = labels(ax)
    assert "served in us-east" in " ".join(names) and "served in us-west" in " ".join(names)
    assert any(n.startswith("#1 stop_responders") for n in names)
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("failover east → west") for t in texts)
    f = plots.failover_time(result, "svc")
    assert f[0]["from"] == "east" and f[0]["to"] == "west" and 0 < f[0]["seconds"] < 1


def test_queues(result):
    fig = make(plots.queues, result)
    ax = fig.axes[0]
    assert "queue" in ax.get_title()
    check_axes(ax, "member", "messages delivered")
    assert "even share" in labels(ax)
    assert any(t.get_text().startswith("cluster ") for t in ax.texts)


def test_topology(result):
    fig = make(plots.topology, result, at=6.0)
    ax = fig.axes[0]
    check_axes(ax, "longitude", "latitude")
    assert "t = 6 s" in ax.get_title()
    names = labels(ax)
    assert "route (intra-cluster)" in names
    assert any(n.startswith("gateway") for n in names)
    assert "server down / not running" in names
    assert any("clients" in t.get_text() for t in ax.texts)
    assert any(t.get_text().endswith(" ms") for t in ax.texts)  # gateway latency labels
    assert plots.topology_state(result, 6.0)["servers"] == {"east-1"}
    assert plots.topology_state(result, 15.0)["servers"] == set()


def test_convergence(result):
    fig = make(plots.convergence, result)
    ax = fig.axes[0]
    check_axes(ax, "time (s)", "route mesh complete")
    names = labels(ax)
    assert any(n.startswith("cluster east") for n in names)
    assert sum(n.startswith("#") for n in names) == 2


def test_reconnects(result):
    fig = make(plots.reconnects, result)
    ax = fig.axes[0]
    check_axes(ax, "time (s)", "clients landing")
    names = labels(ax)
    assert any(n.startswith("east-") for n in names)
    assert any(n.startswith("#0 crash") for n in names)


def test_fault_spans_are_axvspans(result):
    fig = make(plots.delivery, result)
    ax = fig.axes[0]
    shaded = [p for p in ax.patches if str(p.get_label()).startswith("#")]
    assert len(shaded) == 2
    xs = shaded[0].get_path().transformed(shaded[0].get_patch_transform()).vertices[:, 0]
    assert (xs.min(), xs.max()) == (5.0, 9.0)


@pytest.mark.parametrize("name", ["geo-failover", "cluster-scale-out"])
def test_every_figure_renders_on_a_bundled_scenario_without_warnings(name):
    """The report's figures render, without a warning, on a bundled scenario's results."""
    from tests.conftest import ROOT

    overrides = {"duration": "40s"} if name == "cluster-scale-out" else {}
    spec = sim.load_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides=overrides)
    result = sim.run(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figs = plots.figures(result)
        for _, _, fig in figs:
            fig.canvas.draw()
    slugs = [slug for slug, _, _ in figs]
    assert slugs[:2] == ["topology", "delivery"]
    assert ("failover-weather" in slugs) == (name == "geo-failover")
    assert ("convergence" in slugs) == (name == "cluster-scale-out")
    for slug, title, fig in figs:
        if slug == "topology":
            continue  # a diagram: axes only in the geographic layout
        labelled = [ax for ax in fig.axes if ax.get_xlabel() and ax.get_ylabel()]
        assert title and (labelled or not any(ax.has_data() for ax in fig.axes)), title
