"""`hris-sync local up` keeps its data between runs: what one stack saved on stop, the next one
started without --reset finds (table items, blobs, secrets, schedules); --reset starts clean."""

from __future__ import annotations

import json
from pathlib import Path

from infra.local.stack import LocalStack

FUNCTIONS = Path(__file__).parent / "functions"


def _put_everything(stack: LocalStack) -> None:
    assert stack.resources is not None
    stack.client("dynamodb").put_item(
        TableName=stack.resources.table_name,
        Item={"pk": {"S": "T#t1"}, "sk": {"S": "M#m1"}, "blob": {"B": b"\x00\x01"}, "n": {"N": "3"}},
    )
    stack.client("s3").put_object(
        Bucket=stack.resources.bucket_name, Key="runs/r1/page-0.json", Body=b"[1,2]"
    )
    stack.client("secretsmanager").create_secret(
        Name="hris-sync/local/t1/c1", SecretString='{"api_key": "k"}'
    )
    stack.client("scheduler").create_schedule(
        Name="sync-c1",
        GroupName=stack.resources.schedule_group,
        ScheduleExpression="rate(6 hours)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:lambda:us-east-1:123456789012:function:x",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "Input": json.dumps({"connection_id": "c1"}),
        },
    )


def test_state_survives_a_restart_and_reset_forgets_it(tmp_path: Path) -> None:
    with LocalStack(state_dir=tmp_path, functions_root=FUNCTIONS, reset=True, persist=True) as first:
        _put_everything(first)
    assert (tmp_path / "state" / "version.json").is_file()
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700

    with LocalStack(state_dir=tmp_path, functions_root=FUNCTIONS, reset=False, persist=False) as second:
        # The secret put above, and the three OAuth apps (BambooHR's, Employment Hero's and
        # Slack's fakes) the stack registers at its start; the schedule put above (the stack's own
        # renewal sweep is made with the resources, not restored).
        assert second.restored == {"items": 1, "blobs": 1, "secrets": 4, "schedules": 1}
        assert second.resources is not None
        item = second.client("dynamodb").get_item(
            TableName=second.resources.table_name, Key={"pk": {"S": "T#t1"}, "sk": {"S": "M#m1"}}
        )["Item"]
        assert item["blob"]["B"] == b"\x00\x01" and item["n"]["N"] == "3"
        body = second.client("s3").get_object(Bucket=second.resources.bucket_name, Key="runs/r1/page-0.json")[
            "Body"
        ]
        assert body.read() == b"[1,2]"
        secret = second.client("secretsmanager").get_secret_value(SecretId="hris-sync/local/t1/c1")
        assert json.loads(secret["SecretString"]) == {"api_key": "k"}
        schedule = second.client("scheduler").get_schedule(
            Name="sync-c1", GroupName=second.resources.schedule_group
        )
        assert schedule["ScheduleExpression"] == "rate(6 hours)"

    with LocalStack(state_dir=tmp_path, functions_root=FUNCTIONS, reset=True) as clean:
        assert clean.restored is None
        assert clean.resources is not None
        assert clean.client("dynamodb").scan(TableName=clean.resources.table_name)["Items"] == []
