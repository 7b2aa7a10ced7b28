"""deploy-local pieces that run without the CDK CLI: verifier, layer seeding, emulator hygiene."""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import boto3
import pytest

from deploylocal import cdk as cdk_module
from deploylocal import resources
from deploylocal.emulator import Emulator, stop_stale
from deploylocal.motoserver import moto_fixes
from deploylocal.verify import verify
from gameday.remote import DeployedStack

STACK = "AutoRemediation"
# moto names each resource type its CloudFormation skips; the verifier reports them itself.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")


def _create_stack(template: dict[str, Any]) -> None:
    """What `cdk deploy` hands CloudFormation, created by moto's CloudFormation in-process."""
    boto3.client("ssm").put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="34", Type="String")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="cdk-hnb659fds-assets-123456789012-us-east-1")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handlers/__init__.py", "")
    for resource in template["Resources"].values():
        code = resource.get("Properties", {}).get("Code", {})
        if "S3Key" in code:
            s3.put_object(
                Bucket="cdk-hnb659fds-assets-123456789012-us-east-1", Key=code["S3Key"], Body=buffer.getvalue()
            )
    boto3.client("cloudformation").create_stack(
        StackName=STACK, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
    )


@pytest.fixture
def deployed(aws: None, template: dict[str, Any]) -> DeployedStack:
    with moto_fixes():
        _create_stack(template)
    return DeployedStack(STACK, endpoint_url=None)


def test_verify_passes_for_what_cloudformation_created(deployed: DeployedStack, template: dict[str, Any]) -> None:
    result = verify(deployed, template, label="create")

    assert result.ok, result.table()
    rows = {c.logical_id: c for c in result.checks}
    function = next(c for c in result.checks if c.type == "AWS::Lambda::Function")
    assert {"Handler", "Runtime", "Role", "Environment"} <= set(function.compared)
    rule = next(c for c in result.checks if c.type == "AWS::Events::Rule")
    assert "EventPattern" in rule.compared
    assert all(c.compared for c in result.checks if not c.skipped)
    assert {c.type for c in result.checks if c.skipped} >= {"AWS::CloudWatch::Alarm", "AWS::S3::BucketPolicy"}
    assert set(rows) == set(template["Resources"]) | {"(template)"}


def test_verify_names_each_difference(deployed: DeployedStack, template: dict[str, Any]) -> None:
    # GIVEN someone changed the deployed rule's pattern and the function's environment by hand
    events, lam = boto3.client("events"), boto3.client("lambda")
    rule = next(iter(deployed.of_type("AWS::Events::Rule").values()))
    description = events.describe_rule(Name=rule)["Description"]
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.guardduty"]}), Description=description)
    function = next(iter(deployed.functions.values()))
    lam.update_function_configuration(
        FunctionName=function.name, Environment={"Variables": {**function.environment, "MODE": "off"}}
    )

    result = verify(DeployedStack(STACK, endpoint_url=None), template, label="tampered")

    assert not result.ok
    problems = [p for c in result.checks for p in c.problems]
    assert any(p.startswith("EventPattern:") for p in problems), problems
    assert any(p.startswith("Environment:") and '"MODE": "off"' in p for p in problems), problems
    assert len(problems) == 2, [p[:80] for p in problems]


def test_layer_seeding_publishes_the_pinned_version(aws: None, template: dict[str, Any]) -> None:
    layers = resources.template_layers(template)
    assert list(layers) == ["AWSLambdaPowertoolsPythonV3-python314-x86_64"]
    version = layers["AWSLambdaPowertoolsPythonV3-python314-x86_64"]

    resources.seed_layers(boto3.client("lambda"), {"AWSLambdaPowertoolsPythonV3-python314-x86_64": 3})
    lines = resources.seed_layers(boto3.client("lambda"), layers)

    published = boto3.client("lambda").list_layer_versions(LayerName="AWSLambdaPowertoolsPythonV3-python314-x86_64")
    assert max(v["Version"] for v in published["LayerVersions"]) == version
    assert lines == [f"AWSLambdaPowertoolsPythonV3-python314-x86_64 published up to version {version}"]


def test_stale_pid_file_of_an_unrelated_process_is_left_alone(tmp_path: Any) -> None:
    pid_file = tmp_path / "moto.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # this test process is not an emulator

    assert stop_stale(pid_file) is None
    assert not pid_file.exists()


def test_missing_cdk_cli_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(cdk_module, "CDK_BIN", tmp_path / "node_modules" / ".bin" / "cdk")
    monkeypatch.setattr(cdk_module, "ROOT", tmp_path)

    with pytest.raises(cdk_module.CdkMissing, match="npm ci"):
        cdk_module.require_cli()


def test_emulator_is_stopped_when_the_body_fails(tmp_path: Any) -> None:
    with pytest.raises(RuntimeError, match="boom"), Emulator(tmp_path) as emulator:
        assert emulator.ready()
        assert emulator.endpoint.startswith("http://127.0.0.1:")
        assert (tmp_path / "moto.pid").read_text().strip() == str(emulator.process.pid if emulator.process else "")
        raise RuntimeError("boom")

    assert emulator.process is not None
    assert emulator.process.poll() is not None
    assert not emulator.ready()
    assert not (tmp_path / "moto.pid").exists()
