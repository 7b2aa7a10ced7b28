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
