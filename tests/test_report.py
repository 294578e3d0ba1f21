"""The run report: index.html, summary.md and figures; `natsim report`; `--no-report`."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from matplotlib.figure import Figure

import sim
from sim.report import write_report
from tests.conftest import ROOT

SCENARIO = {
    "name": "tiny-report",
    "seed": 5,
    "duration": "3s",
    "drain": "1s",
    "topology": {
        "clusters": {"c": {"servers": 2}},
        "latency": {"intra_cluster": "1ms", "client": "100us"},
    },
    "workloads": [
        {
            "name": "ticks",
            "kind": "pubsub",
            "subject": "t.x",
            "publishers": {"count": 1, "servers": ["c-1"], "rate": "50/s"},
            "subscribers": {"per_server": 1},
        },
        {
            "name": "svc",
            "kind": "request_reply",
            "subject": "svc.a",
            "responders": {"count": 2, "queue": "q"},
            "requesters": {"count": 1, "servers": ["c-1"], "rate": "20/s", "timeout": "200ms"},
        },
    ],
    "faults": [{"at": "1s", "for": "1s", "crash": "c-2"}],
}


def natsim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


class _Refs(HTMLParser):
    """Every src/href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))


def assert_self_contained(index: Path) -> list[str]:
    """Every local link resolves to a file beside the page; nothing is fetched over the network.

    Returns the img srcs.
    """
    text = index.read_text()
    parser = _Refs()
    parser.feed(text)
    imgs = []
    for tag, _, ref in parser.refs:
        url = urlparse(ref)
        if ref.startswith("#"):
            anchor = ref[1:]
            assert f'id="{anchor}"' in text, f"dangling anchor {ref}"
            continue
        assert not url.scheme and not url.netloc, f"non-local reference {ref}"
        target = index.parent / unquote(url.path)
        assert target.is_file(), f"{ref} does not resolve"
        if tag == "img":
            imgs.append(ref)
    # no stylesheet, script or font from anywhere else
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"url\(\s*['\"]?https?:", text)
    return imgs


def tiny_figures() -> list[tuple[str, str, Figure]]:
    out = []
    for slug, title in (("topology", "Topology"), ("delivery", "Delivery over time")):
        fig = Figure(figsize=(3, 2))
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1])
        ax.set_title(title)
        out.append((slug, title, fig))
    return out


@pytest.fixture(scope="module")
def result():
    return sim.run(SCENARIO)


def test_report_has_page_markdown_and_pngs(result, tmp_path):
    """write_report leaves index.html, summary.md and one PNG per figure, all linked."""
    text = "# tiny-report — a small test\n" + yaml.safe_dump(SCENARIO, sort_keys=False)
    index = write_report(result, tmp_path, scenario_text=text, figures=tiny_figures())
    assert index == tmp_path / "index.html"
    page = index.read_text()
    md = (tmp_path / "summary.md").read_text()
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == [
        "delivery.png",
        "topology.png",
    ]
    imgs = assert_self_contained(index)
    assert sorted(imgs) == ["figures/delivery.png", "figures/topology.png"]
    # title, description, run facts, scenario text, guarantees, faults, figure titles
    assert "tiny-report" in page and "a small test" in page
    for fact in ("seed", "natsim version", "events", "wall time", "simulated"):
        assert f"<dt>{fact}</dt>" in page
    assert "publishers:" in page  # the scenario's YAML
    assert "Delivery guarantees" in page and "ticks" in page and "svc" in page
    assert "Faults" in page and "crash" in page
    assert "Delivery over time" in page
    assert 'class="num"' in page  # numbers right-aligned
    assert "Checks" not in page  # no expect: key, no checks section
    # the Markdown says the same, with the figures as relative images
    assert md.startswith("# natsim report: tiny-report")
    assert "## Delivery guarantees" in md and "![Delivery over time](figures/delivery.png)" in md
    assert "|---|" in md and "---:|" in md


def test_guarantee_numbers_are_formatted(result, tmp_path):
    """Counts carry thousands separators, ratios are percentages, losses are flagged."""
    index = write_report(result, tmp_path, figures=[])
    page = index.read_text()
    g = sim.analysis.guarantees.guarantee_table(result)
    published = int(g.loc["ticks", "published"])
    assert f">{published:,}<" in page
    assert re.search(r">\d{1,3}(\.\d{4})?%<", page)
    if g.lost.sum():
        assert 'class="num warn"' in page


def test_expectations_are_listed_when_present(result, tmp_path):
    """A scenario with `expect:` gets a Checks section listing them."""
    text = yaml.safe_dump({**SCENARIO, "expect": [{"delivery_ratio": ">= 0.99"}, "no timeouts"]})
    page = write_report(result, tmp_path, scenario_text=text, figures=[]).read_text()
    assert "<h2>Checks</h2>" in page and "no timeouts" in page and "delivery_ratio" in page


def test_rewrite_replaces_old_figures(result, tmp_path):
    """A second report does not leave the first one's figures behind."""
    write_report(result, tmp_path, figures=tiny_figures())
    write_report(result, tmp_path, figures=tiny_figures()[:1])
    assert [p.name for p in (tmp_path / "figures").glob("*.png")] == ["topology.png"]
    assert_self_contained(tmp_path / "index.html")


def test_run_writes_report_and_report_rebuilds_it(tmp_path):
    """`natsim run` writes the report and prints its path; `natsim report DIR` rebuilds it."""
    scen = tmp_path / "tiny.yaml"
    text = "# tiny-report — from a file\n" + yaml.safe_dump(SCENARIO, sort_keys=False)
    scen.write_text(text)
    out = tmp_path / "out"
    p = natsim("run", str(scen), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "t=" in p.stderr and "of 4.0s" in p.stderr  # progress: simulated vs end time
    assert f"report:  {out / 'index.html'}" in p.stdout
    assert (out / "scenario.yaml").read_text() == text
    for name in ("index.html", "summary.md", "summary.txt", "run.json"):
        assert (out / name).is_file()
    assert_self_contained(out / "index.html")
    assert "from a file" in (out / "index.html").read_text()

    (out / "index.html").unlink()
    (out / "summary.md").unlink()
    p = natsim("report", str(out))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"report: {out / 'index.html'}"
    page = (out / "index.html").read_text()
    assert "from a file" in page and "Delivery guarantees" in page
    assert (out / "summary.md").is_file()
    assert_self_contained(out / "index.html")


def test_report_on_a_non_results_folder_exits_2(tmp_path):
    """`natsim report` on a folder without run.json stops with one line and exit code 2."""
    for folder in (tmp_path, tmp_path / "missing"):
        p = natsim("report", str(folder))
        assert p.returncode == 2
        assert p.stderr.count("\n") == 1 and "not a results folder" in p.stderr
        assert "Traceback" not in p.stderr
    assert not (tmp_path / "index.html").exists()


def test_no_report_writes_no_page(tmp_path):
    """`natsim run --no-report` writes the results but no index.html, summary.md or figures."""
    scen = tmp_path / "tiny.yaml"
    scen.write_text(yaml.safe_dump(SCENARIO))
    out = tmp_path / "out"
    p = natsim("run", str(scen), "--out", str(out), "--no-report", "-q")
    assert p.returncode == 0, p.stderr
    assert (out / "run.json").is_file() and (out / "summary.txt").is_file()
    assert not (out / "index.html").exists() and not (out / "summary.md").exists()
    assert not (out / "figures").exists()
    assert "report:" not in p.stdout
