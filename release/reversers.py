"""How each recorded action is reversed, from the before-state its step recorded.

A reverser reads one step record of the incident (`action`, `target`, `status`, `before`,
`after`) and returns the changes that put things back. Every action that changes
something has either a reverser here or an entry in NOT_REVERSIBLE with the reason;
read-only actions are listed in READ_ONLY (tests/unit/test_release.py checks that the
three cover the action registry exactly). docs/release.md lists, per action, what its
`before` must hold and what release does with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

OUR_SIDS = ("AutoRemediationQuarantine", "AutoRemediationRevokeOlderSessions")


@dataclass
class Change:
    """One reversal: shown first, applied with --yes (`apply` None = manual or withheld).

    `kept` marks a change that is deliberately left in place (evidence, or nothing to undo).
    """

    action: str
    target: str
    description: str
    apply: Callable[[], None] | None = None
    note: str = ""
    kept: bool = False


@dataclass
class Context:
    """What reversers read: the incident, its evidence, the operator's flags, AWS clients."""

    incident: dict[str, Any]
    evidence: Callable[[str], dict[str, Any] | None]
    clients: Callable[[str], Any]
    reactivate_keys: bool = False
    reopen_ingress: bool = False
    _cache: dict[str, Any] = field(default_factory=dict)

    def principal(self, step: dict[str, Any] | None = None) -> tuple[str, str]:
        """(kind, name) of the IAM principal a step changed: ("user", "alice") / ("role", "app").

        The step's target when it is an IAM ARN (the credential, trail and instance playbooks
        target the principal they change), else the incident's principal or actor.
        """
        subject = self.incident.get("subject", {})
        for arn in (
            str((step or {}).get("target", "")),
            str(subject.get("principal", "")),
            str(subject.get("actor", "")),
        ):
            parsed = _iam_principal(arn)
            if parsed:
                return parsed
        return "", ""

    def user_state(self) -> dict[str, Any]:
        if "user_state" not in self._cache:
            self._cache["user_state"] = self.evidence("user-before-state") or {}
        return dict(self._cache["user_state"])


