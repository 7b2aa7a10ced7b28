"""`python -m release INCIDENT_ID [--yes] [--reactivate-keys] [--reopen-ingress]`: undo an incident's containment.

Runs with the operator's own credentials against the real account. Without `--yes` it
only shows what it would do. It reads the incident item (steps with before-states) from
the incident table and the before-state documents from the evidence bucket, both found
through the outputs of the CloudFormation stack unless named. After applying, it marks
the incident `released`, so a repeat of the finding is notified, not re-contained.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from release.reversers import Change, Context, plan

STACK_NAME = "AutoRemediation"


def _outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    found = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in found}


def load_incident(dynamodb: Any, table: str, incident_id: str) -> dict[str, Any] | None:
    item = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}}, ConsistentRead=True
    ).get("Item")
    if not item:
        return None
    out: dict[str, Any] = {}
    for key, value in item.items():
        out[key] = value.get("S", value.get("N", value.get("BOOL")))
    for key in ("steps", "subject"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


def main(argv: list[str] | None = None, *, out: TextIO = sys.stdout, session: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m release", description=__doc__.splitlines()[0])
    parser.add_argument("incident_id")
    parser.add_argument("--yes", action="store_true", help="apply the reversal (default: only show it)")
    parser.add_argument("--reactivate-keys", action="store_true", help="also reactivate deactivated access keys")
    parser.add_argument(
        "--reopen-ingress", action="store_true", help="also re-authorize revoked world-open admin-port ingress rules"
    )
    parser.add_argument("--table", help="incident table (default: stack output IncidentTableName)")
    parser.add_argument("--bucket", help="evidence bucket (default: stack output EvidenceBucketName)")
    parser.add_argument("--stack", default=STACK_NAME, help=f"stack name (default {STACK_NAME})")
    parser.add_argument("--region", help="region of the deployment (default: your AWS configuration)")
    args = parser.parse_args(argv)

    session = session or boto3.session.Session(region_name=args.region)
    clients: dict[str, Any] = {}

    def client(name: str) -> Any:
        if name not in clients:
            clients[name] = session.client(name)
        return clients[name]

    table, bucket = args.table, args.bucket
    if not table or not bucket:
        outputs = _outputs(client("cloudformation"), args.stack)
        table = table or outputs["IncidentTableName"]
        bucket = bucket or outputs["EvidenceBucketName"]

    incident = load_incident(client("dynamodb"), table, args.incident_id)
    if incident is None:
        print(f"incident {args.incident_id} not found in {table}", file=out)
        return 2
    if incident.get("status") == "released":
        print(f"incident {args.incident_id} was already released at {incident.get('released_at', '?')}", file=out)
        return 0

    def evidence(name: str) -> dict[str, Any] | None:
        try:
            body = client("s3").get_object(Bucket=bucket, Key=f"incidents/{args.incident_id}/{name}.json")["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return dict(json.loads(body.read()))

    ctx = Context(
        incident=incident,
        evidence=evidence,
        clients=client,
        reactivate_keys=args.reactivate_keys,
        reopen_ingress=args.reopen_ingress,
    )
    changes = plan(ctx)
    subject = incident.get("subject", {})
    print(f"Incident {args.incident_id} ({incident.get('playbook')}, status {incident.get('status')})", file=out)
    print(f"Subject: {subject.get('principal') or subject}", file=out)
    _show(changes, out)
    if not args.yes:
        print("\nNothing changed. Run again with --yes to apply.", file=out)
        return 0

    failures = 0
    log = []
    for change in changes:
        if change.apply is None:
            result = "kept" if change.kept else "manual"
            log.append({"action": change.action, "target": change.target, "result": result})
            continue
        try:
            change.apply()
            log.append({"action": change.action, "target": change.target, "result": "done"})
            print(f"  done     {change.description}", file=out)
        except (ClientError, BotoCoreError) as exc:
            failures += 1
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
            log.append({"action": change.action, "target": change.target, "result": f"failed: {code}"})
            print(f"  FAILED   {change.description}: {code}", file=out)
    if failures:
        print(f"\n{failures} change(s) failed; the incident stays {incident.get('status')}. Fix and re-run.", file=out)
        return 1
    _mark_released(client, table, args.incident_id, log)
    print(
        f"\nReleased. Incident {args.incident_id} is marked released; repeats of the finding now only notify.", file=out
    )
    return 0


def _show(changes: list[Change], out: TextIO) -> None:
    if not changes:
        print("\nNothing to reverse.", file=out)
        return
    print("\nPlan:", file=out)
    for change in changes:
        mark = "apply " if change.apply is not None else "kept  " if change.kept else "manual"
        print(f"  [{mark}] {change.description}" + (f"\n           {change.note}" if change.note else ""), file=out)


def _mark_released(client: Any, table: str, incident_id: str, log: list[dict[str, str]]) -> None:
    try:
        who = client("sts").get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError):
        who = "unknown"
    client("dynamodb").update_item(
        TableName=table,
        Key={"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET #s = :released, released_at = :at, released_by = :who, release_log = :log",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":released": {"S": "released"},
            ":at": {"S": datetime.now(UTC).isoformat()},
            ":who": {"S": who},
            ":log": {"S": json.dumps(log)},
        },
    )
