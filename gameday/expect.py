"""Expectations on the final state and on what was notified, by the names a scenario declared.

`observe(world)` reads the account's observable state of every declared resource into one
plain dict; expectations compare against it, and `no_change` compares it with the
observation taken before the first event. Each check becomes one `Check` line of the
scorecard: what was expected, what was found.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from gameday.world import World, WorldError, permission_of


@dataclass
class Check:
    what: str
    expected: Any
    actual: Any
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "expected": self.expected, "actual": self.actual, "ok": self.ok}


# ---------------------------------------------------------------------------- observation


def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        return dict(json.loads(unquote(raw)))
    return dict(raw)


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _is_deny_all(statement: dict[str, Any]) -> bool:
    actions = statement.get("Action")
    resources = statement.get("Resource")
    return statement.get("Effect") == "Deny" and actions in ("*", ["*"]) and resources in ("*", ["*"])


def _policy_flags(documents: list[dict[str, Any]]) -> dict[str, bool]:
    """quarantined: an unconditional deny-all; sessions_revoked: a deny-all on aws:TokenIssueTime."""
    quarantined = revoked = False
    for document in documents:
        for statement in _statements(document):
            if not _is_deny_all(statement):
                continue
            condition = json.dumps(statement.get("Condition", {}))
            if not statement.get("Condition"):
                quarantined = True
            elif "aws:TokenIssueTime" in condition:
                revoked = True
    return {"quarantined": quarantined, "sessions_revoked": revoked}


def _managed_documents(iam: Any, arns: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for arn in arns:
        try:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            out.append(_document(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]))
        except iam.exceptions.NoSuchEntityException:
            continue
    return out


def _user(world: World, name: str) -> dict[str, Any]:
    iam = world.client("iam")
    try:
        iam.get_user(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        return {"exists": False}
    inline = {
        p: _document(iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"])
        for p in iam.list_user_policies(UserName=name)["PolicyNames"]
    }
    attached = [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]]
    try:
        iam.get_login_profile(UserName=name)
        login = True
    except iam.exceptions.NoSuchEntityException:
        login = False
    keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}
    return {
        "exists": True,
        "access_keys": keys,
        "managed_policies": sorted(_policy_name(world, a) for a in attached),
        "inline_policies": sorted(inline),
        "groups": sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]),
        "console_login": login,
        "tags": {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name).get("Tags", [])},
        **_policy_flags([*inline.values(), *_managed_documents(iam, attached)]),
    }


def _policy_name(world: World, arn: str) -> str:
    for name, known in world.policies.items():
        if known == arn:
            return name
    return arn


def _role(world: World, name: str) -> dict[str, Any]:
    iam = world.client("iam")
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return {"exists": False}
    inline = {
        p: _document(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
    }
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
    profiles = [
        p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
    ]
    return {
        "exists": True,
        "path": role.get("Path", "/"),
        "managed_policies": sorted(_policy_name(world, a) for a in attached),
        "inline_policies": sorted(inline),
        "instance_profiles": sorted(profiles),
        **_policy_flags([*inline.values(), *_managed_documents(iam, attached)]),
    }


def _normalize(permissions: list[dict[str, Any]]) -> list[str]:
    """Each (protocol, ports, source) of a group's rules as one comparable string."""
    out: list[str] = []
    for p in permissions:
        head = f"{p.get('IpProtocol')}:{p.get('FromPort', -1)}-{p.get('ToPort', -1)}"
        sources = [r["CidrIp"] for r in p.get("IpRanges", [])] + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
        sources += [g["GroupId"] for g in p.get("UserIdGroupPairs", [])]
        out.extend(f"{head}:{s}" for s in sources)
    return sorted(out)


def _security_group(world: World, group_id: str) -> dict[str, Any]:
    ec2 = world.client("ec2")
    try:
        group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    except ec2.exceptions.ClientError:
        return {"exists": False}
    return {
        "exists": True,
        "ingress": _normalize(group.get("IpPermissions", [])),
        "egress": _normalize(group.get("IpPermissionsEgress", [])),
    }


