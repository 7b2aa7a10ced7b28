"""CloudTrail actions of the audit-trail tampering playbook.

A scheduled run records each protected trail's configuration in the incident table
(pk `TRAIL#<name>`, sk `CONFIG`); `DeleteTrail` recreates the trail from that record and
`UpdateTrail` / `PutEventSelectors` that weaken it restore it. A record is never replaced
by a weaker configuration, so a tampered trail cannot become the new baseline.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from remediation import clients, store
from remediation.actions.base import ActionFailed, NotApplicable, Outcome, Permission, action
from remediation.events import now

if TYPE_CHECKING:
    from remediation.engine import Run
    from remediation.settings import Settings

TRAILS = ("arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*",)
# CloudTrail's documented default when a trail has no custom selectors.
DEFAULT_SELECTORS = [
    {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [], "ExcludeManagementEventSources": []}
]
READ_WRITE_SCOPE = {"All": 2, "WriteOnly": 1, "ReadOnly": 1}


def cloudtrail(region: str) -> Any:
    return clients.client("cloudtrail", region)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --------------------------------------------------------------------------- the record


def read_config(name: str, region: str) -> dict[str, Any] | None:
    """The trail's configuration as CloudTrail reports it now, or None if it does not exist."""
    client = cloudtrail(region)
    trails = client.describe_trails(trailNameList=[name], includeShadowTrails=False)["trailList"]
    if not trails:
        return None
    trail = trails[0]
    selectors = client.get_event_selectors(TrailName=trail["TrailARN"])
    insights: list[Any] = []
    if trail.get("HasInsightSelectors"):
        insights = client.get_insight_selectors(TrailName=trail["TrailARN"]).get("InsightSelectors", [])
    tags = client.list_tags(ResourceIdList=[trail["TrailARN"]]).get("ResourceTagList", [])
    return {
        "trail": trail,
        "event_selectors": selectors.get("EventSelectors") or [],
        "advanced_event_selectors": selectors.get("AdvancedEventSelectors") or [],
        "insight_selectors": insights,
        "tags": tags[0].get("TagsList", []) if tags else [],
        "logging": bool(client.get_trail_status(Name=trail["TrailARN"]).get("IsLogging")),
    }


def _key(name: str) -> dict[str, Any]:
    return {"pk": {"S": f"TRAIL#{name}"}, "sk": {"S": "CONFIG"}}


def recorded(settings: Settings, name: str) -> dict[str, Any] | None:
    item = clients.dynamodb().get_item(TableName=settings.incident_table, Key=_key(name), ConsistentRead=True)
    found = item.get("Item")
    return json.loads(found["config"]["S"]) if found else None


def save(settings: Settings, name: str, config: dict[str, Any]) -> None:
    clients.dynamodb().put_item(
        TableName=settings.incident_table,
        Item={**_key(name), "config": {"S": store.dumps(config)}, "recorded_at": {"S": now().isoformat()}},
    )


def selectors(config: dict[str, Any]) -> list[dict[str, Any]]:
    return list(config.get("event_selectors") or ([] if config.get("advanced_event_selectors") else DEFAULT_SELECTORS))


