"""Game days against a DEPLOYED stack: `python -m gameday run --endpoint URL`.

The scenarios run as they do in the simulator, with three differences:

- every AWS call (the scenario's state, the attacker, the handlers, the expectations)
  goes to the emulator at the endpoint, and events are routed by the DEPLOYED rules to
  the handlers, run in-process with the DEPLOYED environments (`gameday.remote.DeployedStack`);
- a scenario the deployed stack cannot show is skipped with the reason, never passed: its
  `config` differs from the context the stack was deployed with, an event needs a route
  or a scheduled rule the stack does not have, or the attacker moves during a wait;
- the account is shared, so what a scenario created is removed before the next one
  starts. `sweep()` deletes every resource of the kinds a scenario or a playbook can
  create that was not there when the run began (the stack's own resources and anything
  that predates the run stay). Notifications come from a queue subscribed to the
  deployed topic, drained before each scenario; evidence counts only if written during
  the scenario. The incident table and evidence bucket are the stack's and are kept.

The context the stack was deployed with (`context`, cdk.json plus `-c` values) is checked
first: the template CloudFormation holds must equal the one synthesized from this
checkout with that context. Otherwise the in-process handlers and the skip decisions would
describe another stack, and the run stops with the differences (`ContextMismatch`).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Any

from gameday import account, library, template
from gameday.patterns import matches
from gameday.remote import DeployedStack
from gameday.runner import ScenarioResult, run_scenario, scheduled_event
from gameday.scenario import Scenario
from gameday.seed import refresh_times

DEFAULT_STACK = "AutoRemediation"
# S3 keeps LastModified to the second: scenarios start at least this long after the last one ended,
# so evidence written by an earlier scenario can never look as if this one wrote it.
GAP_SECONDS = 1.0


class ContextMismatch(RuntimeError):
    """The deployed template is not the one this checkout synthesizes with the given context."""


@dataclass(frozen=True)
class ScheduledRule:
    logical_id: str
    name: str
    arn: str
    expression: str
    enabled: bool
    targets: tuple[str, ...]


@dataclass
class EndpointRun:
    """What `DeployedTarget.run` did: one result per scenario, and any cleanup that failed."""

    endpoint: str
    stack_name: str
    context: dict[str, Any]
    results: list[ScenarioResult] = field(default_factory=list)
    cleanup_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
        for r in self.results:
            out[r.status] += 1
        return out

    @property
    def ok(self) -> bool:
        counts = self.counts
        return counts["passed"] > 0 and counts["failed"] == 0 and counts["error"] == 0 and not self.cleanup_problems

    @property
    def skips(self) -> list[tuple[str, str]]:
        return [(r.name, r.reason) for r in self.results if r.status == "skipped"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "stack": self.stack_name,
            "context": self.context,
            "ok": self.ok,
            "totals": self.counts,
            "seconds": self.seconds,
            "cleanup_problems": self.cleanup_problems,
            "skips": [{"scenario": n, "reason": r} for n, r in self.skips],
            "scenarios": [r.to_dict() for r in self.results],
        }


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((template.ROOT / "cdk.json").read_text()).get("context", {}))


def _flag(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class DeployedTarget:
    """A deployed stack behind an endpoint, as a game-day target; a context manager (tap queue, baseline)."""

    def __init__(
        self, endpoint_url: str | None, *, stack_name: str = DEFAULT_STACK, context: dict[str, Any] | None = None
    ) -> None:
        self.stack = DeployedStack(stack_name, endpoint_url=endpoint_url)
        self.context = dict(context or {})
        self._tap: tuple[str, str] | None = None  # (queue url, subscription arn)
        self._baseline: dict[str, set[str]] = {}
        self._last_end = 0.0

    # ------------------------------------------------------------------ what is deployed
    @property
    def playbooks(self) -> set[str]:
        return {f.environment["PLAYBOOK"] for f in self.stack.functions.values() if f.environment.get("PLAYBOOK")}

    @cached_property
    def scheduled_rules(self) -> list[ScheduledRule]:
        events = self.stack.client("events")
        by_arn = {fn.arn: lid for lid, fn in self.stack.functions.items()}
        out = []
        for logical_id, name in sorted(self.stack.of_type("AWS::Events::Rule").items()):
            rule = events.describe_rule(Name=name)
            if "ScheduleExpression" not in rule:
                continue
            targets = []
            for page in events.get_paginator("list_targets_by_rule").paginate(Rule=name):
                targets += [by_arn[t["Arn"]] for t in page["Targets"] if t["Arn"] in by_arn]
            out.append(
                ScheduledRule(
                    logical_id,
                    name,
                    rule["Arn"],
                    rule["ScheduleExpression"],
                    rule.get("State", "ENABLED") == "ENABLED",
                    tuple(targets),
                )
            )
        return out

    def check_context(self) -> None:
        """Raise ContextMismatch unless the deployed template is what `context` synthesizes here."""
        body = self.stack.client("cloudformation").get_template(StackName=self.stack.stack_name)["TemplateBody"]
        deployed = json.loads(body) if isinstance(body, str) else body
        expected = template.synthesize(self.context)

        def strip(resources: dict[str, Any]) -> dict[str, Any]:
            # cdk-nag acknowledgements live in Metadata; the CLI adds its own AWS::CDK::Metadata (version info)
            return {
                k: {p: v for p, v in r.items() if p != "Metadata"}
                for k, r in resources.items()
                if r.get("Type") != "AWS::CDK::Metadata"
            }

        mine, theirs = strip(expected["Resources"]), strip(deployed.get("Resources", {}))
        differing = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if differing:
            given = " ".join(f"-c {k}={_flag(v)}" for k, v in self.context.items()) or "no -c values"
            shown = ", ".join(differing[:8]) + (f" and {len(differing) - 8} more" if len(differing) > 8 else "")
            raise ContextMismatch(
                f"the deployed stack {self.stack.stack_name} is not the template this checkout synthesizes with "
                f"{given} (resources that differ: {shown}). Pass the context it was deployed with (--config "
                "KEY=VALUE, repeatable) or deploy this checkout: the handlers run in-process from this checkout, "
                "and scenarios are skipped by comparing their config with that context."
            )

    # ------------------------------------------------------------------ what a scenario needs
    def skip_reason(self, scenario: Scenario) -> str | None:
        """Why the deployed stack cannot show this scenario, or None."""
        from stacks.config import SETTINGS_BY_KEY, ConfigError

        deployed_context = {**cdk_json_context(), **self.context}
        needs, deployed_as = [], []
        for key, value in scenario.config.items():
            setting = SETTINGS_BY_KEY.get(key)
            if setting is None:
                return f"unknown context key {key} in the scenario's config"
            current = deployed_context.get(key, setting.default)
            try:
                differs = setting.parse(key, value) != setting.parse(key, current)
            except ConfigError as exc:
                return f"invalid config: {exc}"
            if differs:
                needs.append(f"{key}={_flag(value)}")
                deployed_as.append(f"{key}={_flag(current)}")
        if needs:
            flags = " ".join(f"-c {shlex.quote(n)}" for n in needs)
            return f"needs context {', '.join(needs)} (deployed: {', '.join(deployed_as)}); deploy with {flags}"
        for step in scenario.events:
            if step.get("requires_route") and "template" in step:
                event = refresh_times(library.template(step["template"]))
                if not self._routes(event, step["requires_route"]):
                    return f"no deployed rule routes {step['template']} to the {step['requires_route']} playbook"
            if "schedule" in step:
                rules = [r for r in self.scheduled_rules if step["schedule"] in r.logical_id and r.targets]
                if not rules:
                    return f"no deployed scheduled rule matching {step['schedule']!r} targets a function"
        return None

    def _routes(self, event: dict[str, Any], playbook: str) -> bool:
        functions = self.stack.functions
        return any(
            rule.enabled
            and matches(rule.pattern, event)
            and any(functions[t].environment.get("PLAYBOOK") == playbook for t in rule.targets)
            for rule in self.stack.rules
        )

    def schedule(self, text: str) -> tuple[list[str], list[dict[str, Any]]]:
        """What EventBridge would do on the deployed scheduled rules' clock, now."""
        ran: list[str] = []
        results: list[dict[str, Any]] = []
        for rule in self.scheduled_rules:
            if text in rule.logical_id and rule.enabled:
                ran.append(rule.logical_id)
                event = scheduled_event(rule.logical_id, rule.arn)
                results += [self.stack.invoke(t, event, rule=rule.logical_id) for t in rule.targets]
        return ran, results

    # ------------------------------------------------------------------ notifications
    def __enter__(self) -> DeployedTarget:
        sqs, sns = self.stack.client("sqs"), self.stack.client("sns")
        topics = list(self.stack.of_type("AWS::SNS::Topic").values())
        if len(topics) != 1:
            raise RuntimeError(f"expected one notification topic in {self.stack.stack_name}, found {topics}")
        url = sqs.create_queue(QueueName=f"gameday-endpoint-tap-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        subscription = sns.subscribe(
            TopicArn=topics[0], Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "false"}
        )["SubscriptionArn"]
        self._tap = (url, subscription)
        self._baseline = inventory(self.stack.client)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tap is not None:
            url, subscription = self._tap
            with contextlib.suppress(Exception):
                self.stack.client("sns").unsubscribe(SubscriptionArn=subscription)
            with contextlib.suppress(Exception):
                self.stack.client("sqs").delete_queue(QueueUrl=url)
            self._tap = None

    def notifications(self) -> list[dict[str, Any]]:
        """Drain what the deployed topic published since the last call."""
        if self._tap is None:
            raise RuntimeError("DeployedTarget is used outside `with`: no tap queue on the topic")
        return account.drain(self.stack.client("sqs"), self._tap[0])

    def sweep(self) -> list[str]:
        """Delete what was created since the run began; the problems met, if any."""
        return sweep(self.stack.client, self._baseline)

    # ------------------------------------------------------------------ running
    def run_one(self, scenario: Scenario, *, check_requires: bool = True) -> tuple[ScenarioResult, list[str]]:
        """One scenario from a clean account state; returns the result and any cleanup problem."""
        wait = GAP_SECONDS - (time.monotonic() - self._last_end)
        if wait > 0:
            time.sleep(wait)
        try:
            result = run_scenario(
                scenario,
                dispatch=self.stack.dispatch,
                notifications=self.notifications,
                clients=self.stack.client,
                playbooks=self.playbooks,
                schedule=self.schedule,
                skip=self.skip_reason,
                check_requires=check_requires,
            )
        except BaseException:
            self.sweep()
            raise
        if result.status == "skipped" and not result.steps:
            # With a `schedule` given, every skip (requires, during_wait, skip_reason) is decided
            # before the scenario's state is built: nothing to remove, no gap needed.
            return result, []
        problems = self.sweep()
        self._last_end = time.monotonic()
        return result, problems

    def run(
        self,
        scenarios: Sequence[Scenario],
        *,
        check_requires: bool = True,
        on_result: Callable[[int, int, ScenarioResult], None] | None = None,
    ) -> EndpointRun:
        started = time.perf_counter()
        out = EndpointRun(self.stack.endpoint_url or "(default endpoints)", self.stack.stack_name, self.context)
        with self:
            for index, scenario in enumerate(scenarios, 1):
                result, problems = self.run_one(scenario, check_requires=check_requires)
                out.results.append(result)
                out.cleanup_problems += [f"after {scenario.name}: {p}" for p in problems]
                if on_result:
                    on_result(index, len(scenarios), result)
        out.seconds = round(time.perf_counter() - started, 1)
        return out