def _instance(world: World, name: str) -> dict[str, Any]:
    ec2 = world.client("ec2")
    ref = world.instances[name]
    found = ec2.describe_instances(InstanceIds=[ref.instance_id])["Reservations"][0]["Instances"][0]
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [ref.instance_id]}])[
        "NetworkInterfaces"
    ]
    interfaces = {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n.get("Groups", [])) for n in enis}
    protection = ec2.describe_instance_attribute(InstanceId=ref.instance_id, Attribute="disableApiTermination")
    shutdown = ec2.describe_instance_attribute(
        InstanceId=ref.instance_id, Attribute="instanceInitiatedShutdownBehavior"
    )
    snapshots = []
    if ref.volumes:
        snapshots = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": ref.volumes}], OwnerIds=["self"])[
            "Snapshots"
        ]
    asg = world.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[ref.instance_id])
    membership = asg.get("AutoScalingInstances", [])
    profile = (found.get("IamInstanceProfile") or {}).get("Arn", "")
    return {
        "state": found["State"]["Name"],
        "interfaces": interfaces,
        "termination_protection": bool(protection["DisableApiTermination"]["Value"]),
        "shutdown_behavior": shutdown["InstanceInitiatedShutdownBehavior"]["Value"],
        "snapshots": sorted(
            (
                {
                    "id": s["SnapshotId"],
                    "volume": s["VolumeId"],
                    "tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])},
                }
                for s in snapshots
            ),
            key=lambda s: s["id"],
        ),
        "auto_scaling": membership[0]["LifecycleState"] if membership else "none",
        "auto_scaling_group": membership[0]["AutoScalingGroupName"] if membership else "",
        "instance_profile": profile.rsplit("/", 1)[-1],
        "tags": {t["Key"]: t["Value"] for t in found.get("Tags", [])},
    }


def _trail(world: World, name: str) -> dict[str, Any]:
    cloudtrail = world.client("cloudtrail")
    trails = cloudtrail.describe_trails(trailNameList=[name], includeShadowTrails=False).get("trailList", [])
    if not trails:
        return {"exists": False}
    trail = trails[0]
    status = cloudtrail.get_trail_status(Name=name)
    selectors = cloudtrail.get_event_selectors(TrailName=name).get("EventSelectors", [])
    management = any(s.get("IncludeManagementEvents", True) for s in selectors) if selectors else True
    return {
        "exists": True,
        "logging": bool(status.get("IsLogging")),
        "multi_region": bool(trail.get("IsMultiRegionTrail")),
        "log_file_validation": bool(trail.get("LogFileValidationEnabled")),
        "management_events": management,
    }


def _alarms(world: World) -> list[dict[str, Any]]:
    pages = world.client("cloudwatch").get_paginator("describe_alarms").paginate()
    return [
        {
            "name": a["AlarmName"],
            "metric": a.get("MetricName", ""),
            "dimensions": {d["Name"]: d["Value"] for d in a.get("Dimensions", [])},
            "actions": list(a.get("AlarmActions", [])),
        }
        for page in pages
        for a in page["MetricAlarms"]
    ]


def observe(world: World) -> dict[str, Any]:
    """Everything an expectation can look at, for every declared resource."""
    return {
        "users": {name: _user(world, name) for name in world.users},
        "roles": {name: _role(world, name) for name in world.roles},
        "security_groups": {name: _security_group(world, gid) for name, gid in world.security_groups.items()},
        "instances": {name: _instance(world, name) for name in world.instances},
        "trails": {name: _trail(world, name) for name in world.trails},
        "alarms": sorted(_alarms(world), key=lambda a: a["name"]),
    }


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Paths where two observations differ (for `no_change`)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            out.extend(differences(before.get(key), after.get(key), f"{path}.{key}" if path else str(key)))
        return out
    return [] if before == after else [f"{path}: {json.dumps(before, default=str)} -> {json.dumps(after, default=str)}"]


# ---------------------------------------------------------------------------- checks


