"""Accounts, imports/exports and permissions: who can talk to whom (digest §9).

Rules checked, each against nats-server's behaviour (server/accounts.go,
server/client.go):

* accounts are separate subject spaces, even for ``>`` subscriptions;
* a stream import delivers the exporter's messages into the importer, on the
  mapped subject, and only what the import covers;
* a service import carries requests into the exporter and the replies back;
* publish and subscribe permissions: allow lists, deny lists that win,
  refused subscriptions, deny-on-delivery for wildcard subscriptions,
  ``allow_responses``;
* bad account configuration is a one-line error naming the field.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.errors import ScenarioError
from sim.model.accounts import Permissions
from sim.scenario.spec import PermissionsSpec
from sim.subject_algebra import Mapping, intersect
from sim.subjects import subject_matches
from tests.conftest import scenario
from tests.test_accounting import check_books


def pubsub(name, subject, pub, subs, rate="200/s"):
    """A pubsub workload: one publisher group ``pub``, subscriber groups ``subs``."""
    return {
        "name": name,
        "kind": "pubsub",
        "subject": subject,
        "publishers": {"count": 1, "rate": rate, **pub},
        "subscribers": subs,
    }


def received(r: sim.Result, workload: str) -> int:
    """Deliveries to the subscribers of ``workload`` (whoever published)."""
    mine = set(r.clients.client[r.clients.workload == workload])
    return int(r.deliveries.subscriber.isin(mine).sum())


# ------------------------------------------------------------------ isolation


def test_accounts_are_separate_subject_spaces_even_for_full_wildcards():
    """A ``>`` subscriber in one account gets nothing published in another."""
    sc = scenario(
        [
            pubsub("a", "orders.new", {"account": "A"}, [{"account": "A", "count": 2}]),
            {
                "name": "spy",
                "kind": "pubsub",
                "subject": ">",
                "subscribers": [
                    {"account": "B", "per_server": 1},
                    {"count": 2},  # $G
                    {"account": "B", "count": 1, "subject": "orders.*"},
                ],
            },
        ],
        accounts={"A": {}, "B": {}},
    )
    r = sim.run(sc)
    assert received(r, "a") == 2 * len(r.messages)  # both A subscribers get all
    assert received(r, "spy") == 0
    check_books(r)
    assert set(r.messages.account) == {"A"}
    assert set(r.subscriptions.account) == {"A", "B", "$G"}


def test_same_subject_in_two_accounts_stays_apart():
    """Two accounts using one subject each see only their own messages."""
    sc = scenario(
        [
            pubsub("a", "t", {"account": "A"}, [{"account": "A", "count": 1}], rate="100/s"),
            pubsub("b", "t", {"account": "B"}, [{"account": "B", "count": 1}], rate="50/s"),
        ],
        accounts={"A": {}, "B": {}},
    )
    r = sim.run(sc)
    d = r.deliveries
    assert (d.workload == d.subscriber.str.split(".").str[0]).all()
    check_books(r)


# ------------------------------------------------------------- stream imports


def test_stream_import_delivers_mapped_and_only_what_it_covers():
    """FARM imports WEATHER's ``alerts.>`` under prefix ``wx``: alerts arrive, news does not."""
    sc = scenario(
        [
            pubsub(
                "weather",
                "{alerts.storm,news.today}",
                {"account": "WEATHER", "rate": "100/s"},
                [],
            ),
            {
                "name": "farm",
                "kind": "pubsub",
                "subject": "wx.alerts.>",
                "subscribers": [
                    {"account": "FARM", "count": 1},
                    {"account": "FARM", "count": 1, "subject": ">"},
                    {"account": "FARM", "count": 1, "subject": "*.*.storm"},
                    {"account": "FARM", "count": 1, "subject": "alerts.>"},  # unmapped: nothing
                ],
            },
        ],
        accounts={
            "WEATHER": {"exports": [{"stream": "alerts.>"}, {"stream": "news.>"}]},
            "FARM": {
                "imports": [
                    {"stream": {"account": "WEATHER", "subject": "alerts.>"}, "prefix": "wx"}
                ]
            },
        },
    )
    r = sim.run(sc)
    alerts = r.messages[r.messages.subject == "alerts.storm"]
    news = r.messages[r.messages.subject == "news.today"]
    assert len(alerts) > 20 and len(news) > 20
    d = r.deliveries
    per = d.groupby("subscriber").msg_id.apply(set)
    for who in ("farm.sub0", "farm.sub1.0", "farm.sub2.0"):
        assert per[who] == set(alerts.msg_id), who
    assert "farm.sub3.0" not in per.index
    assert not d.msg_id.isin(news.msg_id).any()
    check_books(r)


