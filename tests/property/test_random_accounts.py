"""Random account set-ups: a subject never crosses an account unless an import carries it.

Hypothesis draws three accounts (A exports the stream ``s.>``; B imports it
as it is, under a prefix, or mapped to ``m.>``; C imports nothing), one or
two clusters, publishers and subscribers in random accounts with wildcard
subscriptions and queue groups, and checks, for every run:

* every delivery is allowed: same account and the subject matches, or A → B
  through the import and the *mapped* subject matches;
* every plain subscriber that was there from the start got every such
  message published after interest settled (nothing is withheld);
* the books balance (tests.test_accounting.check_books).

``HYPOTHESIS_PROFILE=deep`` runs more examples (see test_random_scenarios).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import sim
from sim.subject_algebra import Mapping
from sim.subjects import subject_matches
from tests.property import test_random_scenarios  # noqa: F401  (registers the profiles)
from tests.test_accounting import check_books

ACCOUNTS = ("A", "B", "C")
PUB_SUBJECTS = ("s.x", "s.y", "t.x")
SUB_SUBJECTS = ("s.>", "s.x", "*.x", ">", "p.s.>", "p.>", "m.*", "m.x", "t.x")
IMPORTS = {
    "same": {},
    "prefix": {"prefix": "p"},
    "mapped": {"to": "m.>"},
}


@st.composite
def setups(draw) -> tuple[dict, str]:
    kind = draw(st.sampled_from(sorted(IMPORTS)))
    clusters = draw(st.sampled_from([["c"], ["c", "d"]]))
    pubs = []
    for i in range(draw(st.integers(1, 3))):
        pubs.append(
            {
                "name": f"p{i}",
                "kind": "pubsub",
                "subject": draw(st.sampled_from(PUB_SUBJECTS)),
                "publishers": {
                    "count": 1,
                    "rate": "100/s",
                    "account": draw(st.sampled_from(ACCOUNTS)),
                    "cluster": draw(st.sampled_from(clusters)),
                },
            }
        )
    subs = []
    for _ in range(draw(st.integers(1, 4))):
        g = {
            "count": draw(st.integers(1, 3)),
            "account": draw(st.sampled_from(ACCOUNTS)),
            "subject": draw(st.sampled_from(SUB_SUBJECTS)),
            "placement": "random",
        }
        if draw(st.booleans()):
            g["queue"] = "q"
        subs.append(g)
    watch = {"name": "watch", "kind": "pubsub", "subject": "x", "subscribers": subs}
    sc = {
        "name": "acc",
        "seed": draw(st.integers(1, 1000)),
        "duration": "1s",
        "topology": {
            "clusters": {c: {"servers": draw(st.integers(1, 3))} for c in clusters},
            "latency": {"intra_cluster": "500us", "client": "100us", "overhead": "1ms"},
        },
        "workloads": [*pubs, watch],
        "accounts": {
            "A": {"exports": [{"stream": "s.>"}]},
            "B": {"imports": [{"stream": {"account": "A", "subject": "s.>"}, **IMPORTS[kind]}]},
            "C": {},
        },
    }
    return sc, kind


def _local(kind: str) -> str:
    return {"same": "s.>", "prefix": "p.s.>", "mapped": "m.>"}[kind]


@given(setups())
def test_subjects_cross_accounts_only_through_imports(setup):
    """Deliveries respect account boundaries and imports; nothing allowed is withheld."""
    sc, kind = setup
    r = sim.run(sc)
    check_books(r)
    to_b = Mapping("s.>", _local(kind))
    m = r.messages.set_index("msg_id")
    pub_account = r.clients.set_index("client").account

    def allowed(msg_account: str, subject: str, sub_account: str, pattern: str) -> bool:
        if msg_account == sub_account:
            return subject_matches(pattern, subject)
        if msg_account == "A" and sub_account == "B" and subject_matches("s.>", subject):
            return subject_matches(pattern, to_b(subject))
        return False

    # the subscriber's own row (shadows are rows in the exporter's account)
    own = r.subscriptions[r.subscriptions.account == r.subscriptions.client.map(pub_account)]
    own_subject = own.groupby("client").subject.first()
    for row in r.deliveries.itertuples():
        msg = m.loc[row.msg_id]
        who = row.subscriber
        assert allowed(msg.account, msg.subject, pub_account[who], own_subject[who]), row
    # completeness for plain subscribers: every allowed message after interest settled
    late = m[(m.time > 0.3) & (m.kind == "publish")]
    got = r.deliveries.groupby("subscriber").msg_id.apply(set)
    plain = own[own.queue.isna()]
    for who, pattern in plain.groupby("client").subject.first().items():
        want = {
            mid
            for mid, msg in late.iterrows()
            if allowed(msg.account, msg.subject, pub_account[who], pattern)
        }
        assert want <= got.get(who, set()), (who, pattern)
