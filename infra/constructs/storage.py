"""Storage: the one DynamoDB table (from the shared definition) and the bucket for snapshots and plans."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import DeployConfig
from infra.constants import ACCESS_LOG_EXPIRY, APP_NAME, BLOB_EXPIRY, NONCURRENT_VERSION_EXPIRY
from infra.nag import acknowledge
from shared.adapters.table_schema import IDEMPOTENCY_TABLE, TABLE, KeyAttribute, TableSchema

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}
_STREAMS = {
    "NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE,
    "OLD_IMAGE": dynamodb.StreamViewType.OLD_IMAGE,
    "NEW_AND_OLD_IMAGES": dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    "KEYS_ONLY": dynamodb.StreamViewType.KEYS_ONLY,
}


def _attribute(key: KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


class Storage(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeployConfig, schema: TableSchema = TABLE
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.removal == "retain" else RemovalPolicy.DESTROY
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=f"{APP_NAME}-{config.stage}",
            partition_key=_attribute(schema.partition_key),
            sort_key=_attribute(schema.sort_key),
            billing_mode=(
                dynamodb.BillingMode.PAY_PER_REQUEST
                if schema.billing_mode == "PAY_PER_REQUEST"
                else dynamodb.BillingMode.PROVISIONED
            ),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=schema.point_in_time_recovery
            ),
            deletion_protection=schema.deletion_protection,
            time_to_live_attribute=schema.ttl_attribute,
            stream=_STREAMS[schema.stream_view_type] if schema.stream_view_type else None,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal,
        )
        for gsi in schema.global_indexes:
            self.table.add_global_secondary_index(
                index_name=gsi.name,
                partition_key=_attribute(gsi.partition_key),
                sort_key=_attribute(gsi.sort_key),
                projection_type=_PROJECTIONS[gsi.projection],
                non_key_attributes=list(gsi.non_key_attributes) or None,
            )

        # Powertools Idempotency records of the webhook worker (their own table: see table_schema).
        self.idempotency_table = dynamodb.Table(
            self,
            "IdempotencyTable",
            table_name=f"{APP_NAME}-{config.stage}-idempotency",
            partition_key=_attribute(IDEMPOTENCY_TABLE.key),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=IDEMPOTENCY_TABLE.ttl_attribute,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=IDEMPOTENCY_TABLE.point_in_time_recovery
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,
        )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire", expiration=ACCESS_LOG_EXPIRY)],
            removal_policy=removal,
            auto_delete_objects=False,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This bucket is the destination of the blob bucket's server access logs; logging it would loop",
        )
        self.blobs = s3.Bucket(
            self,
            "Blobs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="blobs/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-runs",
                    expiration=BLOB_EXPIRY,
                    noncurrent_version_expiration=NONCURRENT_VERSION_EXPIRY,
                    abort_incomplete_multipart_upload_after=NONCURRENT_VERSION_EXPIRY,
                )
            ],
            removal_policy=removal,
        )