def _iam_principal(arn: str) -> tuple[str, str] | None:
    """("user"|"role", name) from an IAM user/role ARN or an STS assumed-role ARN, else None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] not in ("iam", "sts"):
        return None
    kind, _, path = parts[5].partition("/")
    if kind == "assumed-role":
        return "role", path.split("/", 1)[0]
    if kind in ("user", "role") and path:
        return kind, path.rsplit("/", 1)[-1]
    return None


Reverser = Callable[[Context, dict[str, Any]], list[Change]]
REVERSERS: dict[str, Reverser] = {}

# Actions that only read: nothing to reverse, not shown.
READ_ONLY = frozenset(
    {
        "inspect_principal",
        "capture_user_state",
        "lookup_cloudtrail",
        "lookup_key_owner",
        "inspect_instance",
        "capture_instance",
        "inspect_security_group",
        "inspect_instance_health",
        "confirm_recover_action",
        "capture_instance_config",
        "record_trail_config",
    }
)

# Actions that change something release deliberately leaves as it is, with the reason (shown as kept).
NOT_REVERSIBLE: dict[str, str] = {
    "restore_access_key": "it already undid this playbook's own deactivation of a protected principal's key",
    "tag_incident": "the incident tags are evidence markers that change no behaviour: kept",
    "snapshot_volumes": "the snapshots are evidence: kept (delete them when the investigation is closed)",
    "terminate_instance": "a terminated instance cannot be brought back; its volumes were kept "
    "(DeleteOnTermination off) and snapshotted: launch a replacement from them",
    "terminate_impaired_instance": "a terminated instance cannot be brought back; its configuration was "
    "captured to the evidence bucket first: launch a replacement from it",
    "reboot_instance": "a reboot leaves nothing to undo",
    "stop_start_instance": "the instance is running again (on other hardware): nothing to undo",
    "mark_unhealthy": "the Auto Scaling group replaced the unhealthy instance: nothing to undo",
    "restart_logging": "logging was started again on a trail someone stopped; stopping it would re-open "
    "the gap in the audit trail: nothing to undo",
    "recreate_trail": "the trail was recreated from its recorded configuration after someone deleted it; "
    "deleting it again would remove the audit trail: nothing to undo",
    "restore_trail_config": "the trail's recorded (stronger) configuration was restored after someone weakened "
    "it; re-applying the weaker one would re-open the gap: nothing to undo",
    "put_instance_alarms": "alarm upkeep follows the instance's lifecycle, not an incident: nothing to release",
    "delete_instance_alarms": "alarm upkeep follows the instance's lifecycle, not an incident: nothing to release",
    "reconcile_alarms": "alarm upkeep follows the instance's lifecycle, not an incident: nothing to release",
}

# Reversals on the instance itself, moot once the instance was terminated.
INSTANCE_SCOPED = frozenset(
    {
        "preserve_instance",
        "isolate_network",
        "leave_auto_scaling_group",
        "deregister_targets",
        "disassociate_elastic_ip",
        "replace_instance_profile",
        "stop_instance",
        "stop_impaired_instance",
    }
)
TERMINATING = ("terminate_instance", "terminate_impaired_instance")


def reverser(*names: str) -> Callable[[Reverser], Reverser]:
    def register(fn: Reverser) -> Reverser:
        for name in names:
            REVERSERS[name] = fn
        return fn

    return register


def _user(ctx: Context, step: dict[str, Any]) -> str:
    kind, name = ctx.principal(step)
    if kind == "user":
        return name
    key = str(step.get("target", ""))
    if key.startswith(("AKIA", "ASIA")):  # an access key's step: its owner, from IAM
        return str(ctx.clients("iam").get_access_key_last_used(AccessKeyId=key)["UserName"])
    raise ValueError(f"the principal of step {step.get('action')} is a {kind or 'unknown'}, not an IAM user")


# --------------------------------------------------------------------------- credential


def _reactivate(ctx: Context, action: str, user: str, key_id: str) -> Change:
    def apply() -> None:
        ctx.clients("iam").update_access_key(UserName=user, AccessKeyId=key_id, Status="Active")

    if ctx.reactivate_keys:
        return Change(action, key_id, f"reactivate access key {key_id} of {user}", apply)
    return Change(
        action,
        key_id,
        f"keep access key {key_id} of {user} Inactive",
        note="pass --reactivate-keys to reactivate it (rotate it instead if it leaked)",
    )


@reverser("deactivate_access_key")
def _deactivate_key(ctx: Context, step: dict[str, Any]) -> list[Change]:
    if step.get("before") != "Active":
        return []
    return [_reactivate(ctx, step["action"], _user(ctx, step), step["target"])]


@reverser("deactivate_all_access_keys")
def _deactivate_all(ctx: Context, step: dict[str, Any]) -> list[Change]:
    before = step.get("before") or {}
    user = _user(ctx, step)
    return [_reactivate(ctx, step["action"], user, key) for key, status in before.items() if status == "Active"]


@reverser("attach_quarantine_policy", "revoke_sessions", "revoke_instance_role_sessions")
def _our_policies(ctx: Context, step: dict[str, Any]) -> list[Change]:
    kind, name = ctx.principal(step)
    if kind not in ("user", "role"):
        raise ValueError(f"step {step['action']} names no IAM user or role")
    iam = ctx.clients("iam")
    sid = OUR_SIDS[0] if step["action"] == "attach_quarantine_policy" else OUR_SIDS[1]
    if kind == "user":
        names = iam.list_user_policies(UserName=name)["PolicyNames"]
        get, delete = iam.get_user_policy, iam.delete_user_policy
        key = "UserName"
    else:
        names = iam.list_role_policies(RoleName=name)["PolicyNames"]
        get, delete = iam.get_role_policy, iam.delete_role_policy
        key = "RoleName"
    changes = []
    for policy in names:
        document = get(**{key: name, "PolicyName": policy})["PolicyDocument"]
        if isinstance(document, str):
            from urllib.parse import unquote

            document = json.loads(unquote(document))
        if any(s.get("Sid") == sid for s in document.get("Statement", [])):
            changes.append(
                Change(
                    step["action"],
                    f"{kind}/{name}",
                    f"delete inline policy {policy} from {kind} {name}",
                    partial(delete, **{key: name, "PolicyName": policy}),
                )
            )
    return changes


@reverser("detach_managed_policies")
def _detached(ctx: Context, step: dict[str, Any]) -> list[Change]:
    user, iam = _user(ctx, step), ctx.clients("iam")
    return [
        Change(
            step["action"],
            arn,
            f"attach managed policy {arn} to {user}",
            partial(iam.attach_user_policy, UserName=user, PolicyArn=arn),
        )
        for arn in step.get("before") or []
    ]


@reverser("delete_inline_policies")
def _deleted_inline(ctx: Context, step: dict[str, Any]) -> list[Change]:
    user, iam = _user(ctx, step), ctx.clients("iam")
    documents = ctx.user_state().get("inline_policies", {})
    changes = []
    for policy in step.get("before") or []:
        document = documents.get(policy)
        if document is None:
            changes.append(
                Change(
                    step["action"],
                    policy,
                    f"restore inline policy {policy} of {user}",
                    note="document missing from user-before-state.json: restore by hand",
                )
            )
            continue
        body = document if isinstance(document, str) else json.dumps(document)
        put = partial(iam.put_user_policy, UserName=user, PolicyName=policy, PolicyDocument=body)
        changes.append(Change(step["action"], policy, f"put inline policy {policy} back on {user}", put))
    return changes


@reverser("remove_from_groups")
def _groups(ctx: Context, step: dict[str, Any]) -> list[Change]:
    user, iam = _user(ctx, step), ctx.clients("iam")
    return [
        Change(
            step["action"],
            group,
            f"add {user} back to group {group}",
            partial(iam.add_user_to_group, GroupName=group, UserName=user),
        )
        for group in step.get("before") or []
    ]


@reverser("delete_login_profile")
def _login(ctx: Context, step: dict[str, Any]) -> list[Change]:
    user = _user(ctx, step)
    return [
        Change(
            step["action"],
            user,
            f"console login of {user}",
            note=f"a password cannot be restored: aws iam create-login-profile --user-name {user} "
            "--password '<new>' --password-reset-required",
        )
    ]


@reverser("recheck_new_credentials")
def _recheck(ctx: Context, step: dict[str, Any]) -> list[Change]:
    after = step.get("after") or {}
    changes = [
        Change(
            step["action"],
            key,
            f"key {key} created during the incident stays Inactive",
            note="created after the finding, most likely by the attacker: delete it by hand",
        )
        for key in after.get("caught_keys", [])
    ]
    if after.get("login_removed"):
        changes.append(Change(step["action"], "login", "console login created during the incident stays removed"))
    return changes


# --------------------------------------------------------------------------- instance


def _instance(ctx: Context, step: dict[str, Any]) -> str:
    """The instance a step changed: its target, else the incident's instance."""
    target = str(step.get("target", ""))
    if target.startswith("i-"):
        return target
    subject = ctx.incident.get("subject", {})
    return str(subject.get("instance_id") or str(subject.get("instance", "")).rsplit("/", 1)[-1])


