"""Emails through SES v2: our templates rendered to plain text + HTML, one message per recipient
list, from a verified sender (optionally through a configuration set for bounce tracking)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from shared.adapters.aws_errors import error_code, is_throttling
from shared.adapters.mail_templates import render
from shared.errors import InvalidInput, Throttled
from shared.ports import Email

MAX_RECIPIENTS = 50  # SES v2's limit per message


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
            self._client = boto3.client("sesv2")
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
                if is_throttling(error):
                    raise Throttled("SendEmail") from None
                if error_code(error) in ("BadRequestException", "MessageRejected"):
                    raise InvalidInput(
                        f"SES refused the {email.template.value} email: {error_code(error)}"
                    ) from None
                raise
