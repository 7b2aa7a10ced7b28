"""Instance compromise: a GuardDuty finding on an EC2 instance.

Order: preserve (termination protection, shutdown = stop, keep volumes, tag), evidence
(a snapshot per EBS volume, description and console output, flow logs if configured),
contain (isolation security group on every interface in two steps, out of the Auto
Scaling group and target groups, Elastic IP and instance role as configured), and only
after every evidence step succeeded the configured stop or terminate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from remediation import guards
from remediation.engine import Run, incident_id_for, reject
from remediation.events import GuardDutyFinding, InvalidEvent
from remediation.observability import logger
from remediation.settings import Settings

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
EVIDENCE_STEPS = ("snapshot_volumes", "capture_instance", "enable_flow_logs")


@dataclass(frozen=True)
class InstanceDetails:
    instance_id: str
    instance_type: str

    @staticmethod
    def parse(finding: GuardDutyFinding) -> InstanceDetails:
        if finding.resource_type != "Instance":
            raise InvalidEvent(f"detail.resource.resourceType: {finding.resource_type!r} is not Instance")
        details = finding.detail.obj("resource").obj("instanceDetails")
        return InstanceDetails(
            instance_id=details.str("instanceId", pattern=INSTANCE_ID),
            instance_type=details.str("instanceType", required=False),
        )


def handle(event: Any, settings: Settings) -> dict[str, Any]:
    try:
        finding = GuardDutyFinding.parse(event)
        details = InstanceDetails.parse(finding)
    except InvalidEvent as exc:
        return reject(settings, event, exc)

    instance_id = details.instance_id
    arn = f"arn:{finding.partition}:ec2:{finding.region}:{finding.account}:instance/{instance_id}"
    subject = {
        "instance": arn,
        "resource_role": finding.resource_role or "-",
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
    logger.append_keys(finding_id=finding.id, instance_id=instance_id)

    reason = guards.finding_skip_reason(settings, finding)
    if reason:
        return run.skip(reason)
    summary = f"{finding.type} on instance {instance_id}"
    if finding.resource_role != "ACTOR" and not settings.option("act_on_target"):
        return run.notify_only(
            f"the instance is the {finding.resource_role or 'unknown-role'} of the activity, "
            "not its actor: notify only",
            summary,
        )
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", summary)

    inspected = run.step("inspect_instance", instance_id, instance_id=instance_id)
    if inspected.status != "succeeded":
        # Unknown whether the instance is protected (or it is gone): never act blind. A failed
        # inspection fails the run (recorded partial, retried); a skipped one only notifies.
        if inspected.status != "failed":
            run.result.decision = "notified"
        run.result.reason = f"instance could not be inspected: {inspected.detail}"
        return run.finish(summary)
    if guards.protected(settings, run.state.get("tags", {})):
        run.result.decision = "notified"
        run.result.reason = f"instance carries the protected tag {settings.protected_tag_key}"
        return run.finish(summary)
    return _respond(run, settings, finding, instance_id, summary)


def _respond(run: Run, settings: Settings, finding: GuardDutyFinding, instance_id: str, summary: str) -> dict[str, Any]:
    volumes: list[str] = list(run.state["volumes"])
    interfaces: list[dict[str, Any]] = list(run.state["interfaces"])

    # 1. preserve
    run.step("preserve_instance", instance_id, instance_id=instance_id)
    run.step("tag_incident", instance_id, instance_id=instance_id, volumes=volumes)

    # 2. evidence
    run.step("snapshot_volumes", instance_id, instance_id=instance_id, volumes=volumes)
    run.step("capture_instance", instance_id, instance_id=instance_id)
    if settings.option("flow_logs"):
        run.step("enable_flow_logs", instance_id, interfaces=[i["id"] for i in interfaces], partition=finding.partition)
    evidence_failed = [s for s in run.result.steps if s.action in EVIDENCE_STEPS and s.status == "failed"]

    # 3. contain
    if interfaces:
        run.step("isolate_network", instance_id, interfaces=interfaces)
    else:
        run.skip_step("isolate_network", instance_id, "the instance has no network interface")
    if run.state.get("asg"):
        run.step("leave_auto_scaling_group", run.state["asg"], instance_id=instance_id, group=run.state["asg"])
    run.step("deregister_targets", instance_id, instance_id=instance_id)
    if settings.option("disassociate_elastic_ip"):
        run.step("disassociate_elastic_ip", instance_id, instance_id=instance_id)
    role = str(run.state.get("role", ""))
    if role:
        role_arn = f"arn:{finding.partition}:iam::{finding.account}:role/{role}"
        if guards.own_role(settings, role):
            run.skip_step("revoke_instance_role_sessions", role_arn, "the role belongs to this remediation stack")
        else:
            run.step("revoke_instance_role_sessions", role_arn, role=role)
        profile = str(settings.option("quarantine_instance_profile"))
        if profile:
            profile_arn = f"arn:{finding.partition}:iam::{finding.account}:instance-profile/{profile}"
            run.step("replace_instance_profile", instance_id, instance_id=instance_id, profile_arn=profile_arn)

    # 4. destructive, only after evidence succeeded
    final = str(settings.option("final_action"))
    if final != "none":
        name = f"{final}_instance"
        if evidence_failed:
            failed = ", ".join(f"{s.action} ({s.error_code})" for s in evidence_failed)
            run.skip_step(
                name,
                instance_id,
                f"NOT run: evidence capture failed ({failed}); the instance is left "
                "isolated and running for manual forensics",
            )
            summary = f"EVIDENCE FAILED, {final} not run: {summary}"
        else:
            run.step(name, instance_id, instance_id=instance_id)
    return run.finish(summary)
