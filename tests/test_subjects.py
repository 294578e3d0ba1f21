"""Tests for sim.subjects: subject rules, matching, the sublist trie and templates."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.subjects
from sim.errors import SubjectError
from sim.subjects import (
    MatchResult,
    SubjectTrie,
    expand_subject_template,
    subject_matches,
    validate_publish_subject,
    validate_subscribe_subject,
)


def test_doctests() -> None:
    """The Examples in the module's docstrings run as written."""
    assert doctest.testmod(sim.subjects).failed == 0


# --- validation --------------------------------------------------------------


@pytest.mark.parametrize(
    "subject", ["foo", "foo.bar", "foo.*", "foo.>", ">", "*", "*.*.>", "foo*", "a>b", "$SYS.x"]
)
def test_valid_subscribe_subjects(subject: str) -> None:
    """Literal tokens and whole-token wildcards (with '>' last) are valid."""
    assert validate_subscribe_subject(subject) == subject


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        ("", "empty subject"),
        ("foo..bar", "empty token"),
        (".foo", "empty token"),
        ("foo.", "empty token"),
        (".", "empty token"),
        ("foo.>.bar", "a token follows '>'"),
        (">.a", "a token follows '>'"),
        ("foo bar", "contains whitespace"),
        ("foo.\tbar", "contains whitespace"),
        ("foo.\n", "contains whitespace"),
        ("a.\r.b", "contains whitespace"),
        ("a.\f", "contains whitespace"),
        (" ", "contains whitespace"),
    ],
)
def test_invalid_subscribe_subjects(subject: str, why: str) -> None:
    """Empty subjects or tokens, tokens after '>' and whitespace are refused."""
    with pytest.raises(SubjectError) as info:
        validate_subscribe_subject(subject)
    assert str(info.value) == f"'{subject}' is not a valid subject: {why}"


def test_non_string_subject_is_refused() -> None:
    """A subject that is not a string is a SubjectError, not a crash."""
    with pytest.raises(SubjectError, match="not a string"):
        validate_subscribe_subject(42)  # type: ignore[arg-type]


def test_publish_subject_clean_has_no_warnings() -> None:
    """A literal publish subject validates with no warnings."""
    assert validate_publish_subject("orders.eu.42") == []
    assert validate_publish_subject("foo*.a>b") == []


@pytest.mark.parametrize(
    ("subject", "count"), [("foo.*", 1), ("foo.>", 1), ("a.>.b", 1), ("*.>", 2), (">.*.>", 2)]
)
def test_publish_subject_with_wildcard_tokens_warns(subject: str, count: int) -> None:
    """Wildcard tokens in a publish subject are allowed (literal) but warned about."""
    warnings = validate_publish_subject(subject)
    assert len(warnings) == count
    assert all(subject in w and "literal" in w for w in warnings)


@pytest.mark.parametrize("subject", ["", "a..b", "a.", "a b", "a.\tb"])
def test_invalid_publish_subjects(subject: str) -> None:
    """Empty subjects, empty tokens and whitespace are errors for publishing too."""
    with pytest.raises(SubjectError, match="is not a valid subject"):
        validate_publish_subject(subject)


# --- reference matcher --------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("foo.bar", "foo.bar", True),
        ("foo.bar", "foo.baz", False),
        ("foo.*", "foo.bar", True),
        ("foo.*", "foo", False),
        ("foo.*", "foo.bar.baz", False),
        ("foo.>", "foo.bar", True),
        ("foo.>", "foo.bar.baz", True),
        ("foo.>", "foo", False),
        (">", "foo", True),
        ("*", "foo.bar", False),
        ("*.bar", "foo.bar", True),
        ("foo*", "foo.bar", False),
        ("foo*", "foo*", True),
        ("foo.*", "foo.*", True),
        ("foo.>", "foo.*", True),
        ("*.*", "foo.*", True),
        (">", "foo.*", True),
        ("foo.bar", "foo.*", False),
        ("foo.*.baz", "foo.>.baz", True),
        ("foo.>", "foo..bar", False),
        (">", "", False),
    ],
)
def test_subject_matches(pattern: str, subject: str, expected: bool) -> None:
    """'*' takes one token, '>' one or more; published tokens are literal."""
    assert subject_matches(pattern, subject) is expected


