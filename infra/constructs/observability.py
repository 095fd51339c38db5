"""Observability: alarms (webhook and schedule DLQ depth, failed and timed-out syncs, API 5xx,
throttles, errors, emails SES refused) sent to an encrypted SNS topic the operators subscribe to,
and one dashboard."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.catalog import FUNCTIONS, Access
from infra.config import DeployConfig
from infra.constants import ALARM_PERIOD, API_5XX_THRESHOLD, APP_NAME, METRICS_NAMESPACE, WEBHOOK_BACKLOG_AGE
from shared.observability import EMAILS_NOT_SENT


def emails_not_sent(function_names: list[str]) -> cw.MathExpression | None:
    """``EmailsNotSent`` summed over the functions that send email (each counts it under its own
    Powertools ``service`` dimension); None when none of them is deployed."""
    senders = [spec for spec in FUNCTIONS if Access.MAIL_SEND in spec.access and spec.name in function_names]
    if not senders:
        return None
    metrics = {
        f"m{index}": cw.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=EMAILS_NOT_SENT,
            dimensions_map={"service": spec.service_name},
            statistic="Sum",
            period=ALARM_PERIOD,
        )
        for index, spec in enumerate(senders)
    }
    return cw.MathExpression(
        expression=f"SUM([{', '.join(metrics)}])",
        using_metrics=dict(metrics),
        label="Emails SES did not take",
        period=ALARM_PERIOD,
    )


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        functions: dict[str, lambda_.Function],
        state_machine: sfn.StateMachine | None,
        rest_api: apigw.RestApi | None,
        webhook_queue: sqs.IQueue,
        dead_letters: sqs.IQueue,
        schedule_dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = f"{APP_NAME}-{config.stage}"
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{prefix}: encrypts the alarm topic (CloudWatch may use it)",
            enable_key_rotation=True,
        )
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(
            self, "Alarms", topic_name=f"{prefix}-alarms", master_key=key, enforce_ssl=True
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(config.admin_email))
        self.alarms: list[cw.Alarm] = []

        def alarm(name: str, metric: cw.IMetric, threshold: float, description: str) -> None:
            created = cw.Alarm(
                self,
                name,
                alarm_name=f"{prefix}-{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(actions.SnsAction(self.topic))
            created.add_ok_action(actions.SnsAction(self.topic))
            self.alarms.append(created)

        alarm(
            "webhook-dlq-depth",
            dead_letters.metric_approximate_number_of_messages_visible(
                period=ALARM_PERIOD, statistic="Maximum"
            ),
            1,
            "Webhook records failed every retry and wait in the dead-letter queue: inspect, fix, redrive",
        )
        alarm(
            "schedule-dlq-depth",
            schedule_dead_letters.metric_approximate_number_of_messages_visible(
                period=ALARM_PERIOD, statistic="Maximum"
            ),
            1,
            "EventBridge Scheduler could not start a scheduled sync (the message's attributes say why): "
            "fix the cause, then sync the connection now",
        )
        alarm(
            "webhook-backlog-age",
            webhook_queue.metric_approximate_age_of_oldest_message(period=ALARM_PERIOD, statistic="Maximum"),
            WEBHOOK_BACKLOG_AGE.to_seconds(),
            "Webhooks wait in the queue: the worker is failing, throttled or held back by a long full sync",
        )
        if state_machine is not None:
            alarm(
                "sync-failed",
                state_machine.metric_failed(period=ALARM_PERIOD, statistic="Sum"),
                1,
                "A full sync failed: the run's record says which step and why",
            )
            alarm(
                "sync-timed-out",
                state_machine.metric_timed_out(period=ALARM_PERIOD, statistic="Sum"),
                1,
                "A full sync ran past its time limit",
            )
            alarm(
                "sync-throttled",
                state_machine.metric_throttled(period=ALARM_PERIOD, statistic="Sum"),
                1,
                "Step Functions throttled the full-sync state machine",
            )
        refused = emails_not_sent(sorted(functions))
        if refused is not None:
            alarm(
                "emails-not-sent",
                refused,
                1,
                "SES refused or throttled emails (sandbox, unverified recipient, quota, sending paused): "
                "the syncs went on; each run's emails_not_sent names the template and SES's answer",
            )
        if rest_api is not None:
            alarm(
                "api-5xx",
                rest_api.metric_server_error(period=ALARM_PERIOD, statistic="Sum"),
                API_5XX_THRESHOLD,
                "The API answered 5xx: see the functions' logs by request id",
            )
        for name, function in sorted(functions.items()):
            alarm(
                f"{name}-throttles",
                function.metric_throttles(period=ALARM_PERIOD, statistic="Sum"),
                1,
                f"Lambda throttled {name} (reserved concurrency or the account's limit)",
            )
            alarm(
                f"{name}-errors",
                function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
                1,
                f"{name} raised errors: see its log group",
            )

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=prefix)
        self.dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24))
        if rest_api is not None:
            self.dashboard.add_widgets(
                cw.GraphWidget(
                    title="API requests and errors",
                    left=[
                        rest_api.metric_count(),
                        rest_api.metric_client_error(),
                        rest_api.metric_server_error(),
                    ],
                    width=12,
                ),
                cw.GraphWidget(
                    title="API latency (p90)", left=[rest_api.metric_latency(statistic="p90")], width=12
                ),
            )
        if state_machine is not None:
            self.dashboard.add_widgets(
                cw.GraphWidget(
                    title="Full syncs",
                    left=[
                        state_machine.metric_started(),
                        state_machine.metric_succeeded(),
                        state_machine.metric_failed(),
                        state_machine.metric_timed_out(),
                    ],
                    width=12,
                ),
                cw.GraphWidget(title="Full sync duration", left=[state_machine.metric_time()], width=12),
            )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Webhook queue and dead-letter queues",
                left=[
                    webhook_queue.metric_approximate_number_of_messages_visible(),
                    dead_letters.metric_approximate_number_of_messages_visible(),
                    schedule_dead_letters.metric_approximate_number_of_messages_visible(),
                ],
                right=[webhook_queue.metric_approximate_age_of_oldest_message()],
                width=24,
            )
        )
        for name, function in sorted(functions.items()):
            self.dashboard.add_widgets(
                cw.GraphWidget(
                    title=name,
                    left=[
                        function.metric_invocations(),
                        function.metric_errors(),
                        function.metric_throttles(),
                    ],
                    right=[function.metric_duration(statistic="p90")],
                    width=24,
                    period=Duration.minutes(5),
                )
            )
