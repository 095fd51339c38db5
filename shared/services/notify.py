"""Emails sent on the side of other work: SES refusing one never fails that work.

``send_all`` hands each email to the mailer and returns the ones SES did not take instead of
raising: the caller records them where an admin sees them (a run's ``emails_not_sent`` and
warnings), each is logged (template and SES's code, never an address) and counted in the
``EmailsNotSent`` metric (alarmed in ``infra/constructs/observability.py``). After a refusal that
every later email would get too (throttled, sending paused) the rest are not tried: they count as
not sent for the same reason. ``merge`` folds refusals into a run's record, one entry per
template and answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared import observability
from shared.domain.models import Connection
from shared.domain.records import MAX_UNSENT_MEMBER_IDS, UnsentEmails
from shared.errors import EmailNotSent
from shared.ports import Email
from shared.providers.registry import display_name
from shared.services.context import WithMailer

# The HR system's name in emails ("BambooHR", not the provider id).
provider_name = display_name


def recipients(connection: Connection) -> tuple[str, ...]:
    """Who gets a connection's emails (import finished, sync blocked, connection failing, webhook
    guard): the admin who connected it, then ``admin_emails``; each address once (compared
    case-insensitively, the first spelling kept)."""
    seen: dict[str, str] = {}
    for address in (connection.connected_by_email, *connection.admin_emails):
        if address:
            seen.setdefault(address.casefold(), address)
    return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class Unsent:
    """One email SES did not take, and why."""

    email: Email
    error: EmailNotSent


def send_all(ports: WithMailer, emails: Sequence[Email]) -> list[Unsent]:
    """Send each email; return those SES did not take (nothing raised for them)."""
    unsent: list[Unsent] = []
    stopped: EmailNotSent | None = None
    for email in emails:
        if not email.to:
            continue
        if stopped is not None:
            unsent.append(Unsent(email, stopped))
            continue
        try:
            ports.mailer.send(email)
        except EmailNotSent as refused:
            unsent.append(Unsent(email, refused))
            if refused.stops_sending:
                stopped = refused
    for item in unsent:
        observability.logger.warning(
            "email not sent",
            extra={
                "template": item.email.template.value,
                "reason": item.error.code,
                "aws_code": item.error.aws_code,
            },
        )
    observability.count(observability.EMAILS_NOT_SENT, len(unsent))
    return unsent


def send(ports: WithMailer, email: Email) -> Unsent | None:
    """One email; the refusal when SES did not take it."""
    unsent = send_all(ports, [email])
    return unsent[0] if unsent else None


def merge(recorded: Iterable[UnsentEmails], unsent: Iterable[Unsent]) -> tuple[UnsentEmails, ...]:
    """``recorded`` plus ``unsent``, one entry per (template, reason, SES code), counts summed."""
    merged: dict[tuple[str, str, str], UnsentEmails] = {
        (r.template, r.reason, r.aws_code): r for r in recorded
    }
    for item in unsent:
        key = (item.email.template.value, item.error.code, item.error.aws_code)
        member_id = item.email.data.get("member_id")
        ids = () if member_id is None else (str(member_id),)
        current = merged.get(key)
        if current is None:
            merged[key] = UnsentEmails(
                template=key[0], reason=key[1], aws_code=key[2], count=1, member_ids=ids
            )
            continue
        known = current.member_ids
        if ids and ids[0] not in known and len(known) < MAX_UNSENT_MEMBER_IDS:
            known = (*known, *ids)
        merged[key] = current.model_copy(update={"count": current.count + 1, "member_ids": known})
    return tuple(merged.values())
