"""ClientError codes, read once: the adapters never match on message text."""

from __future__ import annotations

from botocore.exceptions import ClientError

from shared.errors import HrisSyncError

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


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_throttling(error: ClientError) -> bool:
    return error_code(error) in THROTTLING_CODES


def is_not_found(error: ClientError) -> bool:
    return error_code(error) in NOT_FOUND_CODES


class AwsServiceError(HrisSyncError):
    """An AWS call failed for a reason none of our types names; carries the code, not AWS's message."""

    code = "aws_error"

    def __init__(self, operation: str, aws_code: str, subject: str) -> None:
        super().__init__(
            f"{operation} failed for {subject}: {aws_code}", operation=operation, aws_code=aws_code
        )
        self.operation = operation
        self.aws_code = aws_code
