"""Bookkeeping in the incident table that keeps repeats, bursts and retries safe.

Three kinds of items, all small, all with an `expires_at` TTL:

- `EVENT#<event id>` / `CLAIM`: an EventBridge delivery being (or having been) handled.
  Claimed atomically together with a check that the incident was not released by an
  operator, in ONE DynamoDB call (a transaction), the only AWS call before containment.
  A failed run deletes its claim so Lambda's retry of the same event runs again.
- `BREAKER#<account>#<window start>` / `COUNT`: destructive actions in the current window,
  incremented with a conditional `ADD` so concurrent functions never exceed the limit.
  `BREAKER_ALERT#<account>#<window start>` makes the breaker's alert go out once.
- `NOTIFY#<incident id>` / `LAST`: when the incident's last notification went out, so a
  finding that keeps repeating sends at most one update per window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from remediation import clients
from remediation.settings import Settings

CLAIM_TTL_SECONDS = 2 * 24 * 3600  # longer than EventBridge's and Lambda's retry horizons
LEASE_MARGIN_SECONDS = 30


def _epoch() -> int:
    return int(time.time())


def _failed_conditions(exc: ClientError) -> list[bool]:
    reasons = exc.response.get("CancellationReasons") or []
    return [r.get("Code") == "ConditionalCheckFailed" for r in reasons]


@dataclass(frozen=True)
class Claim:
    status: str  # new | duplicate | released | unclaimed
    detail: str = ""


def claim(settings: Settings, event_id: str, incident_id: str) -> Claim:
    """Claim one delivery of an event; tell a duplicate or a released incident apart."""
    if not event_id:
        return Claim("unclaimed", "the event has no id")
    now = _epoch()
    lease = now + int(settings.timeout_seconds) + LEASE_MARGIN_SECONDS
    try:
        clients.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": settings.incident_table,
                        "Item": {
                            "pk": {"S": f"EVENT#{event_id}"},
                            "sk": {"S": "CLAIM"},
                            "status": {"S": "in_progress"},
                            "incident_id": {"S": incident_id},
                            "lease_until": {"N": str(lease)},
                            "expires_at": {"N": str(now + CLAIM_TTL_SECONDS)},
                        },
                        # New, or an in-progress claim whose run died without cleaning up.
                        "ConditionExpression": "attribute_not_exists(pk) OR (#st = :prog AND lease_until < :now)",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":prog": {"S": "in_progress"}, ":now": {"N": str(now)}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": settings.incident_table,
                        "Key": {"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}},
                        "ConditionExpression": "attribute_not_exists(pk) OR #st <> :released",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":released": {"S": "released"}},
                    }
                },
            ]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        failed = _failed_conditions(exc)
        if failed[:1] == [True]:
            return Claim("duplicate", f"event {event_id} was already delivered")
        if failed[1:2] == [True]:
            return Claim("released", f"incident {incident_id} was released by an operator")
        raise
    return Claim("new")


def complete(settings: Settings, event_id: str) -> None:
    """The delivery was handled: later deliveries of the same event id do nothing."""
    clients.dynamodb().update_item(
        TableName=settings.incident_table,
        Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "CLAIM"}},
        UpdateExpression="SET #st = :done, completed_at = :now",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":done": {"S": "done"}, ":now": {"N": str(_epoch())}},
    )


def abandon(settings: Settings, event_id: str) -> None:
    """The delivery failed: drop the claim so Lambda's retry of this event runs again."""
    clients.dynamodb().delete_item(
        TableName=settings.incident_table, Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "CLAIM"}}
    )


def window_start(minutes: int, at: float | None = None) -> int:
    size = minutes * 60
    now = int(at if at is not None else time.time())
    return now - now % size


def take_destructive_slot(settings: Settings) -> tuple[bool, int]:
    """Count one destructive action in this window; (allowed, count after) - atomic across functions."""
    start = window_start(settings.breaker_window_minutes)
    table, limit = settings.incident_table, settings.breaker_limit
    if limit <= 0:
        return False, 0
    try:
        got = clients.dynamodb().update_item(
            TableName=table,
            Key={"pk": {"S": f"BREAKER#{settings.account}#{start}"}, "sk": {"S": "COUNT"}},
            UpdateExpression="ADD #n :one SET expires_at = :exp",
            ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
            ExpressionAttributeNames={"#n": "count"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":exp": {"N": str(start + settings.breaker_window_minutes * 60 * 2)},
            },
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False, limit
        raise
    return True, int(got["Attributes"]["count"]["N"])


def first_breaker_alert(settings: Settings) -> bool:
    """True exactly once per window: whoever trips the breaker first sends the alert."""
    start = window_start(settings.breaker_window_minutes)
    return _put_once(
        settings,
        f"BREAKER_ALERT#{settings.account}#{start}",
        "ALERT",
        expires=start + settings.breaker_window_minutes * 120,
    )


def may_notify(settings: Settings, incident_id: str) -> bool:
    """At most one notification per incident per window (repeats of an unchanged finding)."""
    now = _epoch()
    cutoff = now - settings.repeat_notify_minutes * 60
    try:
        clients.dynamodb().put_item(
            TableName=settings.incident_table,
            Item={
                "pk": {"S": f"NOTIFY#{incident_id}"},
                "sk": {"S": "LAST"},
                "sent_at": {"N": str(now)},
                "expires_at": {"N": str(now + CLAIM_TTL_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk) OR sent_at <= :cutoff",
            ExpressionAttributeValues={":cutoff": {"N": str(cutoff)}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def mark_notified(settings: Settings, incident_id: str) -> None:
    """Start the window at a notification that was sent regardless (first run, status change)."""
    now = _epoch()
    clients.dynamodb().put_item(
        TableName=settings.incident_table,
        Item={
            "pk": {"S": f"NOTIFY#{incident_id}"},
            "sk": {"S": "LAST"},
            "sent_at": {"N": str(now)},
            "expires_at": {"N": str(now + CLAIM_TTL_SECONDS)},
        },
    )


def _put_once(settings: Settings, pk: str, sk: str, *, expires: int) -> bool:
    try:
        clients.dynamodb().put_item(
            TableName=settings.incident_table,
            Item={"pk": {"S": pk}, "sk": {"S": sk}, "at": {"N": str(_epoch())}, "expires_at": {"N": str(expires)}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def clear_notified(settings: Settings, incident_id: str) -> None:
    """The notification could not be sent: let the retry send it."""
    clients.dynamodb().delete_item(
        TableName=settings.incident_table, Key={"pk": {"S": f"NOTIFY#{incident_id}"}, "sk": {"S": "LAST"}}
    )