def test_subject_matches_rejects_invalid_pattern() -> None:
    """The pattern must be a valid subscription subject."""
    with pytest.raises(SubjectError):
        subject_matches("a.>.b", "a.x.b")


# --- trie ---------------------------------------------------------------------


def test_trie_plain_and_queue_match() -> None:
    """Plain items come back in plain; queue items grouped by queue name."""
    trie = SubjectTrie()
    trie.insert("orders.*", "p1")
    trie.insert("orders.eu", "w1", queue="workers")
    trie.insert("orders.>", "w2", queue="workers")
    trie.insert("orders.eu", "a1", queue="audit")
    trie.insert("other", "p2")
    result = trie.match("orders.eu")
    assert result.plain == ("p1",)
    assert result.queues == {"workers": ("w2", "w1"), "audit": ("a1",)}
    assert len(result) == 4
    assert trie.match("nothing.here") == MatchResult((), {})


def test_trie_result_order_follows_nats_server_walk() -> None:
    """Order: '>' node, then the '*' branch, then literal; insertion order in a node."""
    trie = SubjectTrie()
    for pattern in ["a.b.c", "a.*.c", ">", "a.>", "*.b.>", "a.b.*"]:
        trie.insert(pattern, pattern)
    trie.insert("a.b.c", "a.b.c#2")
    assert trie.match("a.b.c").plain == (">", "*.b.>", "a.>", "a.*.c", "a.b.c", "a.b.c#2", "a.b.*")


def test_trie_publish_literal_star() -> None:
    """A published '*' token reaches foo.*, foo.>, *.* and > but not foo.bar."""
    trie = SubjectTrie()
    for pattern in ["foo.*", "foo.>", "*.*", ">", "foo.bar", "foo"]:
        trie.insert(pattern, pattern)
    assert sorted(trie.match("foo.*").plain) == sorted(["foo.*", "foo.>", "*.*", ">"])
    assert sorted(trie.match("foo.>").plain) == sorted(["foo.*", "foo.>", "*.*", ">"])


def test_trie_same_item_under_two_subjects_appears_twice() -> None:
    """An item matched through two patterns is returned once per pattern."""
    trie = SubjectTrie()
    trie.insert("a.*", "x")
    trie.insert("a.>", "x")
    assert trie.match("a.b").plain == ("x", "x")
    assert len(trie) == 2


def test_trie_duplicate_insert_is_a_no_op() -> None:
    """Inserting the same item on the same subject and queue twice stores it once."""
    trie = SubjectTrie()
    trie.insert("a", "x")
    genid = trie.genid
    trie.insert("a", "x")
    trie.insert("a", "y", queue="q")
    trie.insert("a", "y", queue="q")
    assert len(trie) == 2
    assert trie.count_subjects() == 1
    assert trie.genid == genid + 1
    assert trie.match("a") == MatchResult(("x",), {"q": ("y",)})


def test_trie_remove_and_prune() -> None:
    """Remove returns whether the item was there and prunes empty branches."""
    trie = SubjectTrie()
    trie.insert("a.b.c", 1)
    trie.insert("a.*", 2, queue="q")
    trie.insert("a.>", 3)
    assert trie.count_subjects() == 3
    assert trie.remove("a.b.c", 1) is True
    assert trie.remove("a.b.c", 1) is False
    assert trie.remove("a.b", 1) is False
    assert trie.remove("a.*", 2) is False  # wrong queue
    assert trie.remove("a.*", 2, queue="other") is False
    assert trie.remove("a.*", 2, queue="q") is True
    assert trie.remove("a.>", 3) is True
    assert len(trie) == 0
    assert trie.count_subjects() == 0
    assert trie._root.is_empty()


