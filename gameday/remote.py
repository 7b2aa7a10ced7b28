"""Game days against a DEPLOYED stack: rules and environments read back from the account.

`gameday.simulator.Simulation` routes events through the synthesized template. A
`DeployedStack` does the same through what CloudFormation actually created behind an
endpoint (the deploy-local emulator): the rules' patterns and targets come from
EventBridge (`describe_rule`, `list_targets_by_rule`), each function's handler and
environment from Lambda (`get_function_configuration`), and the handler then runs
in-process with every AWS call sent to the same endpoint (`AWS_ENDPOINT_URL`). So a
rehearsal exercises exactly what was deployed, not what the template says.

    stack = DeployedStack("AutoRemediation", endpoint_url="http://127.0.0.1:4566")
    results = stack.dispatch(event)   # same shape as Simulation.dispatch

A scenario runner can take `stack.dispatch` (any `Callable[[event], list[result]]`).
`endpoint_url=None` reads the account boto3's default endpoints point at.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3

from gameday import account
from gameday.simulator import invoke_handler, route

Dispatch = Callable[[dict[str, Any]], list[dict[str, Any]]]
"""What a scenario runner needs: route one event, get one result per function invocation."""


class StackNotDeployed(RuntimeError):
    """The stack does not exist (or is not in a complete state) behind the endpoint."""


@dataclass(frozen=True)
class DeployedRule:
    logical_id: str
    name: str
    arn: str
    pattern: dict[str, Any]
    enabled: bool
    targets: tuple[str, ...]  # logical ids of the stack's functions the rule targets


@dataclass(frozen=True)
class DeployedFunction:
    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    role: str
    environment: dict[str, str]


class DeployedStack:
    """A deployed stack read back through `endpoint_url`; dispatches events like the simulator."""

    def __init__(
        self, stack_name: str = "AutoRemediation", *, endpoint_url: str | None, region: str = account.REGION
    ) -> None:
        self.stack_name = stack_name
        self.endpoint_url = endpoint_url
        self.region = region
        # An emulator takes any credentials: fake ones, so nothing can reach a real account.
        fake = "testing" if endpoint_url else None
        self._session = boto3.session.Session(aws_access_key_id=fake, aws_secret_access_key=fake, region_name=region)
        stacks = self.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
        status = stacks[0]["StackStatus"]
        if not status.endswith("_COMPLETE") or status.startswith(("DELETE", "ROLLBACK")):
            raise StackNotDeployed(f"stack {stack_name} is {status}")
        self.status = status

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    # ------------------------------------------------------------------ what was deployed

    @cached_property
    def resources(self) -> dict[str, dict[str, str]]:
        """logical id -> {type, physical_id, status} for every resource CloudFormation created."""
        out = {}
        paginator = self.client("cloudformation").get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for summary in page["StackResourceSummaries"]:
                logical_id = summary.get("LogicalResourceId")
                if logical_id:  # moto lists the resource types it skipped with empty fields
                    out[logical_id] = {
                        "type": summary["ResourceType"],
                        "physical_id": summary.get("PhysicalResourceId") or "",
                        "status": summary.get("ResourceStatus", ""),
                    }
        return out

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id]["physical_id"]

    def resource(self, logical_prefix: str) -> str:
        """Physical id of the resource whose logical id starts with `logical_prefix`."""
        for logical_id, info in sorted(self.resources.items()):
            if logical_id.startswith(logical_prefix):
                return info["physical_id"]
        raise KeyError(logical_prefix)

    def of_type(self, resource_type: str) -> dict[str, str]:
        return {lid: r["physical_id"] for lid, r in self.resources.items() if r["type"] == resource_type}

    @cached_property
    def functions(self) -> dict[str, DeployedFunction]:
        lam = self.client("lambda")
        out = {}
        for logical_id, name in self.of_type("AWS::Lambda::Function").items():
            conf = lam.get_function_configuration(FunctionName=name)
            out[logical_id] = DeployedFunction(
                logical_id=logical_id,
                name=conf["FunctionName"],
                arn=conf["FunctionArn"],
                handler=conf["Handler"],
                runtime=conf.get("Runtime", ""),
                role=conf["Role"],
                environment=dict(conf.get("Environment", {}).get("Variables", {})),
            )
        return out

    @cached_property
    def rules(self) -> list[DeployedRule]:
        events = self.client("events")
        by_arn = {fn.arn: lid for lid, fn in self.functions.items()}
        out = []
        for logical_id, name in sorted(self.of_type("AWS::Events::Rule").items()):
            rule = events.describe_rule(Name=name)
            if "EventPattern" not in rule:
                continue  # scheduled rules fire on a clock, not on events
            targets = []
            for page in events.get_paginator("list_targets_by_rule").paginate(Rule=name):
                targets += [by_arn[t["Arn"]] for t in page["Targets"] if t["Arn"] in by_arn]
            out.append(
                DeployedRule(
                    logical_id,
                    name,
                    rule["Arn"],
                    json.loads(rule["EventPattern"]),
                    rule.get("State", "ENABLED") == "ENABLED",
                    tuple(targets),
                )
            )
        return out

    def environment(self, function_id: str) -> dict[str, str]:
        return dict(self.functions[function_id].environment)

    # ------------------------------------------------------------------ rehearsal

    def dispatch(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Route `event` through the deployed rules; one entry per function invocation.

        Entries are shaped like `Simulation.dispatch`'s: {rule, function, playbook,
        result, error?, logs, duration_ms}, with the stack's logical ids.
        """
        return route(self.rules, event, self.invoke)

    def invoke(self, function_id: str, event: Any, *, rule: str = "") -> dict[str, Any]:
        """Run one deployed function's handler in-process with its deployed environment."""
        fn = self.functions[function_id]
        base = {
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "POWERTOOLS_DEV": "false",
        }
        if self.endpoint_url:
            base["AWS_ENDPOINT_URL"] = self.endpoint_url
        return invoke_handler(
            fn.handler,
            event,
            rule=rule,
            function_id=function_id,
            function_name=fn.name,
            env={**base, **fn.environment},
            unset=("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"),
        )