def evaluate(
    expect: dict[str, Any],
    *,
    world: World,
    results: list[dict[str, Any]],
    notifications: list[dict[str, Any]],
    before: dict[str, Any],
    after: dict[str, Any],
) -> list[Check]:
    checks: list[Check] = []
    add = checks.append
    for ref, status in (expect.get("keys") or {}).items():
        try:
            key = world.key(ref)
        except WorldError:  # e.g. the attacker's key, when the attacker never got to move
            add(Check(f"key {ref}", status, "never created", status == "absent"))
            continue
        actual = after["users"].get(key.user, {}).get("access_keys", {}).get(key.key_id, "absent")
        add(Check(f"key {ref} ({key.key_id})", status, actual, actual == status))
    for name, wanted in (expect.get("users") or {}).items():
        state = after["users"][name]
        for field, value in wanted.items():
            actual = state.get(field)
            ok = (
                sorted(actual) == sorted(value)
                if isinstance(value, list) and isinstance(actual, list)
                else actual == value
            )
            add(Check(f"user {name} {field}", value, actual, ok))
    for name, wanted in (expect.get("roles") or {}).items():
        state = after["roles"][name]
        for field, value in wanted.items():
            add(Check(f"role {name} {field}", value, state.get(field), state.get(field) == value))
    for name, wanted in (expect.get("instances") or {}).items():
        checks.extend(_instance_checks(world, name, wanted, after["instances"][name], results))
    for name, status in (expect.get("rules") or {}).items():
        try:
            ref = world._known_rule(name)
        except WorldError:
            add(Check(f"rule {name}", status, "never created", status == "absent"))
            continue
        group = after["security_groups"].get(ref.group, {})
        wanted_rules = _normalize([permission_of(ref, world.security_groups)])
        present = all(r in group.get(ref.direction, []) for r in wanted_rules)
        actual = "present" if present else "absent"
        add(
            Check(
                f"rule {name} ({ref.protocol}/{ref.from_port} {ref.cidr or ref.cidr_ipv6})",
                status,
                actual,
                actual == status,
            )
        )
    for name, wanted in (expect.get("trails") or {}).items():
        state = after["trails"][name]
        for field, value in wanted.items():
            add(Check(f"trail {name} {field}", value, state.get(field), state.get(field) == value))
    if "notifications" in expect:
        checks.extend(_notification_checks(world, expect["notifications"], notifications))
    if "invocations" in expect:
        add(Check("invocations", expect["invocations"], len(results), len(results) == expect["invocations"]))
    start = 0  # result expectations match invocations in order, each a later one than the last
    for index, wanted in enumerate(expect.get("results") or []):
        check, matched = _result_check(index, wanted, results, start)
        add(check)
        start = matched + 1 if matched is not None else start
    for name in expect.get("evidence") or []:
        add(_evidence_check(world, name, results))
    if "alarms" in expect:
        checks.extend(_alarm_checks(world, expect["alarms"], after["alarms"]))
    if expect.get("no_change"):
        changed = differences(before, after)
        add(Check("no change to the account", "no differences", changed or "no differences", not changed))
    if "contained" in expect:
        contained = [
            r["result"]["time_to_contain_ms"]
            for r in results
            if (r.get("result") or {}).get("time_to_contain_ms") is not None
        ]
        add(
            Check(
                "time to contain recorded", expect["contained"], bool(contained), bool(contained) == expect["contained"]
            )
        )
    return checks


def _instance_checks(
    world: World, name: str, wanted: dict[str, Any], state: dict[str, Any], results: list[dict[str, Any]]
) -> list[Check]:
    ref = world.instances[name]
    out = []
    for field, value in wanted.items():
        if field == "isolated":
            original = set(ref.security_groups)
            bad = {
                eni: groups
                for eni, groups in state["interfaces"].items()
                if not groups or original & set(groups) or not _closed(world, groups)
            }
            isolated = not bad and bool(state["interfaces"])
            actual: Any = True if isolated else {"not isolated": bad}
            out.append(Check(f"instance {name} every interface isolated", value, actual, isolated == value))
        elif field == "snapshots":
            incidents = {r["result"]["incident_id"] for r in results if (r.get("result") or {}).get("incident_id")}
            tagged = [s for s in state["snapshots"] if incidents & set(s["tags"].values())]
            out.append(
                Check(f"instance {name} snapshots tagged with the incident", value, len(tagged), len(tagged) == value)
            )
        elif field == "tags":
            actual = {k: state["tags"].get(k) for k in value}
            ok = all(
                fnmatch.fnmatchcase(str(state["tags"].get(k, "")), str(v)) and k in state["tags"]
                for k, v in value.items()
            )
            out.append(Check(f"instance {name} tags", value, actual, ok))
        else:
            actual = state.get(field)
            out.append(Check(f"instance {name} {field}", value, actual, actual == value))
    return out


def _closed(world: World, group_ids: list[str]) -> bool:
    """An isolating group admits nothing from the world (an examiner CIDR is allowed)."""
    ec2 = world.client("ec2")
    for group in ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
        for rule in _normalize(group.get("IpPermissions", [])):
            if rule.endswith(":0.0.0.0/0") or rule.endswith("::/0"):
                return False
    return True