def test_trie_insert_rejects_invalid_subject_and_queue() -> None:
    """Insert and remove raise SubjectError on invalid subjects or queue names."""
    trie = SubjectTrie()
    for bad in ["", "a..b", "a.>.b", "a b"]:
        with pytest.raises(SubjectError):
            trie.insert(bad, 1)
        with pytest.raises(SubjectError):
            trie.remove(bad, 1)
    for bad_queue in ["", "my queue"]:
        with pytest.raises(SubjectError, match="queue"):
            trie.insert("a", 1, queue=bad_queue)
    assert len(trie) == 0
    assert trie.genid == 0


def test_trie_match_subject_with_empty_token_matches_nothing() -> None:
    """A published subject with an empty token matches nothing, not even '>'."""
    trie = SubjectTrie()
    trie.insert(">", 1)
    for subject in ["", "a..b", ".a", "a."]:
        assert trie.match(subject).plain == ()


def test_cache_hit_returns_same_result_and_counts() -> None:
    """A repeated match is served from the cache and counted as a hit."""
    trie = SubjectTrie()
    trie.insert("a.*", 1)
    first = trie.match("a.b")
    assert trie.match("a.b") is first
    stats = trie.stats()
    assert (stats["cache_hits"], stats["cache_misses"], stats["cache_size"]) == (1, 1, 1)
    assert trie.cache_hit_ratio == 0.5


def test_cache_is_invalidated_by_insert_and_remove() -> None:
    """After an insert or remove, no stale cached result is served."""
    trie = SubjectTrie()
    trie.insert("a.b", 1)
    assert trie.match("a.b").plain == (1,)
    genid = trie.genid
    trie.insert("a.*", 2)
    assert trie.genid == genid + 1
    assert trie.match("a.b").plain == (1, 2)
    trie.remove("a.b", 1)
    assert trie.genid == genid + 2
    assert trie.match("a.b").plain == (2,)
    trie.remove("a.b", 1)  # not present: no change
    assert trie.genid == genid + 2