@reverser("preserve_instance")
def _preserved(ctx: Context, step: dict[str, Any]) -> list[Change]:
    before, after = step.get("before") or {}, step.get("after") or {}
    ec2, instance = ctx.clients("ec2"), _instance(ctx, step)
    changes = []
    protection = before.get("disableApiTermination")
    if isinstance(protection, bool) and protection != after.get("disableApiTermination"):
        changes.append(
            Change(
                step["action"],
                instance,
                f"set termination protection of {instance} back to {protection}",
                partial(
                    ec2.modify_instance_attribute, InstanceId=instance, DisableApiTermination={"Value": protection}
                ),
            )
        )
    shutdown = before.get("instanceInitiatedShutdownBehavior")
    if isinstance(shutdown, str) and shutdown != after.get("instanceInitiatedShutdownBehavior"):
        changes.append(
            Change(
                step["action"],
                instance,
                f"set shutdown behaviour of {instance} back to {shutdown}",
                partial(
                    ec2.modify_instance_attribute,
                    InstanceId=instance,
                    InstanceInitiatedShutdownBehavior={"Value": shutdown},
                ),
            )
        )
    kept = after.get("deleteOnTermination") or {}
    devices = [d for d, v in (before.get("deleteOnTermination") or {}).items() if v is True and kept.get(d) is not True]
    if devices:
        mappings = [{"DeviceName": d, "Ebs": {"DeleteOnTermination": True}} for d in devices]
        changes.append(
            Change(
                step["action"],
                instance,
                f"set DeleteOnTermination of {', '.join(devices)} on {instance} back to true",
                partial(ec2.modify_instance_attribute, InstanceId=instance, BlockDeviceMappings=mappings),
            )
        )
    return changes


