"""Rehearse an incident against the deployed stack (`gameday.remote.DeployedStack`).

A credential compromise: a user and access key are seeded in the emulator, the real-format
GuardDuty finding (tests/events/guardduty/credential_user_high.json) is rewritten to name
that key and routed through the DEPLOYED rule to the DEPLOYED function's handler, run
in-process with the deployed environment. What the playbook did is then read back from
the emulator: the key, the user's policies, the deployed table, bucket and topic.
The expectations follow the deployed MODE (enforce contains; dry_run only records).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from gameday.remote import DeployedStack

ROOT = Path(__file__).resolve().parent.parent
EVENT = ROOT / "tests" / "events" / "guardduty" / "credential_user_high.json"
PLACEHOLDER_KEY = "AKIAIOSFODNN7EXAMPLE"
USER = "compromised-user"


@dataclass
class Rehearsal:
    name: str
    mode: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, ok, detail)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def expect(self, what: str, ok: bool, detail: Any = "") -> None:
        self.checks.append((what, bool(ok), str(detail)[:300]))

    def table(self) -> str:
        rows = [f"Rehearsal {self.name} (deployed MODE={self.mode}): {'PASS' if self.ok else 'FAIL'}"]
        rows += [
            f"  [{'ok' if ok else 'FAIL'}] {what}" + (f": {detail}" if detail and not ok else "")
            for what, ok, detail in self.checks
        ]
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "ok": self.ok,
            "checks": [{"what": w, "ok": o, "detail": d} for w, o, d in self.checks],
        }


def finding_event(access_key_id: str) -> dict[str, Any]:
    """The fixture finding, naming `access_key_id`, stamped as if published just now."""
    event: dict[str, Any] = json.loads(EVENT.read_text().replace(PLACEHOLDER_KEY, access_key_id))
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    event["id"] = str(uuid.uuid4())
    event["time"] = stamp
    event["detail"]["updatedAt"] = stamp
    event["detail"]["service"]["eventLastSeen"] = stamp
    return event


def credential_compromise(
    stack: DeployedStack, *, dispatch: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
) -> Rehearsal:
    """Run the rehearsal; `dispatch` defaults to `stack.dispatch` (a scenario runner may wrap it)."""
    iam, sqs, sns = stack.client("iam"), stack.client("sqs"), stack.client("sns")
    credential = next((f for f in stack.functions.values() if f.environment.get("PLAYBOOK") == "credential"), None)
    rehearsal = Rehearsal("credential compromise", credential.environment.get("MODE", "?") if credential else "?")
    rehearsal.expect("the deployed stack has a credential playbook function", credential is not None)
    if credential is None:
        return rehearsal
    env = credential.environment
    topic = env["TOPIC_ARN"]

    # GIVEN a user with an access key, and a queue listening on the deployed topic
    tap_name = f"deploylocal-tap-{uuid.uuid4().hex[:8]}"
    tap_url = sqs.create_queue(QueueName=tap_name)["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=tap_arn)["SubscriptionArn"]
    iam.create_user(UserName=USER)
    key_id = iam.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    try:
        # WHEN GuardDuty reports the key
        results = (dispatch or stack.dispatch)(finding_event(key_id))
        rehearsal.results = results
        _then(rehearsal, stack, results, key_id=key_id, env=env, tap_url=tap_url)
    finally:
        sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=tap_url)
        _remove_user(iam)
    return rehearsal


def _then(
    rehearsal: Rehearsal,
    stack: DeployedStack,
    results: list[dict[str, Any]],
    *,
    key_id: str,
    env: dict[str, str],
    tap_url: str,
) -> None:
    iam, s3 = stack.client("iam"), stack.client("s3")
    rule = next((r for r in stack.rules if r.logical_id.startswith("GuardDutyCredentialFindings")), None)
    rehearsal.expect(
        "routed by the deployed GuardDuty rule to the credential function, once",
        len(results) == 1 and rule is not None and results[0]["rule"] == rule.logical_id,
        [(r["rule"], r["function"]) for r in results],
    )
    if len(results) != 1:
        return
    entry = results[0]
    rehearsal.expect("the handler raised no error", "error" not in entry, entry.get("error", {}).get("message"))
    result = entry.get("result") or {}
    enforce = env.get("MODE") == "enforce"
    rehearsal.expect(
        f"decision is {'acted' if enforce else 'dry_run'}",
        result.get("decision") == ("acted" if enforce else "dry_run"),
        result.get("decision"),
    )
    incident_id = result.get("incident_id", "")

    status = next(
        k["Status"] for k in iam.list_access_keys(UserName=USER)["AccessKeyMetadata"] if k["AccessKeyId"] == key_id
    )
    rehearsal.expect(
        f"access key {key_id} is {'Inactive' if enforce else 'still Active'}",
        status == ("Inactive" if enforce else "Active"),
        status,
    )
    quarantine = f"{env['NAME_PREFIX']}-quarantine-deny-all"
    policies = iam.list_user_policies(UserName=USER)["PolicyNames"]
    if enforce:
        document = (
            iam.get_user_policy(UserName=USER, PolicyName=quarantine)["PolicyDocument"]
            if quarantine in policies
            else {}
        )
        denies_all = any(
            s.get("Effect") == "Deny" and s.get("Action") in ("*", ["*"]) and s.get("Resource") in ("*", ["*"])
            for s in document.get("Statement", [])
        )
        rehearsal.expect(f"quarantine policy {quarantine} denies everything", denies_all, policies)
    else:
        rehearsal.expect("no policy was attached", policies == [], policies)

    item = stack.client("dynamodb").get_item(
        TableName=env["INCIDENT_TABLE"],
        ConsistentRead=True,
        Key={"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}},
    )
    recorded = item.get("Item", {})
    decision = recorded.get("decision", {}).get("S")
    rehearsal.expect(
        f"incident {incident_id} recorded in the deployed table {env['INCIDENT_TABLE']}",
        decision == result.get("decision"),
        decision,
    )

    listed = s3.list_objects_v2(Bucket=env["EVIDENCE_BUCKET"], Prefix=f"incidents/{incident_id}/").get("Contents", [])
    keys = [o["Key"] for o in listed]
    if enforce:
        rehearsal.expect(
            f"evidence written to the deployed bucket {env['EVIDENCE_BUCKET']}",
            f"incidents/{incident_id}/user-before-state.json" in keys,
            keys,
        )

    messages = _drain(stack, tap_url)
    subjects = [m.get("Subject", "") for m in messages]
    expected_subject = f"[credential] {result.get('decision')}"
    rehearsal.expect(
        "one notification published to the deployed topic",
        len(messages) == 1 and expected_subject in subjects[0],
        subjects,
    )


def _drain(stack: DeployedStack, url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _remove_user(iam: Any) -> None:
    """Remove the rehearsal's own seed user (not something the product does: it never deletes users)."""
    with contextlib.suppress(ClientError):
        for name in iam.list_user_policies(UserName=USER)["PolicyNames"]:
            iam.delete_user_policy(UserName=USER, PolicyName=name)
        for key in iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=USER, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=USER)
