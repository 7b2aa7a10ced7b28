"""How each recorded action is reversed, from the before-state its step recorded.

A reverser reads one step record of the incident (`action`, `target`, `status`, `before`,
`after`) and returns the changes that put things back. Every action that changes
something must have a reverser here, and must record in `before` what the reverser needs
(tests/unit/test_release.py checks the registry covers every mutating action):

| action | `before` must hold | release does |
|---|---|---|
| deactivate_access_key | "Active" | reactivate (only with --reactivate-keys) |
| deactivate_all_access_keys | {key id: status} | reactivate the keys that were Active (flag) |
| attach_quarantine_policy, revoke_sessions | None (policy did not exist) | delete our inline policy |
| detach_managed_policies | [policy ARN] | attach each again |
| delete_inline_policies | [policy name] (documents in user-before-state.json) | put each again |
| remove_from_groups | [group name] | add the user back |
| delete_login_profile | "login profile" | cannot restore a password: instruction printed |
| recheck_new_credentials | (keys created by the attacker) | never reactivated: instruction printed |
| isolate_instance | {eni id: [security group ids]} | put each interface's groups back |
| detach_from_asg | {"asg_name", "min_size", "desired_capacity"} | attach to the group, restore sizes |
| enable_termination_protection | bool (prior DisableApiTermination) | set it back |
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
    """One reversal: shown first, applied with --yes (`apply` None = manual or withheld)."""

    action: str
    target: str
    description: str
    apply: Callable[[], None] | None = None
    note: str = ""


@dataclass
class Context:
    """What reversers read: the incident, its evidence, the operator's flags, AWS clients."""

    incident: dict[str, Any]
    evidence: Callable[[str], dict[str, Any] | None]
    clients: Callable[[str], Any]
    reactivate_keys: bool = False
    _cache: dict[str, Any] = field(default_factory=dict)

    def principal(self) -> tuple[str, str]:
        """(kind, name) of the incident's IAM principal: ("user", "alice") / ("role", "app")."""
        arn = str(self.incident.get("subject", {}).get("principal", ""))
        resource = arn.split(":", 5)[-1]
        kind, _, name = resource.partition("/")
        return kind, name.rsplit("/", 1)[-1]

    def user_state(self) -> dict[str, Any]:
        if "user_state" not in self._cache:
            self._cache["user_state"] = self.evidence("user-before-state") or {}
        return dict(self._cache["user_state"])


Reverser = Callable[[Context, dict[str, Any]], list[Change]]
REVERSERS: dict[str, Reverser] = {}
NOTHING_TO_REVERSE = {"inspect_principal", "capture_user_state", "lookup_cloudtrail", "restore_access_key"}


def reverser(*names: str) -> Callable[[Reverser], Reverser]:
    def register(fn: Reverser) -> Reverser:
        for name in names:
            REVERSERS[name] = fn
        return fn

    return register


def _user(ctx: Context) -> str:
    kind, name = ctx.principal()
    if kind != "user":
        raise ValueError(f"incident principal is a {kind}, not an IAM user")
    return name


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
    return [_reactivate(ctx, step["action"], _user(ctx), step["target"])]


@reverser("deactivate_all_access_keys")
def _deactivate_all(ctx: Context, step: dict[str, Any]) -> list[Change]:
    before = step.get("before") or {}
    user = _user(ctx)
    return [_reactivate(ctx, step["action"], user, key) for key, status in before.items() if status == "Active"]


@reverser("attach_quarantine_policy", "revoke_sessions")
def _our_policies(ctx: Context, step: dict[str, Any]) -> list[Change]:
    kind, name = ctx.principal()
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
    user, iam = _user(ctx), ctx.clients("iam")
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
    user, iam = _user(ctx), ctx.clients("iam")
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
    user, iam = _user(ctx), ctx.clients("iam")
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
    user = _user(ctx)
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


# --------------------------------------------------------------------------- instance (contract)


@reverser("isolate_instance")
def _isolation(ctx: Context, step: dict[str, Any]) -> list[Change]:
    ec2 = ctx.clients("ec2")
    return [
        Change(
            step["action"],
            eni,
            f"restore security groups {groups} on {eni}",
            partial(ec2.modify_network_interface_attribute, NetworkInterfaceId=eni, Groups=groups),
        )
        for eni, groups in (step.get("before") or {}).items()
    ]


@reverser("detach_from_asg")
def _asg(ctx: Context, step: dict[str, Any]) -> list[Change]:
    before = step.get("before") or {}
    if not before.get("asg_name"):
        return []
    autoscaling, name, instance = ctx.clients("autoscaling"), before["asg_name"], step["target"]

    def apply() -> None:
        autoscaling.attach_instances(InstanceIds=[instance], AutoScalingGroupName=name)
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=int(before["min_size"]), DesiredCapacity=int(before["desired_capacity"])
        )

    return [
        Change(
            step["action"],
            instance,
            f"attach {instance} to Auto Scaling group {name} "
            f"(min {before['min_size']}, desired {before['desired_capacity']})",
            apply,
        )
    ]


@reverser("enable_termination_protection")
def _termination(ctx: Context, step: dict[str, Any]) -> list[Change]:
    before = step.get("before")
    if not isinstance(before, bool):
        return []
    ec2, instance = ctx.clients("ec2"), step["target"]
    return [
        Change(
            step["action"],
            instance,
            f"set termination protection of {instance} back to {before}",
            partial(ec2.modify_instance_attribute, InstanceId=instance, DisableApiTermination={"Value": before}),
        )
    ]


def plan(ctx: Context) -> list[Change]:
    """The reversals of every step that changed something, last change first."""
    changes: list[Change] = []
    for step in reversed(ctx.incident.get("steps", [])):
        if step.get("status") != "succeeded" or step.get("action") in NOTHING_TO_REVERSE:
            continue
        fn = REVERSERS.get(step["action"])
        if fn is None:
            changes.append(
                Change(
                    step["action"],
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
