"""The one stack: storage, notify, the functions, sync, api, observability; every resource tagged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.catalog import (
    ADMIN_API,
    API_AUTHORIZER,
    EVENT_POLLER,
    SUBSCRIPTION_RENEWER,
    SYNC_STEPS,
    SYNC_TRIGGER,
    WEBHOOK_INGEST,
    WEBHOOK_WORKER,
)
from infra.config import DeployConfig
from infra.constants import TAGS
from infra.constructs.api import Api
from infra.constructs.functions import ServiceFunctions, Wiring
from infra.constructs.notify import Notify
from infra.constructs.observability import Observability
from infra.constructs.storage import Storage
from infra.constructs.sync import Sync


class HrisSyncStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeployConfig, repo_root: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        for key, value in {**TAGS, "stage": config.stage}.items():
            Tags.of(self).add(key, value)

        storage = Storage(self, "Storage", config=config)
        notify = Notify(self, "Notify", config=config)
        functions = ServiceFunctions(self, "Functions", config=config, repo_root=repo_root)
        sync = Sync(
            self,
            "Sync",
            config=config,
            sync_steps=functions.get(SYNC_STEPS.name),
            sync_trigger=functions.get(SYNC_TRIGGER.name),
            webhook_worker=functions.get(WEBHOOK_WORKER.name),
            subscription_renewer=functions.get(SUBSCRIPTION_RENEWER.name),
            event_poller=functions.get(EVENT_POLLER.name),
        )
        api = Api(
            self,
            "Api",
            config=config,
            admin_api=functions.get(ADMIN_API.name),
            webhook_ingest=functions.get(WEBHOOK_INGEST.name),
            token_verifier=functions.get(API_AUTHORIZER.name),
        )
        functions.wire(
            Wiring(
                table=storage.table,
                idempotency_table=storage.idempotency_table,
                bucket=storage.blobs,
                webhook_queue=sync.webhook_queue,
                state_machine_arn=sync.state_machine_arn,
                state_machine_name=sync.state_machine_name,
                schedule_group_name=sync.schedule_group.schedule_group_name,
                scheduler_role=sync.scheduler_role,
                schedule_target=functions.get(SYNC_TRIGGER.name),
                schedule_dead_letters=sync.schedule_dead_letters,
                event_bus_name=notify.bus.event_bus_name,
                event_bus_arn=notify.bus.event_bus_arn,
                ses_identity_arn=notify.identity_arn,
                ses_configuration_set=notify.configuration_set.configuration_set_name,
                ses_configuration_set_arn=notify.configuration_set_arn,
                api_origin=api.origin,
                event_poller=functions.get(EVENT_POLLER.name),
            )
        )
        Observability(
            self,
            "Observability",
            config=config,
            functions=functions.functions,
            state_machine=sync.state_machine,
            rest_api=api.rest_api,
            webhook_queue=sync.webhook_queue,
            dead_letters=sync.dead_letters,
            schedule_dead_letters=sync.schedule_dead_letters,
        )

        CfnOutput(self, "TableName", value=storage.table.table_name)
        CfnOutput(self, "BucketName", value=storage.blobs.bucket_name)
        CfnOutput(self, "EventBusName", value=notify.bus.event_bus_name)
        if api.rest_api is not None:
            CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        if api.user_pool is not None:
            CfnOutput(self, "UserPoolId", value=api.user_pool.user_pool_id)
        if sync.state_machine is not None:
            CfnOutput(self, "StateMachineArn", value=sync.state_machine.state_machine_arn)
