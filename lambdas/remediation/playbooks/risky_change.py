"""Risky changes: world-open admin ports on a security group; root console sign-in.

`AuthorizeSecurityGroupIngress` that opens a configured admin port to 0.0.0.0/0 or ::/0:
revoke exactly the rule(s) the call created, by rule id, and leave every other rule alone
(a protected group is left open and notified). Root console sign-in: notify, flagging
whether MFA was used.
"""

from __future__ import annotations

from typing import Any

from remediation import guards
from remediation.api_events import API_CALL, CONSOLE_SIGN_IN, GROUP_ID, RULE_ID, ApiCall, partition_of
from remediation.engine import Run, incident_id_for, reject
from remediation.events import InvalidEvent
from remediation.observability import logger
from remediation.settings import Settings

WORLD = ("0.0.0.0/0", "::/0")


def handle(event: Any, settings: Settings) -> dict[str, Any]:
    try:
        call = ApiCall.parse(event, sources=("aws.ec2", "aws.signin"), detail_types=(API_CALL, CONSOLE_SIGN_IN))
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    if call.event_name == "ConsoleLogin":
        return _root_sign_in(call, event, settings)
    if call.event_name == "AuthorizeSecurityGroupIngress":
        return _world_open_ingress(call, event, settings)
    return reject(settings, event, InvalidEvent(f"detail.eventName: {call.event_name!r} is not handled here"))


def _world_open_rules(call: ApiCall, admin_ports: list[int]) -> list[dict[str, Any]]:
    """The rules the call created that open an admin port to the world (from responseElements)."""
    items = call.response.obj("securityGroupRuleSet", required=False).list("items", required=False)
    out = []
    for index, item in enumerate(items):
        path = f"detail.responseElements.securityGroupRuleSet.items[{index}]"
        if not isinstance(item, dict):
            raise InvalidEvent(f"{path}: expected an object")
        rule_id = item.get("securityGroupRuleId", "")
        if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
            raise InvalidEvent(f"{path}.securityGroupRuleId: {str(rule_id)[:40]!r} is not a rule id")
        if item.get("isEgress") or (item.get("cidrIpv4") not in WORLD and item.get("cidrIpv6") not in WORLD):
            continue
        protocol = str(item.get("ipProtocol", ""))
        low, high = item.get("fromPort", -1), item.get("toPort", -1)
        if not isinstance(low, int) or not isinstance(high, int):
            raise InvalidEvent(f"{path}.fromPort/toPort: expected integers")
        if protocol == "-1" or (protocol in ("tcp", "udp", "6", "17") and any(low <= p <= high for p in admin_ports)):
            out.append(
                {
                    "SecurityGroupRuleId": rule_id,
                    "IpProtocol": protocol,
                    "FromPort": low,
                    "ToPort": high,
                    "Cidr": item.get("cidrIpv4") or item.get("cidrIpv6"),
                }
            )
    return out


def _world_open_ingress(call: ApiCall, event: Any, settings: Settings) -> dict[str, Any]:
    try:
        group_id = call.request.str("groupId", required=False, pattern=GROUP_ID)
        rules = _world_open_rules(call, [int(p) for p in settings.option("admin_ports")])
        if rules and not group_id:
            group_id = str(call.response.obj("securityGroupRuleSet").list("items")[0].get("groupId", ""))
            if not GROUP_ID.fullmatch(group_id):
                raise InvalidEvent("detail.requestParameters.groupId: missing (a group named only by name?)")
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    arn = f"arn:{partition_of(call.actor.arn)}:ec2:{call.region}:{call.account}:security-group/{group_id}"
    subject = {
        "security_group": group_id,
        "actor": call.actor.arn or call.actor.type,
        "rules": ", ".join(
            f"{r['SecurityGroupRuleId']} {r['IpProtocol']}/{r['FromPort']}-{r['ToPort']} from {r['Cidr']}"
            for r in rules
        )
        or "-",
    }
    run = Run(
        settings,
        event_id=call.envelope.id,
        incident_id=incident_id_for(settings.playbook, call.event_id),
        subject=subject,
        detected_at=call.event_time or call.envelope.time,
    )
    logger.append_keys(security_group=group_id)
    summary = f"admin port opened to the world on {group_id} by {call.actor.name or call.actor.type or 'unknown'}"
    if settings.mode == "off":
        return run.skip("playbook mode is off")
    if call.error_code:
        return run.skip(f"the call failed ({call.error_code}): no rule was created")
    if not rules:
        return run.skip("no admin port was opened to 0.0.0.0/0 or ::/0")
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", summary)
    ids = [r["SecurityGroupRuleId"] for r in rules]
    inspected = run.step("inspect_security_group", group_id, group_id=group_id, rule_ids=ids)
    if inspected.status != "succeeded":
        if inspected.status != "failed":  # a failed inspection fails the run (recorded partial, retried)
            run.result.decision = "notified"
        run.result.reason = f"group could not be inspected: {inspected.detail}"
        return run.finish(summary)
    if guards.protected(settings, run.state.get("group_tags", {})):
        run.result.decision = "notified"
        run.result.reason = f"security group carries the protected tag {settings.protected_tag_key}: left open"
        return run.finish(summary)
    still_there = {p["SecurityGroupRuleId"] for p in run.state.get("present_rules", [])}
    present = [r for r in rules if r["SecurityGroupRuleId"] in still_there]
    if not present:
        run.skip_step("revoke_ingress_rules", group_id, f"rule(s) {ids} were already removed")
        return run.finish(summary)
    run.step("revoke_ingress_rules", arn, group_id=group_id, rules=present)
    return run.finish(summary)


def _root_sign_in(call: ApiCall, event: Any, settings: Settings) -> dict[str, Any]:
    if call.actor.type != "Root":
        return reject(settings, event, InvalidEvent(f"detail.userIdentity.type: {call.actor.type!r} is not Root"))
    try:
        extra = call.detail.obj("additionalEventData", required=False)
        mfa = extra.str("MFAUsed", required=False) or "unknown"
        outcome = call.response.str("ConsoleLogin", required=False) or "unknown"
        source_ip = call.detail.str("sourceIPAddress", required=False) or "-"
        user_agent = call.detail.str("userAgent", required=False)[:200] or "-"
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    subject = {
        "principal": call.actor.arn or "root",
        "mfa_used": mfa,
        "outcome": outcome,
        "source_ip": source_ip,
        "user_agent": user_agent,
    }
    run = Run(
        settings,
        event_id=call.envelope.id,
        incident_id=incident_id_for(settings.playbook, call.event_id),
        subject=subject,
        detected_at=call.event_time or call.envelope.time,
    )
    if settings.mode == "off":
        return run.skip("playbook mode is off")
    flag = "WITHOUT MFA" if mfa != "Yes" else "with MFA"
    return run.notify_only(
        f"root console sign-in ({outcome}) {flag}: root is never contained automatically",
        f"Root console sign-in {flag} from {source_ip} ({outcome})",
    )
