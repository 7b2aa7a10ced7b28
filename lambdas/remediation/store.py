"""Where a playbook keeps what it did: evidence bucket, incident table, notification topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from remediation import clients
from remediation.settings import Settings

SUBJECT_LIMIT = 100  # SNS e-mail subjects: at most 100 printable ASCII characters


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(doc: Any) -> str:
    return json.dumps(doc, default=_json_default, sort_keys=True, indent=2)


def put_evidence(settings: Settings, incident_id: str, name: str, doc: Any) -> str:
    """Write one evidence document; the bucket is versioned, so nothing is overwritten for good."""
    key = f"incidents/{incident_id}/{name}.json"
    clients.s3().put_object(
        Bucket=settings.evidence_bucket,
        Key=key,
        Body=dumps(doc).encode(),
        ContentType="application/json",
        ServerSideEncryption="aws:kms",
    )
    return key


def put_incident(settings: Settings, item: dict[str, Any]) -> None:
    """Record (or overwrite) the incident item; nested data is stored as JSON text."""
    attributes: dict[str, Any] = {
        "pk": {"S": f"INCIDENT#{item['incident_id']}"},
        "sk": {"S": "META"},
    }
    for key, value in item.items():
        if value is None:
            continue
        if isinstance(value, str):
            attributes[key] = {"S": value or "-"}
        elif isinstance(value, bool):
            attributes[key] = {"BOOL": value}
        elif isinstance(value, int | float):
            attributes[key] = {"N": repr(value)}
        else:
            attributes[key] = {"S": json.dumps(value, default=_json_default, sort_keys=True)}
    clients.dynamodb().put_item(TableName=settings.incident_table, Item=attributes)


def get_incident(settings: Settings, incident_id: str) -> dict[str, Any] | None:
    found = clients.dynamodb().get_item(
        TableName=settings.incident_table,
        Key={"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}},
        ConsistentRead=True,
    )
    item = found.get("Item")
    if not item:
        return None
    out: dict[str, Any] = {}
    for key, value in item.items():
        if "S" in value:
            out[key] = value["S"]
        elif "N" in value:
            out[key] = float(value["N"])
        elif "BOOL" in value:
            out[key] = value["BOOL"]
    return out


def publish(settings: Settings, subject: str, message: str, attributes: dict[str, str] | None = None) -> str:
    clean = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in subject)
    if len(clean) > SUBJECT_LIMIT:
        clean = clean[: SUBJECT_LIMIT - 3] + "..."
    response = clients.sns().publish(
        TopicArn=settings.topic_arn,
        Subject=clean,
        Message=message,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()},
    )
    return str(response.get("MessageId", ""))


# --------------------------------------------------------------------------- health state
# Per-instance state of the health playbook lives in the incident table under
# pk HEALTH#<instance id>: attempt counters (sk ATTEMPTS#<kind>) and the open incident of
# each alarm (sk OPEN#<metric>). Every write is conditional, so two concurrent
# invocations cannot lose an attempt or close one incident twice.

ATTEMPT_RETRIES = 5


def _attempt_key(instance_id: str, kind: str) -> dict[str, Any]:
    return {"pk": {"S": f"HEALTH#{instance_id}"}, "sk": {"S": f"ATTEMPTS#{kind}"}}


def _recent(item: dict[str, Any] | None, window_seconds: int, at: datetime) -> tuple[list[str], int]:
    if not item:
        return [], 0
    cutoff = at.timestamp() - window_seconds
    times = [
        t
        for t in (v["S"] for v in item.get("times", {}).get("L", []))
        if datetime.fromisoformat(t).timestamp() > cutoff
    ]
    return times, int(item.get("version", {}).get("N", "0"))


def recent_attempts(
    settings: Settings, instance_id: str, kind: str, window_seconds: int, *, at: datetime | None = None
) -> int:
    """How many `kind` attempts (reboot, stop_start) on the instance fall within the window."""
    at = at or datetime.now(UTC)
    item = (
        clients.dynamodb()
        .get_item(TableName=settings.incident_table, Key=_attempt_key(instance_id, kind), ConsistentRead=True)
        .get("Item")
    )
    return len(_recent(item, window_seconds, at)[0])


def record_attempt(
    settings: Settings, instance_id: str, kind: str, window_seconds: int, *, at: datetime | None = None
) -> int:
    """Add one attempt (optimistic concurrency on a version number); return the count within the window."""
    at = at or datetime.now(UTC)
    db = clients.dynamodb()
    key = _attempt_key(instance_id, kind)
    for _ in range(ATTEMPT_RETRIES):
        item = db.get_item(TableName=settings.incident_table, Key=key, ConsistentRead=True).get("Item")
        times, version = _recent(item, window_seconds, at)
        times.append(at.isoformat())
        try:
            db.put_item(
                TableName=settings.incident_table,
                Item={
                    **key,
                    "times": {"L": [{"S": t} for t in times]},
                    "version": {"N": str(version + 1)},
                    "expires_at": {"N": str(int(at.timestamp()) + window_seconds)},
                },
                ConditionExpression="attribute_not_exists(pk) OR version = :v",
                ExpressionAttributeValues={":v": {"N": str(version)}},
            )
        except db.exceptions.ConditionalCheckFailedException:
            continue  # another invocation recorded meanwhile: re-read and retry
        return len(times)
    raise RuntimeError(f"could not record a {kind} attempt on {instance_id}: too much contention")


def open_incident(settings: Settings, instance_id: str, metric: str, incident_id: str) -> None:
    """Remember the incident an ALARM opened, so the alarm's OK can close it."""
    clients.dynamodb().put_item(
        TableName=settings.incident_table,
        Item={
            "pk": {"S": f"HEALTH#{instance_id}"},
            "sk": {"S": f"OPEN#{metric}"},
            "incident_id": {"S": incident_id},
            "open": {"BOOL": True},
            "opened_at": {"S": datetime.now(UTC).isoformat()},
        },
    )


def claim_open_incident(settings: Settings, instance_id: str, metric: str) -> str | None:
    """Mark the alarm's open incident closed and return its id; None when none is open (exactly once)."""
    db = clients.dynamodb()
    try:
        old = db.update_item(
            TableName=settings.incident_table,
            Key={"pk": {"S": f"HEALTH#{instance_id}"}, "sk": {"S": f"OPEN#{metric}"}},
            UpdateExpression="SET #open = :false, closed_at = :now",
            ConditionExpression="#open = :true",
            ExpressionAttributeNames={"#open": "open"},
            ExpressionAttributeValues={
                ":false": {"BOOL": False},
                ":true": {"BOOL": True},
                ":now": {"S": datetime.now(UTC).isoformat()},
            },
            ReturnValues="ALL_OLD",
        )
    except db.exceptions.ConditionalCheckFailedException:
        return None
    return str(old["Attributes"]["incident_id"]["S"])


def close_incident(settings: Settings, incident_id: str, status: str, note: str) -> None:
    """Set a recorded incident's status (e.g. resolved) without rewriting its steps."""
    clients.dynamodb().update_item(
        TableName=settings.incident_table,
        Key={"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET #status = :status, resolved_at = :now, resolution = :note",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": {"S": status},
            ":now": {"S": datetime.now(UTC).isoformat()},
            ":note": {"S": note or "-"},
        },
    )
