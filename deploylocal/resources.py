"""Emulator-side preparation and clean-up around the CDK commands.

- `seed_layers`: the Powertools layer is AWS-managed and exists in every real region. moto
  has no such layer; it ignores `Layers` when it creates a function but validates them on
  update, so the update deploy fails unless the layer's name is published up to the pinned
  version (moto resolves a layer ARN by name and version in its own account).
- `empty_buckets`: CloudFormation cannot delete a bucket that still holds objects; the
  evidence and access-log buckets are emptied (every version) before `cdk destroy`.
- `inventory` / `leftovers`: what the stack created, and what of it is still there after
  destroy, plus a sweep of every service the stack uses for names carrying the stack's name.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gameday.remote import DeployedStack

BOOTSTRAP_PREFIX = "cdk-hnb659fds"
_LAYER = re.compile(r":layer:(?P<name>[A-Za-z0-9_-]+):(?P<version>\d+)$")


def template_layers(template: dict[str, Any]) -> dict[str, int]:
    """Layer name -> highest version the template's functions pin."""
    out: dict[str, int] = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        for layer in resource.get("Properties", {}).get("Layers", []):
            text = layer.get("Fn::Sub", "") if isinstance(layer, dict) else str(layer)
            match = _LAYER.search(text if isinstance(text, str) else text[0])
            if match:
                name, version = match["name"], int(match["version"])
                out[name] = max(out.get(name, 0), version)
    return out


def seed_layers(lambda_client: Any, layers: dict[str, int]) -> list[str]:
    """Publish each layer name until it has the pinned version; one line per layer."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/README.txt", "placeholder for an AWS-managed layer (deploy-local emulator)\n")
    lines = []
    for name, version in sorted(layers.items()):
        have = [v["Version"] for v in lambda_client.list_layer_versions(LayerName=name).get("LayerVersions", [])]
        latest = max(have, default=0)
        while latest < version:
            latest = lambda_client.publish_layer_version(LayerName=name, Content={"ZipFile": buffer.getvalue()})[
                "Version"
            ]
        lines.append(f"{name} published up to version {latest}")
    return lines


def empty_buckets(stack: DeployedStack) -> dict[str, int]:
    """Delete every object version and delete marker of the stack's buckets; count per bucket."""
    s3 = stack.client("s3")
    counts = {}
    for bucket in stack.of_type("AWS::S3::Bucket").values():
        deleted = 0
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            entries = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(entries), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": entries[start : start + 1000], "Quiet": True})
            deleted += len(entries)
        counts[bucket] = deleted
    return counts


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    physical_id: str


def inventory(stack: DeployedStack) -> list[Resource]:
    return [Resource(lid, r["type"], r["physical_id"]) for lid, r in sorted(stack.resources.items())]


def _exists(clients: Any, resource: Resource) -> bool | None:
    """Whether one recorded resource still exists; None for types without an existence check."""
    pid, kind = resource.physical_id, resource.type
    probes: dict[str, tuple[str, Any]] = {
        "AWS::S3::Bucket": ("s3", lambda c: c.head_bucket(Bucket=pid)),
        "AWS::DynamoDB::Table": ("dynamodb", lambda c: c.describe_table(TableName=pid)),
        "AWS::Lambda::Function": ("lambda", lambda c: c.get_function(FunctionName=pid)),
        "AWS::IAM::Role": ("iam", lambda c: c.get_role(RoleName=pid)),
        "AWS::Events::Rule": ("events", lambda c: c.describe_rule(Name=pid)),
        "AWS::SNS::Topic": ("sns", lambda c: c.get_topic_attributes(TopicArn=pid)),
        "AWS::SQS::Queue": ("sqs", lambda c: c.get_queue_attributes(QueueUrl=pid)),
    }
    if kind == "AWS::Logs::LogGroup":
        groups = clients("logs").describe_log_groups(logGroupNamePrefix=pid)["logGroups"]
        return any(g["logGroupName"] == pid for g in groups)
    if kind == "AWS::KMS::Key":
        try:
            state = clients("kms").describe_key(KeyId=pid)["KeyMetadata"]["KeyState"]
        except ClientError:
            return False
        return state != "PendingDeletion"  # AWS never deletes a key at once: it schedules deletion
    if kind not in probes:
        return None
    service, probe = probes[kind]
    try:
        probe(clients(service))
    except ClientError:
        return False
    return True


def leftovers(stack_name: str, clients: Any, recorded: list[Resource]) -> tuple[list[str], list[str]]:
    """(what of the stack is left, what was checked) after destroy; bootstrap resources excluded."""
    left, checked = [], []
    cfn = clients("cloudformation")
    try:
        status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    except ClientError:
        status = "gone"
    checked.append(f"stack {stack_name}: {status}")
    if status not in ("gone", "DELETE_COMPLETE"):
        left.append(f"stack {stack_name} is {status}")
    for resource in recorded:
        exists = _exists(clients, resource)
        if exists is None:
            continue
        checked.append(f"{resource.type} {resource.physical_id}: {'STILL THERE' if exists else 'deleted'}")
        if exists:
            left.append(f"{resource.type} {resource.logical_id} ({resource.physical_id})")
    needle = stack_name.lower()
    names = {
        "bucket": [b["Name"] for b in clients("s3").list_buckets()["Buckets"]],
        "table": clients("dynamodb").list_tables()["TableNames"],
        "function": [f["FunctionName"] for f in clients("lambda").list_functions()["Functions"]],
        "role": [r["RoleName"] for r in clients("iam").list_roles()["Roles"]],
        "rule": [r["Name"] for r in clients("events").list_rules()["Rules"]],
        "topic": [t["TopicArn"] for t in clients("sns").list_topics()["Topics"]],
        "queue": clients("sqs").list_queues().get("QueueUrls", []),
        "log group": [g["logGroupName"] for g in clients("logs").describe_log_groups()["logGroups"]],
    }
    for kind, found in names.items():
        mine = [n for n in found if needle in n.lower() and BOOTSTRAP_PREFIX not in n]
        checked.append(f"sweep {kind}s named *{stack_name}*: {len(mine)}")
        left += [f"{kind} {n}" for n in mine if f"{kind} {n}" not in left]
    kms = clients("kms")
    for key in kms.list_keys()["Keys"]:
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])}
        if tags.get("app") == "autoremediation" or tags.get("aws:cloudformation:stack-name") == stack_name:
            state = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"]
            if state != "PendingDeletion":
                left.append(f"KMS key {key['KeyId']} ({state})")
    checked.append("sweep KMS keys tagged by the stack")
    return sorted(set(left)), checked