# ---------------------------------------------------------------------------- clean account state
# Kinds of resource a scenario's state, its attacker or a playbook can create. Anything of
# these kinds that was not in the account when the run began is deleted after each scenario.


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _ids(client: Any, operation: str, key: str, id_field: str, **kwargs: Any) -> set[str]:
    return {str(item[id_field]) for item in _pages(client, operation, key, **kwargs)}


def inventory(clients: Callable[[str], Any]) -> dict[str, set[str]]:
    iam, ec2 = clients("iam"), clients("ec2")
    instances = [i for r in _pages(ec2, "describe_instances", "Reservations") for i in r["Instances"]]
    trails = clients("cloudtrail").describe_trails(includeShadowTrails=False)["trailList"]
    terminated = {i["InstanceId"] for i in instances if i["State"]["Name"] == "terminated"}
    return {
        "users": _ids(iam, "list_users", "Users", "UserName"),
        "groups": _ids(iam, "list_groups", "Groups", "GroupName"),
        "roles": _ids(iam, "list_roles", "Roles", "RoleName"),
        "instance_profiles": _ids(iam, "list_instance_profiles", "InstanceProfiles", "InstanceProfileName"),
        "policies": _ids(iam, "list_policies", "Policies", "Arn", Scope="Local"),
        "instances": {i["InstanceId"] for i in instances if i["State"]["Name"] != "terminated"},
        "security_groups": _ids(ec2, "describe_security_groups", "SecurityGroups", "GroupId"),
        "network_interfaces": {
            n["NetworkInterfaceId"]
            for n in _pages(ec2, "describe_network_interfaces", "NetworkInterfaces")
            if not _primary_of(n, terminated)
        },
        "volumes": _ids(ec2, "describe_volumes", "Volumes", "VolumeId"),
        "snapshots": _ids(ec2, "describe_snapshots", "Snapshots", "SnapshotId", OwnerIds=["self"]),
        "launch_templates": {t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]},
        "auto_scaling_groups": _ids(
            clients("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups", "AutoScalingGroupName"
        ),
        "alarms": _ids(clients("cloudwatch"), "describe_alarms", "MetricAlarms", "AlarmName"),
        "trails": {t["Name"] for t in trails},
        "buckets": {b["Name"] for b in clients("s3").list_buckets()["Buckets"]},
    }