def test_stream_import_with_to_mapping_shadows_only_the_overlap():
    """A subscription that overlaps the import's subject gets just the overlapping part."""
    sc = scenario(
        [
            pubsub("w", "weather.{nyc,sfo}.temp", {"account": "W", "rate": "100/s"}, []),
            {
                "name": "f",
                "kind": "pubsub",
                "subject": "wx.nyc.*",
                "subscribers": [{"account": "F", "count": 1}],
            },
        ],
        accounts={
            "W": {"exports": [{"stream": "weather.>"}]},
            "F": {"imports": [{"stream": {"account": "W", "subject": "weather.>"}, "to": "wx.>"}]},
        },
    )
    r = sim.run(sc)
    nyc = set(r.messages.msg_id[r.messages.subject == "weather.nyc.temp"])
    assert set(r.deliveries.msg_id) == nyc and nyc
    shadow = r.subscriptions[r.subscriptions.account == "W"]
    assert list(shadow.subject) == ["weather.nyc.*"]


# ------------------------------------------------------------ service imports


def service(requester, responder, subject="svc.get", **req):
    return {
        "name": "svc",
        "kind": "request_reply",
        "subject": subject,
        "requesters": {"count": 2, "rate": "50/s", "timeout": "1s", **requester, **req},
        "responders": {"per_server": 1, "queue": "q", "subject": "api.>", **responder},
    }


ACCOUNTS = {
    "API": {"exports": [{"service": "api.>"}]},
    "APP": {"imports": [{"service": {"account": "API", "subject": "api.>"}, "to": "svc.>"}]},
    "OTHER": {},
}


def test_service_import_answers_requests_across_accounts():
    """Requests on the imported subject reach the exporter's service; replies come back."""
    r = sim.run(scenario([service({"account": "APP"}, {"account": "API"})], accounts=ACCOUNTS))
    assert len(r.requests) > 50
    assert (r.requests.outcome == "ok").all()
    req = r.messages[r.messages.kind == "request"]
    assert set(req.account) == {"API"} and set(req.subject) == {"api.get"}
    check_books(r)


def test_service_without_import_gets_no_responders():
    """An account without the import reaches no service: 503 no responders."""
    r = sim.run(scenario([service({"account": "OTHER"}, {"account": "API"})], accounts=ACCOUNTS))
    assert len(r.requests) > 50
    assert (r.requests.outcome == "no_responders").all()


# ---------------------------------------------------------------- permissions


def test_publish_denied_is_dropped_with_reason_and_the_client_sees_the_error():
    """A publish outside the allow list (or in the deny list) is dropped as permission_denied."""
    sc = scenario(
        [pubsub("p", "{a.ok,a.secret,b.x}", {"user": "u", "rate": "300/s"}, [{"count": 2}])],
        users=[{"name": "u", "permissions": {"publish": {"allow": ["a.>"], "deny": ["a.secret"]}}}],
    )
    r = sim.run(sc)
    m = r.messages.set_index("msg_id")
    delivered = set(r.deliveries.msg_id)
    denied = set(r.drops.msg_id[r.drops.reason == "permission_denied"])
    assert denied == set(m.index[m.subject != "a.ok"])
    assert delivered == set(m.index[m.subject == "a.ok"])
    violations = r.events[r.events.kind == "permission_violation"]
    assert len(violations) == len(denied)
    check_books(r)


