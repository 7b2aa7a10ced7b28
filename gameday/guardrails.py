"""IAM guardrails of the template, enforced in the simulated account.

moto does not evaluate IAM policies. The stack relies on one IAM rule that matters for
safety: each function role carries an explicit Deny on its mutating actions for resources
that carry the protected tag (`aws:ResourceTag/<key>`), so a playbook may contain first and
inspect afterwards without ever changing a protected principal. The simulator enforces
exactly those Deny statements, read from the synthesized template (not hard-coded): if the
template lost them, the simulated call goes through and the tests that expect a protected
principal to stay untouched fail.

Supported resources: IAM users (`UserName`), IAM roles (`RoleName`), EC2 resources named by
`InstanceId` / `InstanceIds` / `GroupId` / `VolumeId`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import boto3
from botocore.exceptions import ClientError

from gameday import account


@dataclass(frozen=True)
class TagDeny:
    actions: tuple[str, ...]
    tag_key: str
    tag_value: str


def deny_statements(template: dict[str, Any], function_id: str) -> list[TagDeny]:
    """The Deny-on-resource-tag statements of the policies attached to the function's role."""
    resources = template["Resources"]
    role = resources[function_id]["Properties"].get("Role", {})
    role_id = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
    out: list[TagDeny] = []
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        props = resource["Properties"]
        if {"Ref": role_id} not in props.get("Roles", []):
            continue
        for statement in props["PolicyDocument"]["Statement"]:
            if statement.get("Effect") != "Deny":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for key, value in statement.get("Condition", {}).get("StringEquals", {}).items():
                if key.startswith("aws:ResourceTag/"):
                    out.append(TagDeny(tuple(actions), key.split("/", 1)[1], str(value)))
    return out


def _tags(service: str, params: dict[str, Any], readers: dict[str, Any]) -> list[dict[str, str]] | None:
    """Tags of the resource a call names, or None if this emulation cannot tell."""

    def reader(name: str) -> Any:
        if name not in readers:
            factory: Any = boto3.client
            readers[name] = factory(name, region_name=account.REGION)
        return readers[name]

    try:
        if service == "iam" and "UserName" in params:
            return list(reader("iam").list_user_tags(UserName=params["UserName"])["Tags"])
        if service == "iam" and "RoleName" in params:
            return list(reader("iam").list_role_tags(RoleName=params["RoleName"])["Tags"])
        if service == "ec2":
            ids = [params[k] for k in ("InstanceId", "GroupId", "VolumeId") if isinstance(params.get(k), str)]
            ids += [i for i in params.get("InstanceIds", []) if isinstance(i, str)]
            if ids:
                found = reader("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": ids}])["Tags"]
                return [{"Key": t["Key"], "Value": t["Value"]} for t in found]
    except ClientError:
        return None  # the resource does not exist: the real call will say so
    return None


def enforcer(denies: list[TagDeny]) -> Any:
    """A `clients.add_hook` callback that makes each new client honour the Deny statements."""

    readers: dict[str, Any] = {}  # plain clients (not hooked) to read tags, one per service

    def install(client: Any) -> None:
        prefix = client.meta.service_model.signing_name

        def check(params: dict[str, Any], model: Any, **_: Any) -> None:
            action = f"{prefix}:{model.name}"
            relevant = [d for d in denies if any(fnmatchcase(action, a) for a in d.actions)]
            if not relevant:
                return
            tags = _tags(prefix, params, readers) or []
            for deny in relevant:
                if any(t["Key"] == deny.tag_key and t["Value"] == deny.tag_value for t in tags):
                    response: Any = {
                        "Error": {
                            "Code": "AccessDenied",
                            "Message": f"User is not authorized to perform: {action} with an explicit deny "
                            f"in an identity-based policy (resource tag {deny.tag_key}={deny.tag_value})",
                        },
                        "ResponseMetadata": {"HTTPStatusCode": 403},
                    }
                    raise ClientError(
                        response,
                        model.name,
                    )

        client.meta.events.register(
            f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}.*", check
        )

    return install
