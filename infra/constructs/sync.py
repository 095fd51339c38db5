"""Sync: the full-sync state machine, the schedule group, the scheduler's role and the schedules'
dead-letter queue, the fixed schedule of the subscription renewal sweep, and the webhook queue
(with its dead-letter queue) feeding the worker.

The state machine's shape is described in docs/state-machine.md. It stays inside what moto's
interpreter runs correctly, because the local stack executes this very definition: JSONPath only
(no JSONata, no `Assign`), no `ItemBatcher`, no path that indexes then takes a field.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.catalog import WEBHOOK_WORKER
from infra.config import DeployConfig
from infra.constants import (
    APP_NAME,
    APPLY_MAX_CONCURRENCY,
    DLQ_RETENTION,
    LAMBDA_RETRY,
    LAMBDA_TRANSIENT_ERRORS,
    LOG_RETENTION,
    QUEUE_RETENTION,
    RETRY_MAX_DELAY,
    STEP_RETRY,
    STEP_TRANSIENT_ERRORS,
    SUBSCRIPTION_SWEEP,
    SUBSCRIPTION_SWEEP_NAME,
    SYNC_TIMEOUT,
    VISIBILITY_TIMEOUT_FACTOR,
    WEBHOOK_MAX_RECEIVES,
    WORKER_BATCH_SIZE,
    WORKER_BATCH_WINDOW,
    WORKER_MAX_CONCURRENCY,
)
from infra.nag import acknowledge, nag_form

# The steps the sync_steps function answers (the `step` field of every task's payload).
STEPS = ("start", "fetch_page", "plan", "apply_chunk", "finish", "fail")


class Sync(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        sync_steps: lambda_.IFunction | None,
        sync_trigger: lambda_.IFunction | None,
        webhook_worker: lambda_.IFunction | None,
        subscription_renewer: lambda_.IFunction | None = None,
        event_poller: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        prefix = f"{APP_NAME}-{config.stage}"

        # --- the full-sync state machine (only with its step function deployed)
        self.state_machine_name = f"{prefix}-full-sync"
        self.state_machine: sfn.StateMachine | None = None
        if sync_steps is not None:
            self.state_machine = self._state_machine(sync_steps)

        # --- schedules: one per connection (created at run time) in this group
        self.schedule_group = scheduler.ScheduleGroup(self, "Schedules", schedule_group_name=prefix)
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            description=f"{APP_NAME}: assumed by EventBridge Scheduler to trigger full syncs",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="scheduler", resource="schedule", resource_name=f"{prefix}/*"
                        )
                    },
                },
            ),
        )
        # The targets of the schedules made at run time: each connection's full sync and, for a
        # vendor that keeps an event queue (ADP), its event poller.
        for target in (sync_trigger, event_poller):
            if target is not None:
                self.scheduler_role.add_to_principal_policy(
                    iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[target.function_arn])
                )
        # Each schedule's DeadLetterConfig (set at run time by shared/adapters/scheduler.py): an
        # invocation Scheduler could not deliver lands here, with the error in its attributes,
        # instead of being dropped; an alarm watches it (observability construct).
        self.schedule_dead_letters = sqs.Queue(
            self,
            "ScheduleDeadLetters",
            queue_name=f"{prefix}-schedules-dlq",
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        acknowledge(
            self.schedule_dead_letters,
            "AwsSolutions-SQS3",
            "It is a dead-letter queue: EventBridge Scheduler's, named in each schedule's DeadLetterConfig",
        )
        # Scheduler sends to it with the schedules' execution role.
        self.scheduler_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.schedule_dead_letters.queue_arn])
        )
        if subscription_renewer is not None:
            self._subscription_sweep(subscription_renewer)

        # --- webhooks: the queue the ingest fills and the worker drains; poison records go to the DLQ
        self.dead_letters = sqs.Queue(
            self,
            "WebhookDeadLetters",
            queue_name=f"{prefix}-webhooks-dlq",
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.webhook_queue = sqs.Queue(
            self,
            "WebhookQueue",
            queue_name=f"{prefix}-webhooks",
            retention_period=QUEUE_RETENTION,
            visibility_timeout=Duration.seconds(
                WEBHOOK_WORKER.timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR
            ),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=WEBHOOK_MAX_RECEIVES
            ),
        )
        if webhook_worker is not None:
            webhook_worker.add_event_source(
                sources.SqsEventSource(
                    self.webhook_queue,
                    batch_size=WORKER_BATCH_SIZE,
                    max_batching_window=WORKER_BATCH_WINDOW,
                    report_batch_item_failures=True,
                    max_concurrency=WORKER_MAX_CONCURRENCY,
                )
            )

    @property
    def state_machine_arn(self) -> str | None:
        return self.state_machine.state_machine_arn if self.state_machine else None

    def _subscription_sweep(self, renewer: lambda_.IFunction) -> None:
        """One fixed schedule in the group: the renewal sweep of the vendors' change subscriptions,
        every ``SUBSCRIPTION_SWEEP`` whatever each connection's own sync schedule (a weekly sync
        must not let a Graph subscription, under three days, lapse)."""
        self.scheduler_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[renewer.function_arn])
        )
        self.subscription_sweep = scheduler.CfnSchedule(
            self,
            "SubscriptionSweep",
            name=SUBSCRIPTION_SWEEP_NAME,
            group_name=self.schedule_group.schedule_group_name,
            description=f"{APP_NAME}: renews vendors' change subscriptions before they lapse",
            schedule_expression=SUBSCRIPTION_SWEEP,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=renewer.function_arn,
                role_arn=self.scheduler_role.role_arn,
                input="{}",
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=3, maximum_event_age_in_seconds=3600
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.schedule_dead_letters.queue_arn
                ),
            ),
        )
        self.subscription_sweep.node.add_dependency(self.schedule_group)

    def _state_machine(self, steps: lambda_.IFunction) -> sfn.StateMachine:
        failed = sfn.Fail(
            self, "SyncFailed", error="SyncFailed", cause="A step failed; the run records which and why"
        )
        fail = self._step(steps, "fail", "Fail")
        fail.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.fail_error")
        fail.next(failed)

        def step(name: str, label: str) -> tasks.LambdaInvoke:
            task = self._step(steps, name, label)
            task.add_catch(fail, errors=[sfn.Errors.ALL], result_path="$.error")
            return task

        start = step("start", "Start")
        fetch = step("fetch_page", "FetchPage")
        plan = step("plan", "Plan")
        finish = step("finish", "Finish")
        apply_chunk = self._step(steps, "apply_chunk", "ApplyChunk")
        apply_chunks = sfn.Map(
            self,
            "ApplyChunks",
            items_path="$.chunks",
            item_selector={
                "tenant_id.$": "$.tenant_id",
                "connection_id.$": "$.connection_id",
                "run_id.$": "$.run_id",
                "chunk.$": "$$.Map.Item.Value",
            },
            max_concurrency=APPLY_MAX_CONCURRENCY,
            result_path=sfn.JsonPath.DISCARD,
        )
        apply_chunks.item_processor(apply_chunk)
        apply_chunks.add_catch(fail, errors=[sfn.Errors.ALL], result_path="$.error")

        done = sfn.Succeed(self, "Done")
        held = sfn.Succeed(self, "Held", comment="The guard held the plan: an admin confirms or discards it")
        apply_chunks.next(finish)
        finish.next(done)
        guard = (
            sfn.Choice(self, "Guard", comment="R23: a plan over the thresholds waits for an admin")
            # The plan step already held the plan, told the admins and freed the lock (R23).
            .when(sfn.Condition.string_equals("$.verdict", "blocked"), held)
            .otherwise(apply_chunks)
        )
        plan.next(guard)
        # One turn per FetchPage task, and a task fetches many pages (a page and a time budget,
        # shared/services/full_sync.py): the history stays under Step Functions' 25,000 events
        # (docs/state-machine.md; tests/infra/test_state_machine_history.py counts them).
        more_pages = (
            sfn.Choice(self, "MorePages")
            .when(sfn.Condition.boolean_equals("$.has_more", True), fetch)
            .otherwise(plan)
        )
        fetch.next(more_pages)
        route = (
            sfn.Choice(self, "Route", comment="A confirmed held plan skips straight to applying it")
            .when(sfn.Condition.string_equals("$.phase", "apply"), apply_chunks)
            .otherwise(fetch)
        )
        start.next(route)

        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            log_group_name=f"/aws/vendedlogs/states/{self.state_machine_name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            "FullSync",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(start),
            timeout=SYNC_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=False,  # payloads name people: keep them out of the logs
            ),
            comment="hris-sync full sync: start, fetch pages, plan, guard, apply chunks, finish",
        )
        machine_role = machine.role
        acknowledge(
            machine_role,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs delivery and X-Ray actions the state machine needs have no resource-level scope",
        )
        acknowledge(
            machine_role,
            f"AwsSolutions-IAM5[Resource::{nag_form(self, steps.function_arn)}:*]",
            "Step Functions invokes the sync_steps function's versions and aliases (CDK's invoke grant)",
        )
        return machine

    def _step(self, steps: lambda_.IFunction, step: str, label: str) -> tasks.LambdaInvoke:
        """Invoke sync_steps with `{"step": <step>, "state": <the state>}`; its answer is the new state."""
        task = tasks.LambdaInvoke(
            self,
            label,
            lambda_function=steps,
            payload=sfn.TaskInput.from_object({"step": step, "state": sfn.JsonPath.entire_payload}),
            payload_response_only=True,
            retry_on_service_exceptions=False,
        )
        for errors, backoff in ((LAMBDA_TRANSIENT_ERRORS, LAMBDA_RETRY), (STEP_TRANSIENT_ERRORS, STEP_RETRY)):
            task.add_retry(
                errors=list(errors),
                interval=backoff.interval,
                max_attempts=backoff.max_attempts,
                backoff_rate=backoff.backoff_rate,
                max_delay=RETRY_MAX_DELAY,
                jitter_strategy=sfn.JitterType.FULL,
            )
        return task
