"""Typed models of CloudTrail API calls delivered by EventBridge (and of AWS Health risk events).

CloudTrail events arrive with the called service as `source` (`aws.cloudtrail`, `aws.ec2`,
`aws.signin`, ...) and detail-type `AWS API Call via CloudTrail` (console sign-ins:
`AWS Console Sign In via CloudTrail`). `detail` is the CloudTrail record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediation.events import ACCESS_KEY_ID, ACCOUNT_ID, EVENT_ID, IAM_NAME, Envelope, InvalidEvent, Reader

API_CALL = "AWS API Call via CloudTrail"
CONSOLE_SIGN_IN = "AWS Console Sign In via CloudTrail"
EVENT_NAME = re.compile(r"^[A-Za-z0-9]{1,128}$")
ERROR_CODE = re.compile(r"^[\w.:-]{1,256}$")
TRAIL_ARN = re.compile(r"^arn:(aws[a-z-]*):cloudtrail:([a-z]{2}(-[a-z]+)+-\d):(\d{12}):trail/([\w.-]{3,128})$")
TRAIL_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{1,126}[A-Za-z0-9]$")
GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
RULE_ID = re.compile(r"^sgr-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class Actor:
    """Who made the call, from `userIdentity`."""

    type: str
    arn: str
    name: str  # IAM user name, or the role name of an assumed role
    access_key_id: str

    @staticmethod
    def parse(identity: Reader) -> Actor:
        kind = identity.str("type", required=False)
        arn = identity.str("arn", required=False)
        key = identity.str("accessKeyId", required=False)
        name = ""
        if kind == "IAMUser":
            name = identity.str("userName", pattern=IAM_NAME)
        elif kind == "AssumedRole":
            issuer = identity.obj("sessionContext", required=False).obj("sessionIssuer", required=False)
            name = issuer.str("userName", required=False, pattern=IAM_NAME)
        return Actor(type=kind, arn=arn, name=name, access_key_id=key if ACCESS_KEY_ID.fullmatch(key or "") else "")


@dataclass(frozen=True)
class ApiCall:
    """The parts of a CloudTrail record the playbooks read."""

    envelope: Envelope
    event_name: str
    event_source: str
    event_id: str
    event_time: datetime | None
    account: str
    region: str
    error_code: str
    actor: Actor
    request: Reader
    response: Reader
    detail: Reader

    @staticmethod
    def parse(event: Any, *, sources: tuple[str, ...], detail_types: tuple[str, ...] = (API_CALL,)) -> ApiCall:
        envelope, detail = Envelope.parse(event, sources=sources, detail_types=detail_types)
        account = detail.str("recipientAccountId", required=False, pattern=ACCOUNT_ID) or envelope.account
        if account != envelope.account:
            raise InvalidEvent(
                f"detail.recipientAccountId: {account} differs from the event account {envelope.account}"
            )
        return ApiCall(
            envelope=envelope,
            event_name=detail.str("eventName", pattern=EVENT_NAME),
            event_source=detail.str("eventSource"),
            event_id=detail.str("eventID", required=False, pattern=EVENT_ID) or envelope.id,
            event_time=detail.time("eventTime", required=False),
            account=account,
            region=detail.str("awsRegion", required=False) or envelope.region,
            error_code=detail.str("errorCode", required=False, pattern=ERROR_CODE),
            actor=Actor.parse(detail.obj("userIdentity", required=False)),
            request=detail.obj("requestParameters", required=False),
            response=detail.obj("responseElements", required=False),
            detail=detail,
        )


@dataclass(frozen=True)
class TrailRef:
    name: str
    region: str
    arn: str

    @staticmethod
    def parse(value: str, *, path: str, partition: str, region: str, account: str) -> TrailRef:
        """Calls name a trail by name or by ARN; the ARN's region is the trail's home region."""
        match = TRAIL_ARN.fullmatch(value)
        if match:
            return TrailRef(name=match.group(5), region=match.group(2), arn=value)
        if not TRAIL_NAME.fullmatch(value):
            raise InvalidEvent(f"{path}: {value[:80]!r} is neither a trail name nor a trail ARN")
        return TrailRef(name=value, region=region, arn=f"arn:{partition}:cloudtrail:{region}:{account}:trail/{value}")


def partition_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1].startswith("aws") else "aws"