def weakened(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How `current` logs less than `baseline` (empty: not weaker)."""
    was, now_ = baseline["trail"], current["trail"]
    reasons = []
    for field, label in (
        ("IsMultiRegionTrail", "multi-region"),
        ("LogFileValidationEnabled", "log file validation"),
        ("IncludeGlobalServiceEvents", "global service events"),
    ):
        if was.get(field) and not now_.get(field):
            reasons.append(f"{label} turned off")
    for field in ("S3BucketName", "S3KeyPrefix", "KmsKeyId"):
        if was.get(field) and was.get(field) != now_.get(field):
            reasons.append(f"{field} changed from {was.get(field)} to {now_.get(field)}")
    old, new = selectors(baseline), selectors(current)
    if any(s.get("IncludeManagementEvents") for s in old) and not any(s.get("IncludeManagementEvents") for s in new):
        reasons.append("management events turned off")
    scope = max((READ_WRITE_SCOPE.get(s.get("ReadWriteType", "All"), 2) for s in old), default=0)
    if new and max(READ_WRITE_SCOPE.get(s.get("ReadWriteType", "All"), 2) for s in new) < scope:
        reasons.append("read/write scope narrowed")
    old_data = {json.dumps(d, sort_keys=True) for s in old for d in s.get("DataResources", [])}
    new_data = {json.dumps(d, sort_keys=True) for s in new for d in s.get("DataResources", [])}
    if old_data - new_data:
        reasons.append("data event selectors removed")
    if baseline.get("advanced_event_selectors") and current.get("advanced_event_selectors") != baseline.get(
        "advanced_event_selectors"
    ):
        reasons.append("advanced event selectors changed")
    return reasons


@action(
    "record_trail_config",
    permissions=(
        Permission(("cloudtrail:DescribeTrails",)),
        Permission(
            (
                "cloudtrail:GetEventSelectors",
                "cloudtrail:GetInsightSelectors",
                "cloudtrail:GetTrailStatus",
                "cloudtrail:ListTags",
            ),
            TRAILS,
        ),
    ),
    description="record the protected trails' configuration (never replacing it by a weaker one)",
    mutating=False,
    repeatable=True,
)
def record_trail_config(run: Run, *, region: str, names: list[str]) -> Outcome:
    client = cloudtrail(region)
    trails = client.describe_trails(includeShadowTrails=False)["trailList"]
    wanted = [t["Name"] for t in trails if not names or t["Name"] in names]
    saved, kept, missing = [], [], [n for n in names if n not in {t["Name"] for t in trails}]
    for name in wanted:
        config = read_config(name, region)
        if config is None:
            missing.append(name)
            continue
        baseline = recorded(run.settings, name)
        if baseline is not None and weakened(baseline, config):
            kept.append(name)  # tampered since the last record: the tampering must not become the baseline
            continue
        save(run.settings, name, config)
        saved.append(name)
    detail = (
        f"recorded {saved or 'none'}"
        + (f"; kept earlier record of weakened {kept}" if kept else "")
        + (f"; missing {missing}" if missing else "")
    )
    return Outcome(
        detail=detail,
        after={"recorded": saved, "kept": kept, "missing": missing},
        data={"missing_trails": missing, "weakened_trails": kept},
    )


@action(
    "restart_logging",
    permissions=(Permission(("cloudtrail:GetTrailStatus", "cloudtrail:StartLogging"), TRAILS),),
    description="start logging again on a trail whose logging was stopped",
    containment=True,
)
def restart_logging(run: Run, *, trail_arn: str, region: str) -> Outcome:
    client = cloudtrail(region)
    try:
        before = bool(client.get_trail_status(Name=trail_arn)["IsLogging"])
    except ClientError as exc:
        if _code(exc) == "TrailNotFoundException":
            raise NotApplicable("the trail no longer exists (a DeleteTrail event will recreate it)") from exc
        raise
    if before:
        return Outcome(status="already_done", detail="trail is logging", before=True, after=True)
    client.start_logging(Name=trail_arn)
    after = bool(client.get_trail_status(Name=trail_arn)["IsLogging"])
    if not after:
        raise ActionFailed("trail is still not logging after StartLogging")
    return Outcome(detail="logging stopped -> logging (verified)", before=before, after=after)


def _put_selectors(client: Any, trail_arn: str, config: dict[str, Any]) -> None:
    if config.get("advanced_event_selectors"):
        client.put_event_selectors(TrailName=trail_arn, AdvancedEventSelectors=config["advanced_event_selectors"])
    else:
        client.put_event_selectors(TrailName=trail_arn, EventSelectors=selectors(config))


@action(
    "recreate_trail",
    permissions=(
        Permission(("cloudtrail:DescribeTrails",)),
        Permission(
            (
                "cloudtrail:CreateTrail",
                "cloudtrail:AddTags",
                "cloudtrail:PutEventSelectors",
                "cloudtrail:GetEventSelectors",
                "cloudtrail:PutInsightSelectors",
                "cloudtrail:GetInsightSelectors",
                "cloudtrail:ListTags",
                "cloudtrail:StartLogging",
                "cloudtrail:GetTrailStatus",
            ),
            TRAILS,
        ),
    ),
    description="recreate a deleted trail from its recorded configuration and start logging",
    containment=True,
)
def recreate_trail(run: Run, *, name: str, region: str) -> Outcome:
    baseline = recorded(run.settings, name)
    if baseline is None:
        raise NotApplicable(f"no recorded configuration of trail {name}: recreate it by hand")
    client = cloudtrail(region)
    existing = read_config(name, region)
    if existing is not None:
        return Outcome(status="already_done", detail="trail exists", before=baseline["trail"], after=existing["trail"])
    trail = baseline["trail"]
    params: dict[str, Any] = {
        "Name": trail["Name"],
        "S3BucketName": trail["S3BucketName"],
        "IncludeGlobalServiceEvents": bool(trail.get("IncludeGlobalServiceEvents", True)),
        "IsMultiRegionTrail": bool(trail.get("IsMultiRegionTrail", False)),
        "EnableLogFileValidation": bool(trail.get("LogFileValidationEnabled", False)),
        "IsOrganizationTrail": bool(trail.get("IsOrganizationTrail", False)),
    }
    for source, target in (("S3KeyPrefix", "S3KeyPrefix"), ("SnsTopicName", "SnsTopicName"), ("KmsKeyId", "KmsKeyId")):
        if trail.get(source):
            params[target] = trail[source]
    if baseline.get("tags"):
        params["TagsList"] = baseline["tags"]
    created = client.create_trail(**params)
    arn = created["TrailARN"]
    _put_selectors(client, arn, baseline)
    if baseline.get("insight_selectors"):
        client.put_insight_selectors(TrailName=arn, InsightSelectors=baseline["insight_selectors"])
    client.start_logging(Name=arn)
    after = read_config(name, region)
    if after is None or not after["logging"]:
        raise ActionFailed(f"trail {name} was recreated but is not logging")
    detail = f"recreated {arn} from the record of {baseline['trail'].get('HomeRegion', region)} and started logging"
    if trail.get("CloudWatchLogsLogGroupArn"):
        detail += "; CloudWatch Logs delivery NOT restored (needs iam:PassRole on its role: restore by hand)"
    return Outcome(detail=detail, before=None, after=after["trail"])


@action(
    "restore_trail_config",
    permissions=(
        Permission(("cloudtrail:DescribeTrails",)),
        Permission(
            (
                "cloudtrail:UpdateTrail",
                "cloudtrail:PutEventSelectors",
                "cloudtrail:GetEventSelectors",
                "cloudtrail:GetInsightSelectors",
                "cloudtrail:ListTags",
                "cloudtrail:GetTrailStatus",
            ),
            TRAILS,
        ),
    ),
    description="restore the recorded configuration of a trail whose logging was weakened",
    containment=True,
)
def restore_trail_config(run: Run, *, name: str, region: str) -> Outcome:
    baseline = recorded(run.settings, name)
    if baseline is None:
        raise NotApplicable(f"no recorded configuration of trail {name}: nothing to restore from")
    current = read_config(name, region)
    if current is None:
        raise NotApplicable(f"trail {name} no longer exists (a DeleteTrail event will recreate it)")
    reasons = weakened(baseline, current)
    if not reasons:
        return Outcome(status="already_done", detail="configuration is not weaker than the record")
    client = cloudtrail(region)
    trail = baseline["trail"]
    update: dict[str, Any] = {
        "Name": current["trail"]["TrailARN"],
        "S3BucketName": trail["S3BucketName"],
        "IncludeGlobalServiceEvents": bool(trail.get("IncludeGlobalServiceEvents", True)),
        "IsMultiRegionTrail": bool(trail.get("IsMultiRegionTrail", False)),
        "EnableLogFileValidation": bool(trail.get("LogFileValidationEnabled", False)),
    }
    for field in ("S3KeyPrefix", "KmsKeyId"):
        if trail.get(field):
            update[field] = trail[field]
    client.update_trail(**update)
    _put_selectors(client, current["trail"]["TrailARN"], baseline)
    after = read_config(name, region)
    left = weakened(baseline, after) if after else ["trail disappeared"]
    if left:
        raise ActionFailed(f"still weaker than recorded: {', '.join(left)}")
    return Outcome(detail=f"restored ({'; '.join(reasons)})", before=current, after=after)