@reverser("isolate_network")
def _isolation(ctx: Context, step: dict[str, Any]) -> list[Change]:
    ec2, after = ctx.clients("ec2"), step.get("after") or {}
    return [
        Change(
            step["action"],
            eni,
            f"restore security groups {groups} on {eni}",
            partial(ec2.modify_network_interface_attribute, NetworkInterfaceId=eni, Groups=groups),
        )
        for eni, groups in (step.get("before") or {}).items()
        if groups and groups != after.get(eni)
    ]


@reverser("leave_auto_scaling_group")
def _auto_scaling(ctx: Context, step: dict[str, Any]) -> list[Change]:
    before, after = step.get("before") or {}, step.get("after") or {}
    group, instance = str(before.get("group") or step.get("target", "")), str(before.get("instance") or "")
    instance = instance or _instance(ctx, step)
    autoscaling = ctx.clients("autoscaling")
    if after.get("member") in ("Standby", "EnteringStandby"):
        return [
            Change(
                step["action"],
                instance,
                f"move {instance} out of standby in Auto Scaling group {group}",
                partial(autoscaling.exit_standby, InstanceIds=[instance], AutoScalingGroupName=group),
            )
        ]
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    if not found:
        return [Change(step["action"], instance, f"Auto Scaling group {group} no longer exists", kept=True)]
    current = found[0]
    if instance in {i["InstanceId"] for i in current.get("Instances", [])}:
        return []  # already back
    note = (
        f"the group launched a replacement when the instance left, so it runs one instance more than its "
        f"desired {before.get('DesiredCapacity')} of before: lower the desired capacity once you chose which goes"
    )
    if current["DesiredCapacity"] + 1 > current["MaxSize"]:
        return [
            Change(
                step["action"],
                instance,
                f"attach {instance} to Auto Scaling group {group}",
                note=f"the group is at its maximum {current['MaxSize']}: raise it, then "
                f"aws autoscaling attach-instances --instance-ids {instance} --auto-scaling-group-name {group}",
            )
        ]
    return [
        Change(
            step["action"],
            instance,
            f"attach {instance} to Auto Scaling group {group} again",
            partial(autoscaling.attach_instances, InstanceIds=[instance], AutoScalingGroupName=group),
            note=note,
        )
    ]


@reverser("deregister_targets")
def _targets(ctx: Context, step: dict[str, Any]) -> list[Change]:
    elbv2 = ctx.clients("elbv2")
    changes = []
    for arn, targets in (step.get("before") or {}).items():
        wanted = [{"Id": t["Id"], "Port": int(t["Port"])} for t in targets]
        ports = ", ".join(str(t["Port"]) for t in wanted)
        changes.append(
            Change(
                step["action"],
                arn,
                f"register {wanted[0]['Id']} in target group {arn.rsplit(':', 1)[-1]} again (port {ports})",
                partial(elbv2.register_targets, TargetGroupArn=arn, Targets=wanted),
            )
        )
    return changes


@reverser("disassociate_elastic_ip")
def _elastic_ips(ctx: Context, step: dict[str, Any]) -> list[Change]:
    ec2, instance = ctx.clients("ec2"), _instance(ctx, step)
    changes = []
    for address in step.get("before") or []:
        params: dict[str, Any] = {"AllowReassociation": False}
        if address.get("AllocationId"):
            params["AllocationId"] = address["AllocationId"]
        else:
            params["PublicIp"] = address["PublicIp"]
        if address.get("NetworkInterfaceId"):
            params["NetworkInterfaceId"] = address["NetworkInterfaceId"]
            if address.get("PrivateIpAddress"):
                params["PrivateIpAddress"] = address["PrivateIpAddress"]
        else:
            params["InstanceId"] = instance
        where = address.get("NetworkInterfaceId") or instance
        changes.append(
            Change(
                step["action"],
                str(address.get("PublicIp")),
                f"associate Elastic IP {address.get('PublicIp')} with {where} again",
                partial(ec2.associate_address, **params),
            )
        )
    return changes


