"""Accounts, imports/exports and user permissions, as nats-server applies them.

**Subject spaces.**  nats-server keeps one sublist per account (``acc.sl``,
server/accounts.go) and carries the account name in every RS+/RMSG on
routes and gateways, so a subject in one account never meets a subscription
of another (digest §9).  The model keeps one sublist per server and gets the
same isolation by *namespacing*: when a scenario has accounts, every subject
a client publishes or subscribes is stored as NUL, the account name, ``.``
and the subject (NUL is no character a scenario subject may contain).
Because the first token names the account, even ``>`` in one account cannot
match another's subjects, and interest propagation, gateways and queue groups
work per account unchanged.  :func:`split_account` undoes it for the results.
Without accounts nothing is prefixed (everybody is in ``$G``).

**Stream imports.**  A subscription in an importing account also gets a
*shadow* subscription in the exporter's space (``addShadowSubscriptions`` /
``addShadowSub``, server/client.go): its subject is the part of the
subscription that the import covers, mapped back to the exporter's
subjects.  Messages published in the exporter reach it as any subscription.

**Service imports.**  A request published in the importing account on the
import's subject is re-published into the exporter's space on the exported
subject (``processServiceImport``) at the requester's server.  Its reply
subject stays in the requester's space, which is where nats-server's
``_R_.`` response mapping sends the reply back (digest §9).

**Permissions** follow ``canSubscribeInternal``, ``pubAllowedFullCheck``,
``loadMsgDenyFilterIfNeeded`` and ``checkDenySub`` (server/client.go): allow
lists (absent: all allowed), deny lists that win, queue-restricted
subscribe entries ``"subject queue"``, deny-on-delivery for wildcard or queue
subscriptions overlapping a deny entry, and ``allow_responses``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sim.scenario.spec import (
    GLOBAL_ACCOUNT,
    ExportSpec,
    ImportSpec,
    LatencyTracking,
    PermissionsSpec,
    ResponsePermission,
    Scenario,
)
from sim.subject_algebra import Mapping, intersect, is_subset
from sim.subjects import SubjectTrie, subject_matches

if TYPE_CHECKING:
    from sim.rng import RandomStreams
    from sim.scenario.spec import Placement

__all__ = [
    "NS",
    "Account",
    "Accounts",
    "Permissions",
    "ServiceImport",
    "StreamImport",
    "split_account",
]

#: First character of a namespaced subject: not valid in a scenario subject.
NS = "\x00"


def split_account(subject: str) -> tuple[str, str]:
    """Return ``(account, subject)`` of a stored subject (``$G`` when not namespaced)."""
    if subject.startswith(NS):
        account, _, rest = subject[1:].partition(".")
        return account, rest
    return GLOBAL_ACCOUNT, subject


class StreamImport:
    """A stream import of an account: exporter, subject there, subject here."""

    __slots__ = ("exporter", "local", "source", "to_local", "to_source")

    def __init__(self, exporter: Account, spec: ImportSpec) -> None:
        self.exporter = exporter
        self.source = spec.source.subject
        self.local = spec.local
        self.to_local = Mapping(self.source, self.local)
        self.to_source = self.to_local.reverse()

    def shadow(self, subject: str) -> str | None:
        """The shadow subject (exporter's space, namespaced) for a subscription on ``subject``.

        The part of ``subject`` the import covers (their intersection),
        mapped to the exporter's subjects; None when they do not overlap.
        """
        part = intersect(subject, self.local)
        if part is None:
            return None
        return self.exporter.prefix + self.to_source(part)


class ServiceImport:
    """A service import: requests on ``local`` here go to ``source`` in the exporter."""

    __slots__ = ("exporter", "latency", "local", "rng", "source", "to_source")

    def __init__(self, exporter: Account, spec: ImportSpec, rng: random.Random) -> None:
        self.exporter = exporter
        self.source = spec.source.subject
        self.local = spec.local
        self.to_source = Mapping(self.local, self.source)
        export = exporter.service_export(self.source)
        self.latency: LatencyTracking | None = export.latency if export is not None else None
        #: the sampling draws (nats-server draws per tracked request, ``shouldSample``)
        self.rng = rng

    def sampled(self) -> bool:
        """Whether this request is tracked (``shouldSample``, server/accounts.go).

        Sampling ``p`` in 1..99 tracks a request when ``rand.Int31n(100) <= p``,
        that is with probability (p + 1) / 100, as nats-server does; 100 always.
        """
        lat = self.latency
        if lat is None:
            return False
        if lat.sampling >= 100:
            return True
        return self.rng.randrange(100) <= int(lat.sampling)


class Account:
    """One account: its subject-space prefix, exports and resolved imports."""

    def __init__(self, name: str, prefix: str, exports: Iterable[ExportSpec] = ()) -> None:
        self.name = name
        #: what its subjects are stored under ("" when the scenario has no accounts)
        self.prefix = prefix
        self.exports = list(exports)
        self.streams: list[StreamImport] = []
        self.services: list[ServiceImport] = []
        self._service_cache: dict[str, tuple[ServiceImport, str] | None] = {}

    def __repr__(self) -> str:
        return f"<Account {self.name}>"

    def service_export(self, subject: str) -> ExportSpec | None:
        """The service export covering ``subject`` (``getServiceExport``)."""
        for e in self.exports:
            if e.service is not None and is_subset(subject, e.service):
                return e
        return None

    def service_import(self, subject: str) -> tuple[ServiceImport, str] | None:
        """The service import a publish on ``subject`` goes through, and the mapped subject.

        The mapped subject is namespaced in the exporter's space.  None when
        the subject is no imported service.
        """
        cache = self._service_cache
        if subject in cache:
            return cache[subject]
        hit = None
        for si in self.services:
            if subject_matches(si.local, subject):
                hit = (si, si.exporter.prefix + si.to_source(subject))
                break
        cache[subject] = hit
        return hit

    def shadows(self, subject: str) -> list[tuple[str, StreamImport]]:
        """Shadow subjects (namespaced) for a subscription on ``subject``, one per import."""
        out = []
        for im in self.streams:
            shadow = im.shadow(subject)
            if shadow is not None:
                out.append((shadow, im))
        return out


def _trie(entries: list[str] | None) -> SubjectTrie | None:
    """A sublist of permission entries; ``"subject queue"`` entries go in as queue subs."""
    if entries is None:
        return None
    trie = SubjectTrie()
    for entry in entries:
        subject, _, queue = entry.strip().partition(" ")
        trie.insert(subject, entry, queue.strip() or None)
    return trie


def _queue_matches(queue: str, names: Iterable[str]) -> bool:
    """nats-server ``queueMatches``: a literal name, or a wildcard name matching it."""
    return any(
        queue == q or (any(t in ("*", ">") for t in q.split(".")) and subject_matches(q, queue))
        for q in names
    )


class Permissions:
    """A user's publish and subscribe permissions, checked as nats-server checks them."""

    def __init__(self, spec: PermissionsSpec) -> None:
        pub, sub = spec.publish, spec.subscribe
        self.pub_allow = _trie(pub.allow if pub is not None else None)
        self.pub_deny = _trie(pub.deny if pub is not None and pub.deny else None)
        self.sub_allow = _trie(sub.allow if sub is not None else None)
        self.sub_deny = _trie(sub.deny if sub is not None and sub.deny else None)
        self._deny_entries = [e.strip().partition(" ")[0] for e in (sub.deny if sub else [])]
        self.responses: ResponsePermission | None = spec.responses
        self._pub_cache: dict[str, bool] = {}
        self._deny_cache: dict[tuple[str, str | None], bool] = {}

    def can_publish(self, subject: str) -> bool:
        """``pubAllowedFullCheck``: in the allow list (if any) and not denied; cached."""
        ok = self._pub_cache.get(subject)
        if ok is None:
            ok = True
            if self.pub_allow is not None:
                ok = bool(self.pub_allow.match(subject).plain)
            if ok and self.pub_deny is not None:
                ok = not self.pub_deny.match(subject).plain
            self._pub_cache[subject] = ok
        return ok

    def can_subscribe(self, subject: str, queue: str | None) -> bool:
        """``canSubscribeInternal``: the allow list (queue entries by name), then deny."""
        allowed = True
        if self.sub_allow is not None:
            r = self.sub_allow.match(subject)
            allowed = bool(r.plain)
            if queue is not None and r.queues:
                allowed = _queue_matches(queue, r.queues)
        if allowed and self.sub_deny is not None:
            r = self.sub_deny.match(subject)
            allowed = not r.plain
            if allowed and queue is not None and r.queues:
                allowed = not _queue_matches(queue, r.queues)
        return allowed

    def filters_delivery(self, subject: str, queue: str | None) -> bool:
        """Whether deliveries to this subscription are checked against the deny list.

        ``loadMsgDenyFilterIfNeeded``: a wildcard (or queue) subscription whose
        subject can overlap a deny entry.
        """
        if self.sub_deny is None:
            return False
        wild = queue is not None or any(t in ("*", ">") for t in subject.split("."))
        return wild and any(intersect(d, subject) is not None for d in self._deny_entries)

    def delivery_denied(self, subject: str, queue: str | None) -> bool:
        """``checkDenySub``: a message on ``subject`` is not delivered to such a subscription."""
        key = (subject, queue)
        denied = self._deny_cache.get(key)
        if denied is None:
            assert self.sub_deny is not None
            r = self.sub_deny.match(subject)
            denied = bool(r.plain) or (queue is not None and _queue_matches(queue, r.queues))
            self._deny_cache[key] = denied
        return denied


class Accounts:
    """The scenario's accounts and users, resolved for the model.

    ``enabled`` is False for a scenario that names no account or user: then
    every client is in ``$G`` and no subject is prefixed.
    """

    def __init__(self, scenario: Scenario, streams: RandomStreams) -> None:
        # a group may only name declared accounts and users (or $G), so without
        # any declared everybody is in $G
        self.enabled = bool(scenario.accounts or scenario.users)
        names = [GLOBAL_ACCOUNT, *(n for n in scenario.accounts if n != GLOBAL_ACCOUNT)]
        self.by_name: dict[str, Account] = {}
        for name in names:
            spec = scenario.accounts.get(name)
            prefix = f"{NS}{name}." if self.enabled else ""
            self.by_name[name] = Account(name, prefix, spec.exports if spec is not None else ())
        for name, spec in scenario.accounts.items():
            acc = self.by_name[name]
            for j, im in enumerate(spec.imports):
                exporter = self.by_name[im.source.account]
                if im.stream is not None:
                    acc.streams.append(StreamImport(exporter, im))
                else:
                    rng = streams.stream(f"latency:{name}:{j}")
                    acc.services.append(ServiceImport(exporter, im, rng))
        self.users = {u.name: u for u in scenario.users}
        self._perms: dict[str, Permissions | None] = {}

    @property
    def global_account(self) -> Account:
        """``$G``: where clients without an account or user are."""
        return self.by_name[GLOBAL_ACCOUNT]

    def for_group(self, group: Placement | None) -> tuple[Account, Permissions | None, str | None]:
        """The account, permissions and user name of a client group's clients."""
        if group is None:
            return self.global_account, None, None
        user = getattr(group, "user", None)
        if user is not None:
            spec = self.users[user]
            if user not in self._perms:
                perms = spec.permissions
                self._perms[user] = Permissions(perms) if perms is not None else None
            return self.by_name[spec.account], self._perms[user], user
        account = getattr(group, "account", None)
        return self.by_name[account or GLOBAL_ACCOUNT], None, None