def _primary_of(interface: dict[str, Any], terminated: set[str]) -> bool:
    """A terminated instance's primary interface: AWS deletes it with the instance, moto keeps it."""
    attachment = interface.get("Attachment") or {}
    return attachment.get("DeviceIndex") == 0 and attachment.get("InstanceId") in terminated


def sweep(clients: Callable[[str], Any], baseline: dict[str, set[str]]) -> list[str]:
    """Delete everything of the swept kinds that is not in `baseline`; returns what could not be deleted."""
    now = inventory(clients)
    iam, ec2, s3 = clients("iam"), clients("ec2"), clients("s3")
    autoscaling, cloudwatch, cloudtrail = clients("autoscaling"), clients("cloudwatch"), clients("cloudtrail")
    # In dependency order: instances before their interfaces, volumes and groups; users before groups.
    deleters: list[tuple[str, Callable[[str], Any]]] = [
        (
            "auto_scaling_groups",
            lambda g: autoscaling.delete_auto_scaling_group(AutoScalingGroupName=g, ForceDelete=True),
        ),
        ("instances", lambda i: _terminate(ec2, i)),
        ("network_interfaces", lambda n: _delete_interface(ec2, n)),
        ("volumes", lambda v: _delete_volume(ec2, v)),
        ("snapshots", lambda s: ec2.delete_snapshot(SnapshotId=s)),
        ("security_groups", lambda g: ec2.delete_security_group(GroupId=g)),
        ("launch_templates", lambda t: ec2.delete_launch_template(LaunchTemplateId=t)),
        ("alarms", lambda a: cloudwatch.delete_alarms(AlarmNames=[a])),
        ("trails", lambda t: cloudtrail.delete_trail(Name=t)),
        ("buckets", lambda b: _delete_bucket(s3, b)),
        ("users", lambda u: _delete_user(iam, u)),
        ("groups", lambda g: _delete_group(iam, g)),
        ("instance_profiles", lambda p: _delete_instance_profile(iam, p)),
        ("roles", lambda r: _delete_role(iam, r)),
        ("policies", lambda a: _delete_policy(iam, a)),
    ]
    problems: list[str] = []
    for kind, delete in deleters:
        for name in sorted(now[kind] - baseline.get(kind, set())):
            try:
                delete(name)
            except Exception as exc:  # collected and reported: a leftover may affect the next scenario
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code.endswith(("NotFound", "NoSuchEntity", "NoSuchBucket")):
                    continue  # already gone with what it belonged to (e.g. a volume with its instance)
                problems.append(f"{kind} {name}: {type(exc).__name__}: {exc}")
    return problems


