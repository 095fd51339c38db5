"""The five emails, as plain text and HTML, rendered by us (no SES stored templates to deploy).

Variables come from ``Email.data``. Each template names the variables it needs; a missing one is an
``InvalidInput`` (never an email with a blank where a number should be). Values are HTML-escaped in
the HTML part. Optional variables fall back to the text shown in ``OPTIONAL``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template

from shared.errors import InvalidInput
from shared.ports import MailTemplate


@dataclass(frozen=True, slots=True)
class MailText:
    subject: str
    text: str
    html: str
    required: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


OPTIONAL: Mapping[str, str] = {
    "app_name": "the app",
    "provider": "your HR system",
    "first_name": "",
    "created": "0",
    "updated": "0",
    "deactivated": "0",
    "skipped": "0",
    "invite_url": "",
    "review_url": "",
    "expires_at": "",
    "run_id": "",
}

_FOOTER_TEXT = "\n--\nSent by hris-sync for $app_name.\n"
_FOOTER_HTML = '<p style="color:#666;font-size:12px">Sent by hris-sync for $app_name.</p>'

TEMPLATES: Mapping[MailTemplate, MailText] = {
    MailTemplate.IMPORT_COMPLETE: MailText(
        subject="Import from $provider finished: $connection_label",
        text=(
            "The first import of $connection_label from $provider has finished.\n\n"
            "Created: $created\nUpdated: $updated\nDeactivated: $deactivated\nSkipped: $skipped\n"
            "Run: $run_id\n" + _FOOTER_TEXT
        ),
        html=(
            "<p>The first import of <b>$connection_label</b> from $provider has finished.</p>"
            "<ul><li>Created: $created</li><li>Updated: $updated</li><li>Deactivated: $deactivated</li>"
            "<li>Skipped: $skipped</li></ul><p>Run: $run_id</p>" + _FOOTER_HTML
        ),
        required=("connection_label",),
    ),
    MailTemplate.SYNC_BLOCKED: MailText(
        subject="Sync of $connection_label is waiting for you: $deactivations deactivations",
        text=(
            "A sync of $connection_label would deactivate $deactivations of $active_members active "
            "members ($pct%), more than the safety thresholds allow. Nothing was changed.\n\n"
            "Review the plan and confirm or discard it: $review_url\nRun: $run_id\n" + _FOOTER_TEXT
        ),
        html=(
            "<p>A sync of <b>$connection_label</b> would deactivate <b>$deactivations</b> of "
            "$active_members active members ($pct%), more than the safety thresholds allow. "
            "Nothing was changed.</p><p>Review the plan and confirm or discard it: "
            '<a href="$review_url">$review_url</a></p><p>Run: $run_id</p>' + _FOOTER_HTML
        ),
        required=("connection_label", "deactivations", "active_members", "pct"),
    ),
    MailTemplate.WEBHOOK_GUARD: MailText(
        subject="Webhook deactivations from $connection_label are waiting for you",
        text=(
            "Webhooks from $provider deactivated $deactivations of $active_members active members of "
            "$connection_label within $window_minutes minutes, and more would pass the safety "
            "thresholds ($max_deactivations members and $max_deactivation_pct%). Further "
            "deactivations from webhooks are held, not applied; hires and updates go on.\n\n"
            "Review the held deactivations and confirm or discard them: $review_url\nRun: $run_id\n"
            + _FOOTER_TEXT
        ),
        html=(
            "<p>Webhooks from $provider deactivated <b>$deactivations</b> of $active_members active "
            "members of <b>$connection_label</b> within $window_minutes minutes, and more would pass "
            "the safety thresholds ($max_deactivations members and $max_deactivation_pct%). Further "
            "deactivations from webhooks are held, not applied; hires and updates go on.</p>"
            "<p>Review the held deactivations and confirm or discard them: "
            '<a href="$review_url">$review_url</a></p><p>Run: $run_id</p>' + _FOOTER_HTML
        ),
        required=(
            "connection_label",
            "deactivations",
            "active_members",
            "window_minutes",
            "max_deactivations",
            "max_deactivation_pct",
        ),
    ),
    MailTemplate.CONNECTION_FAILING: MailText(
        subject="Connection $connection_label is failing",
        text=(
            "hris-sync cannot sync $connection_label from $provider: $reason\n\n"
            "No member was deactivated. Check the connection's credentials and settings.\n" + _FOOTER_TEXT
        ),
        html=(
            "<p>hris-sync cannot sync <b>$connection_label</b> from $provider: $reason</p>"
            "<p>No member was deactivated. Check the connection's credentials and settings.</p>"
            + _FOOTER_HTML
        ),
        required=("connection_label", "reason"),
    ),
    MailTemplate.MEMBER_INVITE: MailText(
        subject="You're invited to $app_name",
        text=(
            "Hello $first_name,\n\nYou have been invited to join $app_name.\n"
            "Accept the invitation: $invite_url\nThe invitation expires on $expires_at.\n" + _FOOTER_TEXT
        ),
        html=(
            "<p>Hello $first_name,</p><p>You have been invited to join <b>$app_name</b>.</p>"
            '<p><a href="$invite_url">Accept the invitation</a></p>'
            "<p>The invitation expires on $expires_at.</p>" + _FOOTER_HTML
        ),
        required=(),
    ),
}


def render(template: MailTemplate, data: Mapping[str, str | int | None]) -> Rendered:
    spec = TEMPLATES[template]
    missing = [name for name in spec.required if data.get(name) in (None, "")]
    if missing:
        raise InvalidInput(f"email {template.value} needs {', '.join(missing)}", template=template.value)
    values = {k: str(v) for k, v in OPTIONAL.items()}
    values.update({k: str(v) for k, v in data.items() if v is not None})
    escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
    try:
        return Rendered(
            subject=" ".join(Template(spec.subject).substitute(values).split())[:200],
            text=Template(spec.text).substitute(values),
            html=Template(spec.html).substitute(escaped),
        )
    except KeyError as error:  # a variable the template uses that is neither given nor optional
        raise InvalidInput(f"email {template.value} needs {error.args[0]}", template=template.value) from None