def test_subscribe_denied_is_refused_and_never_owed():
    """A refused subscription is recorded lost with permission_denied and gets nothing."""
    sc = scenario(
        [
            pubsub(
                "p",
                "t.x",
                {},
                [{"count": 1, "user": "limited"}, {"count": 1, "user": "limited", "subject": "ok"}],
            )
        ],
        users=[{"name": "limited", "permissions": {"subscribe": {"allow": ["ok"]}}}],
    )
    r = sim.run(sc)
    s = r.subscriptions.set_index("client")
    assert s.loc["p.sub0", "lost_reason"] == "permission_denied"
    assert (r.messages.expected == 0).all()
    assert r.deliveries.empty
    assert (r.events.kind == "permission_violation").sum() == 1


def test_wildcard_subscription_overlapping_a_deny_is_filtered_on_delivery():
    """``t.>`` with deny ``t.secret``: allowed, but t.secret messages are not delivered."""
    sc = scenario(
        [
            pubsub(
                "p",
                "t.{open,secret}",
                {"rate": "200/s"},
                [{"count": 1, "user": "u", "subject": "t.>"}],
            )
        ],
        users=[{"name": "u", "permissions": {"subscribe": {"deny": ["t.secret"]}}}],
    )
    r = sim.run(sc)
    got = set(r.messages.subject[r.messages.msg_id.isin(r.deliveries.msg_id)])
    assert got == {"t.open"}
    assert r.subscriptions.lost_reason.isna().all()
    check_books(r)


def test_responder_needs_allow_responses_to_reply():
    """A responder whose publish allow list excludes inboxes answers only with allow_responses."""

    def run(allow: bool) -> sim.Result:
        perms = {"publish": {"allow": ["nothing"]}, "allow_responses": allow}
        wl = {
            "name": "svc",
            "kind": "request_reply",
            "subject": "svc",
            "requesters": {"count": 1, "rate": "50/s", "timeout": "500ms"},
            "responders": {"count": 1, "user": "r"},
        }
        return sim.run(scenario([wl], users=[{"name": "r", "permissions": perms}]))

    assert (run(True).requests.outcome == "ok").all()
    denied = run(False)
    assert (denied.requests.outcome == "timeout").all()
    replies = denied.messages.msg_id[denied.messages.kind == "reply"]
    assert denied.drops.msg_id[denied.drops.reason == "permission_denied"].isin(replies).all()


subjects = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map(".".join)
patterns = st.lists(st.sampled_from(["a", "b", "*"]), min_size=1, max_size=3).map(
    ".".join
) | st.lists(st.sampled_from(["a", "b", "*"]), min_size=0, max_size=2).map(
    lambda t: ".".join([*t, ">"])
)


@settings(max_examples=200, deadline=None)
@given(subject=subjects, allow=st.lists(patterns, max_size=3), deny=st.lists(patterns, max_size=3))
def test_deny_wins_over_allow(subject, allow, deny):
    """Allowed iff some allow entry matches (or there is no allow list) and no deny entry does."""
    perms = Permissions(
        PermissionsSpec(
            publish={"allow": allow or None, "deny": deny},
            subscribe={"allow": allow or None, "deny": deny},
        )
    )
    in_allow = not allow or any(subject_matches(p, subject) for p in allow)
    in_deny = any(subject_matches(p, subject) for p in deny)
    assert perms.can_publish(subject) == (in_allow and not in_deny)
    assert perms.can_subscribe(subject, None) == (in_allow and not in_deny)


def test_queue_entries_restrict_queue_subscriptions():
    """Subscribe allow ``"jobs.* workers"``: only queue ``workers`` may subscribe to jobs.*."""
    perms = Permissions(PermissionsSpec(subscribe={"allow": ["jobs.* workers", "logs.>"]}))
    assert perms.can_subscribe("jobs.new", "workers")
    assert not perms.can_subscribe("jobs.new", "others")
    assert perms.can_subscribe("logs.x", None)
    assert not perms.can_subscribe("jobs.new", None)


