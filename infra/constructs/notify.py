"""Notify: SES v2 (the sender's identity and a configuration set) and the service's event bus."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_ses as ses
from constructs import Construct

from infra.config import DeployConfig
from infra.constants import APP_NAME, ARCHIVE_RETENTION, EVENT_SOURCE


class Notify(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            configuration_set_name=f"{APP_NAME}-{config.stage}",
            tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        # The sender's address is verified by the link SES mails to it (a domain identity, with
        # DKIM records, is the production choice when the team controls the domain's DNS).
        self.identity = ses.EmailIdentity(
            self,
            "Sender",
            identity=ses.Identity.email(config.ses_sender),
            configuration_set=self.configuration_set,
        )
        self.identity_arn = stack.format_arn(
            service="ses", resource="identity", resource_name=self.identity.email_identity_name
        )
        self.configuration_set_arn = stack.format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.configuration_set.configuration_set_name,
        )

        self.bus = events.EventBus(self, "Bus", event_bus_name=f"{APP_NAME}-{config.stage}")
        self.archive = self.bus.archive(
            "Archive",
            archive_name=f"{APP_NAME}-{config.stage}-events",
            description="Every event the service published, for replay after a consumer's outage",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=ARCHIVE_RETENTION,
        )
