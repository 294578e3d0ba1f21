"""A pytest plugin: every scenario with ``expect:`` is a test item.

Registered as the ``natsim`` plugin (entry point group ``pytest11``), so it is
active wherever natsim is installed (``-p no:natsim`` turns it off):

* ``pytest scenarios/`` (or scenario files named on the command line)
  collects each ``.yaml``/``.yml`` file that is a mapping with an ``expect:``
  list; the item runs the scenario (at its own seed) and fails with the
  expectation table of :func:`sim.expect.format_table`;
* the ini option ``natsim_scenarios`` (paths, relative to the rootdir) names
  folders or files collected when pytest runs without arguments, beside its
  ``testpaths``;
* YAML files reached only through ``testpaths`` (or the current folder) are
  never collected unless they lie under a ``natsim_scenarios`` path, so a
  project's own fixtures in ``tests/`` stay untouched.

The module imports nothing heavy at import time: pytest loads it in every
session of an environment where natsim is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

__all__ = ["ScenarioFile", "ScenarioItem"]

_SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``natsim_scenarios`` ini option."""
    parser.addini(
        "natsim_scenarios",
        "folders or files of natsim scenarios collected as tests (with expect:)",
        type="paths",
        default=[],
    )


def _explicit_args(config: pytest.Config) -> bool:
    return config.args_source == pytest.Config.ArgsSource.ARGS


def pytest_configure(config: pytest.Config) -> None:
    """Add the ``natsim_scenarios`` paths to a run that names nothing on the command line."""
    paths = [Path(p) for p in config.getini("natsim_scenarios")]
    config.stash[_CONFIGURED] = [p.resolve() for p in paths]
    if not _explicit_args(config):
        for p in paths:
            if p.exists() and str(p) not in config.args:
                config.args.append(str(p))


_CONFIGURED = pytest.StashKey[list[Path]]()


def _wanted(config: pytest.Config, file_path: Path) -> bool:
    if _explicit_args(config):
        return True
    here = file_path.resolve()
    return any(here == p or p in here.parents for p in config.stash.get(_CONFIGURED, []))


def _has_expect(file_path: Path) -> bool:
    import yaml

    try:
        doc = yaml.safe_load(file_path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(doc, dict) and "expect" in doc and "topology" in doc


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect a scenario file with ``expect:`` (see the module docstring for which)."""
    if file_path.suffix not in _SUFFIXES or not _wanted(parent.config, file_path):
        return None
    if not _has_expect(file_path):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    """A scenario file: one item that runs it and checks its expectations."""

    def collect(self) -> Any:
        """Yield the one item of this file."""
        yield ScenarioItem.from_parent(self, name="expect")


class ScenarioFailed(Exception):
    """Some expectation of a scenario did not hold (the message is the table)."""


class ScenarioItem(pytest.Item):
    """Runs a scenario once at its own seed and checks every expectation."""

    def runtest(self) -> None:
        """Run the scenario; raise with the expectation table when one fails."""
        from sim.expect import check, format_table, summarise

        rows = check(self.path)
        table = summarise(rows)
        self.user_properties.append(("natsim", format_table(table)))
        if not (table.result == "PASS").all():
            raise ScenarioFailed(format_table(table))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """Show the expectation table (or the one-line scenario error), not a traceback."""
        from sim.errors import NatsimError

        if isinstance(excinfo.value, ScenarioFailed):
            return f"{self.path.name}: expectations failed\n{excinfo.value}"
        if isinstance(excinfo.value, NatsimError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item comes from, for pytest's report lines."""
        return self.path, None, f"natsim scenario {self.path.name}"
