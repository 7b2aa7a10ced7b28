"""Seed a trail-tampering CloudTrail event: the trail and its bucket, its recorded configuration, then the call.

The trail is created the way a security team has it (multi-region, log file validation,
logging), the stack's scheduled recorder is invoked so the configuration is on record, and
finally the tampering the event describes is applied (unless the event records a failed call),
so that the replay starts from the state the event reports.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

REGION = "us-east-1"
ACCOUNT = "123456789012"
TRAIL = "management-trail"
BUCKET = f"{TRAIL}-logs-{ACCOUNT}"


def create_trail(name: str = TRAIL, *, logging: bool = True) -> str:
    s3: Any = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    cloudtrail: Any = boto3.client("cloudtrail", region_name=REGION)
    arn = cloudtrail.create_trail(
        Name=name,
        S3BucketName=BUCKET,
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
        IncludeGlobalServiceEvents=True,
        TagsList=[{"Key": "owner", "Value": "security"}],
    )["TrailARN"]
    if logging:
        cloudtrail.start_logging(Name=arn)
    return str(arn)


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/TrailConfigRecorder"],
        "detail": {},
    }


def record(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the stack's scheduled trail recorder once, as EventBridge's schedule would."""
    import gameday

    sim = gameday.simulation(overrides)
    function = next(fid for fid in sim.functions if fid.startswith("TrailFunction"))
    return dict(sim.invoke(function, scheduled_event(), rule="TrailConfigRecorder"))


def tamper(event: dict[str, Any]) -> None:
    """Apply the call the event records (what the attacker did)."""
    detail = event["detail"]
    if detail.get("errorCode"):
        return
    cloudtrail: Any = boto3.client("cloudtrail", region_name=REGION)
    request = detail.get("requestParameters") or {}
    name = str(request.get("name") or request.get("trailName", "")).rsplit("/", 1)[-1]
    call = detail["eventName"]
    if call == "StopLogging":
        cloudtrail.stop_logging(Name=name)
    elif call == "DeleteTrail":
        cloudtrail.delete_trail(Name=name)
    elif call == "UpdateTrail":
        fields = {
            "isMultiRegionTrail": "IsMultiRegionTrail",
            "enableLogFileValidation": "EnableLogFileValidation",
            "includeGlobalServiceEvents": "IncludeGlobalServiceEvents",
            "s3BucketName": "S3BucketName",
        }
        cloudtrail.update_trail(Name=name, **{fields[k]: v for k, v in request.items() if k in fields})
    elif call == "PutEventSelectors":
        selectors = [
            {"ReadWriteType": s["readWriteType"], "IncludeManagementEvents": s["includeManagementEvents"]}
            for s in request["eventSelectors"]
        ]
        cloudtrail.put_event_selectors(TrailName=name, EventSelectors=selectors)


def seed(event: dict[str, Any]) -> dict[str, Any]:
    """Trail + bucket, the recorded configuration, then the tampering; the event needs no id rewriting."""
    create_trail()
    record()
    tamper(event)
    return event
