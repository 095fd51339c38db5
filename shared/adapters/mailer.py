"""Emails through SES v2: our templates rendered to plain text + HTML, one message per recipient
list, from a verified sender (optionally through a configuration set for bounce tracking).

The message is built here (``compose``: a ``multipart/alternative`` MIME message, text first, both
parts UTF-8) and sent as SendEmail's ``Raw`` content, so what SES delivers is byte for byte what the
tests parse and what the local stack's outbox writes (``Simple`` content would leave SES, or moto,
to assemble the parts). SES authorizes a raw send as ``ses:SendRawEmail``.

SES's refusals are typed by code: the message itself (``MessageRejected``: in the sandbox an
unverified recipient or sender; ``BadRequestException``) is ``EmailRejected``; throttling (rate or
daily quota, after botocore's retries) is ``EmailThrottled``; an account or configuration set that
cannot send now is ``EmailSendingPaused``. Anything else (IAM ...) goes through ``aws_errors.typed``.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.aws_errors import error_code, is_throttling, typed
from shared.adapters.clients import aws_client
from shared.adapters.mail_templates import LANG, Rendered, render
from shared.errors import (
    EmailNotSent,
    EmailRejected,
    EmailSendingPaused,
    EmailThrottled,
    HrisSyncError,
)
from shared.ports import Email

MAX_RECIPIENTS = 50  # SES v2's limit per message

# SendEmail's own errors (SES v2 API reference), by what they mean for us.
REJECTED_CODES = frozenset({"MessageRejected", "BadRequestException"})
PAUSED_CODES = frozenset(
    {
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",  # the configuration set is gone
    }
)


class SesMailer:
    """``Mailer`` on Amazon SES v2."""

    def __init__(
        self, sender: str, *, configuration_set: str | None = None, client: Any | None = None
    ) -> None:
        self._sender = sender
        self._configuration_set = configuration_set
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("sesv2")
        return self._client

    def send(self, email: Email) -> None:
        recipients = list(dict.fromkeys(a.strip() for a in email.to if a and a.strip()))
        if not recipients:
            return  # nobody to tell (a connection without admin emails)
        message = render(email.template, email.data)
        for start in range(0, len(recipients), MAX_RECIPIENTS):
            try:
                mime = compose(message, sender=self._sender, to=recipients[start : start + MAX_RECIPIENTS])
            except ValueError:  # a malformed address (SES answers BadRequestException for it)
                raise EmailRejected(email.template.value, "BadRequestException") from None
            kwargs: dict[str, Any] = {
                "FromEmailAddress": self._sender,
                # No Destination: SES takes the recipients from the message's To header.
                "Content": {"Raw": {"Data": mime.as_bytes(policy=SMTP)}},
                "EmailTags": [{"Name": "template", "Value": email.template.value}],
            }
            if self._configuration_set:
                kwargs["ConfigurationSetName"] = self._configuration_set
            try:
                self.client.send_email(**kwargs)
            except ClientError as error:
                raise _typed(error, email) from None


def compose(message: Rendered, *, sender: str, to: list[str]) -> EmailMessage:
    """The MIME message: headers, then the text part and the HTML part as alternatives."""
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = [Address(addr_spec=address) for address in to]
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mime["Content-Language"] = LANG
    mime.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in mime.iter_parts():
        del part["MIME-Version"]  # add_alternative gives the moved part its own; the message has it
    return mime


def _typed(error: ClientError, email: Email) -> HrisSyncError:
    code = error_code(error)
    kind: type[EmailNotSent] | None = None
    if is_throttling(error):
        kind = EmailThrottled
    elif code in REJECTED_CODES:
        kind = EmailRejected
    elif code in PAUSED_CODES:
        kind = EmailSendingPaused
    if kind is None:
        return typed(error, "SendEmail", f"the {email.template.value} email")
    return kind(email.template.value, code)
