"""Tests of ``python -m sim validate``: ok line, one-line errors, warnings, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
name: demo
duration: 10s
topology:
  clusters:
    east: {servers: 3}
workloads:
  - kind: pubsub
    name: ticks
    subject: STOCK.A
    publishers: {count: 2, rate: 20/s}
    subscribers: {count: 1}
"""


def validate(tmp_path: Path, text: str) -> tuple[subprocess.CompletedProcess[str], str]:
    path = tmp_path / "scen.yaml"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, str(path)


def test_good_file_ok(tmp_path: Path) -> None:
    """A valid scenario exits 0 and prints an 'ok:' line with nothing on stderr."""
    proc, path = validate(tmp_path, GOOD)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"ok: {path}: scenario 'demo'")
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("rate: 20/s", "rate: 20/sec", "workloads[0].publishers.rate"),
        ("{servers: 3}", "{sevrers: 3}", "topology.clusters.east.sevrers"),
        ("kind: pubsub", "kind: pubsb", "workloads[0].kind"),
        ("subject: STOCK.A", "subject: STOCK..A", "workloads[0].subject"),
        ("subscribers: {count: 1}", "subscribers: {count: 1, cluster: west}", "cluster"),
        ("duration: 10s\n", "", "duration"),
        ("name: ticks\n", "name: ticks\n    name: again\n", "workloads[0].name"),
    ],
)
def test_bad_file_one_line(tmp_path: Path, old: str, new: str, field: str) -> None:
    """A bad scenario exits 2 with exactly one stderr line naming file and field, no traceback."""
    assert old in GOOD
    proc, path = validate(tmp_path, GOOD.replace(old, new, 1))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert path in lines[0]
    assert field in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_yaml_syntax_error_one_line(tmp_path: Path) -> None:
    """A YAML syntax error exits 2 with one stderr line carrying the file and line."""
    proc, path = validate(tmp_path, GOOD.replace("topology:", "topology: [", 1))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"{path}:5: invalid YAML:")


def test_publish_wildcard_warns(tmp_path: Path) -> None:
    """A literal '*' in a published subject gives a 'warning:' line but exits 0."""
    proc, path = validate(tmp_path, GOOD.replace("subject: STOCK.A", "subject: STOCK.*", 1))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok:")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"warning: {path}:9: workloads[0].subject:")
    assert "'*'" in lines[0]
