"""Every name, size, limit and period of the CDK stack, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

APP_NAME = "hris-sync"
STACK_ID = "HrisSync"

# The Python the Lambdas run. The tests run on the same minor version (the Makefile's
# RUNTIME_PYTHON builds the venv with it) and bundling targets it: what is tested is what is deployed.
RUNTIME = lambda_.Runtime.PYTHON_3_12
RUNTIME_PYTHON_VERSION = "3.12"
ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORM = "manylinux2014_aarch64"

# Where the project's Lambda code lives, relative to the repository root (override by context).
DEFAULT_FUNCTIONS_ROOT = "functions"
HANDLER_FILE = "handler.py"
HANDLER_ATTRIBUTE = "handler"

# Tags on every taggable resource (plus `stage`).
TAGS = {"app": APP_NAME, "managed-by": "cdk"}

# Logs: every function, the API's access log, the state machine.
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
METRICS_NAMESPACE = APP_NAME

# Storage.
BLOB_EXPIRY = Duration.days(30)  # snapshots and plan chunks: a run needs them for hours, support for weeks
ACCESS_LOG_EXPIRY = Duration.days(90)
NONCURRENT_VERSION_EXPIRY = Duration.days(7)

# Events: the `source` of every event the service publishes; the bus archive keeps them for replay.
EVENT_SOURCE = APP_NAME
ARCHIVE_RETENTION = Duration.days(90)

# Webhook queue (R24, R29): a record retried while a full sync holds the lock, then the DLQ.
WORKER_BATCH_SIZE = 10
WORKER_BATCH_WINDOW = Duration.seconds(2)
WORKER_MAX_CONCURRENCY = 5  # pollers: bounds the HR API calls made on behalf of webhooks
# A record that fails (the HR system down, throttling) comes back every visibility timeout (12 min):
# 10 receives give it about two hours before the DLQ. A running full sync never makes a record
# retry: its employees wait in the table and the sync's end applies them (R29).
WEBHOOK_MAX_RECEIVES = 10
QUEUE_RETENTION = Duration.days(4)
DLQ_RETENTION = Duration.days(14)
# AWS guidance: the visibility timeout is at least six times the consumer's timeout.
VISIBILITY_TIMEOUT_FACTOR = 6

# Full sync state machine.
SYNC_TIMEOUT = Duration.hours(12)
APPLY_MAX_CONCURRENCY = 4  # chunks applied at once: bounds DynamoDB write bursts and emails
# Errors a Lambda task may raise that are worth retrying with backoff:
LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
)
# ... and ours (class names: Lambda reports them as errorType): AWS throttling that outlived the
# adapters' retries, and an HR system that stayed unavailable past the HTTP client's budget.
STEP_TRANSIENT_ERRORS = ("Throttled", "ProviderUnavailable")


@dataclass(frozen=True)
class Backoff:
    interval: Duration
    max_attempts: int
    backoff_rate: float


LAMBDA_RETRY = Backoff(interval=Duration.seconds(2), max_attempts=6, backoff_rate=2.0)
STEP_RETRY = Backoff(interval=Duration.seconds(30), max_attempts=4, backoff_rate=2.0)
RETRY_MAX_DELAY = Duration.minutes(5)

# API.
API_THROTTLE_RATE = 50  # requests per second, whole stage
API_THROTTLE_BURST = 100
WEBHOOK_THROTTLE_RATE = 20
WEBHOOK_THROTTLE_BURST = 40
WEBHOOK_RATE_LIMIT_PER_IP = 600  # per 5 minutes (WAF rate-based rule)
ADMIN_MAX_BODY_BYTES = 64 * 1024  # the admin API's largest request (a connect with scope) is a few KB
# R34's bulk import (up to 1,000 app users, a few hundred KB) is exempt from that rule: its body is
# bounded by API Gateway's 10 MB and the route's 1,000 users (422 beyond).
ADMIN_IMPORT_PATH = "/v1/members/import"
# WAF inspects at most this much of a body; bigger bodies count as oversized.
WAF_BODY_INSPECTION_LIMIT = "KB_64"
ADMIN_GROUP = "admins"

# Alarms.
API_5XX_THRESHOLD = 5  # per 5 minutes
WEBHOOK_BACKLOG_AGE = Duration.minutes(15)  # oldest queued webhook: the worker is stuck or throttled
ALARM_PERIOD = Duration.minutes(5)

# The renewal sweep of the vendors' change subscriptions (functions/subscription_renewer): a fixed
# schedule in the schedule group. Its interval stays well under the renewal margin
# (ServiceSettings.subscription_renew_margin, 24 h), so a subscription gets several attempts
# before it lapses (Graph's on users last under 3 days, Google's channels 2).
SUBSCRIPTION_SWEEP = "rate(6 hours)"
SUBSCRIPTION_SWEEP_NAME = "subscription-renewal"
