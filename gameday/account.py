"""The stack's own supporting resources in the simulated (moto) account.

`cdk deploy` would create them; the simulator creates them on first use, with stable
names, and resolves the template's Ref / GetAtt / Sub against them so each function
sees the environment the template gives it.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import boto3

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
TAP_QUEUE = "gameday-notification-tap"


@dataclass
class Physical:
    """Physical ids of the template's resources: Ref value and attributes."""

    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


def _name(logical_id: str) -> str:
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


def provision(template: dict[str, Any]) -> dict[str, Physical]:
    """Create (idempotently) the topic, table, buckets, queues and key the functions use."""
    out: dict[str, Physical] = {}
    resources = template["Resources"]
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        name = _name(logical_id)
        if kind == "AWS::SNS::Topic":
            arn = boto3.client("sns", region_name=REGION).create_topic(Name=f"AutoRemediation-{name}")["TopicArn"]
            out[logical_id] = Physical(arn, {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]})
            _tap(arn)
        elif kind == "AWS::DynamoDB::Table":
            table = f"AutoRemediation-{name}"
            client = boto3.client("dynamodb", region_name=REGION)
            props = resource["Properties"]
            with contextlib.suppress(client.exceptions.ResourceInUseException):
                client.create_table(
                    TableName=table,
                    KeySchema=props["KeySchema"],
                    AttributeDefinitions=props["AttributeDefinitions"],
                    BillingMode="PAY_PER_REQUEST",
                )
            arn = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
            out[logical_id] = Physical(table, {"Arn": arn})
        elif kind == "AWS::S3::Bucket":
            bucket = f"autoremediation-{name.lower()}-{ACCOUNT}"
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            out[logical_id] = Physical(bucket, {"Arn": f"arn:{PARTITION}:s3:::{bucket}"})
        elif kind == "AWS::SQS::Queue":
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.create_queue(QueueName=f"AutoRemediation-{name}")["QueueUrl"]
            arn = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:AutoRemediation-{name}"
            out[logical_id] = Physical(url, {"Arn": arn, "QueueName": f"AutoRemediation-{name}", "QueueUrl": url})
        elif kind == "AWS::KMS::Key":
            key_id = f"00000000-0000-0000-0000-{abs(hash(logical_id)) % 10**12:012d}"
            out[logical_id] = Physical(key_id, {"Arn": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{key_id}"})
        elif kind == "AWS::Lambda::Function":
            fn = f"AutoRemediation-{name}"
            out[logical_id] = Physical(fn, {"Arn": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{fn}"})
        elif kind == "AWS::IAM::Role":
            role = f"AutoRemediation-{name}"
            out[logical_id] = Physical(role, {"Arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{role}"})
    return out


def _tap(topic_arn: str) -> None:
    """Subscribe a queue to the topic so the simulator can read what was notified."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=TAP_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns = boto3.client("sns", region_name=REGION)
    existing = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if not any(s["Endpoint"] == arn for s in existing):
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)


def notifications() -> list[dict[str, Any]]:
    """Drain and return the notifications published since the last call (Subject, Message)."""
    sqs = boto3.client("sqs", region_name=REGION)
    try:
        url = sqs.get_queue_url(QueueName=TAP_QUEUE)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return []
    return drain(sqs, url)


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete every SNS notification waiting in the tap queue at `url`."""
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            body = json.loads(message["Body"])
            out.append(
                {
                    "subject": body.get("Subject", ""),
                    "message": body.get("Message", ""),
                    "attributes": {k: v.get("Value") for k, v in body.get("MessageAttributes", {}).items()},
                }
            )
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def resolve(value: Any, physical: dict[str, Physical]) -> Any:
    """Resolve the intrinsic functions the stack uses in environment variables and ARNs."""
    pseudo = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": PARTITION,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "AutoRemediation",
    }
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return pseudo[arg] if arg in pseudo else physical[arg].ref
        if fn == "Fn::GetAtt":
            logical_id, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return physical[logical_id].attrs[attr]
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(str(resolve(p, physical)) for p in parts)
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return str(resolve(variables[name], physical))
                if name in pseudo:
                    return pseudo[name]
                logical_id, _, attr = name.partition(".")
                return physical[logical_id].attrs[attr] if attr else physical[logical_id].ref

            return re.sub(r"\$\{([^}]+)\}", sub, text)
    if isinstance(value, dict):
        return {k: resolve(v, physical) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, physical) for v in value]
    return value
