"""Load a scenario file into a validated :class:`~sim.scenario.spec.Scenario`.

Loading happens in four steps, each of which can stop with exactly one
:class:`~sim.errors.ScenarioError` whose ``str()`` is a single line
(``file:line: path: problem``), so the command line can print it as is:

1. parse the YAML into plain data *and* a line map (field path → 1-based line),
   rejecting duplicate keys that a plain YAML load would silently collapse
   (:mod:`sim.scenario.source`);
2. apply dotted overrides (``workloads[0].publishers.rate``) to the raw data
   (:mod:`sim.scenario.source`);
3. validate against the schema, turning pydantic's error list into one message
   that names the field path and the line it came from (this module);
4. check cross references the schema cannot see (unknown servers or clusters,
   duplicate names, subjects), which also yields warnings
   (:mod:`sim.scenario.checks`).
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import types
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from sim.errors import ScenarioError
from sim.scenario.checks import check_references
from sim.scenario.source import (
    INLINE,
    LineMap,
    Path,
    SourceInfo,
    apply_overrides,
    format_path,
    is_index,
    parse_yaml,
    read_file,
    show_value,
)
from sim.scenario.spec import (
    JetStreamWorkload,
    PubSubWorkload,
    RequestReplyWorkload,
    Scenario,
    TraceWorkload,
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
    if origin is list and is_index(part):
        return _unwrap(args[0])
    if origin is tuple and is_index(part) and args:
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
    models = (PubSubWorkload, RequestReplyWorkload, TraceWorkload, JetStreamWorkload)
    return [tag for model in models for tag in _tags(model)]


def _unknown_key_message(loc: Path) -> str:
    key = loc[-1]
    message = f"unknown key {show_value(key)}"
    close = difflib.get_close_matches(str(key), _known_keys(loc[:-1]), n=1, cutoff=0.6)
    return f"{message} (did you mean {close[0]!r}?)" if close else message


def _value_message(err: Mapping[str, Any]) -> str:
    """Turn one pydantic error into a message naming what was expected and found."""
    kind, msg, value = err["type"], err["msg"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {show_value(value)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"expected one of: {expected.replace(' or ', ', ')}; got {show_value(value)}"
    if kind in ("value_error", "assertion_error"):
        return re.sub(r"^(Value error|Assertion failed), ", "", msg)
    if kind == "string_pattern_mismatch":
        return f"{show_value(value)} does not match the pattern {ctx.get('pattern')}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"needs at least {n} entr{'y' if n == 1 else 'ies'}, got {ctx.get('actual_length')}"
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"takes at most {n} entr{'y' if n == 1 else 'ies'}, got {ctx.get('actual_length')}"
    text = re.sub(r"^Input should", "should", msg)
    scalar = not isinstance(value, dict | list | tuple)
    return f"{text}, got {show_value(value)}" if scalar else text


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
        what = f"item [{key}]" if is_index(key) else f"key {show_value(key)}"
        return _Problem(path, f"missing required {what}", False, order)
    if kind == "extra_forbidden":
        return _Problem(source.clean(loc), _unknown_key_message(loc), False, order)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        path = (*source.clean(loc), "kind")
        expected = ", ".join(_workload_kinds())
        tag = (err.get("ctx") or {}).get("tag")
        what = f"unknown workload kind {show_value(tag)}" if tag else "missing required key 'kind'"
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


# ---------------------------------------------------------------------- load


def _read_source(source: str | os.PathLike[str] | Mapping[str, Any]) -> SourceInfo:
    if isinstance(source, Mapping):
        return SourceInfo(INLINE, copy.deepcopy(dict(source)), {})
    file = os.fspath(source)
    data, lines = parse_yaml(read_file(file), file)
    return SourceInfo(file, data, lines)


def _validate(source: SourceInfo) -> Scenario:
    if not isinstance(source.data, dict):
        what = "empty" if source.data is None else f"{show_value(source.data)}, not a mapping"
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
        info.overridden = apply_overrides(info.file, info.data, overrides)
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
