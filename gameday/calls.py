"""Observe and disturb the AWS calls a handler makes, through botocore's event hooks.

`Recorder` logs every API call of the clients the runtime creates (`remediation.clients`),
with the step it belongs to (steps run in threads named `step-<action>`). `Fault` makes one
logical call fail the way AWS fails: throttling, AccessDenied, a missing resource or a
timeout, as if botocore's retries had been exhausted. The fault-injection tests, the
hostile-input fuzz test and the benchmark use them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "Head", "BatchGet", "Query", "Scan")
OWN_SERVICES = ("dynamodb", "s3", "sns", "sqs", "kms", "sts", "logs", "cloudwatch")

# What "the resource is missing" looks like, per service.
NOT_FOUND = {
    "iam": "NoSuchEntity",
    "ec2": "InvalidInstanceID.NotFound",
    "autoscaling": "ValidationError",
    "elasticloadbalancing": "TargetGroupNotFound",
    "cloudtrail": "TrailNotFoundException",
    "cloudwatch": "ResourceNotFound",
    "dynamodb": "ResourceNotFoundException",
    "s3": "NoSuchBucket",
    "sns": "NotFound",
}
FAULT_KINDS = ("Throttling", "AccessDenied", "NotFound", "Timeout")


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@dataclass(frozen=True)
class Call:
    service: str  # signing name: iam, ec2, dynamodb, ...
    operation: str
    step: str  # the action whose thread made the call, or "" (engine bookkeeping)
    params: dict[str, Any]
    at: float

    @property
    def mutating(self) -> bool:
        return is_mutating(self.operation)


def _step_name() -> str:
    name = threading.current_thread().name
    return name[5:] if name.startswith("step-") else ""


@dataclass
class Recorder:
    """Collects the calls; use as `with recorder.active(): ...`."""

    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, client: Any) -> None:
        service = client.meta.service_model.signing_name
        event = f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}.*"

        def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
            call = Call(service, model.name, _step_name(), dict(params), time.perf_counter())
            with self._lock:
                self.calls.append(call)
                count = sum(
                    1 for c in self.calls if (c.service, c.operation, c.step) == (service, model.name, call.step)
                )
            for fault in self.faults:
                fault.maybe_raise(call, count)

        client.meta.events.register(event, hook)

    @contextmanager
    def active(self) -> Iterator[Recorder]:
        from remediation import clients

        clients.reset()
        clients.add_hook(self.install)
        try:
            yield self
        finally:
            clients.remove_hook(self.install)
            clients.reset()

    def mutating(self, *, services: tuple[str, ...] | None = None) -> list[Call]:
        return [c for c in self.calls if c.mutating and (services is None or c.service in services)]


@dataclass
class Fault:
    """Fail the `occurrence`-th call of (service, operation) made by `step` ("" = bookkeeping)."""

    service: str
    operation: str
    step: str
    kind: str  # one of FAULT_KINDS
    occurrence: int = 1
    fired: int = 0

    @property
    def code(self) -> str:
        if self.kind == "NotFound":
            return NOT_FOUND.get(self.service, "ResourceNotFoundException")
        if self.kind == "Timeout":
            return "ReadTimeoutError"
        return self.kind

    def maybe_raise(self, call: Call, count: int) -> None:
        if (call.service, call.operation, call.step) != (self.service, self.operation, self.step):
            return
        if count != self.occurrence:
            return
        self.fired += 1
        if self.kind == "Timeout":
            raise ReadTimeoutError(endpoint_url=f"https://{self.service}.amazonaws.com/")
        status = {"Throttling": 400, "AccessDenied": 403}.get(self.kind, 404)
        response: Any = {
            "Error": {"Code": self.code, "Message": f"injected {self.kind} on {self.operation}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        raise ClientError(response, self.operation)


def throttle_first(client: Any, operation: str, times: int) -> list[int]:
    """Answer the first `times` HTTP attempts of `operation` with a throttling error (botocore retries)."""
    from botocore.awsrequest import AWSResponse

    attempts: list[int] = []

    def send(request: Any, **_: Any) -> Any:
        attempts.append(1)
        if len(attempts) > times:
            return None  # let moto answer
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            b"<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
        )
        headers: Any = {"Content-Type": "text/xml"}
        return AWSResponse(request.url, 400, headers, _Raw(body))

    client.meta.events.register_first(
        f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}", send
    )
    return attempts


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body
