"""Reference checks of accounts, imports/exports, users and permissions.

What nats-server refuses when it loads such a configuration
(``server/opts.go`` ``parseAccounts``, ``server/accounts.go``
``checkStreamImportAuthorized`` / ``checkServiceImportAuthorized``): an
import must name an existing account other than its own and be covered by an
export of the same kind that the importer is allowed to take; a latency
results subject must be literal and no exported service; permission subjects
must be valid.  Each problem is reported with its field path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sim.errors import SubjectError
from sim.scenario.source import Path
from sim.scenario.spec import GLOBAL_ACCOUNT, Placement, Scenario, SubjectPermission
from sim.subject_algebra import Mapping, is_subset
from sim.subjects import validate_subscribe_subject

__all__ = ["check_accounts"]

#: Account names: no whitespace or dots (they name a subject space); ``$SYS`` is the server's.
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_$-]+$")

Report = Callable[[Path, str], None]


def _subject_error(subject: str) -> str | None:
    if "\x00" in subject:
        return f"{subject!r} is not a valid subject: contains a NUL character"
    try:
        validate_subscribe_subject(subject)
    except SubjectError as exc:
        return str(exc)
    return None


def _literal_error(subject: str) -> str | None:
    why = _subject_error(subject)
    if why is None and any(t in ("*", ">") for t in subject.split(".")):
        why = f"{subject!r} must be a literal subject (no wildcards)"
    return why


def _check_exports(scenario: Scenario, name: str, error: Report) -> None:
    acc = scenario.accounts[name]
    services = [e.service for e in acc.exports if e.service is not None]
    for j, e in enumerate(acc.exports):
        loc: Path = ("accounts", name, "exports", j)
        kind = "stream" if e.stream is not None else "service"
        why = _subject_error(e.subject)
        if why is not None:
            error((*loc, kind), why)
        for k, other in enumerate(e.accounts or []):
            if other not in scenario.accounts and other != GLOBAL_ACCOUNT:
                error((*loc, "accounts", k), f"unknown account {other!r}")
        if e.latency is not None:
            why = _literal_error(e.latency.subject)
            if why is None and any(is_subset(e.latency.subject, s) for s in services):
                why = f"results subject {e.latency.subject!r} is an exported service"
            if why is not None:
                error((*loc, "latency", "subject"), why)


def _check_imports(scenario: Scenario, name: str, error: Report) -> None:
    for j, im in enumerate(scenario.accounts[name].imports):
        loc: Path = ("accounts", name, "imports", j)
        kind = "stream" if im.stream is not None else "service"
        src = im.source
        if src.account == name:
            error((*loc, kind, "account"), f"account {name!r} cannot import from itself")
            continue
        exporter = scenario.accounts.get(src.account)
        if exporter is None:
            error((*loc, kind, "account"), f"unknown account {src.account!r}")
            continue
        why = _subject_error(src.subject)
        if why is not None:
            error((*loc, kind, "subject"), why)
            continue
        covering = [
            e
            for e in exporter.exports
            if (e.stream if kind == "stream" else e.service) is not None
            and is_subset(src.subject, e.subject)
        ]
        if not covering:
            message = f"account {src.account!r} exports no {kind} covering {src.subject!r}"
            error((*loc, kind, "subject"), message)
            continue
        if all(e.accounts is not None and name not in e.accounts for e in covering):
            only = ", ".join(covering[0].accounts or [])
            message = f"account {src.account!r} exports {src.subject!r} only to {only}"
            error((*loc, kind, "account"), message)
        local = im.local
        field = "to" if im.to is not None else "prefix"
        why = _subject_error(local)
        if why is None:
            try:
                Mapping(src.subject, local)
            except SubjectError as exc:
                why = str(exc)
        if why is not None:
            error((*loc, field), why)


def _check_permission(perm: SubjectPermission | None, loc: Path, error: Report) -> None:
    if perm is None:
        return
    for key, entries in (("allow", perm.allow or []), ("deny", perm.deny)):
        for k, entry in enumerate(entries):
            why = _subject_error(entry.split(" ", 1)[0].strip())
            if why is not None:
                error((*loc, key, k), why)


def check_accounts(
    scenario: Scenario, placements: Iterable[tuple[Path, str, Placement]], error: Report
) -> None:
    """Report every problem with accounts, users and the groups that name them."""
    if (scenario.accounts or scenario.users) and getattr(scenario, "streams", None):
        message = "JetStream streams are not account-aware yet: give no accounts or users with them"
        error(("streams",), message)
    for name in scenario.accounts:
        if not _ACCOUNT_NAME.match(name) or name == "$SYS":
            message = f"account name {name!r}: letters, digits, _ - $ only, and not $SYS"
            error(("accounts", name), message)
            continue
        _check_exports(scenario, name, error)
        _check_imports(scenario, name, error)
    seen: dict[str, int] = {}
    for i, u in enumerate(scenario.users):
        if u.name in seen:
            error(("users", i, "name"), f"duplicate user {u.name!r} (also users[{seen[u.name]}])")
        seen.setdefault(u.name, i)
        if u.account != GLOBAL_ACCOUNT and u.account not in scenario.accounts:
            error(("users", i, "account"), f"unknown account {u.account!r}")
        if u.permissions is not None:
            _check_permission(u.permissions.publish, ("users", i, "permissions", "publish"), error)
            _check_permission(
                u.permissions.subscribe, ("users", i, "permissions", "subscribe"), error
            )
    for loc, _role, p in placements:
        if p.user is not None and p.user not in seen:
            error((*loc, "user"), f"unknown user {p.user!r} (users: {', '.join(seen) or 'none'})")
        if p.account not in (None, GLOBAL_ACCOUNT, *scenario.accounts):
            error((*loc, "account"), f"unknown account {p.account!r}")