def _terminate(ec2: Any, instance_id: str) -> None:
    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[instance_id])


def _delete_interface(ec2: Any, eni: str) -> None:
    found = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"]
    attachment = found[0].get("Attachment") if found else None
    if attachment and attachment.get("DeviceIndex") == 0:
        return  # a primary interface goes with its instance (terminated by the sweep)
    if attachment:
        with contextlib.suppress(Exception):
            ec2.detach_network_interface(AttachmentId=attachment["AttachmentId"], Force=True)
    ec2.delete_network_interface(NetworkInterfaceId=eni)


def _delete_volume(ec2: Any, volume: str) -> None:
    found = ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
    for attachment in found[0].get("Attachments", []) if found else []:
        with contextlib.suppress(Exception):
            ec2.detach_volume(VolumeId=volume, InstanceId=attachment["InstanceId"], Force=True)
    ec2.delete_volume(VolumeId=volume)


def _delete_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    for obj in _pages(s3, "list_objects_v2", "Contents", Bucket=bucket):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)


def _delete_user(iam: Any, user: str) -> None:
    """Test-harness cleanup of a scenario's seed user (the product itself never deletes users)."""
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_login_profile(UserName=user)
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
        iam.delete_user_policy(UserName=user, PolicyName=name)
    for policy in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=user, PolicyArn=policy["PolicyArn"])
    for group in iam.list_groups_for_user(UserName=user)["Groups"]:
        iam.remove_user_from_group(GroupName=group["GroupName"], UserName=user)
    iam.delete_user(UserName=user)


def _delete_group(iam: Any, group: str) -> None:
    for user in iam.get_group(GroupName=group)["Users"]:
        iam.remove_user_from_group(GroupName=group, UserName=user["UserName"])
    for name in iam.list_group_policies(GroupName=group)["PolicyNames"]:
        iam.delete_group_policy(GroupName=group, PolicyName=name)
    for policy in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]:
        iam.detach_group_policy(GroupName=group, PolicyArn=policy["PolicyArn"])
    iam.delete_group(GroupName=group)


def _delete_instance_profile(iam: Any, profile: str) -> None:
    for role in iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=profile)


def _delete_role(iam: Any, role: str) -> None:
    for profile in iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=role)
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=role)


def _delete_policy(iam: Any, arn: str) -> None:
    for kind, key in (("Users", "UserName"), ("Groups", "GroupName"), ("Roles", "RoleName")):
        entities = iam.list_entities_for_policy(PolicyArn=arn)[f"Policy{kind}"]
        for entity in entities:
            detach = {
                "Users": iam.detach_user_policy,
                "Groups": iam.detach_group_policy,
                "Roles": iam.detach_role_policy,
            }[kind]
            detach(**{key: entity[key]}, PolicyArn=arn)
    for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=arn)
