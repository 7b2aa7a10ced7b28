"""Seed an IAM user and access key for a GuardDuty credential finding."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import boto3


def seed(event: dict[str, Any]) -> dict[str, Any]:
    """Create the finding's principal (user with a key, or role) and rewrite the key id."""
    details = event["detail"]["resource"]["accessKeyDetails"]
    iam = boto3.client("iam")
    name, user_type, old_key = details.get("userName"), details.get("userType"), details.get("accessKeyId")
    text = json.dumps(event)
    if user_type == "IAMUser" and name:
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_user(UserName=name)
        new_key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        iam.create_access_key(UserName=name)  # a second, legitimate key that must stay Active
        if old_key:
            text = text.replace(old_key, new_key)
    elif user_type == "AssumedRole" and name:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return dict(json.loads(text))


def seed_exposed_key(event: dict[str, Any]) -> dict[str, Any]:
    """An IAM user whose key AWS Health reports as exposed; the key id is rewritten into the event."""
    iam = boto3.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName="compromised-user")
    new_key = iam.create_access_key(UserName="compromised-user")["AccessKey"]["AccessKeyId"]
    text = json.dumps(event)
    for entity in event.get("detail", {}).get("affectedEntities", []):
        old = entity.get("entityValue")
        if isinstance(old, str) and old:
            text = text.replace(old, new_key)
    return dict(json.loads(text))
