"""The playbook run: guard, act step by step, record, notify, measure.

A `Run` executes registered actions in order. Each step is timed, its AWS error code is
kept, and a failed step never stops the steps after it unless they depend on it (the
caller decides with `required`). In `dry_run` no action is called: each step is recorded
as planned. At the end the incident is written to the table, one notification is
published and metrics are emitted; a run with a failed step raises `RemediationFailed`
so Lambda's retries and then the on-failure queue take over.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remediation import store
from remediation.actions.base import REGISTRY, ActionFailed, NotApplicable, Outcome, error_code
from remediation.events import InvalidEvent, now
from remediation.observability import MetricUnit, logger, metrics
from remediation.settings import Settings

INCIDENT_NAMESPACE = uuid.UUID("8f0c8a52-5d8e-4b7e-9a51-2a7f3c1d9e44")

# Injectable so tests and the simulator can run the propagation wait instantly or
# interleave an attacker's move with it.
sleep: Callable[[float], None] = time.sleep


class RemediationFailed(RuntimeError):
    """At least one step failed; raised after recording so Lambda retries the event."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result


def incident_id_for(playbook: str, key: str) -> str:
    """Stable id: a repeat of the same finding maps to the same incident."""
    return f"{playbook}-{uuid.uuid5(INCIDENT_NAMESPACE, f'{playbook}:{key}').hex[:16]}"


@dataclass
class StepRecord:
    action: str
    target: str
    status: str  # succeeded | already_done | failed | planned | skipped
    detail: str = ""
    error_code: str = ""
    duration_ms: int = 0
    started_at: str = ""
    before: Any = None
    after: Any = None


@dataclass
class Result:
    """What a handler returns: JSON-serializable, read by tests and the simulator."""

    playbook: str
    decision: str  # acted | partial | dry_run | notified | skipped | rejected
    reason: str = ""
    incident_id: str = ""
    event_id: str = ""
    subject: dict[str, Any] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    notification_id: str = ""
    time_to_contain_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reject(settings: Settings, event: Any, exc: InvalidEvent) -> dict[str, Any]:
    """Bad input: clear logged error, a metric, no AWS change, no retry."""
    raw_id = event.get("id") if isinstance(event, dict) else None
    event_id = raw_id if isinstance(raw_id, str) else ""
    logger.error("rejected invalid event", extra={"reason": str(exc), "event_id": event_id[:128]})
    metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
    return Result(playbook=settings.playbook, decision="rejected", reason=str(exc), event_id=event_id[:128]).to_dict()


