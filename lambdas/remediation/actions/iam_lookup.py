"""Find which IAM user owns an access key (AWS Health names only the key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from remediation import clients
from remediation.actions.base import NotApplicable, Outcome, Permission, action

if TYPE_CHECKING:
    from remediation.engine import Run

USERS = ("arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*",)


@action(
    "lookup_key_owner",
    permissions=(Permission(("iam:GetAccessKeyLastUsed",), USERS),),
    description="find the IAM user an access key belongs to (iam:GetAccessKeyLastUsed returns UserName)",
    mutating=False,
    repeatable=True,
)
def lookup_key_owner(run: Run, *, key_id: str) -> Outcome:
    try:
        found = clients.iam().get_access_key_last_used(AccessKeyId=key_id)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchEntity", "AccessDenied"):
            # A key of another account, or already deleted: nothing in this account to contain.
            raise NotApplicable(f"access key {key_id} is not a key of this account ({code})") from exc
        raise
    user = str(found.get("UserName", ""))
    if not user:
        raise NotApplicable(f"access key {key_id} has no owning IAM user")
    return Outcome(detail=f"{key_id} belongs to IAM user {user}", data={"key_owner": user})
