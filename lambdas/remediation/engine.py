"""The playbook run: guard, act step by step, record, notify, measure.

A `Run` executes registered actions in order. Each step is timed, its AWS error code is
kept, and a failed step never stops the steps after it unless they depend on it (the
caller decides with `required`). In `dry_run` no action is called: each step is recorded
as planned. At the end the incident is written to the table, one notification is
published and metrics are emitted; a run with a failed step raises `RemediationFailed`
so Lambda's retries and then the on-failure queue take over.

Reliability is built in here, so every playbook written on `Run` gets it unchanged:

- Delivery idempotency: before the first step (or notification) the event id is claimed in
  the incident table together with a check that the incident was not released
  (`ledger.claim`, one call). A duplicate delivery skips every step and records nothing.
- Finding repeats: the incident id is stable per finding, so a repeat finds the earlier
  incident. Repeatable steps (containment) run again; a non-repeatable step (evidence,
  snapshots) that already succeeded for the same target is skipped; the incident item is
  merged, not replaced (the first run's before-states stay for release); an unchanged
  repeat notifies at most once per window.
- Circuit breaker: each destructive step takes a slot from an atomic per-account counter;
  past the limit the step is skipped, the run falls back to notify-only, and one alert
  goes out per window.
- Faults: every step runs inside a time budget; its failure is caught with the AWS error
  code; later steps still run; a failed run drops its delivery claim and raises.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remediation import ledger, store
from remediation.actions.base import REGISTRY, ActionFailed, ActionSpec, NotApplicable, Outcome, StepTimeout, error_code
from remediation.events import InvalidEvent, now
from remediation.observability import MetricUnit, logger, metrics
from remediation.settings import Settings

INCIDENT_NAMESPACE = uuid.UUID("8f0c8a52-5d8e-4b7e-9a51-2a7f3c1d9e44")

# Injectable so tests and the simulator can run the propagation wait instantly or
# interleave an attacker's move with it.
sleep: Callable[[float], None] = time.sleep

# Seconds kept back from the function's timeout for recording and notifying.
RESERVE_SECONDS = 5.0
DONE = ("succeeded", "already_done")


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
    warnings: list[str] = field(default_factory=list)  # bookkeeping that failed but did not stop the run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reject(settings: Settings, event: Any, exc: InvalidEvent) -> dict[str, Any]:
    """Bad input: clear logged error, a metric, no AWS change, no retry."""
    raw = event.get("id") if isinstance(event, dict) else None
    event_id = raw if isinstance(raw, str) else ""
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
        self.deadline = self.started + max(settings.timeout_seconds - RESERVE_SECONDS, 1.0)
        self.delivery: ledger.Claim | None = None
        self._previous: dict[str, Any] | None = None
        self._previous_loaded = False
        self.breaker_open = False
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
        blocked = self._blocked(spec, target)
        if blocked is not None:
            record.status, record.detail = "skipped", blocked
            self.result.steps.append(record)
            logger.info("step skipped", extra={"action": name, "target": target, "reason": blocked})
            return record
        if self.dry_run and spec.mutating:
            record.detail = f"dry run: would {spec.description}"
            self.result.steps.append(record)
            logger.info("planned step", extra={"action": name, "target": target})
            return record
        try:
            if spec.destructive and not self._take_breaker_slot(record):
                self.result.steps.append(record)
                return record
            outcome = self._call(spec, kwargs)
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
        if spec.containment and record.status in DONE and self.contained_ms is None:
            self.contained_ms = int((time.monotonic() - self.started) * 1000)
        return record

    # ------------------------------------------------------------------ reliability
    def _claim(self) -> ledger.Claim:
        """Claim this delivery once, lazily: the first step or notification does it."""
        if self.delivery is None:
            try:
                self.delivery = ledger.claim(self.settings, self.result.event_id, self.incident_id)
            except (ClientError, BotoCoreError) as exc:
                # Containment is idempotent: acting without the dedupe beats not acting. Said loudly.
                logger.error(
                    "could not claim the delivery; continuing without dedupe", extra={"error_code": error_code(exc)}
                )
                metrics.add_metric(name="ClaimFailures", unit=MetricUnit.Count, value=1)
                self.result.warnings.append(f"delivery claim failed ({error_code(exc)}): acted without dedupe")
                self.delivery = ledger.Claim("unclaimed", f"claim failed: {error_code(exc)}")
            if self.delivery.status != "new":
                logger.info("delivery not new", extra={"delivery": self.delivery.status, "why": self.delivery.detail})
        return self.delivery

    def delivery_detail(self) -> str:
        """Why the steps of this run are skipped wholesale ("" when the delivery is new)."""
        delivery = self._claim()
        return delivery.detail if delivery.status in ("duplicate", "released") else ""

    def previous(self) -> dict[str, Any] | None:
        """The incident recorded by an earlier run for the same finding (None if this is the first)."""
        if not self._previous_loaded:
            self._previous_loaded = True
            try:
                found = store.get_incident(self.settings, self.incident_id)
            except (ClientError, BotoCoreError) as exc:
                logger.error("could not read the earlier incident", extra={"error_code": error_code(exc)})
                self.result.warnings.append(f"earlier incident unreadable ({error_code(exc)}): treated as first run")
                found = None
            if found is not None:
                raw = found.get("steps", "[]")
                try:
                    found["steps"] = json.loads(raw) if isinstance(raw, str) else list(raw)
                except ValueError:
                    found["steps"] = []
            self._previous = found
        return self._previous

    def _blocked(self, spec: ActionSpec, target: str) -> str | None:
        """Why this step must not run now, or None."""
        delivery = self._claim()
        if delivery.status in ("duplicate", "released"):
            return delivery.detail
        if self.breaker_open and spec.destructive:
            return "circuit breaker open: destructive steps fall back to notify-only"
        if not spec.repeatable:
            previous = self.previous()
            if previous and any(
                s.get("action") == spec.name and s.get("target") == target and s.get("status") in DONE
                for s in previous["steps"]
            ):
                return "done by an earlier run of this incident (the finding repeated)"
        if time.monotonic() >= self.deadline:
            return "time budget of the function exhausted"
        return None

    def _take_breaker_slot(self, record: StepRecord) -> bool:
        """Count a destructive step against the breaker; False (record updated) if it may not run."""
        try:
            allowed, _count = ledger.take_destructive_slot(self.settings)
        except (ClientError, BotoCoreError) as exc:
            # Fail closed: without the count, a destructive step could be one too many.
            record.status, record.error_code = "failed", error_code(exc)
            record.detail = "circuit breaker unavailable: destructive step not run"
            return False
        if allowed:
            return True
        self.breaker_open = True
        s = self.settings
        record.status = "skipped"
        record.detail = (
            f"circuit breaker open: {s.breaker_limit} destructive actions in "
            f"{s.breaker_window_minutes} min for account {s.account}"
        )
        logger.warning("circuit breaker open", extra={"limit": s.breaker_limit, "action": record.action})
        metrics.add_metric(name="BreakerOpen", unit=MetricUnit.Count, value=1)
        self._breaker_alert()
        return False

    def _breaker_alert(self) -> None:
        s = self.settings
        try:
            if not ledger.first_breaker_alert(s):
                return
            store.publish(
                s,
                subject=f"[circuit breaker] destructive actions paused in {s.account}",
                message=(
                    f"More than {s.breaker_limit} destructive actions were requested in "
                    f"{s.breaker_window_minutes} minutes in account {s.account}. Playbooks now only notify "
                    f"until the window ends. Tripped by {s.playbook} (incident {self.incident_id}).\n"
                ),
                attributes={"playbook": s.playbook, "decision": "breaker_open"},
            )
        except (ClientError, BotoCoreError) as exc:
            logger.exception("could not send the circuit-breaker alert", extra={"error_code": error_code(exc)})
            self.result.warnings.append(f"circuit-breaker alert not sent ({error_code(exc)})")

    def _call(self, spec: ActionSpec, kwargs: dict[str, Any]) -> Outcome:
        """Run the action within its budget; a step that overruns is abandoned and reported."""
        budget = spec.budget_seconds + float(kwargs.get("wait_seconds") or 0)
        budget = min(budget, self.deadline - time.monotonic())
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["outcome"] = spec.fn(self, **kwargs)
            except BaseException as exc:  # handed to the caller's thread below
                box["error"] = exc

        worker = threading.Thread(target=work, name=f"step-{spec.name}", daemon=True)
        worker.start()
        worker.join(max(budget, 0.0))
        if worker.is_alive():
            raise StepTimeout(f"{spec.name} did not finish within its {budget:.1f} s budget")
        if "error" in box:
            raise box["error"]
        outcome: Outcome = box["outcome"]
        return outcome

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
        """Change nothing, tell the team (once per delivery; repeats at most once per window)."""
        self.result.decision, self.result.reason = "notified", reason
        return self.finish(summary)

    def finish(self, summary: str) -> dict[str, Any]:
        """Record the incident, notify once, emit metrics; raise if a step failed."""
        result = self.result
        delivery = self._claim()
        if delivery.status == "duplicate":
            result.decision, result.reason = "skipped", delivery.detail
            result.steps = []
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
            return result.to_dict()
        if delivery.status == "released":
            result.decision, result.reason = "notified", f"{delivery.detail}; the finding repeated, not re-contained"
            self._notify(summary, changed=False)
            self._metrics()
            self._complete()
            return result.to_dict()
        if result.decision == "acted":
            if self.dry_run:
                result.decision = "dry_run"
            elif self.failed:
                result.decision = "partial"
            elif self.breaker_open and not any(
                s.status == "succeeded" and REGISTRY.get(s.action, None) is not None and REGISTRY[s.action].mutating
                for s in result.steps
            ):
                result.decision = "notified"
            if self.breaker_open:
                result.reason = result.reason or "circuit breaker open: destructive steps skipped"
        result.time_to_contain_ms = self.contained_ms
        previous = self.previous() if self.result.steps or self._previous_loaded else None
        item = self._item(previous)
        try:
            store.put_incident(self.settings, item)
        except (ClientError, BotoCoreError) as exc:
            logger.exception("could not record incident", extra={"error_code": error_code(exc)})
            result.steps.append(
                StepRecord("record_incident", self.settings.incident_table, "failed", error_code=error_code(exc))
            )
            if result.decision in ("acted", "dry_run", "notified"):
                result.decision = "partial"
        changed = previous is None or previous.get("status") != item["status"]
        self._notify(summary, changed=changed)
        self._metrics()
        if self.failed:
            self._abandon()
            failed = ", ".join(f"{s.action} ({s.error_code})" for s in self.failed)
            raise RemediationFailed(f"incident {self.incident_id}: failed steps: {failed}", result.to_dict())
        self._complete()
        return result.to_dict()

    def _item(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        """The incident item; a repeat merges into the earlier one so its before-states stay."""
        result = self.result
        steps = [asdict(s) for s in result.steps]
        if previous:
            steps = merge_steps(previous.get("steps", []), steps)
        failed = any(s.get("status") == "failed" for s in steps)
        decision = result.decision
        if previous and decision in ("acted", "partial"):
            decision = "partial" if failed else "acted"
        status = {"partial": "partial", "notified": "notified", "dry_run": "dry_run"}.get(decision, "contained")
        if previous and previous.get("status") == "contained" and decision == "notified":
            status = "contained"  # a notify-only repeat does not undo the earlier containment
        return {
            "incident_id": self.incident_id,
            "playbook": self.settings.playbook,
            "decision": decision,
            "status": status,
            "reason": result.reason,
            "event_id": (previous or {}).get("event_id") or result.event_id,
            "last_event_id": result.event_id,
            "repeats": int(float((previous or {}).get("repeats", -1))) + 1,
            "subject": self.subject,
            "steps": steps,
            "created_at": (previous or {}).get("created_at") or self.started_at.isoformat(),
            "updated_at": self.started_at.isoformat(),
            "detected_at": self.detected_at.isoformat() if self.detected_at else None,
            "time_to_contain_ms": self.contained_ms,
            "mode": self.settings.mode,
        }

    def _notify(self, summary: str, *, changed: bool) -> None:
        """One notification per incident; an unchanged repeat at most once per window."""
        result = self.result
        try:
            if not changed and not ledger.may_notify(self.settings, self.incident_id):
                logger.info("repeat notification suppressed (window)")
                metrics.add_metric(name="NotificationsSuppressed", unit=MetricUnit.Count, value=1)
                return
        except (ClientError, BotoCoreError) as exc:
            logger.error("notification window unavailable; notifying", extra={"error_code": error_code(exc)})
            result.warnings.append(f"notification window unavailable ({error_code(exc)})")
        prefix = "" if changed else "update: "
        try:
            result.notification_id = store.publish(
                self.settings,
                subject=f"[{self.settings.playbook}] {prefix}{result.decision}: {summary}",
                message=self._message(summary),
                attributes={"playbook": self.settings.playbook, "decision": result.decision},
            )
        except (ClientError, BotoCoreError) as exc:
            logger.exception("could not notify", extra={"error_code": error_code(exc)})
            result.steps.append(StepRecord("notify", self.settings.topic_arn, "failed", error_code=error_code(exc)))
            if result.decision in ("acted", "dry_run", "notified"):
                result.decision = "partial"
            self._ledger_quietly(ledger.clear_notified, "notification window not reopened")
            return
        if changed:
            self._ledger_quietly(ledger.mark_notified, "notification window not started")

    def _ledger_quietly(self, fn: Callable[[Settings, str], None], what: str) -> None:
        try:
            fn(self.settings, self.incident_id)
        except (ClientError, BotoCoreError) as exc:
            logger.error(what, extra={"error_code": error_code(exc)})
            self.result.warnings.append(f"{what} ({error_code(exc)})")

    def _complete(self) -> None:
        if self.delivery is not None and self.delivery.status in ("new", "released"):
            try:
                ledger.complete(self.settings, self.result.event_id)
            except (ClientError, BotoCoreError) as exc:
                logger.error("could not complete the delivery claim", extra={"error_code": error_code(exc)})
                self.result.warnings.append(f"delivery claim not completed ({error_code(exc)})")

    def _abandon(self) -> None:
        if self.delivery is not None and self.delivery.status == "new":
            try:
                ledger.abandon(self.settings, self.result.event_id)
            except (ClientError, BotoCoreError) as exc:
                logger.error("could not drop the delivery claim", extra={"error_code": error_code(exc)})
                code = error_code(exc)
                self.result.warnings.append(f"delivery claim not dropped ({code}): retries wait for its lease")

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
        if r.warnings:
            lines += ["", "Warnings:", *(f"  - {w}" for w in r.warnings)]
        if r.steps:
            lines += ["", "Steps:"]
            for s in r.steps:
                extra = f" [{s.error_code}]" if s.error_code else ""
                lines.append(f"  - {s.action:<28} {s.status:<12} {s.target}{extra} {s.detail}".rstrip())
        if r.decision in ("acted", "partial"):
            lines += ["", f"Release with: python -m release {self.incident_id}"]
        return "\n".join(lines).rstrip() + "\n"


def merge_steps(earlier: list[dict[str, Any]], now_steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps of a repeat merged into the incident: earlier records (and before-states) stay.

    A step that failed before and succeeds now replaces the failure; a step that changed
    something now is appended; a step that found nothing to do, was skipped or planned
    adds nothing.
    """
    merged = [dict(s) for s in earlier]
    for step in now_steps:
        key = (step.get("action"), step.get("target"))
        same = [i for i, s in enumerate(merged) if (s.get("action"), s.get("target")) == key]
        failed_before = next((i for i in same if merged[i].get("status") == "failed"), None)
        if failed_before is not None and step.get("status") in (*DONE, "failed"):
            merged[failed_before] = step
        elif step.get("status") in ("succeeded", "failed"):
            merged.append(step)
    return merged
