"""EC2 health: the stack's status-check and metric alarms, and AWS Health EC2 events.

System check (host hardware) -> recover: CloudWatch's native recover action on the alarm
moves the instance; when the instance cannot use it, or AWS Health reports that recovery
failed, an EBS-backed instance is stopped and started instead. Instance check (the OS) ->
reboot, escalating to stop/start after repeated reboots within a window, then to a person.
Auto Scaling members are marked Unhealthy so their group replaces them. Metric alarms only
notify; OK closes the incident; INSUFFICIENT_DATA does nothing.
"""

from __future__ import annotations

from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from remediation import alarms, guards, store
from remediation.actions.base import error_code
from remediation.ec2_events import AlarmStateChange, HealthEc2Event
from remediation.engine import RemediationFailed, Run, incident_id_for, reject
from remediation.events import InvalidEvent
from remediation.observability import MetricUnit, logger, metrics
from remediation.settings import Settings

RECOVERY_FAILED = ("AWS_EC2_INSTANCE_AUTO_RECOVERY_FAILURE", "AWS_EC2_SIMPLIFIED_AUTO_RECOVERY_FAILURE")
RETIREMENT = ("AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",)
HEALTH_EVENT_TYPES = RECOVERY_FAILED + RETIREMENT


def handle(event: Any, settings: Settings) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("source") == "aws.health":
        return _health_event(event, settings)
    return _alarm(event, settings)


# --------------------------------------------------------------------------- alarms


def _alarm(event: Any, settings: Settings) -> dict[str, Any]:
    try:
        alarm = AlarmStateChange.parse(event)
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    parsed = alarms.parse_alarm_name(settings.name_prefix, alarm.alarm_name)
    instance_id, metric = parsed if parsed else ("", alarm.metric_name)
    when = alarm.changed_at.isoformat() if alarm.changed_at else alarm.envelope.id
    subject = {"instance_id": instance_id, "alarm": alarm.alarm_name, "metric": metric, "state": alarm.state}
    run = Run(
        settings,
        event_id=alarm.envelope.id,
        incident_id=incident_id_for(settings.playbook, f"{instance_id}:{metric}:{when}"),
        subject=subject,
        detected_at=alarm.changed_at or alarm.envelope.time,
    )
    logger.append_keys(instance_id=instance_id, alarm=alarm.alarm_name)
    if parsed is None:
        return run.skip(f"alarm {alarm.alarm_name} is not one of this stack's instance alarms")
    if alarm.namespace and alarm.namespace != alarms.NAMESPACE:
        return run.skip(f"alarm {alarm.alarm_name} watches {alarm.namespace}, not {alarms.NAMESPACE}")
    if alarm.dimensions.get("InstanceId", instance_id) != instance_id:
        return run.skip(f"alarm {alarm.alarm_name} names {instance_id} but watches {alarm.dimensions['InstanceId']}")
    if settings.mode == "off":
        return run.skip("playbook mode is off")
    if alarm.state == "INSUFFICIENT_DATA":
        return run.skip("INSUFFICIENT_DATA: no data is not a failure (a stopped instance publishes none)")
    if alarm.state == "OK":
        return _close(run, settings, instance_id, metric, alarm)

    _remember_open(run, settings, instance_id, metric)
    summary = f"{metric} ALARM on {instance_id}"
    if metric not in alarms.STATUS_CHECKS:
        return run.notify_only("metric alarms only notify", summary)
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", summary)
    option = "system_check_action" if metric == alarms.SYSTEM_CHECK else "instance_check_action"
    return _respond(
        run,
        settings,
        instance_id,
        str(settings.option(option)),
        summary=summary,
        alarm_name=alarm.alarm_name,
        partition=alarm.partition,
        region=alarm.envelope.region,
    )


def _remember_open(run: Run, settings: Settings, instance_id: str, metric: str) -> None:
    try:
        store.open_incident(settings, instance_id, metric, run.incident_id)
    except (ClientError, BotoCoreError) as exc:
        # The remediation must not wait on bookkeeping; the OK transition will then find nothing to close.
        logger.exception("could not record the open incident", extra={"error_code": error_code(exc)})


