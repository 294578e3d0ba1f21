"""Load a scenario file into a validated :class:`~sim.scenario.spec.Scenario`.

Loading happens in four steps, each of which can stop with exactly one
:class:`~sim.errors.ScenarioError` whose ``str()`` is a single line
(``file:line: path: problem``), so the command line can print it as is:

1. parse the YAML into plain data *and* a line map (field path → 1-based line),
   rejecting duplicate keys that a plain YAML load would silently collapse;
2. apply dotted overrides (``workloads[0].publishers.rate``) to the raw data;
3. validate against the schema, turning pydantic's error list into one message
   that names the field path and the line it came from;
4. check cross references the schema cannot see (unknown servers or clusters,
   duplicate names, subjects), which also yields warnings.

The line map is why this module composes the YAML node tree itself instead of
calling ``yaml.safe_load``: only nodes remember where they were in the file.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import types
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, SequenceNode

from sim.errors import ScenarioError
from sim.regions import REGIONS
from sim.scenario.spec import Placement, PubSubWorkload, RequestReplyWorkload, Scenario
from sim.subjects import (
    expand_subject_template,
    validate_publish_subject,
    validate_subscribe_subject,
)

__all__ = [
    "LineMap",
    "Path",
    "SourceInfo",
    "check_references",
    "format_path",
    "load_scenario",
    "load_scenario_with_warnings",
    "parse_yaml",
]

#: A field path: mapping keys and list indices, from the top of the scenario.
Path = tuple[Hashable, ...]
#: Field path → 1-based line of its key (or list item) in the file.
LineMap = dict[Path, int]

_INLINE = "<scenario>"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_LISTED = 12


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


def parse_yaml(text: str, file: str = _INLINE) -> tuple[Any, LineMap]:
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


def _read_file(path: str) -> str:
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

    file: str = _INLINE
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


def _is_index(part: object) -> bool:
    return isinstance(part, int) and not isinstance(part, bool)


def _child(node: Any, part: Hashable) -> tuple[bool, Any]:
    """Return ``(True, child)`` when ``part`` names a child of ``node`` in raw data."""
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and _is_index(part) and 0 <= part < len(node):
        return True, node[part]
    return False, None


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
            message = f"override path not found: no {_show(part)} in {where}"
            raise ScenarioError(file, text, message)
        container, key = step
        resolved.append(key)
        if last:
            container[key] = copy.deepcopy(value)
        else:
            node = container[key]
    return tuple(resolved)


def _apply_overrides(
    file: str, data: dict[str, Any], overrides: Mapping[str, Any] | None
) -> list[Path]:
    return [_apply_override(file, data, k, v) for k, v in (overrides or {}).items()]


# ------------------------------------------------------------- schema errors

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}


def _show(value: Any) -> str:
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


def _unwrap(tp: Any) -> list[Any]:
    """Flatten ``Annotated`` and unions into the list of candidate types."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tags(model: type[BaseModel]) -> tuple[Any, ...]:
    kind = model.model_fields.get("kind")
    if kind is None or get_origin(kind.annotation) is not Literal:
        return ()
    return get_args(kind.annotation)


def _step_type(tp: Any, part: Hashable) -> list[Any]:
    """Return the candidate types one location part below ``tp``."""
    if _is_model(tp):
        fld = tp.model_fields.get(part) if isinstance(part, str) else None
        if fld is not None:
            return _unwrap(fld.annotation)
        return [tp] if part in _tags(tp) else []
    origin, args = get_origin(tp), get_args(tp)
    if origin is list and _is_index(part):
        return _unwrap(args[0])
    if origin is tuple and _is_index(part) and args:
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else args[min(part, len(args) - 1)]
        return _unwrap(item)
    if origin is dict and args:
        return _unwrap(args[1])
    return []


def _known_keys(loc: Path) -> list[str]:
    """Return the field names of the model(s) at a pydantic location."""
    candidates: list[Any] = [Scenario]
    for part in loc:
        candidates = [t for c in candidates for t in _step_type(c, part)]
    return sorted({name for c in candidates if _is_model(c) for name in c.model_fields})


