"""Typed models of the events the playbooks accept, parsed strictly.

Anything that does not have the documented shape raises `InvalidEvent` with the path of
the offending field; the handler logs it, counts it and changes nothing. Identifiers are
checked against AWS's formats before they reach an API call.
"""

from __future__ import annotations

import builtins
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ACCESS_KEY_ID = re.compile(r"^(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{12,124}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
IAM_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
PARTITION = re.compile(r"^aws(-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
EVENT_ID = re.compile(r"^[\w-]{1,128}$")
FINDING_ID = re.compile(r"^[\w-]{1,128}$")
FINDING_TYPE = re.compile(r"^[\w:/!.&-]{1,256}$")
MAX_STRING = 4096
MAX_NUMBER = 1e15


class InvalidEvent(ValueError):
    """The event does not have the shape the playbook accepts; nothing is changed."""


class Reader:
    """Navigate a JSON document by path, with type checks that name the path on failure."""

    def __init__(self, doc: Any, path: builtins.str = "") -> None:
        self.doc = doc
        self.path = path

    def _get(self, key: builtins.str, required: builtins.bool) -> Any:
        if not isinstance(self.doc, dict):
            raise InvalidEvent(f"{self.path or 'event'}: expected an object, got {type(self.doc).__name__}")
        if key not in self.doc or self.doc[key] is None:
            if required:
                raise InvalidEvent(f"{self._join(key)}: required field is missing")
            return None
        return self.doc[key]

    def _join(self, key: builtins.str) -> builtins.str:
        return f"{self.path}.{key}" if self.path else key

    def obj(self, key: builtins.str, required: builtins.bool = True) -> Reader:
        value = self._get(key, required)
        if value is None:
            return Reader({}, self._join(key))
        if not isinstance(value, dict):
            raise InvalidEvent(f"{self._join(key)}: expected an object, got {type(value).__name__}")
        return Reader(value, self._join(key))

    def str(
        self, key: builtins.str, required: builtins.bool = True, pattern: re.Pattern[builtins.str] | None = None
    ) -> builtins.str:
        value = self._get(key, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidEvent(f"{self._join(key)}: expected a string, got {type(value).__name__}")
        if len(value) > MAX_STRING:
            raise InvalidEvent(f"{self._join(key)}: string longer than {MAX_STRING} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidEvent(f"{self._join(key)}: {value[:80]!r} is not a valid value (expected {pattern.pattern})")
        return value

    def num(self, key: builtins.str, required: builtins.bool = True) -> float:
        value = self._get(key, required)
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidEvent(f"{self._join(key)}: expected a number, got {type(value).__name__}")
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise InvalidEvent(f"{self._join(key)}: {str(value)[:40]} is not a usable number")
        return float(value)

    def bool(self, key: builtins.str, required: builtins.bool = True) -> builtins.bool:
        value = self._get(key, required)
        if value is None:
            return False
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise InvalidEvent(f"{self._join(key)}: expected a boolean, got {type(value).__name__}")
        return value

    def time(self, key: builtins.str, required: builtins.bool = True) -> datetime | None:
        value = self.str(key, required)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidEvent(f"{self._join(key)}: {value[:40]!r} is not an ISO-8601 time") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def list(self, key: builtins.str, required: builtins.bool = True) -> builtins.list[Any]:
        value = self._get(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidEvent(f"{self._join(key)}: expected a list, got {type(value).__name__}")
        return value


@dataclass(frozen=True)
class Envelope:
    """The EventBridge envelope shared by every event."""

    id: str
    source: str
    detail_type: str
    account: str
    region: str
    time: datetime

    @staticmethod
    def parse(event: Any, *, sources: tuple[str, ...], detail_types: tuple[str, ...]) -> tuple[Envelope, Reader]:
        root = Reader(event)
        source = root.str("source")
        if source not in sources:
            raise InvalidEvent(f"source: {source[:60]!r} is not accepted here (expected {', '.join(sources)})")
        detail_type = root.str("detail-type")
        if detail_type not in detail_types:
            raise InvalidEvent(
                f"detail-type: {detail_type[:60]!r} is not accepted (expected {', '.join(detail_types)})"
            )
        env = Envelope(
            id=root.str("id", pattern=EVENT_ID),
            source=source,
            detail_type=detail_type,
            account=root.str("account", pattern=ACCOUNT_ID),
            region=root.str("region", pattern=REGION),
            time=root.time("time") or datetime.now(UTC),
        )
        return env, root.obj("detail")


@dataclass(frozen=True)
class GuardDutyFinding:
    """The parts of a GuardDuty finding every playbook reads."""

    envelope: Envelope
    id: str
    arn: str
    type: str
    severity: float
    title: str
    partition: str
    account: str
    region: str
    resource_type: str
    resource_role: str
    sample: bool
    archived: bool
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    detail: Reader

    @staticmethod
    def parse(event: Any) -> GuardDutyFinding:
        envelope, detail = Envelope.parse(event, sources=("aws.guardduty",), detail_types=("GuardDuty Finding",))
        service = detail.obj("service")
        info = service.obj("additionalInfo", required=False)
        resource = detail.obj("resource")
        account = detail.str("accountId", pattern=ACCOUNT_ID)
        if account != envelope.account:
            raise InvalidEvent(f"detail.accountId: {account} differs from the event account {envelope.account}")
        return GuardDutyFinding(
            envelope=envelope,
            id=detail.str("id", pattern=FINDING_ID),
            arn=detail.str("arn", required=False),
            type=detail.str("type", pattern=FINDING_TYPE),
            severity=_severity(detail.num("severity")),
            title=detail.str("title", required=False),
            partition=detail.str("partition", required=False, pattern=PARTITION) or "aws",
            account=account,
            region=detail.str("region", pattern=REGION),
            resource_type=resource.str("resourceType"),
            resource_role=service.str("resourceRole", required=False).upper(),
            sample=info.bool("sample", required=False),
            archived=service.bool("archived", required=False),
            count=int(service.num("count", required=False) or 1),
            first_seen=service.time("eventFirstSeen", required=False),
            last_seen=service.time("eventLastSeen", required=False),
            detail=detail,
        )


@dataclass(frozen=True)
class AccessKeyDetails:
    access_key_id: str
    principal_id: str
    user_name: str
    user_type: str

    @staticmethod
    def parse(finding: GuardDutyFinding) -> AccessKeyDetails:
        if finding.resource_type != "AccessKey":
            raise InvalidEvent(f"detail.resource.resourceType: {finding.resource_type!r} is not AccessKey")
        details = finding.detail.obj("resource").obj("accessKeyDetails")
        user_type = details.str("userType")
        if user_type not in ("IAMUser", "AssumedRole", "Root", "FederatedUser", "Role"):
            raise InvalidEvent(f"detail.resource.accessKeyDetails.userType: {user_type[:40]!r} is not a known type")
        key_id = details.str("accessKeyId", required=user_type == "IAMUser")
        if key_id and not ACCESS_KEY_ID.fullmatch(key_id):
            raise InvalidEvent(f"detail.resource.accessKeyDetails.accessKeyId: {key_id[:40]!r} is not an access key id")
        return AccessKeyDetails(
            access_key_id=key_id,
            principal_id=details.str("principalId", required=False),
            user_name=details.str("userName", pattern=IAM_NAME),
            user_type=user_type,
        )


def _severity(value: float) -> float:
    if not 0 <= value <= 10:
        raise InvalidEvent(f"detail.severity: {value:g} is outside GuardDuty's 0-10 range")
    return value


def now() -> datetime:
    return datetime.now(UTC)
