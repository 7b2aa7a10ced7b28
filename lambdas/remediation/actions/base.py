"""Actions: small units registered by name, each declaring the IAM permissions it needs.

The stack grants a playbook's role exactly the permissions of the actions its
configuration can run (plus the shared record/notify ones), and a test checks that the
granted and declared sets are equal. Resource strings use CloudFormation `Fn::Sub`
syntax (`${AWS::Partition}`, `${AWS::AccountId}`) or a token naming a stack resource
(`@table`, `@evidence`, `@topic`, `@key`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)


class ActionFailed(Exception):
    """An action's change did not take (verification failed) or could not be made."""

    def __init__(self, message: str, code: str = "VerificationFailed") -> None:
        super().__init__(message)
        self.code = code


class StepTimeout(ActionFailed):
    """The step did not finish within its time budget (the engine moved on to the next step)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="StepTimeout")


class NotApplicable(Exception):
    """The action has nothing to do for this subject (recorded as skipped, with the reason)."""


@dataclass
class Outcome:
    """What an action did: `status` is succeeded or already_done; details are for the record."""

    status: str = "succeeded"
    detail: str = ""
    before: Any = None
    after: Any = None
    data: dict[str, Any] = field(default_factory=dict)


ActionFn = Callable[..., Outcome]

DEFAULT_BUDGET_SECONDS = 15.0


@dataclass(frozen=True)
class ActionSpec:
    name: str
    permissions: tuple[Permission, ...]
    description: str
    fn: ActionFn
    mutating: bool = True
    destructive: bool = False
    containment: bool = False
    # Re-run on a repeat of the same finding? Containment is re-asserted (cheap, idempotent);
    # evidence (snapshots, captures, look-ups) is taken once per incident.
    repeatable: bool = False
    # Wall-clock budget of one run of the step (seconds), so one slow call cannot use up
    # the function's timeout. A `wait_seconds` keyword argument of the step is added to it.
    budget_seconds: float = DEFAULT_BUDGET_SECONDS

    @property
    def iam_actions(self) -> frozenset[str]:
        return frozenset(a for p in self.permissions for a in p.actions)


REGISTRY: dict[str, ActionSpec] = {}


def action(
    name: str,
    *,
    permissions: tuple[Permission, ...],
    description: str,
    mutating: bool = True,
    destructive: bool = False,
    containment: bool = False,
    repeatable: bool | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
) -> Callable[[ActionFn], ActionFn]:
    """Register an action under `name`; a duplicate name is a programming error.

    `destructive` steps (stop, terminate, isolate, detach, remove access) count against the
    circuit breaker; `repeatable` defaults to `containment`.
    """

    def register(fn: ActionFn) -> ActionFn:
        if name in REGISTRY:
            raise ValueError(f"action {name!r} registered twice")
        REGISTRY[name] = ActionSpec(
            name=name,
            permissions=permissions,
            description=description,
            fn=fn,
            mutating=mutating,
            destructive=destructive,
            containment=containment,
            repeatable=containment if repeatable is None else repeatable,
            budget_seconds=budget_seconds,
        )
        return fn

    return register


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    if isinstance(exc, ActionFailed):
        return exc.code
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__
    return type(exc).__name__


# Permissions every playbook needs to record, preserve evidence and notify.
RECORD_PERMISSIONS = (
    Permission(
        (
            "dynamodb:ConditionCheckItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ),
        ("@table",),
    ),
    Permission(("s3:PutObject",), ("@evidence",)),
    Permission(("sns:Publish",), ("@topic",)),
    Permission(("kms:Decrypt", "kms:GenerateDataKey"), ("@key",)),
)
