"""ClientError codes, read once: the adapters never match on message text.

Each adapter first maps the codes that mean something for its own calls (a missing blob, an
existing schedule ...) and hands every other ``ClientError`` to ``typed``: throttling is
``Throttled``, a refused permission ``AwsAccessDenied``, anything else ``AwsServiceError``; none
of them carries AWS's message (a request could have held a value worth keeping out of logs).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from shared.errors import HrisSyncError, Throttled

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "TooManyRequests",
        "SlowDown",
        "LimitExceededException",
    }
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NoSuchKey", "NotFound", "404", "NoSuchBucket"})
# IAM (or a key policy) refused the call. Never read as "not found": S3 answers AccessDenied for a
# missing key to a caller without s3:ListBucket, which is why the blob readers are granted it.
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "403",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "KMSAccessDeniedException",
    }
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_throttling(error: ClientError) -> bool:
    return error_code(error) in THROTTLING_CODES


def is_not_found(error: ClientError) -> bool:
    return error_code(error) in NOT_FOUND_CODES


def is_access_denied(error: ClientError) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES


class AwsServiceError(HrisSyncError):
    """An AWS call failed for a reason none of our types names; carries the code, not AWS's message."""

    code = "aws_error"

    def __init__(self, operation: str, aws_code: str, subject: str) -> None:
        super().__init__(
            f"{operation} failed for {subject}: {aws_code}", operation=operation, aws_code=aws_code
        )
        self.operation = operation
        self.aws_code = aws_code


class AwsAccessDenied(AwsServiceError):
    """The function's role may not make this call: a deployment fault, answered as an internal error."""

    code = "aws_access_denied"


def typed(error: ClientError, operation: str, subject: str) -> HrisSyncError:
    """The generic mapping, after the adapter's own codes: throttled, access denied, or other."""
    if is_throttling(error):
        return Throttled(operation)
    if is_access_denied(error):
        return AwsAccessDenied(operation, error_code(error), subject)
    return AwsServiceError(operation, error_code(error), subject)
