"""Where a scenario comes from: YAML with line numbers, field paths, overrides.

The YAML is composed node by node (not ``yaml.safe_load``) because only nodes
remember their line: :func:`parse_yaml` returns the plain data and a line map
(field path → 1-based line), rejecting duplicate keys that a plain load would
silently collapse.  :class:`SourceInfo` carries both, and turns a field path
into a one-line :class:`~sim.errors.ScenarioError`.  Dotted overrides
(``workloads[0].publishers.rate``) are applied to the raw data before
validation.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from sim.errors import ScenarioError

__all__ = [
    "INLINE",
    "MAX_LISTED",
    "LineMap",
    "Path",
    "SourceInfo",
    "apply_overrides",
    "format_path",
    "is_index",
    "parse_yaml",
    "read_file",
    "show_value",
]

#: A field path: mapping keys and list indices, from the top of the scenario.
Path = tuple[Hashable, ...]
#: Field path → 1-based line of its key (or list item) in the file.
LineMap = dict[Path, int]

INLINE = "<scenario>"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_LISTED = 12


def format_path(path: Path) -> str:
    """Return a field path as text: ``workloads[0].publishers.rate``.

    Parameters
    ----------
    path : tuple
        Mapping keys and list indices; an ``int`` that is not a ``bool`` is an index.
    """
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# --------------------------------------------------------------------------- YAML


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that builds plain data from the node tree and records lines.

    Scalars are constructed by SafeLoader itself, so YAML scalar semantics are
    unchanged (``0.3ms`` stays a string, ``on`` is ``True``).  Mappings and
    sequences are walked here so that each key and item can record its line,
    and so that a key given twice is an error instead of the last one winning.
    """

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self.lines: LineMap = {}
        self._own_keys: dict[int, set[int]] = {}
        self._active: set[int] = set()

    def load_with_lines(self) -> Any:
        """Compose the single document and return its plain data (``None`` if empty)."""
        try:
            node = self.get_single_node()
        finally:
            self.dispose()
        if node is None:
            return None
        self.lines[()] = node.start_mark.line + 1
        return self._build(node, ())

    def _build(self, node: Node, path: Path) -> Any:
        if id(node) in self._active:
            raise self._error(path, "an alias refers to itself (recursive structure)", node)
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                return self._build_mapping(node, path)
            if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                return self._build_sequence(node, path)
            return self.construct_object(node, deep=True)
        finally:
            self._active.discard(id(node))

    def _build_sequence(self, node: SequenceNode, path: Path) -> list[Any]:
        out = []
        for i, item in enumerate(node.value):
            self.lines[(*path, i)] = item.start_mark.line + 1
            out.append(self._build(item, (*path, i)))
        return out

    def _build_mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        # Keys written in this mapping (not pulled in by a ``<<`` merge) may not
        # repeat; merged keys may be overridden.  Remembered per node because
        # flatten_mapping rewrites the node, and an alias may visit it again.
        own = self._own_keys.setdefault(
            id(node), {id(k) for k, _ in node.value if k.tag != _MERGE_TAG}
        )
        self.flatten_mapping(node)
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            line = key_node.start_mark.line + 1
            if id(key_node) in own:
                if key in first_line:
                    message = f"duplicate key {key!r} (first given on line {first_line[key]})"
                    raise ScenarioError(self.file, format_path((*path, key)), message, line)
                first_line[key] = line
            self.lines[(*path, key)] = line
            out[key] = self._build(value_node, (*path, key))
        return out

    def _key(self, node: Node, path: Path) -> Hashable:
        key = self.construct_object(node, deep=True)
        if not isinstance(key, Hashable):
            raise self._error(path, "a mapping key must be a plain value", node)
        return key

    def _error(self, path: Path, message: str, node: Node) -> ScenarioError:
        return ScenarioError(self.file, format_path(path), message, node.start_mark.line + 1)


def parse_yaml(text: str, file: str = INLINE) -> tuple[Any, LineMap]:
    """Parse YAML text into plain data and its line map.

    Parameters
    ----------
    text : str
        The YAML document.
    file : str
        The name used in error messages.

    Returns
    -------
    tuple
        ``(data, lines)``: the data as ``yaml.safe_load`` would give it, and
        field path → 1-based line of every mapping key and sequence item.

    Raises
    ------
    ScenarioError
        On a YAML syntax error (with the line of the problem) or a duplicate key.
    """
    loader = _LineLoader(text, file)
    try:
        data = loader.load_with_lines()
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(file, exc) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, "", f"invalid YAML: {exc}") from None
    return data, loader.lines


def _yaml_error(file: str, exc: yaml.MarkedYAMLError) -> ScenarioError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "syntax error"
    context = f"{exc.context}, " if exc.context else ""
    line = mark.line + 1 if mark is not None else None
    return ScenarioError(file, "", f"invalid YAML: {context}{problem}", line)