def _close(run: Run, settings: Settings, instance_id: str, metric: str, alarm: AlarmStateChange) -> dict[str, Any]:
    """OK: close the incident the ALARM opened and tell the team the instance recovered."""
    try:
        incident_id = store.claim_open_incident(settings, instance_id, metric)
    except (ClientError, BotoCoreError) as exc:
        _close_failed(settings, instance_id, metric, "", "read the open incident", exc)
    if incident_id is None:
        return run.skip(f"OK on {alarm.alarm_name}: no open incident to close")
    note = f"{alarm.alarm_name} returned to OK at {alarm.changed_at.isoformat() if alarm.changed_at else '?'}"
    try:
        store.close_incident(settings, incident_id, "resolved", note)
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            _close_failed(settings, instance_id, metric, incident_id, "close the incident", exc)
        logger.warning("the closed incident was never recorded", extra={"incident_id": incident_id})
    except BotoCoreError as exc:
        _close_failed(settings, instance_id, metric, incident_id, "close the incident", exc)
    result = run.result
    result.decision, result.reason, result.incident_id = "resolved", note, incident_id
    try:
        result.notification_id = store.publish(
            settings,
            subject=f"[{settings.playbook}] recovered: {metric} OK on {instance_id}",
            message=f"{note}\n\nIncident:    {incident_id} (resolved)\nInstance:    {instance_id}\n"
            f"Reason:      {alarm.reason}\n",
            attributes={"playbook": settings.playbook, "decision": "resolved"},
        )
    except (ClientError, BotoCoreError) as exc:
        _close_failed(settings, instance_id, metric, incident_id, "notify the recovery", exc)
    metrics.add_metric(name="Resolved", unit=MetricUnit.Count, value=1)
    logger.info("incident resolved", extra={"incident_id": incident_id})
    return result.to_dict()


def _close_failed(
    settings: Settings, instance_id: str, metric: str, incident_id: str, what: str, exc: Exception
) -> NoReturn:
    """Bookkeeping of an OK failed: keep the incident open for Lambda's retry, and raise the designed signal."""
    code = error_code(exc)
    logger.error(f"could not {what}", extra={"error_code": code, "instance_id": instance_id})
    if incident_id:  # the claim took the open marker: put it back so the retry closes the incident
        try:
            store.open_incident(settings, instance_id, metric, incident_id)
        except (ClientError, BotoCoreError) as again:
            logger.error("could not re-open the incident for the retry", extra={"error_code": error_code(again)})
    raise RemediationFailed(f"OK of {metric} on {instance_id}: could not {what} ({code})") from exc


# --------------------------------------------------------------------------- responses


def _respond(
    run: Run,
    settings: Settings,
    instance_id: str,
    action: str,
    *,
    summary: str,
    alarm_name: str = "",
    partition: str = "aws",
    region: str = "",
) -> dict[str, Any]:
    """Act on one impaired instance: `action` is recover | reboot | stop | terminate | notify | stop_start."""
    inspected = run.step("inspect_instance_health", instance_id, instance_id=instance_id)
    if inspected.status == "failed":
        return run.finish(summary)  # unknown whether protected or running: never act blind
    info = run.state.get("instance")
    if info is None:
        return run.notify_only(f"instance {instance_id} no longer exists", summary)
    if guards.protected(settings, info["tags"]):
        return run.notify_only(f"instance carries the protected tag {settings.protected_tag_key}", summary)
    if info["state"] != "running":
        return run.notify_only(f"instance is {info['state']}: only a running instance is acted on", summary)
    if action == "notify":
        return run.notify_only("configured to notify", summary)
    group = info["auto_scaling_group"]
    policy = settings.option("auto_scaling_instances")
    if group and policy != "direct":
        if policy == "notify":
            return run.notify_only(f"instance belongs to Auto Scaling group {group}: notify only", summary)
        run.step("mark_unhealthy", instance_id, instance_id=instance_id, group=group)
        run.result.reason = f"Auto Scaling group {group} replaces the instance"
        return run.finish(summary)
    timeout = float(settings.option("stop_timeout_seconds"))
    if action == "recover":
        if info["recovery_supported"] and alarm_name:
            armed = run.step(
                "confirm_recover_action", alarm_name, alarm_name=alarm_name, partition=partition, region=region
            )
            if armed.status in ("succeeded", "planned"):
                run.result.reason = "CloudWatch's recover action moves the instance to healthy hardware"
                return run.finish(summary)
            why = armed.detail
        else:
            why = info["recovery_unsupported_because"] or "no system-check alarm"
        run.result.reason = f"native recovery not possible ({why}): stop and start instead"
        return _stop_start(run, info, timeout, summary)
    if action == "stop_start":
        return _stop_start(run, info, timeout, summary)
    if action == "reboot":
        return _reboot(run, settings, info, timeout, summary)
    if action in ("stop", "terminate"):
        captured = run.step("capture_instance_config", instance_id, instance_id=instance_id)
        if captured.status not in ("succeeded", "already_done"):
            run.result.reason = "configuration not captured: the instance was not stopped or terminated"
            return run.finish(summary)
        if action == "stop":
            run.step("stop_impaired_instance", instance_id, instance_id=instance_id, timeout=timeout)
        else:
            run.step("terminate_impaired_instance", instance_id, instance_id=instance_id)
        return run.finish(summary)
    raise ValueError(f"unknown health action {action!r}")


