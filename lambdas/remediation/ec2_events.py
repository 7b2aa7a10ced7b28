"""Typed models of the EC2-health events: alarm state changes, AWS Health EC2 events, state changes.

Parsed strictly like `remediation.events`: a field of the wrong shape raises `InvalidEvent`
naming its path, and instance ids are checked against EC2's format before any API call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from remediation.events import PARTITION, Envelope, InvalidEvent, Reader

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
ALARM_NAME = re.compile(r"^[^\x00-\x1f]{1,255}$")
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
HEALTH_EVENT_TYPE = re.compile(r"^[A-Z0-9_]{1,128}$")
_ARN_PARTITION = re.compile(r"^arn:([a-z-]+):")


def _partition(resources: list[Any], default: str = "aws") -> str:
    for resource in resources:
        if isinstance(resource, str):
            match = _ARN_PARTITION.match(resource)
            if match and PARTITION.fullmatch(match.group(1)):
                return match.group(1)
    return default


def _alarm_time(value: str) -> datetime | None:
    """CloudWatch writes `2024-05-14T09:11:12.883+0000`; accept that and ISO-8601."""
    if not value:
        return None
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidEvent(f"detail.state.timestamp: {value[:40]!r} is not a time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AlarmStateChange:
    envelope: Envelope
    partition: str
    alarm_name: str
    state: str
    previous_state: str
    reason: str
    changed_at: datetime | None
    namespace: str
    metric_name: str
    dimensions: dict[str, str]

    @staticmethod
    def parse(event: Any) -> AlarmStateChange:
        envelope, detail = Envelope.parse(
            event, sources=("aws.cloudwatch",), detail_types=("CloudWatch Alarm State Change",)
        )
        state = detail.obj("state")
        value = state.str("value")
        if value not in ALARM_STATES:
            raise InvalidEvent(f"detail.state.value: {value[:40]!r} is not one of {', '.join(ALARM_STATES)}")
        previous = detail.obj("previousState", required=False).str("value", required=False)
        namespace, metric_name, dimensions = "", "", {}
        for i, entry in enumerate(detail.obj("configuration", required=False).list("metrics", required=False)):
            stat = Reader(entry, f"detail.configuration.metrics[{i}]").obj("metricStat", required=False)
            metric = stat.obj("metric", required=False)
            if metric.doc:
                namespace = metric.str("namespace", required=False)
                metric_name = metric.str("name", required=False)
                dims = metric.obj("dimensions", required=False).doc
                dimensions = {str(k): str(v) for k, v in dims.items() if isinstance(v, str)}
                break
        return AlarmStateChange(
            envelope=envelope,
            partition=_partition(Reader(event).list("resources", required=False)),
            alarm_name=detail.str("alarmName", pattern=ALARM_NAME),
            state=value,
            previous_state=previous,
            reason=state.str("reason", required=False)[:500],
            changed_at=_alarm_time(state.str("timestamp", required=False)),
            namespace=namespace,
            metric_name=metric_name,
            dimensions=dimensions,
        )


@dataclass(frozen=True)
class HealthEc2Event:
    envelope: Envelope
    event_arn: str
    type_code: str
    category: str
    status: str
    start_time: datetime | None
    instance_ids: tuple[str, ...]
    description: str

    @staticmethod
    def parse(event: Any) -> HealthEc2Event:
        envelope, detail = Envelope.parse(event, sources=("aws.health",), detail_types=("AWS Health Event",))
        service = detail.str("service")
        if service != "EC2":
            raise InvalidEvent(f"detail.service: {service[:40]!r} is not EC2")
        ids: list[str] = []
        for i, entity in enumerate(detail.list("affectedEntities", required=False)):
            value = Reader(entity, f"detail.affectedEntities[{i}]").str("entityValue", pattern=INSTANCE_ID)
            if value not in ids:
                ids.append(value)
        if not ids:
            for i, resource in enumerate(Reader(event).list("resources", required=False)):
                if not isinstance(resource, str) or not INSTANCE_ID.fullmatch(resource):
                    raise InvalidEvent(f"resources[{i}]: {str(resource)[:60]!r} is not an instance id")
                ids.append(resource)
        if not ids:
            raise InvalidEvent("detail.affectedEntities: names no instance")
        descriptions = detail.list("eventDescription", required=False)
        text = ""
        if descriptions:
            text = Reader(descriptions[0], "detail.eventDescription[0]").str("latestDescription", required=False)
        start = detail.str("startTime", required=False)
        try:
            start_time = parsedate_to_datetime(start) if start else None
        except (TypeError, ValueError) as exc:
            raise InvalidEvent(f"detail.startTime: {start[:40]!r} is not an RFC 1123 time") from exc
        return HealthEc2Event(
            envelope=envelope,
            event_arn=detail.str("eventArn", required=False),
            type_code=detail.str("eventTypeCode", pattern=HEALTH_EVENT_TYPE),
            category=detail.str("eventTypeCategory", required=False),
            status=detail.str("statusCode", required=False),
            start_time=start_time,
            instance_ids=tuple(ids),
            description=text[:1000],
        )


@dataclass(frozen=True)
class InstanceStateChange:
    envelope: Envelope
    partition: str
    instance_id: str
    state: str

    @staticmethod
    def parse(event: Any) -> InstanceStateChange:
        envelope, detail = Envelope.parse(
            event, sources=("aws.ec2",), detail_types=("EC2 Instance State-change Notification",)
        )
        state = detail.str("state")
        if state not in ("pending", "running", "stopping", "stopped", "shutting-down", "terminated"):
            raise InvalidEvent(f"detail.state: {state[:40]!r} is not an instance state")
        return InstanceStateChange(
            envelope=envelope,
            partition=_partition(Reader(event).list("resources", required=False)),
            instance_id=detail.str("instance-id", pattern=INSTANCE_ID),
            state=state,
        )


@dataclass(frozen=True)
class ScheduledEvent:
    envelope: Envelope

    @staticmethod
    def parse(event: Any) -> ScheduledEvent:
        envelope, _ = Envelope.parse(event, sources=("aws.events",), detail_types=("Scheduled Event",))
        return ScheduledEvent(envelope=envelope)
