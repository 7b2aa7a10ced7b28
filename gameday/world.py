"""The simulated account of a scenario: build the declared state, resolve names, act as the attacker.

A scenario declares resources by name (`alice`, `web`, `web-ssh`); AWS (or moto) generates
the ids. `World.build(state)` creates everything and remembers name -> id, so events,
attacker actions and expectations can refer to `key:alice#1` or `instance:web` and get
the real id. Every call goes through `World.client(service)`, so the same builders can
target a deployed emulator stack instead of the in-process moto account.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from gameday import account

ClientFactory = Callable[[str], Any]

AMI = "ami-12345678"  # moto accepts any AMI id; the event templates name ami-0abcdef1234567890
DEFAULT_TRUST_SERVICE = "ec2.amazonaws.com"
_REF = re.compile(r"\{\{\s*([a-z_]+)(?::([^}\s]+))?\s*\}\}")


def _password() -> str:
    """A throwaway console password that satisfies the default IAM password policy."""
    return f"Gd-{secrets.token_urlsafe(12)}-9a"


class WorldError(ValueError):
    """A reference names nothing that was declared, or the account refused the declared state."""


def default_clients(service: str) -> Any:
    return boto3.client(service, region_name=account.REGION)  # type: ignore[call-overload]


@dataclass
class KeyRef:
    user: str
    key_id: str


@dataclass
class InstanceRef:
    instance_id: str
    volumes: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)  # ids of the groups declared for it
    vpc_id: str = ""
    subnet_id: str = ""
    private_ip: str = ""
    auto_scaling_group: str = ""


@dataclass
class RuleRef:
    group: str  # security group name in the scenario
    group_id: str
    direction: str  # ingress | egress
    protocol: str
    from_port: int
    to_port: int
    cidr: str = ""
    cidr_ipv6: str = ""
    source_group: str = ""
    rule_id: str = ""


class World:
    """Names declared by a scenario and the ids the account gave them."""

    def __init__(self, clients: ClientFactory | None = None) -> None:
        factory = clients or default_clients
        cache: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in cache:
                cache[service] = factory(service)
            return cache[service]

        self.client = client
        self.users: dict[str, str] = {}  # name -> user id (AIDA...)
        self.keys: dict[str, KeyRef] = {}  # alice#0 -> key
        self.roles: dict[str, str] = {}  # name -> role id (AROA...)
        self.instance_profiles: dict[str, str] = {}  # role name -> profile name
        self.policies: dict[str, str] = {}  # name -> ARN (customer managed)
        self.groups: dict[str, str] = {}  # IAM group name -> group id
        self.security_groups: dict[str, str] = {}  # name -> sg id
        self.rules: dict[str, RuleRef] = {}
        self.instances: dict[str, InstanceRef] = {}
        self.trails: dict[str, str] = {}  # name -> ARN
        self.incidents: list[str] = []  # incident ids seen in results, in order
        self.started_at = datetime.now(UTC)

    # ------------------------------------------------------------------ references
    def key(self, ref: str) -> KeyRef:
        name = ref if "#" in ref else f"{ref}#0"
        if name not in self.keys:
            raise WorldError(f"no access key {name!r}; declared keys: {', '.join(self.keys) or 'none'}")
        return self.keys[name]

    def instance(self, name: str) -> InstanceRef:
        if name not in self.instances:
            raise WorldError(f"no instance {name!r}; declared: {', '.join(self.instances) or 'none'}")
        return self.instances[name]

    def _indexed(self, values: list[str], ref: str, what: str) -> str:
        name, _, index = ref.partition("#")
        got = self.instance(name)
        del got
        try:
            return values[int(index or 0)]
        except (ValueError, IndexError) as exc:
            raise WorldError(f"{what} {ref!r}: the instance has {len(values)}") from exc

    def resolve(self, kind: str, ref: str | None) -> str:
        """The id (or name) a `{{ kind:ref }}` reference stands for."""
        simple = {
            "account": account.ACCOUNT,
            "region": account.REGION,
            "partition": account.PARTITION,
            "now": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if kind in simple:
            return simple[kind]
        if ref is None:
            raise WorldError(f"reference {{{{ {kind} }}}} needs a name, e.g. {{{{ {kind}:NAME }}}}")
        lookup: dict[str, Callable[[str], str]] = {
            "key": lambda r: self.key(r).key_id,
            "user": lambda r: self._known(self.users, r, "user") and r,
            "user_id": lambda r: self._known(self.users, r, "user"),
            "user_arn": lambda r: self._known(self.users, r, "user") and self._arn("iam", f"user/{r}"),
            "role": lambda r: self._known(self.roles, r, "role") and r,
            "role_id": lambda r: self._known(self.roles, r, "role"),
            "role_arn": lambda r: self._known(self.roles, r, "role") and self._arn("iam", f"role/{r}"),
            "instance": lambda r: self.instance(r).instance_id,
            "volume": lambda r: self._indexed(self.instance(r.partition("#")[0]).volumes, r, "volume"),
            "eni": lambda r: self._indexed(self.instance(r.partition("#")[0]).interfaces, r, "network interface"),
            "vpc": lambda r: self.instance(r).vpc_id,
            "subnet": lambda r: self.instance(r).subnet_id,
            "private_ip": lambda r: self.instance(r).private_ip,
            "sg": lambda r: self._known(self.security_groups, r, "security group"),
            "rule": lambda r: self._known_rule(r).rule_id,
            "trail": lambda r: self._known(self.trails, r, "trail") and r,
            "trail_arn": lambda r: self._known(self.trails, r, "trail"),
            "incident": self._incident,
        }
        if kind not in lookup:
            raise WorldError(f"unknown reference kind {kind!r}; known: {', '.join([*simple, *lookup])}")
        return lookup[kind](ref)

    def _incident(self, ref: str) -> str:
        try:
            return self.incidents[int(ref)]
        except (ValueError, IndexError) as exc:
            raise WorldError(f"incident {ref!r}: {len(self.incidents)} incident(s) so far") from exc

    @staticmethod
    def _arn(service: str, resource: str) -> str:
        return f"arn:{account.PARTITION}:{service}::{account.ACCOUNT}:{resource}"

    @staticmethod
    def _known(table: dict[str, str], name: str, what: str) -> str:
        if name not in table:
            raise WorldError(f"no {what} {name!r}; declared: {', '.join(table) or 'none'}")
        return table[name]

    def _known_rule(self, name: str) -> RuleRef:
        if name not in self.rules:
            raise WorldError(f"no security group rule {name!r}; declared: {', '.join(self.rules) or 'none'}")
        return self.rules[name]

    def render(self, value: Any) -> Any:
        """Replace every `{{ kind:name }}` in strings of a JSON-like value."""
        if isinstance(value, str):
            whole = _REF.fullmatch(value.strip())
            if whole:
                return self.resolve(whole.group(1), whole.group(2))
            return _REF.sub(lambda m: self.resolve(m.group(1), m.group(2)), value)
        if isinstance(value, dict):
            return {self.render(k): self.render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v) for v in value]
        return value

    # ------------------------------------------------------------------ building
    def build(self, state: dict[str, Any]) -> None:
        """Create the declared state in dependency order."""
        for name, spec in (state.get("policies") or {}).items():
            self._policy(name, spec)
        for name, spec in (state.get("groups") or {}).items():
            self._group(name, spec or {})
        for name, spec in (state.get("users") or {}).items():
            self._user(name, spec or {})
        for name, spec in (state.get("roles") or {}).items():
            self._role(name, spec or {})
        for name, spec in (state.get("security_groups") or {}).items():
            self._security_group(name, spec or {})
        for name, spec in (state.get("security_groups") or {}).items():
            self._rules(name, spec or {})
        for name, spec in (state.get("instances") or {}).items():
            self._instance(name, spec or {})
        for name, spec in (state.get("trails") or {}).items():
            self._trail(name, spec or {})

    def _policy_arn(self, ref: str) -> str:
        if ref.startswith("arn:"):
            return ref
        return self._known(self.policies, ref, "managed policy")

    def _policy(self, name: str, document: dict[str, Any]) -> None:
        iam = self.client("iam")
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        self.policies[name] = arn

    def _group(self, name: str, spec: dict[str, Any]) -> None:
        iam = self.client("iam")
        self.groups[name] = iam.create_group(GroupName=name)["Group"]["GroupId"]
        for ref in spec.get("managed_policies", []):
            iam.attach_group_policy(GroupName=name, PolicyArn=self._policy_arn(ref))
        for policy, document in (spec.get("inline_policies") or {}).items():
            iam.put_group_policy(GroupName=name, PolicyName=policy, PolicyDocument=json.dumps(document))

    def _user(self, name: str, spec: dict[str, Any]) -> None:
        iam = self.client("iam")
        tags = [{"Key": k, "Value": str(v)} for k, v in (spec.get("tags") or {}).items()]
        user = iam.create_user(UserName=name, Path=spec.get("path", "/"), **({"Tags": tags} if tags else {}))["User"]
        self.users[name] = user["UserId"]
        keys = spec.get("access_keys", 1)
        key_specs = [{} for _ in range(keys)] if isinstance(keys, int) else list(keys)
        for index, key_spec in enumerate(key_specs):
            key = iam.create_access_key(UserName=name)["AccessKey"]
            if (key_spec or {}).get("status", "Active") == "Inactive":
                iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
            self.keys[f"{name}#{index}"] = KeyRef(name, key["AccessKeyId"])
        for ref in spec.get("managed_policies", []):
            iam.attach_user_policy(UserName=name, PolicyArn=self._policy_arn(ref))
        for policy, document in (spec.get("inline_policies") or {}).items():
            iam.put_user_policy(UserName=name, PolicyName=policy, PolicyDocument=json.dumps(document))
        for group in spec.get("groups", []):
            if group not in self.groups:
                self._group(group, {})
            iam.add_user_to_group(GroupName=group, UserName=name)
        if spec.get("console_login"):
            iam.create_login_profile(UserName=name, Password=_password(), PasswordResetRequired=False)

    def _role(self, name: str, spec: dict[str, Any]) -> None:
        iam = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": spec.get("service", DEFAULT_TRUST_SERVICE)},
                }
            ],
        }
        tags = [{"Key": k, "Value": str(v)} for k, v in (spec.get("tags") or {}).items()]
        role = iam.create_role(
            RoleName=name,
            Path=spec.get("path", "/"),
            AssumeRolePolicyDocument=json.dumps(trust),
            **({"Tags": tags} if tags else {}),
        )["Role"]
        self.roles[name] = role["RoleId"]
        for ref in spec.get("managed_policies", []):
            iam.attach_role_policy(RoleName=name, PolicyArn=self._policy_arn(ref))
        for policy, document in (spec.get("inline_policies") or {}).items():
            iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(document))
        if spec.get("instance_profile", False):
            profile = spec["instance_profile"] if isinstance(spec["instance_profile"], str) else name
            iam.create_instance_profile(InstanceProfileName=profile)
            iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=name)
            self.instance_profiles[name] = profile

    def _default_vpc(self) -> tuple[str, str]:
        ec2 = self.client("ec2")
        vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
        subnet = sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]
        return vpc, subnet

    def _security_group(self, name: str, spec: dict[str, Any]) -> None:
        ec2 = self.client("ec2")
        vpc, _ = self._default_vpc()
        group = ec2.create_security_group(
            GroupName=name, Description=spec.get("description", f"game day {name}"), VpcId=vpc
        )
        self.security_groups[name] = group["GroupId"]
        tags = [{"Key": k, "Value": str(v)} for k, v in (spec.get("tags") or {}).items()]
        if tags:
            ec2.create_tags(Resources=[group["GroupId"]], Tags=tags)

    def _rules(self, name: str, spec: dict[str, Any]) -> None:
        ec2 = self.client("ec2")
        group_id = self.security_groups[name]
        for direction in ("ingress", "egress"):
            for index, rule in enumerate(spec.get(direction) or []):
                ref = self._rule_ref(name, group_id, direction, rule)
                permission = permission_of(ref, self.security_groups)
                call = (
                    ec2.authorize_security_group_ingress
                    if direction == "ingress"
                    else ec2.authorize_security_group_egress
                )
                created = call(GroupId=group_id, IpPermissions=[permission]).get("SecurityGroupRules", [])
                ref.rule_id = created[0]["SecurityGroupRuleId"] if created else ""
                self.rules[rule.get("name") or f"{name}-{direction}-{index}"] = ref

    @staticmethod
    def _rule_ref(name: str, group_id: str, direction: str, rule: dict[str, Any]) -> RuleRef:
        port = rule.get("port")
        low = int(rule.get("from_port", port if port is not None else -1))
        high = int(rule.get("to_port", port if port is not None else low))
        protocol = str(rule.get("protocol", "tcp"))
        if protocol in ("all", "-1"):
            protocol, low, high = "-1", -1, -1
        return RuleRef(
            group=name,
            group_id=group_id,
            direction=direction,
            protocol=protocol,
            from_port=low,
            to_port=high,
            cidr=rule.get("cidr", ""),
            cidr_ipv6=rule.get("cidr_ipv6", ""),
            source_group=rule.get("source_group", ""),
        )

    def _instance(self, name: str, spec: dict[str, Any]) -> None:
        ec2 = self.client("ec2")
        _, subnet = self._default_vpc()
        groups = [self._known(self.security_groups, g, "security group") for g in spec.get("security_groups", [])]
        volumes = spec.get("volumes", [8])
        mappings = []
        for index, volume in enumerate(volumes):
            size = volume if isinstance(volume, int) else int(volume.get("size", 8))
            device = "/dev/xvda" if index == 0 else f"/dev/xvd{chr(ord('b') + index - 1)}"
            mappings.append({"DeviceName": device, "Ebs": {"VolumeSize": size, "DeleteOnTermination": False}})
        count = int(spec.get("network_interfaces", 1))
        kwargs: dict[str, Any] = {
            "ImageId": spec.get("image", AMI),
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceType": spec.get("type", "t3.micro"),
            "BlockDeviceMappings": mappings,
            "SubnetId": subnet,
        }
        if groups:
            kwargs["SecurityGroupIds"] = groups
        tags = {"Name": name, **{k: str(v) for k, v in (spec.get("tags") or {}).items()}}
        kwargs["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
        role = spec.get("role")
        if role:
            profile = self.instance_profiles.get(role)
            if profile is None:
                raise WorldError(f"instance {name}: role {role!r} has no instance profile (declare instance_profile)")
            kwargs["IamInstanceProfile"] = {"Name": profile}
        found = ec2.run_instances(**kwargs)["Instances"][0]
        instance_id = found["InstanceId"]
        for index in range(1, count):
            eni = ec2.create_network_interface(SubnetId=subnet, Groups=groups or [])["NetworkInterface"]
            ec2.attach_network_interface(
                NetworkInterfaceId=eni["NetworkInterfaceId"], InstanceId=instance_id, DeviceIndex=index
            )
        described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        interfaces = sorted(described.get("NetworkInterfaces", []), key=lambda n: n["Attachment"]["DeviceIndex"])
        ref = InstanceRef(
            instance_id=instance_id,
            volumes=[m["Ebs"]["VolumeId"] for m in described.get("BlockDeviceMappings", [])],
            interfaces=[n["NetworkInterfaceId"] for n in interfaces],
            security_groups=groups,
            vpc_id=described.get("VpcId", ""),
            subnet_id=described.get("SubnetId", ""),
            private_ip=described.get("PrivateIpAddress", ""),
        )
        asg = spec.get("auto_scaling_group")
        if asg:
            self._join_asg(asg, instance_id, spec.get("type", "t3.micro"))
            ref.auto_scaling_group = asg
        if spec.get("state") == "stopped":
            ec2.stop_instances(InstanceIds=[instance_id])
        self.instances[name] = ref

    def _join_asg(self, group: str, instance_id: str, instance_type: str) -> None:
        autoscaling = self.client("autoscaling")
        existing = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        if not existing:
            template = f"{group}-template"
            self.client("ec2").create_launch_template(
                LaunchTemplateName=template, LaunchTemplateData={"ImageId": AMI, "InstanceType": instance_type}
            )
            _, subnet = self._default_vpc()
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=group,
                LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
                MinSize=0,
                MaxSize=10,
                DesiredCapacity=0,
                VPCZoneIdentifier=subnet,
            )
        autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=group)

    def _trail(self, name: str, spec: dict[str, Any]) -> None:
        cloudtrail, s3 = self.client("cloudtrail"), self.client("s3")
        bucket = spec.get("bucket") or f"gameday-trail-{name.lower()}-{account.ACCOUNT}"[:63]
        s3.create_bucket(Bucket=bucket)
        trail = cloudtrail.create_trail(
            Name=name,
            S3BucketName=bucket,
            IsMultiRegionTrail=bool(spec.get("multi_region", True)),
            EnableLogFileValidation=bool(spec.get("log_file_validation", True)),
            IncludeGlobalServiceEvents=bool(spec.get("global_service_events", True)),
        )
        self.trails[name] = trail["TrailARN"]
        if spec.get("logging", True):
            cloudtrail.start_logging(Name=name)
        if spec.get("management_events", True) is False:
            cloudtrail.put_event_selectors(
                TrailName=name, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False}]
            )

    # ------------------------------------------------------------------ the attacker
    def attack(self, step: dict[str, Any]) -> str:
        """Perform one attacker action (`{action_name: {args}}`); returns what was done, for the timeline."""
        ((name, args),) = step.items()
        args = self.render(args or {})
        fn = ATTACKER_ACTIONS.get(name)
        if fn is None:
            raise WorldError(f"unknown attacker action {name!r}; known: {', '.join(sorted(ATTACKER_ACTIONS))}")
        return fn(self, args)


def permission_of(ref: RuleRef, groups: dict[str, str]) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": ref.protocol}
    if ref.protocol != "-1":
        permission.update(FromPort=ref.from_port, ToPort=ref.to_port)
    if ref.cidr:
        permission["IpRanges"] = [{"CidrIp": ref.cidr}]
    if ref.cidr_ipv6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": ref.cidr_ipv6}]
    if ref.source_group:
        permission["UserIdGroupPairs"] = [{"GroupId": groups.get(ref.source_group, ref.source_group)}]
    return permission


# ---------------------------------------------------------------------------- attacker actions


def _create_access_key(world: World, args: dict[str, Any]) -> str:
    user = args["user"]
    key = world.client("iam").create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    label = args.get("as") or str(sum(1 for k in world.keys if k.startswith(f"{user}#")))
    world.keys[f"{user}#{label}"] = KeyRef(user, key)
    return f"created access key {key} ({user}#{label}) for {user}"


def _create_login_profile(world: World, args: dict[str, Any]) -> str:
    iam = world.client("iam")
    user = args["user"]
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_login_profile(UserName=user)
    iam.create_login_profile(UserName=user, Password=_password(), PasswordResetRequired=False)
    return f"created a console login for {user}"


def _attach_user_policy(world: World, args: dict[str, Any]) -> str:
    arn = world._policy_arn(args["policy"])
    world.client("iam").attach_user_policy(UserName=args["user"], PolicyArn=arn)
    return f"attached {arn} to {args['user']}"


def _stop_logging(world: World, args: dict[str, Any]) -> str:
    world.client("cloudtrail").stop_logging(Name=args["trail"])
    return f"stopped logging on trail {args['trail']}"


def _delete_trail(world: World, args: dict[str, Any]) -> str:
    world.client("cloudtrail").delete_trail(Name=args["trail"])
    return f"deleted trail {args['trail']}"


def _update_trail(world: World, args: dict[str, Any]) -> str:
    changes = {
        k: v
        for k, v in {
            "IsMultiRegionTrail": args.get("multi_region"),
            "EnableLogFileValidation": args.get("log_file_validation"),
        }.items()
        if v is not None
    }
    world.client("cloudtrail").update_trail(Name=args["trail"], **changes)
    return f"updated trail {args['trail']}: {changes}"


def _authorize_ingress(world: World, args: dict[str, Any]) -> str:
    name = args["group"]
    group_id = world._known(world.security_groups, name, "security group")
    ref = World._rule_ref(name, group_id, "ingress", args)
    created = (
        world.client("ec2")
        .authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission_of(ref, world.security_groups)])
        .get("SecurityGroupRules", [])
    )
    ref.rule_id = created[0]["SecurityGroupRuleId"] if created else ""
    label = args.get("as") or f"{name}-ingress-{len(world.rules)}"
    world.rules[label] = ref
    return f"authorized {ref.protocol}/{ref.from_port} from {ref.cidr or ref.cidr_ipv6} on {name} ({label})"


def _terminate_instance(world: World, args: dict[str, Any]) -> str:
    instance_id = world.instance(args["instance"]).instance_id
    world.client("ec2").terminate_instances(InstanceIds=[instance_id])
    return f"terminated {instance_id}"


ATTACKER_ACTIONS: dict[str, Callable[[World, dict[str, Any]], str]] = {
    "create_access_key": _create_access_key,
    "create_login_profile": _create_login_profile,
    "attach_user_policy": _attach_user_policy,
    "stop_logging": _stop_logging,
    "delete_trail": _delete_trail,
    "update_trail": _update_trail,
    "authorize_ingress": _authorize_ingress,
    "terminate_instance": _terminate_instance,
}
