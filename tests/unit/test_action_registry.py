"""Meta tests over the action registry: what every action must declare."""

from __future__ import annotations

from remediation.actions import REGISTRY

# Steps that write evidence: a repeat of the same incident must not write them again
# (no second snapshot, no overwriting the before-state with the contained state).
EVIDENCE = {"capture_instance", "capture_user_state", "snapshot_volumes", "lookup_cloudtrail", "enable_flow_logs"}


def test_reads_and_guards_run_again_on_every_repeat_but_evidence_does_not() -> None:
    for name, spec in REGISTRY.items():
        if name in EVIDENCE:
            assert not spec.repeatable, name
        elif not spec.mutating or spec.containment:
            assert spec.repeatable, f"{name}: a guard or containment step must be evaluated on every run"


def test_breaker_counts_isolation_detachment_stop_and_terminate() -> None:
    for name in ("isolate_network", "leave_auto_scaling_group", "stop_instance", "terminate_instance"):
        assert REGISTRY[name].destructive, name
