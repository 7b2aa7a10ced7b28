"""Step time budgets and failure handling in the engine, with stand-in actions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from remediation.actions.base import REGISTRY, ActionSpec, Outcome


@pytest.fixture
def run_settings(sim: Any) -> Any:
    from remediation import settings

    return settings.load(sim.environment("CredentialFunctionE8C59471"))


@pytest.fixture
def stand_ins() -> Iterator[threading.Event]:
    """A slow containment step (blocks until released) and a quick evidence step."""
    release = threading.Event()

    def slow(run: Any) -> Outcome:
        release.wait(10)
        return Outcome(detail="finally")

    def quick(run: Any) -> Outcome:
        return Outcome(detail="done")

    REGISTRY["test_slow"] = ActionSpec(
        "test_slow", (), "hang", slow, containment=True, repeatable=True, budget_seconds=0.2
    )
    REGISTRY["test_quick"] = ActionSpec("test_quick", (), "answer", quick, mutating=False)
    try:
        yield release
    finally:
        release.set()
        del REGISTRY["test_slow"], REGISTRY["test_quick"]


def test_a_slow_step_is_cut_at_its_budget_and_the_next_steps_still_run(run_settings: Any, stand_ins: Any) -> None:
    from remediation.engine import RemediationFailed, Run

    run = Run(run_settings, event_id="evt-slow", incident_id="test-slow", subject={})
    slow = run.step("test_slow", "target")
    quick = run.step("test_quick", "target")

    assert slow.status == "failed" and slow.error_code == "StepTimeout"
    assert "0.2 s budget" in slow.detail
    assert quick.status == "succeeded"
    with pytest.raises(RemediationFailed, match=r"test_slow \(StepTimeout\)") as raised:
        run.finish("slow call")
    assert raised.value.result is not None and raised.value.result["decision"] == "partial"


def test_steps_past_the_function_deadline_are_not_started(run_settings: Any, stand_ins: Any) -> None:
    from remediation.engine import Run

    run = Run(run_settings, event_id="evt-late", incident_id="test-late", subject={})
    run.deadline = 0.0  # the function's time is used up
    record = run.step("test_quick", "target")
    assert record.status == "skipped" and "time budget" in record.detail


def test_step_budget_grows_with_a_declared_wait() -> None:
    import remediation.actions  # noqa: F401

    spec = REGISTRY["recheck_new_credentials"]
    assert spec.budget_seconds >= 10 and spec.containment and spec.repeatable
    assert not REGISTRY["capture_user_state"].repeatable  # evidence: once per incident
    assert REGISTRY["inspect_principal"].repeatable  # a guard: every run