# ------------------------------------------------------------ subject algebra


@settings(max_examples=300, deadline=None)
@given(message=subjects, sub=patterns, local=patterns)
def test_shadow_subscription_matches_exactly_what_the_import_delivers(message, sub, local):
    """A message of the exporter reaches the shadow iff its mapped subject matches the sub.

    The import maps ``x.<rest>`` (exporter) to ``local`` (importer); the
    shadow of a subscription ``sub`` is ``intersect(sub, local)`` mapped back.
    """
    source = ".".join("x" if t not in ("*", ">") else t for t in local.split("."))
    source = "x." + source
    if not subject_matches(source, "x." + message):
        return
    to_local = Mapping(source, local)
    to_source = to_local.reverse()
    part = intersect(sub, local)
    shadow = to_source(part) if part is not None else None
    mapped = to_local("x." + message)
    reaches = shadow is not None and subject_matches(shadow, "x." + message)
    assert reaches == subject_matches(sub, mapped)


# ---------------------------------------------------------------- bad input

BAD = [
    (
        {"A": {"imports": [{"stream": {"account": "NOPE", "subject": "x"}}]}},
        "accounts.A.imports[0].stream.account: unknown account 'NOPE'",
    ),
    (
        {
            "A": {"exports": [{"stream": "a.>"}]},
            "B": {"imports": [{"stream": {"account": "A", "subject": "b.>"}}]},
        },
        "accounts.B.imports[0].stream.subject: account 'A' exports no stream covering 'b.>'",
    ),
    (
        {
            "A": {"exports": [{"service": "a.>", "accounts": ["C"]}]},
            "B": {"imports": [{"service": {"account": "A", "subject": "a.x"}}]},
            "C": {},
        },
        "accounts.B.imports[0].service.account: account 'A' exports 'a.x' only to C",
    ),
    (
        {
            "A": {"exports": [{"stream": "a.*"}]},
            "B": {"imports": [{"stream": {"account": "A", "subject": "a.*"}, "to": "b.>"}]},
        },
        "accounts.B.imports[0].to: 'b.>' must have the same wildcards as 'a.*'",
    ),
    (
        {"A": {"exports": [{"service": "a.>", "latency": {"subject": "lat.>"}}]}},
        "accounts.A.exports[0].latency.subject: 'lat.>' must be a literal subject",
    ),
]


@pytest.mark.parametrize(("accounts", "message"), BAD)
def test_bad_account_configuration_names_the_field(accounts, message):
    """Each mistake is one error naming its field path."""
    sc = scenario([pubsub("p", "t", {}, [{"count": 1}])], accounts=accounts)
    with pytest.raises(ScenarioError) as err:
        sim.load_scenario(sc)
    assert message in str(err.value)


def test_unknown_user_in_a_group_is_an_error():
    """A client group naming a user that does not exist fails with the field path."""
    sc = scenario([pubsub("p", "t", {"user": "ghost"}, [{"count": 1}])])
    with pytest.raises(ScenarioError, match=r"workloads\[0\].publishers.user: unknown user"):
        sim.load_scenario(sc)


def test_monitoring_counts_denied_publishes_in_and_deliveries_out():
    """With accounts and permissions, /varz-style counters still equal the tables' counts.

    A denied publish is read by the server, so it counts in ``in_msgs``
    (``processInboundClientMsg`` counts before checking permissions).
    """
    sc = scenario(
        [pubsub("p", "{a.ok,a.no}", {"user": "u", "rate": "300/s"}, [{"count": 2}])],
        users=[{"name": "u", "permissions": {"publish": {"deny": ["a.no"]}}}],
        monitor={"interval": "500ms"},
    )
    r = sim.run(sc)
    last = r.monitor[r.monitor.time == r.monitor.time.max()]
    assert last.in_client_msgs.sum() == len(r.messages)
    assert last.out_client_msgs.sum() == len(r.deliveries)
    assert (r.drops.reason == "permission_denied").sum() > 0
