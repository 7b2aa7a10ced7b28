"""IAM actions of the credential-compromise playbook.

Keys are deactivated, never deleted; policies and groups are removed only after the
user's before-state (with policy documents) is in the evidence bucket, so the release
command can put everything back.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from remediation import clients, store
from remediation.actions.base import ActionFailed, NotApplicable, Outcome, Permission, action
from remediation.events import now

if TYPE_CHECKING:
    from remediation.engine import Run

USERS = ("arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*",)
ROLES = ("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*",)


def quarantine_policy_name(run: Run) -> str:
    return f"{run.settings.name_prefix}-quarantine-deny-all"


def revoke_policy_name(run: Run) -> str:
    return f"{run.settings.name_prefix}-revoke-older-sessions"


def own_policies(run: Run) -> set[str]:
    return {quarantine_policy_name(run), revoke_policy_name(run)}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _keys(user: str) -> list[dict[str, Any]]:
    pages = clients.iam().get_paginator("list_access_keys").paginate(UserName=user)
    return [dict(k) for page in pages for k in page["AccessKeyMetadata"]]


@action(
    "inspect_principal",
    permissions=(Permission(("iam:ListUserTags",), USERS), Permission(("iam:GetRole",), ROLES)),
    description="read the principal's tags and path (protected tag, service-linked role)",
    mutating=False,
    repeatable=True,  # a guard: evaluated on every run, never taken from an earlier one
)
def inspect_principal(run: Run, *, kind: str, name: str) -> Outcome:
    iam = clients.iam()
    if kind == "user":
        user_tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name).get("Tags", [])}
        return Outcome(detail=f"{len(user_tags)} tag(s)", data={"tags": user_tags, "path": ""})
    role = iam.get_role(RoleName=name)["Role"]
    role_tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
    return Outcome(detail=f"path {role.get('Path', '/')}", data={"tags": role_tags, "path": role.get("Path", "/")})


def _set_key_inactive(user: str, key_id: str) -> Outcome:
    iam = clients.iam()
    before = next((k["Status"] for k in _keys(user) if k["AccessKeyId"] == key_id), None)
    if before is None:
        return Outcome(status="already_done", detail="key no longer exists", before=None, after=None)
    if before == "Inactive":
        return Outcome(status="already_done", detail="key already Inactive", before=before, after=before)
    iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
    after = next((k["Status"] for k in _keys(user) if k["AccessKeyId"] == key_id), None)
    if after != "Inactive":
        raise ActionFailed(f"key {key_id} still {after} after deactivation")
    return Outcome(detail="Active -> Inactive", before=before, after=after)


@action(
    "deactivate_access_key",
    permissions=(Permission(("iam:UpdateAccessKey", "iam:ListAccessKeys"), USERS),),
    description="deactivate the finding's access key (never delete it)",
    containment=True,
)
def deactivate_access_key(run: Run, *, user: str, key_id: str) -> Outcome:
    """Deactivate first, read back second: the first mutating call of the playbook."""
    iam = clients.iam()
    try:
        iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
            return Outcome(status="already_done", detail="key or user no longer exists")
        raise
    after = next((k["Status"] for k in _keys(user) if k["AccessKeyId"] == key_id), None)
    if after != "Inactive":
        raise ActionFailed(f"key {key_id} is {after} after deactivation")
    # The finding shows the key in use, so it was Active; reading it first would delay containment.
    return Outcome(detail="set Inactive (verified)", before="Active", after=after)


@action(
    "restore_access_key",
    permissions=(Permission(("iam:UpdateAccessKey", "iam:ListAccessKeys"), USERS),),
    description="set a key this run deactivated back to Active (a protected principal was contained by mistake)",
    repeatable=True,
)
def restore_access_key(run: Run, *, user: str, key_id: str) -> Outcome:
    iam = clients.iam()
    iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Active")
    after = next((k["Status"] for k in _keys(user) if k["AccessKeyId"] == key_id), None)
    if after != "Active":
        raise ActionFailed(f"key {key_id} is {after} after restoring it")
    return Outcome(detail="Inactive -> Active (restored)", before="Inactive", after=after)


@action(
    "deactivate_all_access_keys",
    permissions=(Permission(("iam:UpdateAccessKey", "iam:ListAccessKeys"), USERS),),
    description="deactivate every access key of the user",
    containment=True,
)
def deactivate_all_access_keys(run: Run, *, user: str) -> Outcome:
    changed, before = [], {k["AccessKeyId"]: k["Status"] for k in _keys(user)}
    for key_id, status in before.items():
        if status == "Active":
            _set_key_inactive(user, key_id)
            changed.append(key_id)
    return Outcome(
        status="succeeded" if changed else "already_done",
        detail=f"deactivated {changed or 'none'}",
        before=before,
        after={k["AccessKeyId"]: k["Status"] for k in _keys(user)},
    )


def _put_inline(run: Run, kind: str, name: str, policy_name: str, document: dict[str, Any]) -> Outcome:
    iam = clients.iam()
    body = json.dumps(document)
    if kind == "user":
        iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=body)
        got = iam.get_user_policy(UserName=name, PolicyName=policy_name)["PolicyDocument"]
    else:
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=body)
        got = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(got, str):
        from urllib.parse import unquote

        got = json.loads(unquote(got))
    if got.get("Statement") != document["Statement"]:
        raise ActionFailed(f"policy {policy_name} on {kind} {name} does not read back as written")
    return Outcome(detail=f"inline policy {policy_name} in place (verified)", after=document)


@action(
    "attach_quarantine_policy",
    permissions=(Permission(("iam:PutUserPolicy", "iam:GetUserPolicy"), USERS),),
    description="attach an inline deny-all quarantine policy to the user",
    containment=True,
)
def attach_quarantine_policy(run: Run, *, user: str) -> Outcome:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "AutoRemediationQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}],
    }
    return _put_inline(run, "user", user, quarantine_policy_name(run), document)


@action(
    "revoke_sessions",
    permissions=(
        Permission(("iam:PutUserPolicy", "iam:GetUserPolicy"), USERS),
        Permission(("iam:PutRolePolicy", "iam:GetRolePolicy"), ROLES),
    ),
    description="deny every session token issued before now (aws:TokenIssueTime)",
    containment=True,
)
def revoke_sessions(run: Run, *, kind: str, name: str) -> Outcome:
    cutoff = now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AutoRemediationRevokeOlderSessions",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}},
            }
        ],
    }
    outcome = _put_inline(run, kind, name, revoke_policy_name(run), document)
    outcome.detail += f"; sessions issued before {cutoff} denied"
    return outcome


@action(
    "capture_user_state",
    permissions=(
        Permission(
            (
                "iam:GetUser",
                "iam:ListAttachedUserPolicies",
                "iam:ListUserPolicies",
                "iam:GetUserPolicy",
                "iam:ListGroupsForUser",
                "iam:ListAccessKeys",
                "iam:GetAccessKeyLastUsed",
                "iam:GetLoginProfile",
                "iam:ListMFADevices",
                "iam:ListUserTags",
            ),
            USERS,
        ),
    ),
    description="write the user's before-state (policies with documents, groups, keys, login) to the evidence bucket",
    mutating=False,
)
def capture_user_state(run: Run, *, user: str) -> Outcome:
    iam = clients.iam()
    info = iam.get_user(UserName=user)["User"]
    attached = [
        p
        for page in iam.get_paginator("list_attached_user_policies").paginate(UserName=user)
        for p in page["AttachedPolicies"]
    ]
    inline_names = [
        n for page in iam.get_paginator("list_user_policies").paginate(UserName=user) for n in page["PolicyNames"]
    ]
    inline = {}
    for policy in inline_names:
        document = iam.get_user_policy(UserName=user, PolicyName=policy)["PolicyDocument"]
        inline[policy] = document
    groups = [
        g["GroupName"]
        for page in iam.get_paginator("list_groups_for_user").paginate(UserName=user)
        for g in page["Groups"]
    ]
    keys = []
    for key in _keys(user):
        try:
            last: dict[str, Any] = dict(
                iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
            )
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            last = {}  # the key was deleted meanwhile
        keys.append({**key, "LastUsed": last})
    try:
        login: dict[str, Any] | None = dict(iam.get_login_profile(UserName=user)["LoginProfile"])
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            raise
        login = None
    mfa = iam.list_mfa_devices(UserName=user).get("MFADevices", [])
    state = {
        "user": info,
        "attached_policies": attached,
        "inline_policies": inline,
        "own_policies": sorted(own_policies(run)),
        "groups": groups,
        "access_keys": keys,
        "login_profile": login,
        "mfa_devices": mfa,
        "tags": iam.list_user_tags(UserName=user).get("Tags", []),
        "captured_at": now(),
    }
    evidence_key = store.put_evidence(run.settings, run.incident_id, "user-before-state", state)
    summary = (
        f"{len(attached)} managed, {len(inline)} inline polic(ies), {len(groups)} group(s), "
        f"{len(keys)} key(s), login {'yes' if login else 'no'} -> s3://{run.settings.evidence_bucket}/{evidence_key}"
    )
    return Outcome(detail=summary, data={"user_state": state, "user_state_key": evidence_key})


def _require_state(run: Run) -> dict[str, Any]:
    state = run.state.get("user_state")
    if state is None:
        raise NotApplicable("before-state was not captured: refusing to remove anything that could not be restored")
    return dict(state)


@action(
    "detach_managed_policies",
    permissions=(Permission(("iam:DetachUserPolicy", "iam:ListAttachedUserPolicies"), USERS),),
    description="detach the user's managed policies (recorded in the before-state)",
    destructive=True,
)
def detach_managed_policies(run: Run, *, user: str) -> Outcome:
    state = _require_state(run)
    iam = clients.iam()
    arns = [p["PolicyArn"] for p in state["attached_policies"]]
    for arn in arns:
        try:
            iam.detach_user_policy(UserName=user, PolicyArn=arn)
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
    left = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    if left:
        raise ActionFailed(f"still attached: {[p['PolicyArn'] for p in left]}")
    return Outcome(
        status="succeeded" if arns else "already_done", detail=f"detached {len(arns)}", before=arns, after=[]
    )


@action(
    "delete_inline_policies",
    permissions=(Permission(("iam:DeleteUserPolicy", "iam:ListUserPolicies"), USERS),),
    description="delete the user's inline policies except the quarantine ones (documents kept as evidence)",
    destructive=True,
)
def delete_inline_policies(run: Run, *, user: str) -> Outcome:
    state = _require_state(run)
    iam = clients.iam()
    ours = own_policies(run)
    names = [n for n in state["inline_policies"] if n not in ours]
    for name in names:
        try:
            iam.delete_user_policy(UserName=user, PolicyName=name)
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
    left = [n for n in iam.list_user_policies(UserName=user)["PolicyNames"] if n not in ours]
    if left:
        raise ActionFailed(f"inline policies remain: {left}")
    return Outcome(
        status="succeeded" if names else "already_done", detail=f"deleted {names or 'none'}", before=names, after=[]
    )


@action(
    "remove_from_groups",
    permissions=(
        Permission(("iam:RemoveUserFromGroup",), (*USERS, "arn:${AWS::Partition}:iam::${AWS::AccountId}:group/*")),
        Permission(("iam:ListGroupsForUser",), USERS),
    ),
    description="remove the user from its groups (recorded in the before-state)",
    destructive=True,
)
def remove_from_groups(run: Run, *, user: str) -> Outcome:
    state = _require_state(run)
    iam = clients.iam()
    for group in state["groups"]:
        try:
            iam.remove_user_from_group(UserName=user, GroupName=group)
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
    left = [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]]
    if left:
        raise ActionFailed(f"still in groups: {left}")
    return Outcome(
        status="succeeded" if state["groups"] else "already_done",
        detail=f"removed from {state['groups'] or 'no groups'}",
        before=state["groups"],
        after=[],
    )


@action(
    "delete_login_profile",
    permissions=(Permission(("iam:DeleteLoginProfile", "iam:GetLoginProfile"), USERS),),
    description="delete the user's console login profile (its existence is recorded)",
    destructive=True,
)
def delete_login_profile(run: Run, *, user: str) -> Outcome:
    _require_state(run)
    iam = clients.iam()
    try:
        iam.delete_login_profile(UserName=user)
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
            return Outcome(status="already_done", detail="no console login")
        raise
    try:
        iam.get_login_profile(UserName=user)
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
            return Outcome(detail="console login removed (verified)", before="login profile", after=None)
        raise
    raise ActionFailed("login profile still present")


@action(
    "lookup_cloudtrail",
    permissions=(Permission(("cloudtrail:LookupEvents",)),),
    description="look up the key's recent CloudTrail events and store them as evidence",
    mutating=False,
)
def lookup_cloudtrail(run: Run, *, key_id: str, since: datetime) -> Outcome:
    events: list[dict[str, Any]] = []
    try:
        pages = (
            clients.cloudtrail()
            .get_paginator("lookup_events")
            .paginate(
                LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}],
                StartTime=since,
                EndTime=now(),
                PaginationConfig={"MaxItems": 500},
            )
        )
        for page in pages:
            events.extend(dict(e) for e in page.get("Events", []))
    except (ClientError, BotoCoreError, NotImplementedError) as exc:
        # Evidence, not containment: an unavailable API is reported, never fatal.
        from remediation.actions.base import error_code

        raise NotApplicable(f"CloudTrail lookup unavailable ({error_code(exc)}): {str(exc)[:200]}") from exc
    key = store.put_evidence(
        run.settings, run.incident_id, "cloudtrail-events", {"access_key_id": key_id, "since": since, "events": events}
    )
    return Outcome(detail=f"{len(events)} event(s) -> {key}")


@action(
    "recheck_new_credentials",
    permissions=(
        Permission(
            ("iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:GetLoginProfile", "iam:DeleteLoginProfile"), USERS
        ),
    ),
    description="after IAM's propagation window, contain keys and console logins created since the finding",
    containment=True,
)
def recheck_new_credentials(run: Run, *, user: str, since: datetime, wait_seconds: float) -> Outcome:
    """Attackers create a second key while the first is being contained; catch it."""
    from remediation import engine

    engine.sleep(wait_seconds)
    iam = clients.iam()
    caught: list[str] = []
    for key in _keys(user):
        if key["Status"] == "Active" and key["CreateDate"] >= since:
            _set_key_inactive(user, key["AccessKeyId"])
            caught.append(key["AccessKeyId"])
    login_removed = False
    try:
        profile = iam.get_login_profile(UserName=user)["LoginProfile"]
        if profile["CreateDate"] >= since:
            iam.delete_login_profile(UserName=user)
            login_removed = True
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            raise
    if not caught and not login_removed:
        return Outcome(status="already_done", detail=f"no credentials created since {since.isoformat()}")
    detail = f"deactivated new key(s) {caught}" if caught else ""
    if login_removed:
        detail += ("; " if detail else "") + "deleted a console login created since the finding"
    return Outcome(detail=detail, after={"caught_keys": caught, "login_removed": login_removed})
