"""One place for Powertools Logger, Metrics and Tracer.

The X-Ray SDK costs about 250 ms of import time, so the Tracer is only created when
tracing is enabled (`POWERTOOLS_TRACE_DISABLED` is not true); handlers use `trace`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["MetricUnit", "logger", "metrics", "tracing_enabled", "capture_method"]

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "autoremediation")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AutoRemediation"), service=SERVICE)

F = TypeVar("F", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").lower() not in ("1", "true")


@cache
def _tracer() -> Any:
    from aws_lambda_powertools import Tracer  # deferred: pulls in the X-Ray SDK

    return Tracer(service=SERVICE)


def capture_lambda_handler(fn: F) -> F:
    """Wrap a handler with Tracer only when tracing is on (decided at cold start)."""
    if tracing_enabled():
        return _tracer().capture_lambda_handler(fn)  # type: ignore[no-any-return]
    return fn


def capture_method(fn: F) -> F:
    if tracing_enabled():
        return _tracer().capture_method(fn)  # type: ignore[no-any-return]
    return fn
