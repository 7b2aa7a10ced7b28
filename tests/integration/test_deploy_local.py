"""`cdk deploy` proven without an AWS account: the real CDK CLI against a local moto server.

One run of the whole path (about 3.5 minutes on 2 cores): bootstrap, deploy, verify,
rehearse, the built-in game-day library against the deployed stack, update deploy with
changed context, verify, rehearse, diff, destroy, nothing left.
The emulator is stopped whatever happens (`deploylocal.emulator.Emulator`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deploylocal.cdk import CDK_BIN
from deploylocal.run import Report, run

pytestmark = pytest.mark.integration

CORE_TYPES = {
    "AWS::Events::Rule",
    "AWS::Lambda::Function",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::Lambda::Permission",
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    if not CDK_BIN.exists():
        pytest.fail(f"{CDK_BIN} is missing: install the pinned CDK CLI with `npm ci` (CI does this before the tests)")
    return run(tmp_path_factory.mktemp("deploy-local"), echo=lambda line: None)


def test_every_cdk_command_succeeds_against_the_emulator(report: Report) -> None:
    assert report.errors == [], report.summary()
    assert [(s.name, s.ok) for s in report.steps] == [
        ("bootstrap", True),
        ("deploy", True),
        ("update", True),
        ("diff", True),
        ("destroy", True),
    ], report.summary()
    update = next(s for s in report.steps if s.name == "update")
    assert "--method=direct" in update.argv
    assert "credential.mode=dry_run" in update.argv
    assert all("core.retainData=false" in s.argv for s in report.steps)


def test_each_deploy_is_verified_resource_by_resource(report: Report) -> None:
    assert [v.label for v in report.verifications] == ["deploy (create)", "update deploy (credential.mode=dry_run)"]
    for verification in report.verifications:
        assert verification.ok, verification.table()
        verified = {c.type for c in verification.checks if not c.skipped and c.compared and not c.problems}
        assert verified >= CORE_TYPES, verification.table()
        # what the emulator does not create is listed as not verified, never as passed
        assert {"AWS::CloudWatch::Alarm", "AWS::S3::BucketPolicy"} <= set(verification.skipped_types)
        assert "(template)" in {c.logical_id for c in verification.checks if c.compared and not c.problems}
    created, updated = report.verifications
    # the update changes the credential function (its MODE): moto applies its Layers only then
    function = next(c for c in updated.checks if c.logical_id.startswith("CredentialFunction"))
    assert "Layers (name:version)" in function.compared
    assert (
        "Layers (dropped on create)"
        in next(c for c in created.checks if c.type == "AWS::Lambda::Function").not_verified
    )


def test_the_scenario_passes_against_the_deployed_stack_in_each_mode(report: Report) -> None:
    assert [(r.name, r.mode, r.ok) for r in report.rehearsals] == [
        ("credential compromise", "enforce", True),
        ("credential compromise", "dry_run", True),
    ], "\n".join(r.table() for r in report.rehearsals)
    enforce = report.rehearsals[0]
    checked = [what for what, ok, _ in enforce.checks if ok]
    assert any(w.startswith("access key") and w.endswith("is Inactive") for w in checked)
    assert any(w.startswith("quarantine policy") for w in checked)
    assert any(w.startswith("incident") for w in checked)
    assert any(w.startswith("evidence written") for w in checked)


def test_the_builtin_scenarios_pass_against_the_deployed_stack(report: Report) -> None:
    library = report.library
    assert library is not None, report.summary()
    print("\n" + report.library_summary())  # the skips and their reasons, in the test log (pytest -s)
    counts = library.counts
    assert counts["passed"] > 0, report.library_summary()
    assert (counts["failed"], counts["error"]) == (0, 0), report.library_summary()
    assert library.cleanup_problems == [], report.library_summary()
    assert library.ok
    # every skip names why the deployed stack cannot show the scenario
    for name, reason in library.skips:
        assert reason.startswith(("needs context ", "attacker actions during the wait", "no deployed")), (name, reason)
    # the scorecard is in the report and in summary.json
    assert "SCORECARD" in report.scorecard
    summary = json.loads((report.workdir / "summary.json").read_text())
    assert summary["library"]["totals"] == counts
    assert summary["scorecard"] == report.scorecard


def test_destroy_leaves_nothing_of_the_stack(report: Report) -> None:
    assert report.destroyed
    assert report.leftovers == [], report.leftover_checks
    deleted = [line for line in report.leftover_checks if line.endswith(": deleted")]
    assert len(deleted) >= 10, report.leftover_checks


def test_the_emulator_is_stopped_and_its_pid_file_removed(report: Report) -> None:
    assert report.moto_pid is not None
    assert not _alive(report.moto_pid)
    assert not (report.workdir / "moto.pid").exists()
