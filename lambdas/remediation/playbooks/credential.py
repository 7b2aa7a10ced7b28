"""Credential compromise: a GuardDuty finding on an IAM access key.

IAM user: deactivate the finding's key first, then quarantine, revoke sessions, keep the
before-state, remove access as configured, look up the key's CloudTrail events, and after
IAM's propagation window contain credentials the attacker created meanwhile.
Assumed role: deny the role's sessions issued before now. Root: notify only.

Act first, inspect second (IAM user, enforce mode, a containment step first): the
protected-tag rule is enforced by IAM itself (the role's explicit Deny on its mutating
actions for principals carrying the tag), so the containment call can be the first call
to IAM. An AccessDenied is then explained by reading the tags; a protected principal
found AFTER a successful first step means the guardrail is missing: the key is restored
at once and the run is reported loudly (docs/reliability.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from remediation import guards
from remediation.actions.base import REGISTRY
from remediation.engine import Run, incident_id_for, reject
from remediation.events import ACCESS_KEY_ID, AccessKeyDetails, Envelope, GuardDutyFinding, InvalidEvent, Reader
from remediation.observability import MetricUnit, logger, metrics
from remediation.settings import Settings

# Steps that work on an IAM user, and the keyword arguments they take.
USER_STEPS = {
    "deactivate_access_key",
    "deactivate_all_access_keys",
    "attach_quarantine_policy",
    "revoke_sessions",
    "capture_user_state",
    "detach_managed_policies",
    "delete_inline_policies",
    "remove_from_groups",
    "delete_login_profile",
    "lookup_cloudtrail",
    "recheck_new_credentials",
}


def steps_for(settings: Settings, finding_type: str) -> list[str]:
    """The finding -> actions mapping is data: per-type overrides first, then the default list."""
    for pattern, steps in settings.option("actions_by_finding_type"):
        if guards.type_matches(finding_type, [pattern]):
            return list(steps)
    return list(settings.option("actions"))


def handle(event: Any, settings: Settings) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("source") == "aws.health":
        return handle_health(event, settings)
    try:
        finding = GuardDutyFinding.parse(event)
        key = AccessKeyDetails.parse(finding)
    except InvalidEvent as exc:
        return reject(settings, event, exc)

    partition, account = finding.partition, finding.account
    if key.user_type == "IAMUser":
        arn = f"arn:{partition}:iam::{account}:user/{key.user_name}"
    elif key.user_type == "AssumedRole":
        arn = f"arn:{partition}:iam::{account}:role/{key.user_name}"
    elif key.user_type == "Root":
        arn = f"arn:{partition}:iam::{account}:root"
    else:
        arn = f"arn:{partition}:sts::{account}:federated-user/{key.user_name}"
    subject = {
        "principal": arn,
        "user_type": key.user_type,
        "access_key_id": key.access_key_id,
        "finding_type": finding.type,
        "severity": finding.severity,
        "finding_id": finding.id,
    }
    run = Run(
        settings,
        event_id=finding.envelope.id,
        incident_id=incident_id_for(settings.playbook, finding.id),
        subject=subject,
        detected_at=finding.last_seen or finding.envelope.time,
    )
    logger.append_keys(finding_id=finding.id, principal=arn)

    # Guards that need no AWS call.
    reason = guards.finding_skip_reason(settings, finding)
    if reason:
        return run.skip(reason)
    summary = f"{finding.type} on {key.user_type} {key.user_name}"
    if guards.allow_listed(settings, arn):
        return run.notify_only(f"principal {arn} is on the allow-list", summary)
    if key.user_type == "Root":
        return run.notify_only("root credentials: notify only (contain root by hand)", summary)
    if key.user_type not in ("IAMUser", "AssumedRole"):
        return run.notify_only(f"{key.user_type} principals are not contained automatically", summary)
    if key.user_type == "AssumedRole" and guards.own_role(settings, key.user_name):
        return run.notify_only("the role belongs to this remediation stack", summary)
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", summary)

    kind = "user" if key.user_type == "IAMUser" else "role"
    steps = steps_for(settings, finding.type)
    if kind == "user" and settings.mode == "enforce" and steps and REGISTRY[steps[0]].containment:
        return _contain_user(run, settings, finding, key, arn, summary, act_first=True)
    inspected = run.step("inspect_principal", arn, kind=kind, name=key.user_name)
    if inspected.status == "failed":
        # Unknown whether the principal is protected: fail safe, never act blind.
        return run.finish(summary)
    if guards.protected(settings, run.state.get("tags", {})):
        run.result.decision = "notified"
        run.result.reason = f"principal carries the protected tag {settings.protected_tag_key}"
        return run.finish(summary)
    if kind == "role":
        if str(run.state.get("path", "")).startswith("/aws-service-role/"):
            return run.notify_only("service-linked roles are never modified", summary)
        run.step("revoke_sessions", arn, kind="role", name=key.user_name)
        return run.finish(summary)
    return _contain_user(run, settings, finding, key, arn, summary)


def _contain_user(
    run: Run,
    settings: Settings,
    finding: GuardDutyFinding,
    key: AccessKeyDetails,
    arn: str,
    summary: str,
    *,
    act_first: bool = False,
) -> dict[str, Any]:
    since = finding.last_seen or finding.envelope.time
    _user_steps(
        run,
        settings,
        finding_type=finding.type,
        user=key.user_name,
        key_id=key.access_key_id,
        arn=arn,
        since=since,
        act_first=act_first,
    )
    return run.finish(summary)


def _user_steps(
    run: Run,
    settings: Settings,
    *,
    finding_type: str,
    user: str,
    key_id: str,
    arn: str,
    since: datetime,
    act_first: bool = False,
) -> None:
    """The configured steps for an IAM user whose access key is compromised.

    With `act_first` the first (containment) step runs before the principal's tags are
    read: IAM's explicit Deny on protected principals refuses it, and the tags then explain
    the refusal (docs/reliability.md).
    """
    lookback = since - timedelta(hours=int(settings.option("cloudtrail_lookback_hours")))
    arguments: dict[str, dict[str, Any]] = {
        "deactivate_access_key": {"user": user, "key_id": key_id},
        "deactivate_all_access_keys": {"user": user},
        "attach_quarantine_policy": {"user": user},
        "revoke_sessions": {"kind": "user", "name": user},
        "capture_user_state": {"user": user},
        "detach_managed_policies": {"user": user},
        "delete_inline_policies": {"user": user},
        "remove_from_groups": {"user": user},
        "delete_login_profile": {"user": user},
        "lookup_cloudtrail": {"key_id": key_id, "since": lookback},
        "recheck_new_credentials": {
            "user": user,
            "since": since,
            "wait_seconds": float(settings.option("recheck_seconds")),
        },
    }
    steps = steps_for(settings, finding_type)

    def target(name: str) -> str:
        return key_id if name in ("deactivate_access_key", "lookup_cloudtrail") else arn

    if act_first:
        first = run.step(steps[0], target(steps[0]), **arguments[steps[0]])
        if first.status == "skipped" and first.detail == run.delivery_detail():
            return  # duplicate delivery or released incident: nothing ran
        inspected = run.step("inspect_principal", arn, kind="user", name=user)
        is_protected = inspected.status != "failed" and guards.protected(settings, run.state.get("tags", {}))
        if first.status == "failed" and first.error_code.startswith("AccessDenied") and is_protected:
            first.status, first.error_code = "skipped", ""
            first.detail = f"refused by IAM: the principal carries the protected tag {settings.protected_tag_key}"
            run.result.decision = "notified"
            run.result.reason = f"principal carries the protected tag {settings.protected_tag_key} (enforced by IAM)"
            return
        if is_protected:
            _guardrail_missing(run, settings, first, user, key_id)
            return
        steps = steps[1:]
    for name in steps:
        run.step(name, target(name), **arguments[name])


HEALTH_TYPE = "AWS_RISK_CREDENTIALS_EXPOSED"


def handle_health(event: Any, settings: Settings) -> dict[str, Any]:
    """AWS Health found an access key of this account exposed publicly: treat it like a GuardDuty key finding."""
    try:
        envelope, detail = Envelope.parse(event, sources=("aws.health",), detail_types=("AWS Health Event",))
        type_code = detail.str("eventTypeCode")
        if type_code != HEALTH_TYPE:
            raise InvalidEvent(f"detail.eventTypeCode: {type_code[:60]!r} is not {HEALTH_TYPE}")
        status = detail.str("statusCode", required=False) or "open"
        entities = detail.list("affectedEntities")
        keys = []
        for index, entity in enumerate(entities):
            value = Reader(entity, f"detail.affectedEntities[{index}]").str("entityValue", pattern=ACCESS_KEY_ID)
            keys.append(value)
        if not keys:
            raise InvalidEvent("detail.affectedEntities: no access key named")
        if len(keys) > 1:
            raise InvalidEvent("detail.affectedEntities: more than one key (AWS sends one event per key)")
        event_arn = detail.str("eventArn", required=False)
        partition = _partition(detail)
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    key_id = keys[0]
    arn_account = f"arn:{partition}:iam::{envelope.account}"
    subject = {
        "access_key_id": key_id,
        "finding_type": HEALTH_TYPE,
        "health_event": event_arn or "-",
    }
    run = Run(
        settings,
        event_id=envelope.id,
        incident_id=incident_id_for(settings.playbook, f"health:{key_id}"),
        subject=subject,
        detected_at=envelope.time,
    )
    logger.append_keys(access_key_id=key_id)
    summary = f"{HEALTH_TYPE}: access key {key_id} exposed publicly"
    if settings.mode == "off":
        return run.skip("playbook mode is off")
    if status != "open":
        return run.skip(f"Health event status is {status}")
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", summary)
    owner = run.step("lookup_key_owner", key_id, key_id=key_id)
    if owner.status != "succeeded":
        if owner.status != "failed":  # a failed look-up fails the run (recorded partial, retried)
            run.result.decision = "notified"
        run.result.reason = f"owner of {key_id} unknown: {owner.detail}"
        return run.finish(summary)
    user = str(run.state["key_owner"])
    arn = f"{arn_account}:user/{user}"
    run.subject["principal"] = arn
    summary = f"{HEALTH_TYPE}: access key {key_id} of IAM user {user} exposed publicly"
    if guards.allow_listed(settings, arn):
        return run.notify_only(f"principal {arn} is on the allow-list", summary)
    inspected = run.step("inspect_principal", arn, kind="user", name=user)
    if inspected.status == "failed":
        return run.finish(summary)
    if guards.protected(settings, run.state.get("tags", {})):
        run.result.decision = "notified"
        run.result.reason = f"principal carries the protected tag {settings.protected_tag_key}"
        return run.finish(summary)
    _user_steps(run, settings, finding_type=HEALTH_TYPE, user=user, key_id=key_id, arn=arn, since=envelope.time)
    return run.finish(summary)


def _partition(detail: Reader) -> str:
    """Health event ARNs carry the partition (arn:aws-cn:health:...)."""
    arn = detail.str("eventArn", required=False)
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[1].startswith("aws") else "aws"


def _guardrail_missing(run: Run, settings: Settings, first: Any, user: str, key_id: str) -> None:
    """The first step changed a protected principal: IAM's Deny is missing. Undo and say so."""
    logger.error(
        "protected principal was changed: the role's protected-tag Deny is missing", extra={"action": first.action}
    )
    metrics.add_metric(name="GuardrailMissing", unit=MetricUnit.Count, value=1)
    if first.action == "deactivate_access_key" and first.status == "succeeded":
        run.step("restore_access_key", key_id, user=user, key_id=key_id)
    run.result.decision = "notified"
    run.result.reason = (
        f"principal carries the protected tag {settings.protected_tag_key} but IAM let "
        f"{first.action} through: the role's protected-tag Deny is missing; change undone "
        "where possible, check the deployment"
    )