def test_cache_evicts_oldest_quarter_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache stays bounded and evicts its oldest entries first."""
    monkeypatch.setattr(sim.subjects, "CACHE_MAX", 8)
    trie = SubjectTrie()
    trie.insert(">", 1)
    for i in range(8):
        trie.match(f"s{i}")
    trie.match("s8")
    assert trie.stats()["cache_size"] == 7
    assert list(trie._cache) == ["s2", "s3", "s4", "s5", "s6", "s7", "s8"]
    assert trie.match("s0").plain == (1,)


# --- property: trie agrees with the reference matcher -------------------------

_PATTERN = st.lists(st.sampled_from(["a", "b", "c", "*", ">"]), min_size=1, max_size=4).map(
    lambda toks: ".".join(toks[: toks.index(">") + 1] if ">" in toks else toks)
)
_SUBJECT = st.lists(
    st.sampled_from(["a", "b", "c", "a", "b", "c", "*", ">"]), min_size=1, max_size=5
).map(".".join)
_SUBS = st.lists(st.tuples(_PATTERN, st.sampled_from([None, None, "q1", "q2"])), max_size=25)


def _expected(subs: dict[int, tuple[str, str | None]], subject: str) -> tuple[list, dict]:
    """The items that should match, by brute force over every subscription."""
    plain: list[int] = []
    queues: dict[str, list[int]] = {}
    for item, (pattern, queue) in subs.items():
        if subject_matches(pattern, subject):
            if queue is None:
                plain.append(item)
            else:
                queues.setdefault(queue, []).append(item)
    return sorted(plain), {q: sorted(v) for q, v in queues.items()}


def _actual(trie: SubjectTrie, subject: str) -> tuple[list, dict]:
    result = trie.match(subject)
    return sorted(result.plain), {q: sorted(v) for q, v in result.queues.items()}


@settings(max_examples=300, deadline=None)
@given(subs=_SUBS, subjects=st.lists(_SUBJECT, min_size=1, max_size=8), data=st.data())
def test_trie_agrees_with_reference_matcher(
    subs: list[tuple[str, str | None]], subjects: list[str], data: st.DataObject
) -> None:
    """SubjectTrie.match returns exactly the items subject_matches accepts, after removals too."""
    trie = SubjectTrie()
    live = dict(enumerate(subs))
    for item, (pattern, queue) in live.items():
        trie.insert(pattern, item, queue=queue)
    for subject in subjects:  # also warms the cache before the removals
        assert _actual(trie, subject) == _expected(live, subject)
    doomed = data.draw(
        st.lists(st.sampled_from(sorted(live)), unique=True) if live else st.just([])
    )
    for item in doomed:
        pattern, queue = live.pop(item)
        assert trie.remove(pattern, item, queue=queue)
    assert len(trie) == len(live)
    assert trie.count_subjects() == len({(p) for p, _ in live.values()})
    for subject in subjects:
        assert _actual(trie, subject) == _expected(live, subject)


# --- determinism across processes ----------------------------------------------

_DETERMINISM_SCRIPT = textwrap.dedent(
    """
    from sim.subjects import SubjectTrie
    trie = SubjectTrie()
    names = [f"sub-{i}" for i in range(40)]
    patterns = ["a.*", "a.>", ">", "*.b", "a.b", "*.*"]
    for i, name in enumerate(names):
        trie.insert(patterns[i % 6], name, queue=None if i % 3 else f"q{i % 4}")
    for name in names[::7]:
        trie.remove(patterns[names.index(name) % 6], name,
                    queue=None if names.index(name) % 3 else f"q{names.index(name) % 4}")
    r = trie.match("a.b")
    print(r.plain, list(r.queues.items()))
    """
)


def test_match_order_is_the_same_in_every_process() -> None:
    """Same operations give the same result order whatever PYTHONHASHSEED is."""
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", _DETERMINISM_SCRIPT],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        outputs.add(proc.stdout)
    assert len(outputs) == 1


# --- templates ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "subjects"),
    [
        ("STOCK.{AAPL,MSFT}", ["STOCK.AAPL", "STOCK.MSFT"]),
        ("orders.{1..3}", ["orders.1", "orders.2", "orders.3"]),
        ("orders.{3..1}", ["orders.3", "orders.2", "orders.1"]),
        ("n.{08..10}", ["n.08", "n.09", "n.10"]),
        ("{a,b}.{1..2}", ["a.1", "a.2", "b.1", "b.2"]),
        ("x{a,b}y.z", ["xay.z", "xby.z"]),
        ("{only}", ["only"]),
        ("plain.subject", ["plain.subject"]),
        ("STOCK.*.>", ["STOCK.*.>"]),
    ],
)
def test_expand_subject_template(template: str, subjects: list[str]) -> None:
    """Brace lists and numeric ranges expand in cartesian order, first group slowest."""
    assert expand_subject_template(template) == subjects


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a.{b", "unbalanced"),
        ("a.b}", "unbalanced"),
        ("a.}b{", "unbalanced"),
        ("{a,{b,c}}", "nested"),
        ("a.{}", "empty alternative"),
        ("a.{b,}", "empty alternative"),
        ("a.{,b}", "empty alternative"),
        ("{1..1000}.{1..1001}", "at most 1,000,000"),
    ],
)
def test_expand_subject_template_errors(template: str, message: str) -> None:
    """Bad braces, empty alternatives and huge expansions are SubjectErrors."""
    with pytest.raises(SubjectError, match=message):
        expand_subject_template(template)
