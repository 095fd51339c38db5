"""Emails through SES v2: our templates rendered to plain text + HTML, one message per recipient
list, from a verified sender (optionally through a configuration set for bounce tracking).

SES's refusals are typed by code: the message itself (``MessageRejected``: in the sandbox an
unverified recipient or sender; ``BadRequestException``) is ``EmailRejected``; throttling (rate or
daily quota, after botocore's retries) is ``EmailThrottled``; an account or configuration set that
cannot send now is ``EmailSendingPaused``. Anything else (IAM ...) goes through ``aws_errors.typed``.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.aws_errors import error_code, is_throttling, typed
from shared.adapters.clients import aws_client
from shared.adapters.mail_templates import render
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
            kwargs: dict[str, Any] = {
                "FromEmailAddress": self._sender,
                "Destination": {"ToAddresses": recipients[start : start + MAX_RECIPIENTS]},
                "Content": {
                    "Simple": {
                        "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                        "Body": {
                            "Text": {"Data": message.text, "Charset": "UTF-8"},
                            "Html": {"Data": message.html, "Charset": "UTF-8"},
                        },
                    }
                },
                "EmailTags": [{"Name": "template", "Value": email.template.value}],
            }
            if self._configuration_set:
                kwargs["ConfigurationSetName"] = self._configuration_set
            try:
                self.client.send_email(**kwargs)
            except ClientError as error:
                raise _typed(error, email) from None


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