def read_file(path: str) -> str:
    """Return the text of scenario file ``path`` (a ScenarioError if missing or unreadable)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ScenarioError(path, "", "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(path, "", "is a directory, not a scenario file") from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (bad byte at offset {exc.start})"
        raise ScenarioError(path, "", message) from None
    except OSError as exc:
        raise ScenarioError(path, "", f"cannot read: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------- source


@dataclass
class SourceInfo:
    """Where scenario data came from, to point errors at a file, path and line.

    Attributes
    ----------
    file : str
        File name for messages (``"<scenario>"`` for in-memory data).
    data : Any
        The raw data (after overrides) that was validated; used to tell the
        user's field paths from pydantic's internal location parts.
    lines : dict
        Field path → 1-based line (empty for in-memory data).
    overridden : list of tuple
        Field paths set by overrides; errors under them say so and carry no line.
    """

    file: str = INLINE
    data: Any = None
    lines: LineMap = field(default_factory=dict)
    overridden: list[Path] = field(default_factory=list)

    def clean(self, loc: Path, *, keep_absent_last: bool = False) -> Path:
        """Return the user's field path for a location, dropping internal parts.

        A part is kept when it exists in the raw data.  Others are pydantic's
        (a union member such as ``'int'``, a discriminator tag such as
        ``'pubsub'``) or come from a before-validator reshaping the data (a
        single subscriber mapping wrapped into a list), so they are dropped.
        With ``keep_absent_last`` the last part is kept even when absent: it is
        the key a "missing" error is about.
        """
        node, out = self.data, []
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            found, child = _child(node, part)
            if found:
                node = child
            elif last and keep_absent_last and isinstance(node, dict | list):
                pass
            else:
                if isinstance(node, dict | list):
                    continue
                break
            out.append(part)
        return tuple(out)

    def line(self, path: Path) -> int | None:
        """Return the line of the deepest prefix of ``path`` found in the line map."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def from_override(self, path: Path) -> bool:
        """Tell whether ``path`` lies at or under a field set by an override."""
        return any(path[: len(o)] == o for o in self.overridden)

    def error(self, path: Path, message: str) -> ScenarioError:
        """Return the error for ``path`` (already cleaned) with its line."""
        if self.from_override(path):
            return ScenarioError(self.file, format_path(path), f"{message} (set by an override)")
        return ScenarioError(self.file, format_path(path), message, self.line(path))


def is_index(part: object) -> bool:
    """True for a list index in a field path (an int that is not a bool)."""
    return isinstance(part, int) and not isinstance(part, bool)


def _child(node: Any, part: Hashable) -> tuple[bool, Any]:
    """Return ``(True, child)`` when ``part`` names a child of ``node`` in raw data."""
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and is_index(part) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def show_value(value: Any) -> str:
    """Show a value from the file briefly, the way it was written in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------- overrides

_OVERRIDE_RE = re.compile(r"[^.\[\]]+|\[\d+\]")
_OVERRIDE_FULL = re.compile(r"(?:[^.\[\]]+|\[\d+\])(?:\.[^.\[\]]+|\[\d+\])*")


def _split_override(file: str, text: str) -> list[str | int]:
    if not _OVERRIDE_FULL.fullmatch(text):
        raise ScenarioError(file, text, "override path is not of the form a.b[0].c")
    return [int(t[1:-1]) if t.startswith("[") else t for t in _OVERRIDE_RE.findall(text)]


def _step_override(node: Any, part: str | int) -> tuple[Any, str | int] | None:
    """Return ``(child container key, resolved part)`` or ``None`` if there is none.

    A list is indexed by number (``[0]`` or ``.0``) or by the ``name`` of an item.
    """
    if isinstance(node, dict):
        return (node, part) if part in node else None
    if not isinstance(node, list):
        return None
    if isinstance(part, str) and part.isdigit():
        part = int(part)
    if isinstance(part, int):
        return (node, part) if 0 <= part < len(node) else None
    for i, item in enumerate(node):
        if isinstance(item, dict) and item.get("name") == part:
            return node, i
    return None


def _apply_override(file: str, data: dict[str, Any], text: str, value: Any) -> Path:
    """Set one dotted override in ``data``; return the resolved field path."""
    parts = _split_override(file, text)
    node: Any = data
    resolved: list[Hashable] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        step = _step_override(node, part)
        if step is None and last and isinstance(node, dict):
            step = (node, part)
        if step is None:
            where = format_path(tuple(resolved)) or "the top level"
            message = f"override path not found: no {show_value(part)} in {where}"
            raise ScenarioError(file, text, message)
        container, key = step
        resolved.append(key)
        if last:
            container[key] = copy.deepcopy(value)
        else:
            node = container[key]
    return tuple(resolved)


def apply_overrides(
    file: str, data: dict[str, Any], overrides: Mapping[str, Any] | None
) -> list[Path]:
    """Apply dotted overrides to the raw data in place; return the paths they set."""
    return [_apply_override(file, data, k, v) for k, v in (overrides or {}).items()]