def _notification_checks(world: World, wanted: Any, notifications: list[dict[str, Any]]) -> list[Check]:
    if isinstance(wanted, int):
        wanted = {"count": wanted}
    out = []
    subjects = [n["subject"] for n in notifications]
    if "count" in wanted:
        out.append(Check("notifications", wanted["count"], len(notifications), len(notifications) == wanted["count"]))
    for text in wanted.get("mention", []):
        try:
            rendered = world.render(text)
        except WorldError as exc:
            out.append(Check(f"a notification mentions {text}", True, str(exc), False))
            continue
        count = sum(1 for n in notifications if rendered in n["subject"] or rendered in n["message"])
        out.append(Check(f"a notification mentions {text} ({rendered})", True, f"{count} mention it", count > 0))
    for text in wanted.get("subject", []):
        hits = [s for s in subjects if world.render(text).lower() in s.lower()]
        out.append(Check(f"a notification subject contains {text!r} (any case)", True, subjects, bool(hits)))
    return out


def _result_check(
    index: int, wanted: dict[str, Any], results: list[dict[str, Any]], start: int
) -> tuple[Check, int | None]:
    """Some invocation of the playbook matches: decision (one or a list), reason text, step statuses."""
    label = f"result {index + 1}: {wanted.get('playbook', 'any playbook')} " + ", ".join(
        f"{k}={v}" for k, v in wanted.items() if k != "playbook"
    )
    seen = []
    for position, entry in enumerate(results):
        if position < start:
            continue
        result = entry.get("result") or {}
        if "playbook" in wanted and entry.get("playbook") != wanted["playbook"]:
            continue
        decisions = wanted.get("decision")
        decisions = [decisions] if isinstance(decisions, str) else decisions
        steps = {s["action"]: s["status"] for s in result.get("steps", [])}
        summary = {"decision": result.get("decision"), "reason": result.get("reason", ""), "steps": steps}
        if entry.get("error"):
            summary["error"] = entry["error"]["type"]
        seen.append(summary)
        if decisions and result.get("decision") not in decisions:
            continue
        if "reason" in wanted and wanted["reason"].lower() not in str(result.get("reason", "")).lower():
            continue
        if not all(_step_matches(pattern, status, steps) for pattern, status in (wanted.get("steps") or {}).items()):
            continue
        return Check(label, "a matching invocation", summary, True), position
    return Check(label, "a matching invocation", seen or "no invocation", False), None


def _step_matches(pattern: str, status: str, steps: dict[str, str]) -> bool:
    names = [name for name in steps if fnmatch.fnmatchcase(name, pattern)]
    if status == "absent":
        return not names
    return any(steps[name] == status for name in names)


def _evidence_check(world: World, name: str, results: list[dict[str, Any]]) -> Check:
    """Evidence written during this scenario (a deployed stack's bucket is shared by every scenario,
    and a fixture's finding id, hence its incident id, recurs: older objects do not count)."""
    s3 = world.client("s3")
    incidents = {r["result"]["incident_id"] for r in results if (r.get("result") or {}).get("incident_id")}
    since = world.started_at.replace(microsecond=0)  # S3 keeps LastModified to the second
    found: list[str] = []
    older: list[str] = []
    for bucket in s3.list_buckets()["Buckets"]:
        if "evidence" not in bucket["Name"]:
            continue
        for incident in incidents:
            listed = s3.list_objects_v2(Bucket=bucket["Name"], Prefix=f"incidents/{incident}/").get("Contents", [])
            for obj in listed:
                if obj["Key"].endswith(f"/{name}.json"):
                    (found if obj["LastModified"] >= since else older).append(obj["Key"])
    actual: Any = found or (f"missing (only from before this scenario: {older})" if older else "missing")
    return Check(f"evidence {name} stored for the incident", True, actual, bool(found))


def _alarm_checks(world: World, wanted: dict[str, Any], alarms: list[dict[str, Any]]) -> list[Check]:
    out = []
    for name, spec in wanted.items():
        instance_id = world.instance(name).instance_id
        mine = [a for a in alarms if a["dimensions"].get("InstanceId") == instance_id or instance_id in a["name"]]
        metrics = sorted({a["metric"] for a in mine})
        if "count" in spec:
            out.append(Check(f"alarms of instance {name}", spec["count"], len(mine), len(mine) == spec["count"]))
        for metric in spec.get("include", []):
            out.append(Check(f"instance {name} has a {metric} alarm", True, metrics, metric in metrics))
    return out
