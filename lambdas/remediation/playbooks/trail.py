"""Audit-trail tampering: StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors on a protected trail.

StopLogging: start logging again (after checking it is stopped). DeleteTrail: recreate the
trail from its recorded configuration and start logging. UpdateTrail / PutEventSelectors
that weaken the trail: restore the recorded configuration. A failed call (an `errorCode`)
changes nothing: the attempt is notified. Optionally the actor is contained with the
credential playbook's actions. A scheduled event records the protected trails' configuration.
"""

from __future__ import annotations

from typing import Any

from remediation import guards
from remediation.api_events import ApiCall, TrailRef, partition_of
from remediation.engine import Run, incident_id_for, reject
from remediation.events import Envelope, InvalidEvent
from remediation.observability import logger
from remediation.settings import Settings

STEP_FOR_CALL = {
    "StopLogging": "restart_logging",
    "DeleteTrail": "recreate_trail",
    "UpdateTrail": "restore_trail_config",
    "PutEventSelectors": "restore_trail_config",
}


def handle(event: Any, settings: Settings) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("source") == "aws.events":
        return record(event, settings)
    try:
        call = ApiCall.parse(event, sources=("aws.cloudtrail",))
        if call.event_name not in STEP_FOR_CALL:
            raise InvalidEvent(f"detail.eventName: {call.event_name!r} is not a trail-tampering call")
        field = "trailName" if call.event_name == "PutEventSelectors" else "name"
        partition = partition_of(call.actor.arn)
        trail = TrailRef.parse(
            call.request.str(field),
            path=f"detail.requestParameters.{field}",
            partition=partition,
            region=call.region,
            account=call.account,
        )
        source_ip = call.detail.str("sourceIPAddress", required=False) or "-"
    except InvalidEvent as exc:
        return reject(settings, event, exc)

    subject = {
        "trail": trail.arn,
        "call": call.event_name,
        "actor": call.actor.arn or call.actor.type,
        "source_ip": source_ip,
    }
    run = Run(
        settings,
        event_id=call.envelope.id,
        incident_id=incident_id_for(settings.playbook, call.event_id),
        subject=subject,
        detected_at=call.event_time or call.envelope.time,
    )
    logger.append_keys(trail=trail.name, event_name=call.event_name)
    summary = f"{call.event_name} on trail {trail.name} by {call.actor.name or call.actor.type or 'unknown'}"

    if settings.mode == "off":
        return run.skip("playbook mode is off")
    protected_trails = list(settings.option("protected_trails"))
    if protected_trails and trail.name not in protected_trails:
        return run.skip(f"trail {trail.name} is not protected (protected: {', '.join(protected_trails)})")
    if call.error_code:
        return run.notify_only(
            f"the call failed ({call.error_code}): it changed nothing, so nothing is restored",
            f"FAILED attempt: {summary}",
        )
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", summary)

    step = STEP_FOR_CALL[call.event_name]
    if step == "restart_logging":
        run.step(step, trail.arn, trail_arn=trail.arn, region=trail.region)
    else:
        run.step(step, trail.arn, name=trail.name, region=trail.region)
    if settings.option("contain_actor"):
        _contain_actor(run, settings, call, partition)
    return run.finish(summary)


def _contain_actor(run: Run, settings: Settings, call: ApiCall, partition: str) -> None:
    """Contain the IAM user or role that tampered, with the credential playbook's registered actions."""
    actor = call.actor
    if actor.type not in ("IAMUser", "AssumedRole") or not actor.name:
        run.skip_step(
            "contain_actor",
            actor.arn or actor.type,
            f"{actor.type or 'unknown'} principals are not contained automatically",
        )
        return
    kind = "user" if actor.type == "IAMUser" else "role"
    arn = f"arn:{partition}:iam::{call.account}:{kind}/{actor.name}"
    if guards.allow_listed(settings, arn) or guards.allow_listed(settings, actor.arn):
        run.skip_step("contain_actor", arn, "principal is on the allow-list")
        return
    if kind == "role" and guards.own_role(settings, actor.name):
        run.skip_step("contain_actor", arn, "the role belongs to this remediation stack")
        return
    inspected = run.step("inspect_principal", arn, kind=kind, name=actor.name)
    if inspected.status == "failed":
        return
    if guards.protected(settings, run.state.get("tags", {})):
        run.skip_step("contain_actor", arn, f"principal carries the protected tag {settings.protected_tag_key}")
        return
    if kind == "role":
        if str(run.state.get("path", "")).startswith("/aws-service-role/"):
            run.skip_step("contain_actor", arn, "service-linked roles are never modified")
            return
        run.step("revoke_sessions", arn, kind="role", name=actor.name)
        return
    for name in settings.option("actor_actions"):
        if name == "deactivate_access_key":
            if not actor.access_key_id.startswith("AKIA"):
                run.skip_step(name, arn, "the call was not made with a long-term access key")
                continue
            run.step(name, actor.access_key_id, user=actor.name, key_id=actor.access_key_id)
        elif name == "revoke_sessions":
            run.step(name, arn, kind="user", name=actor.name)
        else:
            run.step(name, arn, user=actor.name)


def record(event: Any, settings: Settings) -> dict[str, Any]:
    """Scheduled: record the protected trails' configuration; notify only when something is wrong."""
    try:
        envelope, _ = Envelope.parse(event, sources=("aws.events",), detail_types=("Scheduled Event",))
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    run = Run(
        settings,
        event_id=envelope.id,
        incident_id=incident_id_for(settings.playbook, f"record:{envelope.id}"),
        subject={"region": envelope.region},
        detected_at=envelope.time,
    )
    step = run.step(
        "record_trail_config", envelope.region, region=envelope.region, names=list(settings.option("protected_trails"))
    )
    missing, weak = run.state.get("missing_trails", []), run.state.get("weakened_trails", [])
    if step.status == "failed" or missing or weak:
        problems = [f"missing: {missing}"] * bool(missing) + [f"weaker than recorded: {weak}"] * bool(weak)
        return run.notify_only("; ".join(problems) or "recording failed", "Protected trails need attention")
    run.result.decision, run.result.reason, run.result.incident_id = "recorded", step.detail, ""
    return run.result.to_dict()
