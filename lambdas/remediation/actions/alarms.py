"""Alarm-lifecycle actions: create, delete and reconcile the per-instance EC2 alarms.

Creating an alarm on EC2 status metrics needs, besides cloudwatch:PutMetricAlarm, the EC2
read permissions CloudWatch checks on the caller (ec2:DescribeInstanceStatus and
ec2:DescribeInstances, PutMetricAlarm reference) and, the first time in an account, the
CloudWatch Events service-linked role that carries out EC2 alarm actions such as recover.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from remediation import alarms, instances
from remediation.actions.base import ActionFailed, Outcome, Permission, action

if TYPE_CHECKING:
    from remediation.engine import Run

ALARMS = ("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${NamePrefix}-i-*",)
SERVICE_LINKED_ROLE = (
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/events.amazonaws.com/"
    "AWSServiceRoleForCloudWatchEvents",
)
ALARM_WRITE = Permission(("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"), ALARMS)
EC2_FOR_ALARM_ACTIONS = Permission(
    (
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeInstanceTypes",
        "autoscaling:DescribeAutoScalingInstances",
    )
)
CREATE_SLR = Permission(("iam:CreateServiceLinkedRole",), SERVICE_LINKED_ROLE)


def _existing(prefix: str) -> dict[str, dict[str, Any]]:
    pages = (
        instances.cloudwatch()
        .get_paginator("describe_alarms")
        .paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"])
    )
    return {a["AlarmName"]: dict(a) for page in pages for a in page.get("MetricAlarms", [])}


def _target(run: Run, info: dict[str, Any]) -> alarms.Target:
    protected = info["tags"].get(run.settings.protected_tag_key) == run.settings.protected_tag_value
    # Protected instances are watched, never acted on: no recover action on their alarm.
    return alarms.Target(
        instance_id=info["instance_id"],
        recover=bool(info["recovery_supported"]) and not protected,
        instance_store=bool(info["instance_store"]),
    )


def _definitions(run: Run, target: alarms.Target, partition: str, region: str) -> list[dict[str, Any]]:
    return alarms.definitions(
        prefix=run.settings.name_prefix,
        target=target,
        partition=partition,
        region=region,
        topic_arn=run.settings.topic_arn,
        options=run.settings.option("alarms"),
    )


def ensure(
    run: Run, info: dict[str, Any], partition: str, region: str, existing: dict[str, dict[str, Any]] | None = None
) -> dict[str, list[str]]:
    """Create missing and repair drifted alarms of one instance; delete its alarms no longer defined."""
    prefix = alarms.instance_prefix(run.settings.name_prefix, info["instance_id"])
    have = _existing(prefix) if existing is None else {k: v for k, v in existing.items() if k.startswith(prefix)}
    cw = instances.cloudwatch()
    done: dict[str, list[str]] = {"created": [], "updated": [], "deleted": [], "unchanged": []}
    wanted = _definitions(run, _target(run, info), partition, region)
    for definition in wanted:
        name = definition["AlarmName"]
        if name in have and not alarms.drifted(have[name], definition):
            done["unchanged"].append(name)
            continue
        cw.put_metric_alarm(**definition)
        done["updated" if name in have else "created"].append(name)
    stale = sorted(set(have) - {d["AlarmName"] for d in wanted})
    if stale:
        cw.delete_alarms(AlarmNames=stale)
        done["deleted"].extend(stale)
    after = _existing(prefix)
    missing = [
        d["AlarmName"] for d in wanted if d["AlarmName"] not in after or alarms.drifted(after[d["AlarmName"]], d)
    ]
    if missing:
        raise ActionFailed(f"alarms missing or different after PutMetricAlarm: {missing}")
    return done


@action(
    "put_instance_alarms",
    permissions=(ALARM_WRITE, EC2_FOR_ALARM_ACTIONS, CREATE_SLR),
    description="create (idempotently) the instance's status-check and metric alarms",
    repeatable=True,
)
def put_instance_alarms(run: Run, *, info: dict[str, Any], partition: str, region: str) -> Outcome:
    done = ensure(run, info, partition, region)
    changed = done["created"] + done["updated"] + done["deleted"]
    return Outcome(
        status="succeeded" if changed else "already_done",
        detail=f"created {len(done['created'])}, updated {len(done['updated'])}, "
        f"deleted {len(done['deleted'])}, unchanged {len(done['unchanged'])}",
        after=done,
        data={"alarms": done},
    )


@action(
    "delete_instance_alarms",
    permissions=(ALARM_WRITE,),
    description="delete the alarms of a terminated instance",
    repeatable=True,
)
def delete_instance_alarms(run: Run, *, instance_id: str) -> Outcome:
    prefix = alarms.instance_prefix(run.settings.name_prefix, instance_id)
    names = sorted(_existing(prefix))
    if not names:
        return Outcome(status="already_done", detail="no alarms to delete")
    instances.cloudwatch().delete_alarms(AlarmNames=names)
    left = sorted(_existing(prefix))
    if left:
        raise ActionFailed(f"alarms still present: {left}")
    return Outcome(detail=f"deleted {len(names)} alarm(s)", before=names, after=[], data={"deleted": names})


def monitored(run: Run, info: dict[str, Any]) -> bool:
    """In scope: every instance (scope all) or those carrying the opt-in tag (scope tag)."""
    if run.settings.option("scope") == "all":
        return True
    return bool(info["tags"].get(run.settings.option("tag_key")) == run.settings.option("tag_value"))


@action(
    "reconcile_alarms",
    permissions=(ALARM_WRITE, EC2_FOR_ALARM_ACTIONS, CREATE_SLR),
    description="create missing, repair drifted and delete orphaned alarms across the fleet",
    repeatable=True,
)
def reconcile_alarms(run: Run, *, partition: str, region: str) -> Outcome:
    static = set(run.settings.option("static_instance_ids"))
    filters: list[Any] = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    if run.settings.option("scope") == "tag":
        filters.append({"Name": f"tag:{run.settings.option('tag_key')}", "Values": [run.settings.option("tag_value")]})
    pages = instances.ec2().get_paginator("describe_instances").paginate(Filters=filters)
    ids = sorted({i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]} - static)
    existing = _existing(alarms.fleet_prefix(run.settings.name_prefix))
    totals: dict[str, list[str]] = {"created": [], "updated": [], "deleted": [], "unchanged": []}
    for instance_id in ids:
        info = instances.describe(instance_id)
        if info is None or not monitored(run, info):
            continue
        for kind, names in ensure(run, info, partition, region, existing).items():
            totals[kind].extend(names)
    kept = set(ids)
    orphans = []
    for name in sorted(existing):
        parsed = alarms.parse_alarm_name(run.settings.name_prefix, name)
        if parsed and parsed[0] not in kept and parsed[0] not in static:
            orphans.append(name)
    for start in range(0, len(orphans), 100):  # DeleteAlarms takes at most 100 names
        instances.cloudwatch().delete_alarms(AlarmNames=orphans[start : start + 100])
    totals["deleted"].extend(orphans)
    changed = totals["created"] + totals["updated"] + totals["deleted"]
    return Outcome(
        status="succeeded" if changed else "already_done",
        detail=f"{len(ids)} instance(s): created {len(totals['created'])}, updated "
        f"{len(totals['updated'])}, deleted {len(totals['deleted'])}",
        after=totals,
        data={"reconciled": totals, "instances": ids},
    )