class Run:
    """One invocation of a playbook against one subject."""

    def __init__(
        self,
        settings: Settings,
        *,
        event_id: str,
        incident_id: str,
        subject: dict[str, Any],
        detected_at: datetime | None = None,
    ) -> None:
        self.settings = settings
        self.dry_run = settings.mode == "dry_run"
        self.incident_id = incident_id
        self.subject = subject
        self.started = time.monotonic()
        self.started_at = now()
        self.detected_at = detected_at
        self.state: dict[str, Any] = {}
        self.result = Result(
            playbook=settings.playbook, decision="acted", event_id=event_id, incident_id=incident_id, subject=subject
        )
        self.contained_ms: int | None = None
        logger.append_keys(incident_id=incident_id, playbook=settings.playbook)

    # ------------------------------------------------------------------ steps
    @property
    def failed(self) -> list[StepRecord]:
        return [s for s in self.result.steps if s.status == "failed"]

    def ok(self, name: str) -> bool:
        return any(s.action == name and s.status in ("succeeded", "already_done", "planned") for s in self.result.steps)

    def step(self, name: str, target: str, /, **kwargs: Any) -> StepRecord:
        spec = REGISTRY[name]
        started_at = now().isoformat()
        begin = time.monotonic()
        record = StepRecord(action=name, target=target, status="planned", started_at=started_at)
        if self.dry_run and spec.mutating:
            record.detail = f"dry run: would {spec.description}"
            self.result.steps.append(record)
            logger.info("planned step", extra={"action": name, "target": target})
            return record
        try:
            outcome: Outcome = spec.fn(self, **kwargs)
            record.status = outcome.status
            record.detail = outcome.detail
            record.before = outcome.before
            record.after = outcome.after
            self.state.update(outcome.data)
        except NotApplicable as exc:
            record.status, record.detail = "skipped", str(exc)
        except (ClientError, BotoCoreError, ActionFailed) as exc:
            record.status, record.error_code, record.detail = "failed", error_code(exc), str(exc)[:1000]
            logger.error("step failed", extra={"action": name, "target": target, "error_code": record.error_code})
        record.duration_ms = int((time.monotonic() - begin) * 1000)
        self.result.steps.append(record)
        if record.status != "failed":
            logger.info("step done", extra={"action": name, "target": target, "status": record.status})
        if spec.containment and record.status in ("succeeded", "already_done") and self.contained_ms is None:
            self.contained_ms = int((time.monotonic() - self.started) * 1000)
        return record

    def skip_step(self, name: str, target: str, reason: str) -> None:
        self.result.steps.append(
            StepRecord(action=name, target=target, status="skipped", detail=reason, started_at=now().isoformat())
        )

    # ------------------------------------------------------------------ endings
    def skip(self, reason: str) -> dict[str, Any]:
        """Nothing to do: log why, count it, change nothing."""
        logger.info("skipped", extra={"reason": reason})
        metrics.add_metric(name="Skipped", unit=MetricUnit.Count, value=1)
        self.result.decision, self.result.reason = "skipped", reason
        self.result.incident_id = ""
        return self.result.to_dict()

    def notify_only(self, reason: str, summary: str) -> dict[str, Any]:
        self.result.decision, self.result.reason = "notified", reason
        return self.finish(summary)

    def finish(self, summary: str) -> dict[str, Any]:
        """Record the incident, notify once, emit metrics; raise if a step failed."""
        result = self.result
        if result.decision == "acted":
            if self.dry_run:
                result.decision = "dry_run"
            elif self.failed:
                result.decision = "partial"
        result.time_to_contain_ms = self.contained_ms
        item = {
            "incident_id": self.incident_id,
            "playbook": self.settings.playbook,
            "decision": result.decision,
            "status": {"partial": "partial", "notified": "notified", "dry_run": "dry_run"}.get(
                result.decision, "contained"
            ),
            "reason": result.reason,
            "event_id": result.event_id,
            "subject": self.subject,
            "steps": [asdict(s) for s in result.steps],
            "created_at": self.started_at.isoformat(),
            "detected_at": self.detected_at.isoformat() if self.detected_at else None,
            "time_to_contain_ms": self.contained_ms,
            "mode": self.settings.mode,
        }
        try:
            store.put_incident(self.settings, item)
        except (ClientError, BotoCoreError) as exc:
            logger.exception("could not record incident", extra={"error_code": error_code(exc)})
            result.steps.append(
                StepRecord("record_incident", self.settings.incident_table, "failed", error_code=error_code(exc))
            )
        message = self._message(summary)
        try:
            result.notification_id = store.publish(
                self.settings,
                subject=f"[{self.settings.playbook}] {result.decision}: {summary}",
                message=message,
                attributes={"playbook": self.settings.playbook, "decision": result.decision},
            )
        except (ClientError, BotoCoreError) as exc:
            logger.exception("could not notify", extra={"error_code": error_code(exc)})
            result.steps.append(StepRecord("notify", self.settings.topic_arn, "failed", error_code=error_code(exc)))
        self._metrics()
        if self.failed:
            failed = ", ".join(f"{s.action} ({s.error_code})" for s in self.failed)
            raise RemediationFailed(f"incident {self.incident_id}: failed steps: {failed}", result.to_dict())
        return result.to_dict()

    def _metrics(self) -> None:
        name = {"acted": "Remediations", "partial": "Remediations", "dry_run": "DryRuns", "notified": "Notified"}
        metrics.add_metric(name=name.get(self.result.decision, "Remediations"), unit=MetricUnit.Count, value=1)
        done = sum(1 for s in self.result.steps if s.status in ("succeeded", "already_done"))
        metrics.add_metric(name="ActionsSucceeded", unit=MetricUnit.Count, value=done)
        metrics.add_metric(name="ActionsFailed", unit=MetricUnit.Count, value=len(self.failed))
        if self.contained_ms is not None:
            metrics.add_metric(name="TimeToContainMs", unit=MetricUnit.Milliseconds, value=self.contained_ms)

    def _message(self, summary: str) -> str:
        r = self.result
        lines = [
            summary,
            "",
            f"Decision:    {r.decision}" + (f" ({r.reason})" if r.reason else ""),
            f"Incident:    {self.incident_id}",
            f"Playbook:    {self.settings.playbook} (mode {self.settings.mode})",
            f"Event:       {r.event_id}",
        ]
        lines += [f"{k + ':':<12} {v}" for k, v in self.subject.items()]
        if self.contained_ms is not None:
            lines.append(f"Contained:   {self.contained_ms} ms after the handler started")
        if r.steps:
            lines += ["", "Steps:"]
            for s in r.steps:
                extra = f" [{s.error_code}]" if s.error_code else ""
                lines.append(f"  - {s.action:<28} {s.status:<12} {s.target}{extra} {s.detail}".rstrip())
        lines += [
            "",
            f"Release with: python -m release {self.incident_id}" if r.decision in ("acted", "partial") else "",
        ]
        return "\n".join(lines).rstrip() + "\n"
