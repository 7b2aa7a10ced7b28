"""boto3 clients built lazily through one injectable factory.

Clients are cached per service and region; `reset()` drops them (tests and the
simulator call it when they start a fresh simulated account). Retries use botocore's
standard mode so throttling is retried with backoff instead of lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

RETRY_CONFIG = Config(
    retries={"max_attempts": 6, "mode": "standard"},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="autoremediation",
)

_lock = threading.Lock()
_cache: dict[tuple[str, str | None], Any] = {}
# Called with every new client. Lambda registers none; the simulator and tests use them to
# observe calls (botocore event hooks) or to inject faults. Survive `reset()`.
_hooks: list[Callable[[Any], None]] = []


def add_hook(hook: Callable[[Any], None]) -> None:
    _hooks.append(hook)


def remove_hook(hook: Callable[[Any], None]) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


_session: Any = None


def _get_session() -> Any:
    """One boto3 session per process: service models are loaded once, not per client."""
    global _session
    if _session is None:
        import boto3

        _session = boto3.session.Session()
    return _session


def client(service: str, region: str | None = None) -> Any:
    key = (service, region)
    found = _cache.get(key)
    if found is None:
        with _lock:
            found = _cache.get(key)
            if found is None:
                found = _get_session().client(service, region_name=region, config=RETRY_CONFIG)
                for hook in _hooks:
                    hook(found)
                _cache[key] = found
    return found


def reset() -> None:
    """Drop the clients (the session stays: its loaded service models are reused)."""
    with _lock:
        _cache.clear()


def iam() -> IAMClient:
    return client("iam")


def s3() -> S3Client:
    return client("s3")


def sns() -> SNSClient:
    return client("sns")


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")


def cloudtrail() -> CloudTrailClient:
    return client("cloudtrail")