@reverser("replace_instance_profile")
def _instance_profile(ctx: Context, step: dict[str, Any]) -> list[Change]:
    before, ours = step.get("before"), step.get("after")
    ec2, instance = ctx.clients("ec2"), _instance(ctx, step)

    def association() -> dict[str, Any] | None:
        found = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance]}, {"Name": "state", "Values": ["associated"]}]
        )["IamInstanceProfileAssociations"]
        return found[0] if found else None

    def restore() -> None:
        current = association()
        if before is None:
            if current is not None:
                ec2.disassociate_iam_instance_profile(AssociationId=current["AssociationId"])
        elif current is None:
            ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": before}, InstanceId=instance)
        else:
            ec2.replace_iam_instance_profile_association(
                IamInstanceProfile={"Arn": before}, AssociationId=current["AssociationId"]
            )

    what = f"give {instance} its instance profile {before} back" if before else f"remove {ours} from {instance}"
    return [Change(step["action"], instance, f"{what} (replacing {ours})" if before else what, restore)]


@reverser("stop_instance", "stop_impaired_instance")
def _stopped(ctx: Context, step: dict[str, Any]) -> list[Change]:
    if step.get("before") != "running":
        return []
    ec2, instance = ctx.clients("ec2"), _instance(ctx, step)
    return [
        Change(
            step["action"],
            instance,
            f"start {instance} again (it was running)",
            partial(ec2.start_instances, InstanceIds=[instance]),
        )
    ]


@reverser("enable_flow_logs")
def _flow_logs(ctx: Context, step: dict[str, Any]) -> list[Change]:
    ids = [str(i) for i in step.get("after") or []]
    if not ids:
        return []
    return [
        Change(
            step["action"],
            ",".join(ids),
            f"flow logs {', '.join(ids)} keep recording into the evidence bucket",
            note=f"evidence: delete them when the investigation is closed: aws ec2 delete-flow-logs --flow-log-ids "
            f"{' '.join(ids)}",
            kept=True,
        )
    ]


# --------------------------------------------------------------------------- risky change


@reverser("revoke_ingress_rules")
def _ingress(ctx: Context, step: dict[str, Any]) -> list[Change]:
    group = str(step.get("target", "")).rsplit("/", 1)[-1]
    ec2 = ctx.clients("ec2")
    changes = []
    for rule in step.get("before") or []:
        protocol, cidr = str(rule.get("IpProtocol")), str(rule.get("Cidr", ""))
        permission: dict[str, Any] = {"IpProtocol": protocol}
        ports = "all traffic"
        if protocol != "-1":
            permission |= {"FromPort": int(rule["FromPort"]), "ToPort": int(rule["ToPort"])}
            ports = f"{protocol} {rule['FromPort']}-{rule['ToPort']}"
        permission |= {"Ipv6Ranges": [{"CidrIpv6": cidr}]} if ":" in cidr else {"IpRanges": [{"CidrIp": cidr}]}
        text = f"ingress rule {rule.get('SecurityGroupRuleId')} of {group}: {ports} from {cidr}"
        if ctx.reopen_ingress:
            apply = partial(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=[permission])
            changes.append(Change(step["action"], group, f"re-open {text}", apply))
        else:
            changes.append(
                Change(
                    step["action"],
                    group,
                    f"{text} stays revoked",
                    note="it opened an admin port to the whole internet; pass --reopen-ingress to authorize it "
                    "again (better: open the port to the addresses that need it)",
                    kept=True,
                )
            )
    return changes


def plan(ctx: Context) -> list[Change]:
    """The reversals of every step that changed something, last change first."""
    steps = [s for s in ctx.incident.get("steps", []) if s.get("status") == "succeeded"]
    terminated = {s.get("target") for s in steps if s.get("action") in TERMINATING}
    changes: list[Change] = []
    for step in reversed(steps):
        name = step.get("action", "")
        if name in READ_ONLY:
            continue
        if name in NOT_REVERSIBLE:
            changes.append(
                Change(name, step.get("target", ""), f"{name}: not reversed", note=NOT_REVERSIBLE[name], kept=True)
            )
            continue
        if name in INSTANCE_SCOPED and _instance(ctx, step) in terminated:
            changes.append(
                Change(
                    name, step.get("target", ""), f"{name}: not reversed", note="the instance was terminated", kept=True
                )
            )
            continue
        fn = REVERSERS.get(name)
        if fn is None:
            changes.append(
                Change(
                    name,
                    step.get("target", ""),
                    "no reverser registered",
                    note="reverse by hand from the step's before-state",
                )
            )
            continue
        changes.extend(fn(ctx, step))
    unique: dict[tuple[str, str], Change] = {}
    for change in changes:  # a repeated finding records the same change more than once
        unique.setdefault((change.target, change.description), change)
    return list(unique.values())