def _workload_kinds() -> list[str]:
    return [tag for model in (PubSubWorkload, RequestReplyWorkload) for tag in _tags(model)]


def _unknown_key_message(loc: Path) -> str:
    key = loc[-1]
    message = f"unknown key {_show(key)}"
    close = difflib.get_close_matches(str(key), _known_keys(loc[:-1]), n=1, cutoff=0.6)
    return f"{message} (did you mean {close[0]!r}?)" if close else message


def _value_message(err: Mapping[str, Any]) -> str:
    """Turn one pydantic error into a message naming what was expected and found."""
    kind, msg, value = err["type"], err["msg"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_show(value)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"expected one of: {expected.replace(' or ', ', ')}; got {_show(value)}"
    if kind in ("value_error", "assertion_error"):
        return re.sub(r"^(Value error|Assertion failed), ", "", msg)
    if kind == "string_pattern_mismatch":
        return f"{_show(value)} does not match the pattern {ctx.get('pattern')}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"needs at least {n} entr{'y' if n == 1 else 'ies'}, got {ctx.get('actual_length')}"
    text = re.sub(r"^Input should", "should", msg)
    scalar = not isinstance(value, dict | list | tuple)
    return f"{text}, got {_show(value)}" if scalar else text


@dataclass
class _Problem:
    """One schema error, mapped to the user's field path."""

    path: Path
    message: str
    is_type: bool
    order: int


def _problem(source: SourceInfo, order: int, err: Mapping[str, Any]) -> _Problem:
    loc, kind = tuple(err["loc"]), err["type"]
    if kind == "missing":
        path = source.clean(loc, keep_absent_last=True)
        key = path[-1] if path else loc[-1]
        what = f"item [{key}]" if _is_index(key) else f"key {_show(key)}"
        return _Problem(path, f"missing required {what}", False, order)
    if kind == "extra_forbidden":
        return _Problem(source.clean(loc), _unknown_key_message(loc), False, order)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        path = (*source.clean(loc), "kind")
        expected = ", ".join(_workload_kinds())
        tag = (err.get("ctx") or {}).get("tag")
        what = f"unknown workload kind {_show(tag)}" if tag else "missing required key 'kind'"
        return _Problem(path, f"{what} (expected one of: {expected})", False, order)
    message = _value_message(err)
    return _Problem(source.clean(loc), message, err["type"] in _EXPECTED, order)


def _merge_same_path(problems: list[_Problem]) -> list[_Problem]:
    """Merge the type errors a union gives for one path into "expected A or B"."""
    merged: dict[Path, _Problem] = {}
    for p in problems:
        prev = merged.get(p.path)
        if prev is None:
            merged[p.path] = p
        elif prev.is_type and p.is_type:
            a, got = prev.message.removeprefix("expected ").split(", got ", 1)
            b = p.message.removeprefix("expected ").split(", got ", 1)[0]
            alternatives = a if b in a.split(" or ") else f"{a} or {b}"
            message = f"expected {alternatives}, got {got}"
            merged[p.path] = _Problem(p.path, message, True, prev.order)
    return list(merged.values())


def _drop_shadowed(problems: list[_Problem]) -> list[_Problem]:
    """Drop a type error at a path when another error lies deeper under it.

    That only happens in a union: the member matching the value's shape went
    deeper and found the real problem, the other member just saw a wrong type.
    """

    def shadowed(p: _Problem) -> bool:
        return p.is_type and any(
            len(q.path) > len(p.path) and q.path[: len(p.path)] == p.path for q in problems
        )

    return [p for p in problems if not shadowed(p)]


def _schema_error(source: SourceInfo, exc: ValidationError) -> ScenarioError:
    """Return the first schema problem, in file order, as one ScenarioError."""
    problems = [_problem(source, i, err) for i, err in enumerate(exc.errors())]
    problems = _drop_shadowed(_merge_same_path(problems))

    def key(p: _Problem) -> tuple[int, int, int]:
        line = source.line(p.path)
        return (line if line is not None else 1 << 30, -len(p.path), p.order)

    first = min(problems, key=key)
    return source.error(first.path, first.message)


# ---------------------------------------------------------- reference checks


@dataclass
class _Findings:
    """Errors and warnings found by the reference checks, with where they are."""

    source: SourceInfo
    errors: list[ScenarioError] = field(default_factory=list)
    warnings: list[ScenarioError] = field(default_factory=list)

    def error(self, loc: Path, message: str) -> None:
        self.errors.append(self.source.error(self.source.clean(loc), message))

    def warn(self, loc: Path, message: str) -> None:
        self.warnings.append(self.source.error(self.source.clean(loc), message))


def _by_line(errors: list[ScenarioError]) -> list[ScenarioError]:
    return sorted(errors, key=lambda e: e.line if e.line is not None else 1 << 30)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (", ..." if len(names) > _MAX_LISTED else "")


def _check_servers_unique(scenario: Scenario, out: _Findings) -> None:
    owner: dict[str, str] = {}
    for cname, cluster in scenario.topology.clusters.items():
        for k, sname in enumerate(cluster.server_names(cname)):
            if sname in owner:
                loc: Path = ("topology", "clusters", cname, "servers")
                loc = (*loc, k) if isinstance(cluster.servers, list) else loc
                out.error(loc, f"server {sname!r} is also in cluster {owner[sname]!r}")
            else:
                owner[sname] = cname


def _check_links(scenario: Scenario, servers: list[str], out: _Findings) -> None:
    for i, link in enumerate(scenario.topology.links):
        for k, name in enumerate(link.between):
            if name not in servers:
                loc = ("topology", "links", i, "between", k)
                out.error(loc, f"unknown server {name!r} (servers: {_listing(servers)})")
        if link.between[0] == link.between[1]:
            out.error(("topology", "links", i, "between"), "a link joins two different servers")


def _placements(scenario: Scenario) -> Iterator[tuple[Path, str, Placement]]:
    """Yield ``(location, role, placement)`` for every client group of every workload."""
    for i, w in enumerate(scenario.workloads):
        if isinstance(w, PubSubWorkload):
            yield ("workloads", i, "publishers"), "publish", w.publishers
            for j, s in enumerate(w.subscribers):
                yield ("workloads", i, "subscribers", j), "subscribe", s
        else:
            yield ("workloads", i, "requesters"), "publish", w.requesters
            for j, r in enumerate(w.responders):
                yield ("workloads", i, "responders", j), "subscribe", r


def _check_placement_targets(
    scenario: Scenario, servers: list[str], out: _Findings, loc: Path, p: Placement
) -> None:
    for k, name in enumerate(p.servers or []):
        if name not in servers:
            message = f"unknown server {name!r} (servers: {_listing(servers)})"
            out.error((*loc, "servers", k), message)
    clusters = list(scenario.topology.clusters)
    if p.cluster is not None and p.cluster not in clusters:
        message = f"unknown cluster {p.cluster!r} (clusters: {_listing(clusters)})"
        out.error((*loc, "cluster"), message)


def _check_timing(scenario: Scenario, out: _Findings, loc: Path, p: Placement) -> None:
    start, stop = getattr(p, "start", 0.0), getattr(p, "stop", None)
    if stop is not None and stop <= start:
        out.error((*loc, "stop"), f"stop ({stop:g}s) must be after start ({start:g}s)")
    if start >= scenario.duration:
        message = f"start ({start:g}s) is not before the end of the run ({scenario.duration:g}s)"
        out.warn((*loc, "start"), message)


def _check_queue(out: _Findings, loc: Path, p: Placement) -> None:
    queue = getattr(p, "queue", None)
    if queue is not None and (not queue or any(c.isspace() for c in queue)):
        out.error((*loc, "queue"), f"queue name {queue!r} must be non-empty, without whitespace")


def _subject_problems(template: str, role: str) -> tuple[str | None, list[str]]:
    """Return ``(error, warnings)`` for a subject template used to publish or subscribe."""
    warnings: list[str] = []
    try:
        for subject in expand_subject_template(template):
            if role == "publish":
                warnings.extend(validate_publish_subject(subject))
            else:
                validate_subscribe_subject(subject)
    except ValueError as exc:
        return str(exc), warnings
    if len(warnings) > 1:
        warnings = [f"{warnings[0]} (and {len(warnings) - 1} more like it)"]
    return None, warnings


def _check_subjects(scenario: Scenario, out: _Findings) -> None:
    done: set[tuple[Path, str]] = set()
    for loc, role, p in _placements(scenario):
        own = getattr(p, "subject", None)
        subject_loc: Path = (*loc, "subject") if own is not None else (*loc[:2], "subject")
        if (subject_loc, role) in done:
            continue
        done.add((subject_loc, role))
        template = own if own is not None else scenario.workloads[loc[1]].subject
        error, warnings = _subject_problems(template, role)
        if error is not None:
            out.error(subject_loc, error)
        for w in warnings:
            out.warn(subject_loc, w)


def _check_workloads(scenario: Scenario, out: _Findings) -> None:
    first: dict[str, int] = {}
    for i, w in enumerate(scenario.workloads):
        if w.name in first:
            message = f"duplicate workload name {w.name!r} (also workloads[{first[w.name]}])"
            out.error(("workloads", i, "name"), message)
        first.setdefault(w.name, i)
        if isinstance(w, PubSubWorkload) and not w.subscribers:
            out.warn(("workloads", i), f"pubsub workload {w.name!r} has no subscribers")
        if isinstance(w, RequestReplyWorkload) and not w.responders:
            message = f"request_reply workload {w.name!r} has no responders (every request fails)"
            out.warn(("workloads", i), message)


def _check_regions(scenario: Scenario, out: _Findings) -> None:
    topo = scenario.topology
    matrix = topo.latency.regions
    known = {**REGIONS, **{k: (v.lat, v.lon) for k, v in topo.regions.items()}}
    used: dict[str, str] = {}
    for cname, cluster in topo.clusters.items():
        region = cluster.region
        if region is None:
            continue
        used.setdefault(region, cname)
        if matrix is None and region not in known:
            message = (
                f"unknown region {region!r}: declare it under topology.regions with lat/lon, "
                f"give a latency.regions matrix, or use one of: {_listing(sorted(REGIONS))}"
            )
            out.error(("topology", "clusters", cname, "region"), message)
    if matrix is None:
        return
    names = list(used)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if b not in matrix.get(a, {}) and a not in matrix.get(b, {}):
                out.error(("topology", "latency", "regions"), f"no latency between {a!r} and {b!r}")


def _check_faults(scenario: Scenario, servers: list[str], out: _Findings) -> None:
    workloads = {w.name: w for w in scenario.workloads}
    clusters = list(scenario.topology.clusters)
    for i, f in enumerate(scenario.faults):
        loc: Path = ("faults", i, f.action)
        target = f.target
        w = workloads.get(target.workload)
        if w is None:
            known = _listing(list(workloads))
            out.error((*loc, "workload"), f"unknown workload {target.workload!r} ({known})")
        elif not isinstance(w, RequestReplyWorkload):
            out.error((*loc, "workload"), f"workload {w.name!r} has no responders ({w.kind})")
        if target.cluster is not None and target.cluster not in clusters:
            message = f"unknown cluster {target.cluster!r} (clusters: {_listing(clusters)})"
            out.error((*loc, "cluster"), message)
        for k, name in enumerate(target.servers or []):
            if name not in servers:
                out.error((*loc, "servers", k), f"unknown server {name!r}")
        if f.at >= scenario.duration:
            out.warn(("faults", i, "at"), f"fault at {f.at:g}s is after the end of the run")


def check_references(scenario: Scenario, source: SourceInfo | None = None) -> list[str]:
    """Check what the schema cannot: names that refer to each other, and subjects.

    Server names must be unique across clusters; every server, cluster and
    link named in a placement or link must exist; workload names must be
    unique; subjects must be valid for how they are used (a subscriber may use
    wildcards, a publisher gets a warning for a literal ``*``); queue names
    must be non-empty without whitespace; ``stop`` must come after ``start``.

    Parameters
    ----------
    scenario : Scenario
        A schema-valid scenario.
    source : SourceInfo, optional
        Where it came from, for file, path and line in messages.

    Returns
    -------
    list of str
        Warnings, each one line ``file[:line]: path: message``, in file order.

    Raises
    ------
    ScenarioError
        For the first problem in file order.
    """
    if source is None:
        source = SourceInfo(data=scenario.model_dump())
    out = _Findings(source)
    servers = list(scenario.topology.server_cluster())
    _check_servers_unique(scenario, out)
    _check_links(scenario, servers, out)
    _check_workloads(scenario, out)
    for loc, _role, p in _placements(scenario):
        _check_placement_targets(scenario, servers, out, loc, p)
        _check_queue(out, loc, p)
        _check_timing(scenario, out, loc, p)
    _check_subjects(scenario, out)
    _check_regions(scenario, out)
    _check_faults(scenario, servers, out)
    if out.errors:
        raise _by_line(out.errors)[0]
    return [str(w) for w in _by_line(out.warnings)]


# ---------------------------------------------------------------------- load


def _read_source(source: str | os.PathLike[str] | Mapping[str, Any]) -> SourceInfo:
    if isinstance(source, Mapping):
        return SourceInfo(_INLINE, copy.deepcopy(dict(source)), {})
    file = os.fspath(source)
    data, lines = parse_yaml(_read_file(file), file)
    return SourceInfo(file, data, lines)


def _validate(source: SourceInfo) -> Scenario:
    if not isinstance(source.data, dict):
        what = "empty" if source.data is None else f"{_show(source.data)}, not a mapping"
        raise ScenarioError(source.file, "", f"the scenario is {what}", source.lines.get(()))
    try:
        return Scenario.model_validate(source.data)
    except ValidationError as exc:
        raise _schema_error(source, exc) from None


def load_scenario_with_warnings(
    source: str | os.PathLike[str] | Mapping[str, Any] | Scenario,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[Scenario, list[str]]:
    """Load and check a scenario; return it with the warnings found.

    Parameters
    ----------
    source : str, os.PathLike, Mapping or Scenario
        A YAML file path, a mapping of raw scenario data (named
        ``"<scenario>"`` in messages), or an already built ``Scenario``, which
        is checked and returned unchanged (overrides are refused with it:
        canonical numbers cannot be read back as unit strings).
    overrides : Mapping, optional
        Dotted field path → value, applied to the raw data before validation:
        ``{"topology.clusters.east.servers": 2, "workloads[0].publishers.rate":
        "10/s"}``; a list item can also be named (``workloads.ticks.subject``).

    Returns
    -------
    tuple
        ``(scenario, warnings)``, each warning one line ``file[:line]: path: message``.

    Raises
    ------
    ScenarioError
        For the first problem: unreadable file, bad YAML, duplicate key, bad
        override path, schema error or bad reference.
    """
    if isinstance(source, Scenario):
        if overrides:
            raise TypeError("overrides apply to a scenario file or mapping, not a built Scenario")
        return source, check_references(source)
    info = _read_source(source)
    if overrides:
        if not isinstance(info.data, dict):
            _validate(info)
        info.overridden = _apply_overrides(info.file, info.data, overrides)
    scenario = _validate(info)
    return scenario, check_references(scenario, info)


def load_scenario(
    source: str | os.PathLike[str] | Mapping[str, Any] | Scenario,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> Scenario:
    """Load and check a scenario, dropping the warnings.

    See :func:`load_scenario_with_warnings` for the parameters and errors.
    """
    return load_scenario_with_warnings(source, overrides=overrides)[0]