def _stop_start(run: Run, info: dict[str, Any], timeout: float, summary: str) -> dict[str, Any]:
    if not info["ebs_backed"]:
        reason = "instance-store backed: it cannot be stopped and started, replace it by hand"
        run.result.reason = f"{run.result.reason}; {reason}" if run.result.reason else reason
        run.result.decision = "notified"
        return run.finish(summary)
    run.step(
        "stop_start_instance", info["instance_id"], instance_id=info["instance_id"], ebs_backed=True, timeout=timeout
    )
    return run.finish(summary)


def _count(settings: Settings, instance_id: str, kind: str, window: int, *, record: bool) -> int | None:
    try:
        if record:
            return store.record_attempt(settings, instance_id, kind, window)
        return store.recent_attempts(settings, instance_id, kind, window)
    except (ClientError, BotoCoreError, RuntimeError) as exc:
        logger.exception(
            "could not read or record attempts",
            extra={"kind": kind, "error_code": error_code(exc), "error": str(exc)[:200]},
        )
        return None


def _reboot(run: Run, settings: Settings, info: dict[str, Any], timeout: float, summary: str) -> dict[str, Any]:
    """Reboot; after N reboots within the window stop/start; after that, hand over to a person."""
    instance_id = info["instance_id"]
    minutes = int(settings.option("reboot_window_minutes"))
    window = minutes * 60
    limit = int(settings.option("reboots_before_stop_start"))
    reboots = _count(settings, instance_id, "reboot", window, record=False)
    if reboots is None:
        run.result.reason = "reboot history unavailable: rebooting without escalation"
        reboots = 0
    if reboots >= limit:
        stop_starts = _count(settings, instance_id, "stop_start", window, record=False) or 0
        persistent = f"persistent failure: {reboots} reboot(s) within {minutes} min did not help"
        if stop_starts:
            return run.notify_only(f"{persistent}, nor did a stop/start: needs a person", f"PERSISTENT {summary}")
        run.result.reason = f"{persistent}; escalated to stop/start"
        if not info["ebs_backed"]:
            return run.notify_only(
                f"{persistent}; instance-store backed, so no stop/start: needs a person", f"PERSISTENT {summary}"
            )
        step = run.step("stop_start_instance", instance_id, instance_id=instance_id, ebs_backed=True, timeout=timeout)
        if step.status == "succeeded":
            _count(settings, instance_id, "stop_start", window, record=True)
        return run.finish(f"PERSISTENT {summary}")
    step = run.step("reboot_instance", instance_id, instance_id=instance_id)
    if step.status == "succeeded":
        count = _count(settings, instance_id, "reboot", window, record=True)
        if count is not None:
            run.result.reason = (
                f"reboot {count} of {limit} within {minutes} min; the next failure "
                f"{'escalates to stop/start' if count >= limit else 'reboots again'}"
            )
    return run.finish(summary)


# --------------------------------------------------------------------------- AWS Health


def _health_event(event: Any, settings: Settings) -> dict[str, Any]:
    try:
        health = HealthEc2Event.parse(event)
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    results: list[dict[str, Any]] = []
    failures: list[RemediationFailed] = []
    for instance_id in health.instance_ids:
        try:
            results.append(_health_instance(health, instance_id, settings))
        except RemediationFailed as exc:
            failures.append(exc)
            results.append(exc.result or {"playbook": settings.playbook, "decision": "partial", "reason": str(exc)})
    batch = {"playbook": settings.playbook, "decision": "batch", "results": results}
    if failures:
        if len(results) == 1:
            raise failures[0]  # with its result: the run's steps stay readable
        raise RemediationFailed("; ".join(str(f) for f in failures), batch)
    if len(results) == 1:
        return results[0]
    return batch


def _health_instance(health: HealthEc2Event, instance_id: str, settings: Settings) -> dict[str, Any]:
    subject = {"instance_id": instance_id, "health_event": health.type_code, "event_arn": health.event_arn}
    run = Run(
        settings,
        event_id=health.envelope.id,
        incident_id=incident_id_for(settings.playbook, f"{instance_id}:{health.event_arn or health.envelope.id}"),
        subject=subject,
        detected_at=health.envelope.time,
    )
    logger.append_keys(instance_id=instance_id, health_event=health.type_code)
    if settings.mode == "off":
        return run.skip("playbook mode is off")
    if health.type_code not in HEALTH_EVENT_TYPES:
        return run.skip(f"AWS Health event {health.type_code} is not handled")
    summary = f"{health.type_code} for {instance_id}"
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", summary)
    if health.type_code in RETIREMENT:
        if settings.option("retirement_action") != "stop_start":
            when = health.start_time.isoformat() if health.start_time else "the scheduled time"
            return run.notify_only(f"scheduled retirement at {when}: stop and start before then", summary)
        run.result.reason = "scheduled retirement: stop and start ahead of time"
    else:
        run.result.reason = "AWS Health reports that automatic recovery failed: stop and start instead"
    return _respond(run, settings, instance_id, "stop_start", summary=summary)
